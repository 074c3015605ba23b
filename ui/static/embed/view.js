// One AlexLens view inside an iframe (embed.html?view=kernels|classify|activations|neighbours|atlas
// &arch=...): the embed snippet (embed.js) creates the iframe when it scrolls into view.
// The kernel view reads only the weights file's header and conv1 (an HTTP Range request,
// or the first bytes of the first shard: ~40-150 KB) and draws them itself; the other
// views use the engine (engine.js), shared by every embed of the page.
"use strict";
(function () {
  const params = new URLSearchParams(location.search);
  const view = params.get("view") || "kernels";
  const arch = params.get("arch") || "";
  const root = document.getElementById("view");
  const samples = ["chelsea.jpg", "coffee.jpg", "astronaut.jpg", "rocket.jpg"];

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  const title = el("h1");
  const link = el("a", "", "AlexLens");
  link.href = new URL("./?arch=" + encodeURIComponent(arch), location.href).href;
  link.target = "_blank";
  link.rel = "noopener";
  title.append(link, el("small", "", " · " + view));
  const status = el("p", "status", "Loading…");
  status.setAttribute("data-testid", "embed-status");
  const body = el("div");
  root.append(title, body, status);
  function say(s) { status.textContent = s; }
  // setState records the view's state and tells the host page (embed.js marks the
  // element with data-alexlens-state, so a page can style or test it).
  function setState(s) {
    root.dataset.state = s;
    parent.postMessage({ alexlens: "state", id: params.get("id"), state: s, text: status.textContent }, "*");
  }
  function fail(e) {
    status.className = "status error";
    say("Could not show this view: " + (e && e.message ? e.message : e));
    setState("error");
  }
  // A blocked resource is a broken view: say so rather than show half of it.
  document.addEventListener("securitypolicyviolation", function (e) {
    fail("the page's Content-Security-Policy blocked " + e.blockedURI + " (" + e.violatedDirective + ")");
  });

  // Tell the host page (through embed.js) how tall the content is.
  function resize() {
    parent.postMessage({ alexlens: "size", id: params.get("id"), height: document.documentElement.scrollHeight }, "*");
  }
  if ("ResizeObserver" in window) new ResizeObserver(resize).observe(document.body);
  window.addEventListener("load", resize);

  async function manifest() {
    const r = await fetch("weights/manifest.json");
    if (!r.ok) throw new Error("weights/manifest.json: HTTP " + r.status);
    return r.json();
  }

  // kernelFile is the file whose first layer the kernel view draws. This view reads conv1
  // alone and never starts the engine, so the choice (package manifest) was made when the
  // manifest was written: its firstLayers name the file per network and precision.
  function kernelFile(m) {
    const per = (m.firstLayers || {})[arch || ""] || {};
    const file = per[params.get("precision") || ""];
    const e = file && (m.weights || []).find(function (w) { return w.file === file; });
    if (!e) throw new Error("no weights for " + (arch || "any network") + (params.get("precision") ? " in " + params.get("precision") : "") + " on this site");
    return e;
  }

  function hex(buf) {
    return Array.from(new Uint8Array(buf), function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  // prefix returns the first n bytes of url: a Range request, and where the host ignores
  // Range, the stream is cut off once n bytes are in.
  async function prefix(url, n) {
    const r = await fetch(url, { headers: { Range: "bytes=0-" + (n - 1) } });
    if (!r.ok) throw new Error(url + ": HTTP " + r.status);
    const out = new Uint8Array(n);
    let got = 0;
    const reader = r.body.getReader();
    while (got < n) {
      const c = await reader.read();
      if (c.done) break;
      const take = Math.min(c.value.length, n - got);
      out.set(c.value.subarray(0, take), got);
      got += take;
    }
    reader.cancel().catch(function () {});
    if (got < n) throw new Error(url + " ended after " + got + " of " + n + " bytes");
    return out;
  }

  // conv1Bytes fetches the header and conv1 once per browser: a Web Lock makes other
  // embeds wait and then read the copy kept in Cache Storage.
  async function conv1Bytes(e) {
    const l = e.layers[0];
    const n = l.offset + l.length;
    const src = e.shards && e.shards.length ? e.shards[0] : { file: e.file, length: e.bytes };
    if (n > src.length) throw new Error("conv1 is not in the first piece of " + e.file);
    const url = new URL("weights/" + src.file, location.href).href;
    const key = url + "?conv1=" + e.sha256;
    const get = async function () {
      const cache = self.caches ? await caches.open("alexlens-embed").catch(function () { return null; }) : null;
      const hit = cache && await cache.match(key);
      if (hit) return new Uint8Array(await hit.arrayBuffer());
      const bytes = await prefix(url, n);
      if (cache) await cache.put(key, new Response(bytes)).catch(function () {});
      return bytes;
    };
    return navigator.locks ? navigator.locks.request("alexlens-conv1-" + e.sha256, get) : get();
  }

  function header(buf) {
    const magic = String.fromCharCode(buf[0], buf[1], buf[2], buf[3]);
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    if (magic !== "ALXW" || dv.getUint32(4, true) !== 1) throw new Error("not an AlexLens weights file (version 1)");
    const h = dv.getUint32(8, true);
    if (h < 1 || 12 + h > buf.length) throw new Error("weights header of " + h + " bytes does not fit");
    return JSON.parse(new TextDecoder().decode(buf.subarray(12, 12 + h)));
  }

  // tensor checks a tensor's SHA-256 (scales then data, as weights/FORMAT.md says) and
  // returns its values as float32.
  async function tensor(buf, t) {
    const data = buf.subarray(t.offset, t.offset + t.length);
    if (data.length !== t.length) throw new Error(t.name + " is cut short");
    const scales = t.scales ? Uint8Array.from(atob(t.scales), function (c) { return c.charCodeAt(0); }) : new Uint8Array(0);
    const both = new Uint8Array(scales.length + data.length);
    both.set(scales);
    both.set(data, scales.length);
    if (hex(await crypto.subtle.digest("SHA-256", both)) !== t.sha256) throw new Error(t.name + " does not match its SHA-256");
    const count = t.shape.reduce(function (a, b) { return a * b; }, 1);
    if (t.dtype === "f32") return new Float32Array(data.slice().buffer, 0, count);
    if (t.dtype !== "int8") throw new Error(t.name + ": unknown dtype " + t.dtype);
    const q = new Int8Array(data.buffer, data.byteOffset, count);
    const s = new Float32Array(scales.buffer, 0, t.shape[0]);
    const per = count / t.shape[0];
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = q[i] * s[Math.floor(i / per)];
    return out;
  }

  async function kernels() {
    const e = kernelFile(await manifest());
    const buf = await conv1Bytes(e);
    const h = header(buf);
    const t = h.tensors.find(function (x) { return x.layer === h.layers[0].name && x.shape.length === 4; });
    if (!t || t.shape[1] !== 3) throw new Error("the first layer is not an RGB convolution");
    const w = await tensor(buf, t);
    const [out, , kh, kw] = t.shape;
    const cols = Math.ceil(Math.sqrt(out * 2)), rows = Math.ceil(out / cols), gap = 1;
    const img = new ImageData(cols * (kw + gap) + gap, rows * (kh + gap) + gap);
    img.data.fill(255);
    for (let k = 0; k < out; k++) {
      const base = k * 3 * kh * kw;
      let m = 0;
      for (let i = 0; i < 3 * kh * kw; i++) m = Math.max(m, Math.abs(w[base + i]));
      const ox = gap + (k % cols) * (kw + gap), oy = gap + Math.floor(k / cols) * (kh + gap);
      for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) {
        const p = ((oy + y) * img.width + ox + x) * 4;
        for (let c = 0; c < 3; c++) img.data[p + c] = m ? Math.round(127.5 + 127.5 * w[base + (c * kh + y) * kw + x] / m) : 128;
      }
    }
    const canvas = el("canvas", "grid");
    canvas.width = img.width;
    canvas.height = img.height;
    canvas.getContext("2d").putImageData(img, 0, 0);
    canvas.setAttribute("data-testid", "embed-kernels");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", out + " first-layer kernels of " + h.arch);
    body.append(canvas);
    say(out + " kernels of " + h.arch + " conv1 (" + kh + "×" + kw + "×3), " + (e.kind === "trained" ? "trained" : "untrained fixture") + " weights · " + Math.round(buf.length / 1024) + " KB read");
    setState("ready");
  }

  // The engine, shared by the embeds of this browser (engine.js).
  let engine = null;
  function startEngine() {
    const script = document.documentElement.dataset.engine;
    let port;
    if (typeof SharedWorker === "function") {
      const w = new SharedWorker(script, { name: "alexlens-engine" });
      port = w.port;
    } else {
      port = new Worker(script);
    }
    let next = 1;
    const waiting = new Map();
    let ready;
    const up = new Promise(function (res) { ready = res; });
    port.onmessage = function (e) {
      const r = JSON.parse(e.data.json);
      if (r.id === 0) { ready(); return; }
      const w = waiting.get(r.id);
      if (!w) return;
      if (r.kind === "progress") { if (w.progress) w.progress(r.progress); return; }
      waiting.delete(r.id);
      if (r.kind === "error") w.reject(new Error(r.error)); else w.resolve(r);
    };
    if (port.start) port.start();
    return function call(req, bytes, progress) {
      return up.then(function () {
        return new Promise(function (resolve, reject) {
          req.id = next++;
          waiting.set(req.id, { resolve: resolve, reject: reject, progress: progress });
          port.postMessage({ json: JSON.stringify(req), bytes: bytes });
        });
      });
    };
  }

  // loadModel has the engine choose the weights from the site's manifest (the same choice
  // as the app's: package manifest) and load them.
  async function loadModel() {
    engine = startEngine();
    const req = { op: "load", manifest: new URL("weights/manifest.json", location.href).href, arch: arch || "", precision: params.get("precision") || "" };
    const r = await engine(req, undefined, function (p) {
      if (p.stage === "download" && p.total) say("Downloading " + (arch || "the") + " weights… " + Math.round(100 * p.done / p.total) + "%");
    });
    return r.model;
  }

  async function sampleBytes(name) {
    const r = await fetch("samples/" + name);
    if (!r.ok) throw new Error("samples/" + name + ": HTTP " + r.status);
    return new Uint8Array(await r.arrayBuffer());
  }

  // samplePicker shows the sample photos; choose(name) runs when one is picked.
  function samplePicker(choose) {
    const row = el("div", "samples");
    const buttons = samples.map(function (name) {
      const b = el("button");
      b.type = "button";
      b.title = name;
      const img = el("img");
      img.src = "samples/" + name;
      img.alt = name.replace(".jpg", "");
      b.append(img);
      b.addEventListener("click", function () {
        buttons.forEach(function (x) { x.setAttribute("aria-pressed", String(x === b)); });
        choose(name);
      });
      row.append(b);
      return b;
    });
    body.append(row);
    return buttons;
  }

  // siteFile reads a file the element names (data-gallery, data-head), on this site only:
  // the site's Content-Security-Policy allows nothing else, and a clear message beats a
  // blocked request.
  async function siteFile(name, what, attr) {
    if (!name) throw new Error("no " + what + ": give the element " + attr + "=\"path/on/this/site\"");
    const url = new URL(name, location.href);
    if (url.origin !== location.origin) throw new Error("the " + what + " must be on this AlexLens site (" + location.origin + "), not " + url.origin + ": copy it into the published folder");
    const r = await fetch(url);
    if (!r.ok) throw new Error(url.pathname + ": HTTP " + r.status);
    return new Uint8Array(await r.arrayBuffer());
  }

  function predictions(list, top) {
    list.textContent = "";
    for (const p of top) {
      const li = el("li", "", p.label + " " + (100 * p.prob).toFixed(1) + "%");
      li.dataset.label = p.label;
      li.dataset.prob = p.prob;
      const bar = el("span", "bar");
      bar.style.width = Math.round(80 * p.prob) + "px";
      li.append(bar);
      list.append(li);
    }
  }

  // classify shows the top-5 of a sample photo; with data-head (a head saved from the Teach
  // view or `alexlens teach`, kept on this site) the head's classes come first.
  async function classify() {
    const model = await loadModel();
    const headName = params.get("head") || "";
    const headBytes = headName ? await siteFile(headName, "head file", "data-head") : null;
    let head = null;
    async function loadHead() {
      head = (await engine({ op: "teach-head", teach: {} }, headBytes)).teach.head;
    }
    if (headBytes) await loadHead();
    const taught = el("ol", "top");
    taught.setAttribute("data-testid", "embed-taught");
    const list = el("ol", "top");
    list.setAttribute("data-testid", "embed-top");
    let chosen = params.get("image") || samples[0];
    const buttons = samplePicker(function (name) { chosen = name; run().catch(fail); });
    if (head) body.append(el("h2", "", "Taught: " + head.classes.join(", ")), taught, el("h2", "", "ImageNet"));
    body.append(list);
    async function run() {
      say("Classifying " + chosen + "…");
      const bytes = await sampleBytes(chosen);
      let r;
      try {
        r = await engine({ op: "classify", head: head ? head.key : "" }, bytes);
      } catch (e) {
        if (!head) throw e;
        await loadHead(); // another embed of the page had the engine load other weights
        r = await engine({ op: "classify", head: head.key }, bytes);
      }
      predictions(list, r.result.top);
      let note = " · top-1 " + r.result.top[0].label;
      if (head) {
        predictions(taught, r.result.taught || []);
        const best = (r.result.taught || [])[0];
        note = " · taught: " + (best ? best.label : "none") + ", ImageNet: " + r.result.top[0].label;
      }
      say(model.title + (model.fixture ? " (untrained fixture weights: meaningless predictions)" : "") + note + " · " + r.result.forwardMs.toFixed(0) + " ms in your browser");
      setState("ready");
    }
    buttons[Math.max(0, samples.indexOf(chosen))].setAttribute("aria-pressed", "true");
    await run();
  }

  async function activations() {
    const model = await loadModel();
    const maps = model.layers.filter(function (l) { return l.channels > 0; });
    const layer = maps.find(function (l) { return l.name === params.get("layer"); }) || maps[Math.min(1, maps.length - 1)];
    const grid = el("div", "maps");
    grid.setAttribute("data-testid", "embed-maps");
    let chosen = params.get("image") || samples[0];
    const buttons = samplePicker(function (name) { chosen = name; run(); });
    body.append(grid);
    async function run() {
      say("Running " + chosen + "…");
      const req = { op: "classify", maps: [] };
      for (let c = 0; c < Math.min(12, layer.channels); c++) req.maps.push({ layer: layer.name, channel: c });
      const r = await engine(req, await sampleBytes(chosen));
      grid.textContent = "";
      for (const m of r.maps) {
        const pix = Uint8Array.from(atob(m.pix), function (c) { return c.charCodeAt(0); });
        const img = new ImageData(m.w, m.h);
        for (let i = 0; i < pix.length; i++) { img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = pix[i]; img.data[4 * i + 3] = 255; }
        const c = el("canvas");
        c.width = m.w;
        c.height = m.h;
        c.title = m.layer + " channel " + m.channel;
        c.getContext("2d").putImageData(img, 0, 0);
        grid.append(c);
      }
      say(layer.name + ": the first " + r.maps.length + " of " + layer.channels + " channels for " + chosen);
      setState("ready");
    }
    buttons[Math.max(0, samples.indexOf(chosen))].setAttribute("aria-pressed", "true");
    await run();
  }

  async function neighbours() {
    const model = await loadModel();
    const emb = {};
    for (const name of samples) {
      say("Embedding " + name + "…");
      const r = await engine({ op: "classify", embedding: true }, await sampleBytes(name));
      emb[name] = r.result.embedding;
    }
    const cos = function (a, b) {
      let d = 0, na = 0, nb = 0;
      for (let i = 0; i < a.length; i++) { d += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
      return na && nb ? d / Math.sqrt(na * nb) : 0;
    };
    const grid = el("div", "neighbours");
    grid.setAttribute("data-testid", "embed-neighbours");
    let chosen = params.get("image") || samples[0];
    const buttons = samplePicker(function (name) { chosen = name; show(); });
    body.append(grid);
    function show() {
      grid.textContent = "";
      const ranked = samples.filter(function (s) { return s !== chosen; })
        .map(function (s) { return [s, cos(emb[chosen], emb[s])]; })
        .sort(function (a, b) { return b[1] - a[1]; });
      for (const [s, sim] of ranked) {
        const f = el("figure");
        const img = el("img");
        img.src = "samples/" + s;
        img.alt = s;
        f.append(img, el("figcaption", "", s.replace(".jpg", "") + " · " + sim.toFixed(2)));
        grid.append(f);
      }
      say("Nearest to " + chosen + ": " + ranked[0][0] + ", by the cosine similarity of " + model.arch + "'s embedding");
      setState("ready");
    }
    buttons[Math.max(0, samples.indexOf(chosen))].setAttribute("aria-pressed", "true");
    show();
  }

  // atlas draws an atlas file (.alxg with an atlas layout: the app's "Save .alxg", or
  // alexlens atlas --alxg) kept on this site: the engine reads the file (one reader of the
  // format, in Go) and needs no weights; each cell's icon sits at its place on the grid, and
  // choosing one shows its classes and the images that fell in it.
  async function atlas() {
    say("Reading the atlas file…");
    const bytes = await siteFile(params.get("gallery") || "", "atlas file", "data-gallery");
    engine = startEngine();
    const a = (await engine({ op: "atlas-show" }, bytes)).look.shown;
    const grid = el("div", "atlas");
    grid.setAttribute("data-testid", "embed-atlas");
    // Equal columns and rows, empty ones too, so every icon sits where the map put it.
    grid.style.gridTemplateColumns = "repeat(" + a.grid + ", 1fr)";
    grid.style.gridTemplateRows = "repeat(" + a.grid + ", 1fr)";
    const detail = el("div", "atlas-detail");
    detail.setAttribute("data-testid", "embed-atlas-detail");
    const what = a.of === "classes" ? "classes" : "images";
    function show(c, b) {
      grid.querySelectorAll("button[aria-pressed=true]").forEach(function (x) { x.setAttribute("aria-pressed", "false"); });
      b.setAttribute("aria-pressed", "true");
      detail.textContent = "";
      const img = el("img");
      img.src = b.firstChild.src;
      img.alt = b.title;
      const text = el("div");
      text.append(el("strong", "", "Row " + (c.y + 1) + ", column " + (c.x + 1) + " · " + c.count + " " + what));
      if (c.top.length) {
        const top = el("ol", "top");
        for (const t of c.top) top.append(el("li", "", t.label + " " + (100 * t.prob).toFixed(1) + "%"));
        text.append(top);
      }
      text.append(el("p", "members", c.members.join(", ") + (c.count > c.members.length ? " and " + (c.count - c.members.length) + " more" : "")));
      detail.append(img, text);
    }
    for (const c of a.cells) {
      const b = el("button");
      b.type = "button";
      b.style.gridColumn = String(c.x + 1);
      b.style.gridRow = String(c.y + 1);
      b.title = (c.top.length ? c.top[0].label + " · " : "") + c.count + " " + what;
      b.dataset.x = c.x;
      b.dataset.y = c.y;
      const img = el("img");
      img.src = URL.createObjectURL(new Blob([Uint8Array.from(atob(c.icon), function (ch) { return ch.charCodeAt(0); })], { type: "image/jpeg" }));
      img.alt = b.title;
      b.append(img);
      b.addEventListener("click", function () { show(c, b); });
      grid.append(b);
    }
    body.append(grid, detail);
    const kind = a.of === "classes" ? "the ImageNet classes laid out by their classifier weights" : (a.source || "a gallery") + " laid out";
    say(a.grid + "×" + a.grid + " atlas, " + a.cells.length + " cells with icons: " + kind + " by " + a.method +
      " · " + a.arch + " " + a.layer + (a.fixture ? " · untrained fixture weights: the icons are meaningless" : " · " + a.weights) + " · choose a cell");
    setState("ready");
  }

  const views = { kernels: kernels, classify: classify, activations: activations, neighbours: neighbours, atlas: atlas };
  (views[view] || function () { throw new Error("unknown view " + view + " (kernels, classify, activations, neighbours or atlas)"); })().catch(fail);
})();
