// The engine for embeds: the same Go engine as the app's worker (wasm/worker), run once
// per browser origin in a SharedWorker so that every embed on a page (each its own
// iframe) shares one engine and one weights download. Where SharedWorker is missing it
// runs as a plain Worker for one embed.
//
// The Go engine talks to "self" (onmessage/postMessage) and handles one model at a time;
// this shim multiplexes the embeds' ports onto it: request ids are renumbered, requests run
// one after another, a load of the weights already loaded is answered from memory, and a
// request from an embed whose weights are not the loaded ones reloads them first (from the
// engine's Cache Storage, not the network).
"use strict";
(function () {
  const shared = typeof SharedWorkerGlobalScope === "function" && self instanceof SharedWorkerGlobalScope;
  const nativePost = shared ? null : self.postMessage.bind(self);
  let goHandler = null; // what the Go engine sets as self.onmessage
  Object.defineProperty(self, "onmessage", { configurable: true, get: function () { return goHandler; }, set: function (f) { goHandler = f; } });

  let started, markStarted;
  started = new Promise(function (res) { markStarted = res; });
  let nextId = 1;
  const waiting = new Map(); // engine id -> function(response)

  // Responses from the engine.
  self.postMessage = function (msg) {
    let r;
    try { r = JSON.parse(msg.json); } catch (e) { return; }
    if (r.id === 0) { markStarted(); return; }
    if (r.id < 0) { failAll(r.error); return; }
    const cb = waiting.get(r.id);
    if (!cb) return;
    if (r.kind !== "progress") waiting.delete(r.id);
    cb(r);
  };
  let startError = "";
  function failAll(err) {
    startError = err || "the engine failed to start";
    for (const [id, cb] of waiting) cb({ id: id, kind: "error", error: startError });
    waiting.clear();
  }

  // call sends one request to the engine; onProgress gets progress messages, the promise
  // the final one.
  function call(req, bytes, onProgress) {
    return started.then(function () {
      if (startError) return { kind: "error", error: startError };
      return new Promise(function (resolve) {
        const id = nextId++;
        waiting.set(id, function (r) { if (r.kind === "progress") { if (onProgress) onProgress(r); } else resolve(r); });
        const copy = Object.assign({}, req, { id: id });
        goHandler({ data: { json: JSON.stringify(copy), bytes: bytes } });
      });
    });
  }

  let loadedKey = "";
  const loads = new Map(); // model key -> promise of the load response
  let queue = Promise.resolve();
  function modelKey(req) { return [req.url, req.sha256 || "", req.precision || ""].join(" "); }

  // handle serves one embed request; reply(r) answers the embed.
  function handle(port, req, bytes, reply) {
    if (req.op === "load") port.model = req;
    queue = queue.then(async function () {
      const progress = function (r) { reply(Object.assign({}, r, { id: req.id })); };
      let model = port.model;
      if (req.op === "load") {
        const key = modelKey(req);
        if (loadedKey !== key || !loads.has(key)) {
          loads.set(key, call(req, undefined, progress));
        }
        const r = await loads.get(key);
        if (r.kind === "error") loads.delete(key); else loadedKey = key;
        reply(Object.assign({}, r, { id: req.id }));
        return;
      }
      if (model && modelKey(model) !== loadedKey) {
        const r = await call(model, undefined, null); // from the engine's cache
        if (r.kind === "error") { reply({ id: req.id, kind: "error", error: r.error }); return; }
        loadedKey = modelKey(model);
        loads.set(loadedKey, Promise.resolve(r));
      }
      const r = await call(req, bytes, progress);
      reply(Object.assign({}, r, { id: req.id }));
    }).catch(function (e) { reply({ id: req.id, kind: "error", error: String(e) }); });
  }

  function connect(port, post) {
    const me = {};
    const onMessage = function (e) {
      let req;
      try { req = JSON.parse(e.data.json); } catch (err) { return; }
      handle(me, req, e.data.bytes, function (r) { post({ json: JSON.stringify(r) }); });
    };
    return onMessage;
  }

  if (shared) {
    self.addEventListener("connect", function (e) {
      const port = e.ports[0];
      port.onmessage = connect(port, function (m) { port.postMessage(m); });
      port.start();
      started.then(function () { port.postMessage({ json: JSON.stringify({ id: 0, kind: "done" }) }); });
    });
  } else {
    self.addEventListener("message", connect(self, nativePost));
    started.then(function () { nativePost({ json: JSON.stringify({ id: 0, kind: "done" }) }); });
  }

  importScripts("@WASM_EXEC_JS@");
  // WebAssembly.validate of a function that returns i8x16.popcnt(i8x16.splat(0)): true
  // where the browser compiles WebAssembly SIMD (as the app's worker.js asks).
  const hasSIMD = function () {
    try {
      return WebAssembly.validate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]));
    } catch (e) { return false; }
  };
  // Without SIMD the SIMD engine does not compile: the portable build runs instead.
  const wasm = hasSIMD() ? "@ENGINE_WASM@" : "@ENGINE_PORTABLE_WASM@";
  const go = new Go();
  const load = WebAssembly.instantiateStreaming
    ? WebAssembly.instantiateStreaming(fetch(wasm), go.importObject).catch(function () {
        return fetch(wasm).then(function (r) { return r.arrayBuffer(); }).then(function (b) { return WebAssembly.instantiate(b, go.importObject); });
      })
    : fetch(wasm).then(function (r) { return r.arrayBuffer(); }).then(function (b) { return WebAssembly.instantiate(b, go.importObject); });
  load.then(function (r) {
    self.alexlensGoMemory = r.instance.exports.mem; // for wasm/cpukernel (see worker.js)
    return go.run(r.instance);
  }).catch(function (e) { failAll("the engine failed to start: " + e); markStarted(); });
})();
