// The browser CPU benchmark page: runs several engines (AlexLens in Web Workers,
// onnxruntime-web's WASM backend, tfjs's WASM backend) on one network at one thread count,
// interleaved: every round runs one forward pass of each engine in turn, so that load from
// elsewhere on the machine falls on all engines alike. It leaves the results in
// window.benchResult for the driver: an array of
//   {engine, net, threads, version, times: [ms per pass after warm-up, timed in the page],
//    top5, logits, layers?: {name: [ms]}, order?: [names], kernel?, isolated, error?}
// Query parameters: engines (comma-separated), net, threads, warmup, runs, gap (ms idle
// before each timed pass, default 0).
"use strict";
(function () {
  const q = new URLSearchParams(location.search);
  const cfg = {
    engines: (q.get("engines") || "alexlens").split(","),
    gap: q.has("gap") ? parseFloat(q.get("gap")) : 0, // ms of idle before each timed pass
    net: q.get("net") || "alexnet",
    threads: parseInt(q.get("threads") || "1", 10),
    warmup: parseInt(q.get("warmup") || "5", 10),
    runs: parseInt(q.get("runs") || "20", 10),
  };
  function log(s) { document.getElementById("log").textContent += s + "\n"; }
  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      const s = document.createElement("script");
      s.src = src;
      s.onload = resolve;
      s.onerror = function () { reject(new Error("cannot load " + src)); };
      document.head.appendChild(s);
    });
  }
  async function fetchBuf(url) {
    const r = await fetch(url);
    if (!r.ok) throw new Error(url + ": HTTP " + r.status);
    return r.arrayBuffer();
  }
  function top5(logits) {
    const idx = Array.from(logits.keys());
    idx.sort(function (a, b) { return logits[b] - logits[a]; });
    return idx.slice(0, 5);
  }
  const engines = {
    // AlexLens runs in a Web Worker (alexlens-worker.js), one Go wasm instance. At several
    // threads "alexlens" and "alexlens-int8" split their kernels across kernel workers on the
    // Go worker's shared memory (wasm/cpukernel's pool; needs the isolated page).
    alexlens: function () { return runAlexLens("alexlens.wasm", "wasm_exec.js", "f32"); },
    "alexlens-int8": function () { return runAlexLens("alexlens.wasm", "wasm_exec.js", "int8"); },
    // "alexlens-gokernel" is the same build with the Go archsimd micro-kernel instead of the
    // generated wasm module (wasm/cpukernel), for comparison; one thread only (threads are
    // the module's kernel workers).
    "alexlens-gokernel": function () { return runAlexLens("alexlens.wasm", "wasm_exec.js", "f32", "go"); },
    // "alexlens-portable": the Go 1.26 build on its Go kernels alone (no SIMD, no module).
    "alexlens-portable": function () { return runAlexLens("alexlens-portable.wasm", "wasm_exec-portable.js", "f32", "go"); },
    ort: runORT,
    tfjs: runTFJS,
  };

  function startWorker(wasm, execJS, kernel) {
    const w = new Worker("alexlens-worker.js?wasm=" + encodeURIComponent("/alexlens/" + wasm) +
      "&exec=" + encodeURIComponent("/alexlens/" + execJS) + (kernel ? "&kernel=" + kernel : ""));
    let pending = null;
    const ready = new Promise(function (resolve, reject) {
      pending = { resolve: resolve, reject: reject };
    });
    w.onmessage = function (e) {
      const p = pending;
      pending = null;
      if (!p) return;
      if (e.data && e.data.error) p.reject(new Error(e.data.error)); else p.resolve(e.data);
    };
    w.onerror = function (e) { if (pending) pending.reject(new Error("worker: " + e.message)); };
    return {
      ready: ready,
      call: function (msg, transfer) {
        return new Promise(function (resolve, reject) {
          pending = { resolve: resolve, reject: reject };
          w.postMessage(msg, transfer || []);
        });
      },
    };
  }

  // AlexLens at N threads is one Go worker on a shared memory and N-1 kernel workers.
  async function runAlexLens(wasm, execJS, precision, kernel) {
    const pool = cfg.threads > 1;
    if (pool && kernel === "go") throw new Error("one thread only: extra threads are the generated module's kernel workers");
    if (pool) wasm = wasm.replace(".wasm", "-shared.wasm");
    const worker = startWorker(wasm, execJS, kernel);
    const hello = await worker.ready;
    let exchangeKind = "";
    if (pool) {
      const t = await worker.call({ op: "threads", n: cfg.threads });
      exchangeKind = "kernel pool of " + t.threads + " threads";
    }
    const weights = await fetchBuf("/data/" + cfg.net + ".pth");
    await worker.call({ op: "load", name: cfg.net, weights: weights, precision: precision });
    const input = new Float32Array(await fetchBuf("/data/input.bin"));
    await worker.call({ op: "input", input: input });
    const peak = await worker.call({ op: "peak" });
    const info = { kernel: hello.kernel, peakGFLOPS: peak.gflops, exchange: exchangeKind, layers: {}, order: null };
    function once() { return worker.call({ op: "run", warmup: 0, runs: 1 }); }
    return {
      info: info,
      once: async function () {
        const r = await once();
        info.order = r.order;
        for (const name in r.layers) (info.layers[name] = info.layers[name] || []).push(r.layers[name][0]);
        return r.logits;
      },
      warm: async function () { await once(); },
    };
  }

  async function runORT() {
    await loadScript("/peers/onnxruntime-web/dist/ort.wasm.min.js");
    ort.env.wasm.numThreads = cfg.threads;
    ort.env.wasm.wasmPaths = "/peers/onnxruntime-web/dist/";
    const model = await fetchBuf("/data/" + cfg.net + ".onnx");
    const session = await ort.InferenceSession.create(model, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
    const input = new ort.Tensor("float32", new Float32Array(await fetchBuf("/data/input.bin")), [1, 3, 224, 224]);
    const once = async function () { return (await session.run({ input: input })).logits.data; };
    return { info: { version: ort.env.versions ? ort.env.versions.web : "" }, once: once, warm: once };
  }

  async function runTFJS() {
    await loadScript("/peers/@tensorflow/tfjs-core/dist/tf-core.min.js");
    await loadScript("/peers/@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.min.js");
    tf.wasm.setWasmPaths("/peers/@tensorflow/tfjs-backend-wasm/dist/");
    tf.wasm.setThreadsCount(cfg.threads);
    await tf.setBackend("wasm");
    await tf.ready();
    const meta = await (await fetch("/data/" + cfg.net + ".tfjs.json")).json();
    const blob = new Float32Array(await fetchBuf("/data/" + cfg.net + ".tfjs.bin"));
    const p = {};
    for (const e of meta) {
      const n = e.shape.reduce(function (a, b) { return a * b; }, 1);
      p[e.name] = tf.tensor(blob.subarray(e.offset, e.offset + n), e.shape);
    }
    const x = tf.tidy(function () {
      return tf.transpose(tf.tensor(new Float32Array(inputBuffer), [1, 3, 224, 224]), [0, 2, 3, 1]);
    });
    const forward = cfg.net === "alexnet" ? tfAlexNet : tfSqueezeNet;
    const once = async function () {
      const y = tf.tidy(function () { return forward(p, x); });
      const d = await y.data();
      y.dispose();
      return d;
    };
    return { info: { version: tf.version_core }, once: once, warm: once };
  }
  let inputBuffer = null;

  // The networks as tfjs ops, NHWC, with the same parameters as the PyTorch modules.
  function conv(p, x, key, stride, pad, relu) {
    return tf.fused.conv2d({ x: x, filter: p[key + ".weight"], strides: stride, pad: pad, bias: p[key + ".bias"], activation: relu ? "relu" : "linear" });
  }
  function linear(p, x, key, relu) {
    return tf.fused.matMul({ a: x, b: p[key + ".weight"], bias: p[key + ".bias"], activation: relu ? "relu" : "linear" });
  }
  function tfAlexNet(p, x) {
    x = conv(p, x, "features.0", 4, 2, true);
    x = tf.maxPool(x, 3, 2, "valid");
    x = conv(p, x, "features.3", 1, 2, true);
    x = tf.maxPool(x, 3, 2, "valid");
    x = conv(p, x, "features.6", 1, 1, true);
    x = conv(p, x, "features.8", 1, 1, true);
    x = conv(p, x, "features.10", 1, 1, true);
    x = tf.maxPool(x, 3, 2, "valid"); // 6x6: the adaptive average pool is the identity
    x = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [1, 9216]); // PyTorch flattens NCHW
    x = linear(p, x, "classifier.1", true);
    x = linear(p, x, "classifier.4", true);
    return linear(p, x, "classifier.6", false);
  }
  function fire(p, x, key) {
    const s = conv(p, x, key + ".squeeze", 1, 0, true);
    return tf.concat([conv(p, s, key + ".expand1x1", 1, 0, true), conv(p, s, key + ".expand3x3", 1, 1, true)], 3);
  }
  function tfSqueezeNet(p, x) {
    // Every ceil-mode pool here divides exactly (111 -> 55 -> 27 -> 13), so "valid" matches.
    x = conv(p, x, "features.0", 2, 0, true);
    x = tf.maxPool(x, 3, 2, "valid");
    x = fire(p, x, "features.3");
    x = fire(p, x, "features.4");
    x = tf.maxPool(x, 3, 2, "valid");
    x = fire(p, x, "features.6");
    x = fire(p, x, "features.7");
    x = tf.maxPool(x, 3, 2, "valid");
    x = fire(p, x, "features.9");
    x = fire(p, x, "features.10");
    x = fire(p, x, "features.11");
    x = fire(p, x, "features.12");
    x = conv(p, x, "classifier.1", 1, 0, true);
    return tf.mean(x, [1, 2]);
  }

  async function main() {
    log("engines " + cfg.engines + ", " + cfg.net + ", threads " + cfg.threads + ", crossOriginIsolated " + self.crossOriginIsolated);
    inputBuffer = await fetchBuf("/data/input.bin");
    const runs = [];
    for (const name of cfg.engines) {
      const r = { engine: name, net: cfg.net, threads: cfg.threads, isolated: self.crossOriginIsolated, times: [] };
      runs.push(r);
      try {
        if (!engines[name]) throw new Error("unknown engine " + name);
        r.run = await engines[name]();
        for (let i = 0; i < cfg.warmup; i++) await r.run.warm();
      } catch (e) {
        r.error = String(e && e.stack || e);
        log(name + ": " + r.error);
      }
    }
    for (let round = 0; round < cfg.runs; round++) {
      for (const r of runs) {
        if (r.error) continue;
        // An optional pause before each pass (?gap=ms): thread pools that spin after their
        // pass take cores from whichever engine runs next, but idle cores also wake slowly.
        if (cfg.gap > 0) await new Promise(function (resolve) { setTimeout(resolve, cfg.gap); });
        try {
          const t0 = performance.now();
          const logits = await r.run.once();
          r.times.push(performance.now() - t0);
          r.logits = Array.from(logits);
        } catch (e) {
          r.error = String(e && e.stack || e);
        }
      }
    }
    return runs.map(function (r) {
      const out = Object.assign({}, r.run ? r.run.info : {}, r);
      delete out.run;
      if (out.logits) out.top5 = top5(out.logits);
      log(r.engine + ": " + JSON.stringify({ times: out.times, top5: out.top5 }));
      return out;
    });
  }
  main().then(function (r) { window.benchResult = r; }, function (e) {
    log("error: " + e);
    window.benchResult = [{ error: String(e && e.stack || e) }];
  });
})();
