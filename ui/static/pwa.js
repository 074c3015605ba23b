// AlexLens as an installable, offline app: registers the service worker (sw.js) and offers
// to keep the weights on this device. `alexlens site` adds this script to index.html.
//
// Keeping weights offline is opt-in because they are large: the offer says how many MB it
// will store, checks the storage estimate first, verifies every downloaded piece against
// the manifest's SHA-256 and stores a file only when all its pieces are in; when storage
// runs out it removes what it stored for that file and says so.
"use strict";
(function () {
  if (!("serviceWorker" in navigator)) return; // still works online, just not offline
  const CACHE = "alexlens-offline-weights";
  const MANIFEST = "weights/manifest.json";

  navigator.serviceWorker.register("sw.js").catch(function (e) {
    console.warn("alexlens: no offline support: " + e);
  });

  function mb(n) { return (n / 1048576).toFixed(1) + " MB"; }
  function hex(buf) {
    return Array.from(new Uint8Array(buf), function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  // parts lists the URLs and hashes of a manifest entry: its shards, or the whole file.
  function parts(e) {
    if (e.shards && e.shards.length) return e.shards.map(function (s) { return { url: "weights/" + s.file, sha256: s.sha256, bytes: s.length }; });
    return [{ url: "weights/" + e.file, sha256: e.sha256, bytes: e.bytes }];
  }

  async function missing(entries) {
    const cache = await caches.open(CACHE);
    const out = [];
    for (const e of entries) {
      for (const p of parts(e)) {
        if (!(await cache.match(new URL(p.url, location.href).href))) { out.push(e); break; }
      }
    }
    return out;
  }

  async function save(entries, say) {
    const need = entries.reduce(function (n, e) { return n + e.bytes; }, 0);
    if (navigator.storage && navigator.storage.estimate) {
      const est = await navigator.storage.estimate();
      if (est.quota && est.quota - est.usage < need) {
        throw new Error("not enough storage space: keeping the weights needs " + mb(need) + ", this browser allows " + mb(Math.max(0, est.quota - est.usage)) + " more for this site");
      }
    }
    if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(function () {});
    const cache = await caches.open(CACHE);
    let done = 0;
    for (const e of entries) {
      const got = [];
      for (const p of parts(e)) {
        const resp = await fetch(p.url, { cache: "no-store" });
        if (!resp.ok) throw new Error(p.url + ": HTTP " + resp.status);
        const body = await resp.arrayBuffer();
        if (hex(await crypto.subtle.digest("SHA-256", body)) !== p.sha256) throw new Error(p.url + " is corrupt (SHA-256 mismatch)");
        got.push([new URL(p.url, location.href).href, body]);
        done += body.byteLength;
        say("Saving weights for offline use… " + mb(done) + " of " + mb(need));
      }
      const stored = [];
      try {
        for (const [url, body] of got) {
          await cache.put(url, new Response(body, { headers: { "content-type": "application/octet-stream" } }));
          stored.push(url);
        }
      } catch (err) {
        for (const url of stored) await cache.delete(url); // never leave part of a file
        if (err && err.name === "QuotaExceededError") {
          throw new Error("the browser ran out of storage space while saving " + e.file + " (" + mb(e.bytes) + "); free some space or keep fewer networks offline");
        }
        throw err;
      }
    }
  }

  async function offer() {
    let m;
    try {
      const r = await fetch(MANIFEST);
      if (!r.ok) return;
      m = await r.json();
    } catch (e) { return; }
    const entries = (m.weights || []).filter(function (e) { return e.kind === "trained" || m.weights.every(function (x) { return x.kind !== "trained"; }); });
    if (!entries.length) return;
    const box = document.createElement("aside");
    box.setAttribute("data-testid", "offline");
    box.className = "offline-offer";
    Object.assign(box.style, { position: "fixed", right: "12px", bottom: "12px", zIndex: 10, maxWidth: "22rem", padding: "8px 12px", borderRadius: "10px", font: "13px system-ui, sans-serif", background: "var(--card, #fff)", color: "var(--ink, #222)", boxShadow: "0 2px 12px rgba(0,0,0,.15)" });
    const text = document.createElement("span");
    text.setAttribute("data-testid", "offline-status");
    const button = document.createElement("button");
    button.setAttribute("data-testid", "offline-save");
    button.style.marginLeft = "8px";
    box.append(text, button);
    function say(s) { text.textContent = s; }
    async function refresh() {
      const todo = await missing(entries);
      const size = todo.reduce(function (n, e) { return n + e.bytes; }, 0);
      if (!todo.length) {
        say("Weights kept for offline use (" + mb(entries.reduce(function (n, e) { return n + e.bytes; }, 0)) + ").");
        button.hidden = true;
        box.dataset.state = "saved";
        return;
      }
      say("Use AlexLens offline:");
      button.textContent = "Keep weights on this device (" + mb(size) + ")";
      button.hidden = false;
      button.onclick = function () {
        button.disabled = true;
        box.dataset.state = "saving";
        save(todo, say).then(refresh, function (err) {
          box.dataset.state = "error";
          say("Could not keep the weights offline: " + (err && err.message ? err.message : err));
        }).finally(function () { button.disabled = false; });
      };
    }
    document.body.appendChild(box);
    refresh();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", offer);
  else offer();
})();
