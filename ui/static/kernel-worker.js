// A kernel worker: runs parts of wasm/cpukernel's kernels on the engine's shared memory for
// the engine worker that started it (shared-memory.js, alexlensKernelPool). It blocks on
// the control words (Atomics.wait), runs its part of each round and counts it done.
// Control words (Int32, see wasm/cpukernel/pool_js.go): [0] round, [1] parts done,
// then per kernel worker p >= 1, at 4 + (p-1)*16: function index, argument count, arguments.
"use strict";
self.onmessage = function (e) {
  const d = e.data;
  let fns, ctl;
  try {
    const ex = new WebAssembly.Instance(d.module, { env: { mem: d.memory } }).exports;
    fns = [ex.gemm, ex.pack_b, ex.matvec_f32, ex.matvec_i8, ex.maxpool_k3s2];
    ctl = new Int32Array(d.memory.buffer, d.ctlAddr, d.ctlInts);
  } catch (err) {
    self.postMessage("kernel worker: " + err);
    return;
  }
  self.postMessage("ready");
  const o = 4 + (d.part - 1) * 16;
  let seen = Atomics.load(ctl, 0);
  for (;;) {
    Atomics.wait(ctl, 0, seen);
    const round = Atomics.load(ctl, 0);
    if (round === seen) continue;
    seen = round;
    const f = fns[ctl[o]];
    if (f && ctl[o + 1] > 0) {
      f(ctl[o + 2], ctl[o + 3], ctl[o + 4], ctl[o + 5], ctl[o + 6], ctl[o + 7], ctl[o + 8], ctl[o + 9], ctl[o + 10], ctl[o + 11]);
    }
    Atomics.add(ctl, 1, 1);
    Atomics.notify(ctl, 1);
  }
};
