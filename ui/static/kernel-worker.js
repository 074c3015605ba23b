// A kernel worker: runs parts of wasm/cpukernel's kernels on the engine's shared memory for
// the engine worker that started it (shared-memory.js, alexlensKernelPool). It blocks on
// the control words (Atomics.wait), runs its part of each round and counts it done.
// Control words (Int32, see wasm/cpukernel/pool_js.go): [0] round, [1] parts done,
// [2] a kernel worker failed, [3] the pool was stopped, then per kernel worker p >= 1, at 4 + (p-1)*28, two calls of 14 words each: function
// index, argument count (0: none), 12 argument slots.
"use strict";
const SPIN_MS = 2;
self.onmessage = function (e) {
  const d = e.data;
  let fns, ctl;
  try {
    const ex = new WebAssembly.Instance(d.module, { env: { mem: d.memory } }).exports;
    fns = [ex.gemm, ex.pack_b, ex.matvec_f32, ex.matvec_i8, ex.maxpool_k3s2, ex.wino_in, ex.wino_out, ex.wino_gemm, ex.maxpool_k3s2_backward];
    ctl = new Int32Array(d.memory.buffer, d.ctlAddr, d.ctlInts);
  } catch (err) {
    self.postMessage("kernel worker: " + err);
    return;
  }
  // The round number before saying ready: once ready, the first round may start at any time.
  let seen = Atomics.load(ctl, 0);
  self.postMessage("ready");
  const o = 4 + (d.part - 1) * 28;
  for (;;) {
    // Spin a little before sleeping: rounds come in bursts (a forward pass is dozens of
    // them, a fraction of a millisecond apart), and a sleeping thread wakes slowly,
    // especially on virtual machines.
    let round = Atomics.load(ctl, 0);
    for (let until = performance.now() + SPIN_MS; round === seen && performance.now() < until;) {
      for (let i = 0; i < 64 && round === seen; i++) round = Atomics.load(ctl, 0);
    }
    if (round === seen) {
      Atomics.wait(ctl, 0, seen);
      round = Atomics.load(ctl, 0);
    }
    if (Atomics.load(ctl, 3) !== 0) return; // this pool was stopped
    if (round === seen) continue;
    seen = round;
    try {
      for (let c = o; c < o + 28; c += 14) {
        const f = fns[ctl[c]];
        if (f && ctl[c + 1] > 0) {
          f(ctl[c + 2], ctl[c + 3], ctl[c + 4], ctl[c + 5], ctl[c + 6], ctl[c + 7], ctl[c + 8], ctl[c + 9], ctl[c + 10], ctl[c + 11]);
        }
      }
    } catch (err) {
      // Raise the failure word and wake the engine worker, which then stops the pool and
      // redoes the round alone, rather than waiting out its timeout.
      Atomics.store(ctl, 2, 1);
      Atomics.notify(ctl, 1);
      self.postMessage("kernel worker: " + err);
      return;
    }
    Atomics.add(ctl, 1, 1);
    Atomics.notify(ctl, 1);
  }
};
