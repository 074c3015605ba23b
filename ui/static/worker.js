// The AlexLens engine worker: loads Go's wasm_exec.js and the engine (Go compiled to
// WebAssembly), which then answers the page's messages (see wasm/protocol).
"use strict";
importScripts("@SHARED_MEMORY_JS@", "@WASM_EXEC_JS@");
(function () {
  // On a cross-origin isolated page the engine runs on a shared memory, where kernel
  // workers can take parts of each layer (?threads=N); elsewhere on its own memory.
  const isolated = self.crossOriginIsolated === true && typeof SharedArrayBuffer === "function";
  self.alexlensKernelPool.url = "@KERNEL_WORKER_JS@";
  const go = new Go();
  const fromBytes = function (url) {
    return fetch(url)
      .then(function (r) {
        if (!r.ok) throw new Error(url + ": HTTP " + r.status);
        return r.arrayBuffer();
      })
      .then(function (bytes) {
        const shared = self.alexlensSharedMemory(bytes); // the shared build imports its memory
        if (shared) go.importObject.alexlens = { mem: shared };
        return WebAssembly.instantiate(bytes, go.importObject);
      });
  };
  // The unshared engine compiles while it downloads. The shared one may be missing (a host
  // that has not got it, or offline: the service worker does not precache it): then the
  // unshared one runs, on one thread.
  const unshared = function () {
    return WebAssembly.instantiateStreaming
      ? WebAssembly.instantiateStreaming(fetch("@ENGINE_WASM@"), go.importObject).catch(function () { return fromBytes("@ENGINE_WASM@"); })
      : fromBytes("@ENGINE_WASM@");
  };
  const load = isolated
    ? fromBytes("@ENGINE_SHARED_WASM@").catch(function (e) {
        console.warn("alexlens: the shared-memory engine did not load (" + e + "); running the ordinary one");
        return unshared();
      })
    : unshared();
  load.then(function (r) {
    // Go cannot reach its own instance's memory; wasm/cpukernel needs it to run its
    // generated SIMD kernels on Go's data in place.
    self.alexlensGoMemory = r.instance.exports.mem;
    return go.run(r.instance);
  }).catch(function (e) {
    // Surface a start failure to the page as a protocol error for every request.
    self.postMessage({ json: JSON.stringify({ id: -1, kind: "error", error: "the engine failed to start: " + e }) });
    throw e;
  });
})();
