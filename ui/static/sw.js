// The AlexLens service worker: the app works with the network off once it has been opened.
// `alexlens site` fills in BUILD and SHELL for each build, so a new deployment is a new
// sw.js and the browser installs it.
//
// Why this shape:
// - The page (index.html) is fetched from the network first, so a reload after a deployment
//   shows the new version at once; offline, the copy cached with this build's shell answers.
//   Every other file has a content-hashed name, so a page only ever asks for the files of
//   its own build: old and new assets never mix.
// - Installing fetches the whole shell and checks each file's SHA-256 before anything is
//   stored; a failure (network, quota, a file changed under us) fails the install and the
//   previous version stays in charge. Nothing half-written is ever used.
// - Weight files are cached by the engine itself (Cache Storage, keyed by content hash);
//   files the visitor chose to keep offline (pwa.js) are served from OFFLINE_WEIGHTS.
"use strict";
const BUILD = "@BUILD@";
const SHELL = @SHELL@; // [[path relative to the scope, sha256], ...]
const SHELL_CACHE = "alexlens-shell-" + BUILD;
const DATA_CACHE = "alexlens-data"; // weights/manifest.json, last seen copy
const OFFLINE_WEIGHTS = "alexlens-offline-weights";
const MANIFEST = "weights/manifest.json";

function scoped(path) { return new URL(path, self.registration.scope).href; }

function hex(buf) {
  return Array.from(new Uint8Array(buf), function (b) { return b.toString(16).padStart(2, "0"); }).join("");
}

async function fetchChecked(path, sha) {
  const resp = await fetch(scoped(path), { cache: "reload", credentials: "same-origin" });
  if (!resp.ok) throw new Error(path + ": HTTP " + resp.status);
  const body = await resp.arrayBuffer();
  const got = hex(await crypto.subtle.digest("SHA-256", body));
  if (got !== sha) throw new Error(path + " does not match this build (sha256 " + got.slice(0, 12) + ", expected " + sha.slice(0, 12) + "): a newer deployment is on its way");
  const type = resp.headers.get("content-type") || "application/octet-stream";
  return new Response(body, { headers: { "content-type": type } });
}

self.addEventListener("install", function (event) {
  event.waitUntil((async function () {
    // Everything is downloaded and checked before the first put.
    const responses = await Promise.all(SHELL.map(function (f) { return fetchChecked(f[0], f[1]); }));
    const cache = await caches.open(SHELL_CACHE);
    try {
      for (let i = 0; i < SHELL.length; i++) await cache.put(scoped(SHELL[i][0]), responses[i]);
    } catch (e) {
      await caches.delete(SHELL_CACHE); // no half-written shell
      throw e;
    }
    try {
      const m = await fetch(scoped(MANIFEST), { cache: "reload" });
      if (m.ok) await (await caches.open(DATA_CACHE)).put(scoped(MANIFEST), m);
    } catch (e) { /* the app still starts; it says the weights list is missing */ }
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", function (event) {
  event.waitUntil((async function () {
    for (const name of await caches.keys()) {
      if (name.startsWith("alexlens-shell-") && name !== SHELL_CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

async function networkFirst(request, cacheName, key) {
  try {
    const resp = await fetch(request);
    if (resp.ok && cacheName) {
      const copy = resp.clone();
      caches.open(cacheName).then(function (c) { return c.put(key, copy); }).catch(function () {});
    }
    return resp;
  } catch (e) {
    const hit = await caches.match(key, cacheName ? { cacheName: cacheName } : undefined);
    if (hit) return hit;
    throw e;
  }
}

// page answers a navigation (index.html, embed.html) from the network, or offline from this
// build's copy.
async function page(request, path) {
  try {
    const resp = await fetch(request);
    if (resp.ok || resp.status === 304) return resp;
    throw new Error("HTTP " + resp.status);
  } catch (e) {
    const hit = await caches.match(scoped(path || "index.html"), { cacheName: SHELL_CACHE });
    if (hit) return hit;
    throw e;
  }
}

async function weightFile(request) {
  const hit = await caches.match(request.url, { cacheName: OFFLINE_WEIGHTS, ignoreSearch: true });
  return hit || fetch(request);
}

async function asset(request) {
  const hit = await caches.match(request.url, { cacheName: SHELL_CACHE, ignoreSearch: true });
  return hit || fetch(request);
}

self.addEventListener("fetch", function (event) {
  const req = event.request;
  if (req.method !== "GET" || req.headers.has("range")) return; // ranges go to the network
  const url = new URL(req.url);
  const scope = new URL(self.registration.scope);
  if (url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) return;
  const path = url.pathname.slice(scope.pathname.length);
  if (req.mode === "navigate" || path === "" || path === "index.html") {
    event.respondWith(page(req, path));
  } else if (path === MANIFEST) {
    event.respondWith(networkFirst(req, DATA_CACHE, scoped(MANIFEST)));
  } else if (path.startsWith("weights/")) {
    event.respondWith(weightFile(req));
  } else {
    event.respondWith(asset(req));
  }
});

self.addEventListener("message", function (event) {
  if (event.data && event.data.type === "build") {
    event.source.postMessage({ type: "build", build: BUILD });
  }
});
