// Support for Go programs whose memory is shared with kernel workers (wasm/sharedmem):
// alexlensSharedMemory(bytes) returns the WebAssembly.Memory such a module imports as
// alexlens.mem, or null for a module that defines its own memory. Loading this file also
// makes TextDecoder.decode and
// crypto.getRandomValues accept views of shared memory, which they otherwise refuse and
// which Go's wasm_exec.js hands them; both copy through an unshared buffer.
"use strict";
(function (g) {
  const isShared = function (v) {
    return typeof SharedArrayBuffer === "function" && v && v.buffer instanceof SharedArrayBuffer;
  };
  const TD = g.TextDecoder;
  if (TD && !TD.alexlensShared) {
    g.TextDecoder = class extends TD {
      decode(v, opts) {
        if (isShared(v)) v = new Uint8Array(v.buffer, v.byteOffset, v.byteLength).slice();
        return super.decode(v, opts);
      }
    };
    g.TextDecoder.alexlensShared = true;
  }
  const c = g.crypto;
  if (c && c.getRandomValues && !c.getRandomValues.alexlensShared) {
    const grv = c.getRandomValues.bind(c);
    const wrapped = function (a) {
      if (!isShared(a)) return grv(a);
      const t = new a.constructor(a.length);
      grv(t);
      a.set(t);
      return a;
    };
    wrapped.alexlensShared = true;
    try {
      Object.defineProperty(c, "getRandomValues", { value: wrapped, configurable: true, writable: true });
    } catch (e) { /* a crypto that cannot be patched: Go then fails loudly on shared memory */ }
  }
  // The alexlens.mem import's limits, read from the module's import section, or null.
  function sharedImport(bytes) {
    const b = new Uint8Array(bytes);
    let i = 8;
    const leb = function () {
      let v = 0, shift = 0, c;
      do { c = b[i++]; v += (c & 0x7f) * Math.pow(2, shift); shift += 7; } while (c & 0x80);
      return v;
    };
    const name = function () { const n = leb(); const s = String.fromCharCode.apply(null, b.subarray(i, i + n)); i += n; return s; };
    while (i < b.length) {
      const id = b[i++], size = leb(), end = i + size;
      if (id !== 2) { i = end; continue; }
      for (let n = leb(); n > 0; n--) {
        const mod = name(), field = name(), kind = b[i++];
        if (kind === 0) { leb(); continue; } // function: type index
        if (kind === 1) { i++; const f = b[i++]; leb(); if (f & 1) leb(); continue; } // table
        if (kind === 3) { i += 2; continue; } // global: type, mutability
        const flags = b[i++], initial = leb(), maximum = (flags & 1) ? leb() : undefined;
        if (kind === 2 && mod === "alexlens" && field === "mem" && (flags & 2)) return { initial: initial, maximum: maximum };
      }
      return null;
    }
    return null;
  }
  // alexlensSharedMemory(bytes) is the memory a module rewritten by wasm/sharedmem imports
  // (shared, with the module's own initial and maximum sizes), or null for a module that
  // defines its own memory.
  g.alexlensSharedMemory = function (bytes) {
    const lim = sharedImport(bytes);
    return lim ? new WebAssembly.Memory({ initial: lim.initial, maximum: lim.maximum, shared: true }) : null;
  };
})(typeof globalThis !== "undefined" ? globalThis : self);

// alexlensKernelPool runs parts of wasm/cpukernel's kernels on other cores: kernel workers
// (kernel-worker.js, at alexlensKernelPool.url) instantiate the kernel module on the same
// shared memory and wait on control words in it that the Go program writes (see
// wasm/cpukernel/pool_js.go for their layout). kick() starts a round, wait() blocks this
// worker until every kernel worker has finished its part (or the time runs out).
(function (g) {
  g.alexlensKernelPool = {
    url: "kernel-worker.js",
    workers: [],
    ctl: null,
    lastError: "", // the last message of a failed kernel worker
    // resize starts n kernel workers; its promise rejects if one fails, or if they are not
    // all ready within startMs (a browser under load, or one that never starts a nested
    // worker, must not hold the engine's load forever: the engine then runs on one thread).
    resize: function (n, module, memory, ctlAddr, ctlInts, startMs) {
      this.stop();
      this.ctl = new Int32Array(memory.buffer, ctlAddr, ctlInts);
      const ps = [];
      for (let i = 0; i < n; i++) {
        const w = new Worker(this.url);
        this.workers.push(w);
        ps.push(new Promise(function (resolve, reject) {
          w.onmessage = function (e) {
            if (e.data === "ready") resolve();
            else { g.alexlensKernelPool.lastError = String(e.data); console.error("alexlens: " + e.data); reject(new Error(String(e.data))); }
          };
          w.onerror = function (e) { reject(new Error("kernel worker: " + (e.message || "failed to start"))); };
        }));
        w.postMessage({ module: module, memory: memory, ctlAddr: ctlAddr, ctlInts: ctlInts, part: i + 1 });
      }
      let timer;
      const late = new Promise(function (_, reject) {
        timer = setTimeout(function () { reject(new Error("kernel workers not ready after " + startMs + " ms")); }, startMs);
      });
      return Promise.race([Promise.all(ps), late]).finally(function () { clearTimeout(timer); });
    },
    stop: function () {
      // terminate() takes effect some time later: retire the control words first, so that a
      // worker still spinning on them stops instead of taking a later pool's rounds.
      if (this.ctl) {
        Atomics.store(this.ctl, 3, 1);
        Atomics.notify(this.ctl, 0);
        this.ctl = null;
      }
      for (const w of this.workers) w.terminate();
      this.workers = [];
    },
    kick: function () {
      Atomics.store(this.ctl, 1, 0);
      Atomics.add(this.ctl, 0, 1);
      Atomics.notify(this.ctl, 0);
    },
    wait: function (parts, ms) {
      const now = performance.now(), deadline = now + ms, spinUntil = now + 1;
      for (;;) {
        const done = Atomics.load(this.ctl, 1);
        if (done >= parts) return true;
        if (Atomics.load(this.ctl, 2) !== 0) return false; // a kernel worker failed
        const t = performance.now();
        if (t >= deadline) return false;
        // The parts finish at about the same time: spin briefly before sleeping.
        if (t < spinUntil) continue;
        Atomics.wait(this.ctl, 1, done, deadline - t);
      }
    },
  };
})(typeof globalThis !== "undefined" ? globalThis : self);
