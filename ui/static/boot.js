// Starts the Vugu app (Go compiled to WebAssembly). External file, no inline script: the
// page's Content-Security-Policy allows scripts from this origin only, and no eval.
"use strict";
(function () {
  // Vugu installs its DOM helper with window.eval; the helper already came from
  // vugu-render.js, so eval (forbidden by the CSP anyway) is made a harmless no-op.
  if (typeof window.vuguRender === "function") {
    window.eval = function () {};
  }
  const app = document.documentElement.dataset.app;
  function fail(err) {
    const el = document.querySelector("#app");
    el.textContent = "";
    const p = document.createElement("p");
    p.className = "boot-error";
    p.setAttribute("data-testid", "boot-error");
    p.textContent = "AlexLens could not start: " + err + ". It needs a browser with WebAssembly (any current Chrome, Edge, Firefox or Safari).";
    el.appendChild(p);
  }
  if (typeof WebAssembly !== "object" || typeof Go !== "function") {
    fail("WebAssembly is not available");
    return;
  }
  const go = new Go();
  const start = WebAssembly.instantiateStreaming
    ? WebAssembly.instantiateStreaming(fetch(app), go.importObject).catch(function () {
        // Servers that send another Content-Type for .wasm: compile from bytes instead.
        return fetch(app).then(function (r) { return r.arrayBuffer(); })
          .then(function (b) { return WebAssembly.instantiate(b, go.importObject); });
      })
    : fetch(app).then(function (r) { return r.arrayBuffer(); })
        .then(function (b) { return WebAssembly.instantiate(b, go.importObject); });
  start.then(function (r) { return go.run(r.instance); }).catch(function (e) { fail(String(e)); });
})();
