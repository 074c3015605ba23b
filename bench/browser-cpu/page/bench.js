// The browser CPU benchmark page: runs several engines (the AlexLens app's own engine
// worker, onnxruntime-web's WASM backend, tfjs's WASM backend) on one network at one thread count,
// interleaved: every round runs one forward pass of each engine in turn, so that load from
// elsewhere on the machine falls on all engines alike. It leaves the results in
// window.benchResult for the driver: an array of
//   {engine, net, threads, version, times: [ms per pass after warm-up, timed in the page],
//    top5, logits?, AlexLens's top?, forward?: [ms], preprocess?: [ms], layers?: {name: [ms]}, order?: [names],
//    progressMessages?, kernel?, isolated, error?}
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
    // AlexLens is the app's own engine worker (the built web app's worker.js, served by the
    // app's server under /app/), sent the requests the app's page sends (ui/state builds
    // them; the driver serves them at /requests): the same wasm, threads, maps and progress
    // messages as a visitor gets. Each pass classifies the photo's file.
    alexlens: function () { return runApp("f32"); },
    "alexlens-int8": function () { return runApp("int8"); },
    ort: runORT,
    tfjs: runTFJS,
  };

  // startApp starts the app's engine worker and resolves once it is up. send posts one
  // protocol request ({json, bytes?}, as ui/engine.go does) and resolves with its final
  // response, counting the progress messages before it.
  function startApp(script) {
    const w = new Worker(script);
    let nextID = 1;
    const waiting = new Map();
    let started;
    const up = new Promise(function (resolve, reject) { started = { resolve: resolve, reject: reject }; });
    w.onmessage = function (e) {
      const r = JSON.parse(e.data.json);
      if (r.id === 0) return started.resolve();
      if (r.id < 0) {
        started.reject(new Error(r.error));
        for (const p of waiting.values()) p.reject(new Error(r.error));
        return;
      }
      const p = waiting.get(r.id);
      if (!p) return;
      if (r.kind === "progress") { p.progress++; return; }
      waiting.delete(r.id);
      if (r.kind === "error") p.reject(new Error(r.error)); else { r.progressMessages = p.progress; p.resolve(r); }
    };
    w.onerror = function (e) { started.reject(new Error("worker: " + e.message)); };
    return {
      up: up,
      send: function (req, bytes) {
        req = Object.assign({}, req, { id: nextID++ });
        return new Promise(function (resolve, reject) {
          waiting.set(req.id, { resolve: resolve, reject: reject, progress: 0 });
          const msg = { json: JSON.stringify(req) };
          if (bytes) msg.bytes = bytes;
          w.postMessage(msg, bytes ? [bytes.buffer] : []);
        });
      },
    };
  }

  async function runApp(precision) {
    const q = "net=" + cfg.net + "&precision=" + precision + "&threads=" + cfg.threads;
    const r = await fetch("/requests?" + q);
    if (!r.ok) throw new Error("/requests?" + q + ": " + await r.text());
    const app = await r.json(); // {worker, load, classify}
    const engine = startApp(app.worker);
    await engine.up;
    const loaded = await engine.send(app.load);
    const model = loaded.model;
    const photo = new Uint8Array(await fetchBuf("/data/chelsea.png"));
    const info = {
      kernel: model.kernel, exchange: model.threads + " thread(s)" + (model.threadsNote ? ": " + model.threadsNote : ""),
      layers: {}, order: null, forward: [], preprocess: [], progressMessages: 0,
    };
    function once() { return engine.send(app.classify, photo.slice()); } // the copy is transferred
    return {
      info: info,
      once: async function () {
        const res = await once();
        const c = res.result;
        info.order = c.layers.map(function (l) { return l.layer; });
        for (const l of c.layers) (info.layers[l.layer] = info.layers[l.layer] || []).push(l.ms);
        info.forward.push(c.forwardMs);
        info.preprocess.push(c.preprocessMs);
        info.progressMessages = res.progressMessages;
        info.top = c.top;
        return null; // no logits: the app answers with its top-5
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
          if (logits) r.logits = Array.from(logits);
        } catch (e) {
          r.error = String(e && e.stack || e);
        }
      }
    }
    return runs.map(function (r) {
      const out = Object.assign({}, r.run ? r.run.info : {}, r);
      delete out.run;
      if (out.logits) out.top5 = top5(out.logits);
      else if (out.top) out.top5 = out.top.map(function (p) { return p.index; });
      log(r.engine + ": " + JSON.stringify({ times: out.times, top5: out.top5 }));
      return out;
    });
  }
  main().then(function (r) { window.benchResult = r; }, function (e) {
    log("error: " + e);
    window.benchResult = [{ error: String(e && e.stack || e) }];
  });
})();
