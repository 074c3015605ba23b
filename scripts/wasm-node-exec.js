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
require(wasmExec);

const go = new Go();
go.argv = [binary, ...args];
go.env = Object.assign({ TMPDIR: require("os").tmpdir() }, process.env);
go.exit = process.exit;
WebAssembly.instantiate(fs.readFileSync(binary), go.importObject).then((result) => {
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
