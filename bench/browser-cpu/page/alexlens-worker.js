// Starts one AlexLens benchmark engine (bench/browser-cpu/worker, Go compiled to wasm) in
// this worker; ?wasm= and ?exec= name the module and its toolchain's wasm_exec.js.
"use strict";
const params = new URLSearchParams(self.location.search);
importScripts(params.get("exec"));
(function () {
  const go = new Go();
  WebAssembly.instantiateStreaming(fetch(params.get("wasm")), go.importObject)
    .then(function (r) { return go.run(r.instance); })
    .catch(function (e) { self.postMessage({ error: "AlexLens failed to start: " + e }); });
})();
