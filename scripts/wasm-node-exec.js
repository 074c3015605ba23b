// Node runner for Go wasm test binaries (see wasm-node-exec): Go's wasm_exec_node.js plus
// the memory hand-over that the browser pages do (self.alexlensGoMemory).
"use strict";
const [, , wasmExec, binary, ...args] = process.argv;
globalThis.require = require;
globalThis.fs = require("fs");
globalThis.path = require("path");
globalThis.TextEncoder = require("util").TextEncoder;
globalThis.TextDecoder = require("util").TextDecoder;
globalThis.performance ??= require("perf_hooks").performance;
globalThis.crypto ??= require("crypto");
// A program rewritten by wasm/sharedmem imports a shared memory; TextDecoder and
// crypto.getRandomValues refuse views of shared memory, so both copy first (the pages do
// the same with ui/static/shared-memory.js).
require(path.join(__dirname, "..", "ui", "static", "shared-memory.js"));
require(wasmExec);

const go = new Go();
go.argv = [binary, ...args];
go.env = Object.assign({ TMPDIR: require("os").tmpdir() }, process.env);
go.exit = process.exit;
const code = fs.readFileSync(binary);
const mod = new WebAssembly.Module(code);
const shared = alexlensSharedMemory(code);
if (shared) go.importObject.alexlens = { mem: shared };
WebAssembly.instantiate(mod, go.importObject).then((instance) => {
  const result = { instance };
  process.on("exit", (code) => { // Node exits when nothing is pending: a deadlock in Go
    if (code === 0 && !go.exited) {
      go._pendingEvent = { id: 0 };
      go._resume();
    }
  });
  globalThis.alexlensGoMemory = result.instance.exports.mem;
  return go.run(result.instance);
}).catch((err) => {
  console.error(err);
  process.exit(1);
});
