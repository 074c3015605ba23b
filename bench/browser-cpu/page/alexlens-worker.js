// Starts one AlexLens benchmark engine (bench/browser-cpu/worker, Go compiled to wasm) in
// this worker; ?wasm= and ?exec= name the module and its toolchain's wasm_exec.js, and
// ?kernel=go keeps the engine on its Go kernels (no memory hand-over, so wasm/cpukernel's
// module is not installed). A module rewritten by wasm/sharedmem (alexlens-shared.wasm)
// gets a shared memory, on which kernel workers can help (the "threads" message).
"use strict";
const params = new URLSearchParams(self.location.search);
importScripts("/alexlens/shared-memory.js", params.get("exec"));
self.alexlensKernelPool.url = "/alexlens/kernel-worker.js";
(function () {
  const go = new Go();
  fetch(params.get("wasm"))
    .then(function (r) { return r.arrayBuffer(); })
    .then(function (bytes) {
      const shared = self.alexlensSharedMemory(bytes);
      if (shared) go.importObject.alexlens = { mem: shared };
      return WebAssembly.instantiate(bytes, go.importObject);
    })
    .then(function (r) {
      if (params.get("kernel") !== "go") self.alexlensGoMemory = r.instance.exports.mem;
      return go.run(r.instance);
    })
    .catch(function (e) { self.postMessage({ error: "AlexLens failed to start: " + e }); });
})();
