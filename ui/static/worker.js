// The AlexLens engine worker: loads Go's wasm_exec.js and the engine (Go compiled to
// WebAssembly), which then answers the page's messages (see wasm/protocol).
"use strict";
importScripts("@WASM_EXEC_JS@");
(function () {
  const wasm = "@ENGINE_WASM@";
  const go = new Go();
  const load = WebAssembly.instantiateStreaming
    ? WebAssembly.instantiateStreaming(fetch(wasm), go.importObject).catch(function () {
        return fetch(wasm).then(function (r) { return r.arrayBuffer(); })
          .then(function (b) { return WebAssembly.instantiate(b, go.importObject); });
      })
    : fetch(wasm).then(function (r) { return r.arrayBuffer(); })
        .then(function (b) { return WebAssembly.instantiate(b, go.importObject); });
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
