// Runs the generated kernel module on memory images that the Go test wrote:
//   node harness.js module.wasm cases.json
// cases.json: [{fn, args: [i32...], pages, image, out}]: the image is copied to address 0 of
// a fresh memory, fn(...args) runs, and the whole memory is written to out.
"use strict";
const fs = require("fs");
const [, , modPath, casesPath] = process.argv;
const mod = new WebAssembly.Module(fs.readFileSync(modPath));
for (const c of JSON.parse(fs.readFileSync(casesPath, "utf8"))) {
  const mem = new WebAssembly.Memory({ initial: c.pages });
  new Uint8Array(mem.buffer).set(fs.readFileSync(c.image));
  const inst = new WebAssembly.Instance(mod, { env: { mem } });
  inst.exports[c.fn](...c.args);
  fs.writeFileSync(c.out, new Uint8Array(mem.buffer));
}
