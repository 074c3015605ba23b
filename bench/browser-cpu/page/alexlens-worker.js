// Starts one AlexLens benchmark engine (bench/browser-cpu/worker, Go compiled to wasm) in
// this worker; ?wasm= and ?exec= name the module and its toolchain's wasm_exec.js, and
// ?kernel=go keeps the engine on its Go kernels (no memory hand-over, so wasm/cpukernel's
// module is not installed).
"use strict";
const params = new URLSearchParams(self.location.search);
importScripts(params.get("exec"));
(function () {
  const go = new Go();
  WebAssembly.instantiateStreaming(fetch(params.get("wasm")), go.importObject)
    .then(function (r) {
      if (params.get("kernel") !== "go") self.alexlensGoMemory = r.instance.exports.mem;
      return go.run(r.instance);
    })
    .catch(function (e) { self.postMessage({ error: "AlexLens failed to start: " + e }); });
})();
