// The AlexLens engine worker: loads Go's wasm_exec.js and the engine (Go compiled to
// WebAssembly), which then answers the page's messages (see wasm/protocol).
"use strict";
importScripts("@SHARED_MEMORY_JS@", "@WASM_EXEC_JS@");
(function () {
  // WebAssembly.validate of a function that returns i8x16.popcnt(i8x16.splat(0)): true
  // where the browser compiles WebAssembly SIMD (the embed engine asks the same way).
  const hasSIMD = function () {
    try {
      return WebAssembly.validate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]));
    } catch (e) { return false; }
  };
  // On a cross-origin isolated page the engine runs on a shared memory, where kernel
  // workers can take parts of each layer (?threads=N); elsewhere on its own memory.
  const isolated = self.crossOriginIsolated === true && typeof SharedArrayBuffer === "function";
  // A browser without WebAssembly SIMD (Safari before 16.4, or SIMD switched off) cannot
  // compile the SIMD engine at all: it runs the portable build, on its own memory.
  const simd = hasSIMD();
  const engine = simd ? "@ENGINE_WASM@" : "@ENGINE_PORTABLE_WASM@";
  if (!simd) console.warn("alexlens: this browser has no WebAssembly SIMD: running the portable engine");
  self.alexlensKernelPool.url = "@KERNEL_WORKER_JS@";
  const go = new Go();
  // Go's runtime writes a fatal error (out of memory above all) to standard error, in
  // pieces, then a traceback, and exits; the error's line and the exit code are kept to
  // tell the page why (protocol IDStopped), so that it can restart the engine.
  let tail = "", fatal = "", exitCode;
  const writeSync = globalThis.fs.writeSync;
  const text = new TextDecoder();
  globalThis.fs.writeSync = function (fd, buf) {
    if (fd === 2 && !fatal) {
      tail = (tail + text.decode(buf)).slice(-512);
      const m = /fatal error: [^\n]*(?=\n)/.exec(tail);
      if (m) fatal = m[0];
    }
    return writeSync.call(this, fd, buf);
  };
  const exit = go.exit;
  go.exit = function (code) {
    exitCode = code;
    return exit.call(this, code);
  };
  const stopped = function () {
    const why = fatal || "exit code " + exitCode;
    self.postMessage({ json: JSON.stringify({ id: -2, kind: "error", error: "the engine stopped (" + why + ")" }) });
  };
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
      ? WebAssembly.instantiateStreaming(fetch(engine), go.importObject).catch(function () { return fromBytes(engine); })
      : fromBytes(engine);
  };
  const load = isolated && simd
    ? fromBytes("@ENGINE_SHARED_WASM@").catch(function (e) {
        console.warn("alexlens: the shared-memory engine did not load (" + e + "); running the ordinary one");
        return unshared();
      })
    : unshared();
  load.then(function (r) {
    // Go cannot reach its own instance's memory; wasm/cpukernel needs it to run its
    // generated SIMD kernels on Go's data in place.
    self.alexlensGoMemory = r.instance.exports.mem;
    return go.run(r.instance).then(stopped, function (e) {
      if (!fatal) fatal = String(e); // a wasm trap, not Go's own fatal error
      stopped();
    });
  }).catch(function (e) {
    // Surface a start failure to the page as a protocol error for every request.
    self.postMessage({ json: JSON.stringify({ id: -1, kind: "error", error: "the engine failed to start: " + e }) });
    throw e;
  });
})();
