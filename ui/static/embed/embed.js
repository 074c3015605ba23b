// AlexLens embed snippet. On your page:
//   <div data-alexlens="kernels" data-arch="alexnet-bvlc"></div>
//   <script src="https://YOUR-ALEXLENS-SITE/embed.js" async></script>
// Each [data-alexlens] element gets an iframe of embed.html, created only when it comes
// near the viewport (nothing is downloaded before), as wide as its container and as tall
// as its content. The snippet adds no styles or globals to the host page.
"use strict";
(function () {
  const script = document.currentScript;
  if (!script || !script.src) return;
  const base = new URL(".", script.src);
  const frames = new Map(); // id -> iframe
  const holders = new Map(); // id -> the [data-alexlens] element
  const views = ["kernels", "classify", "activations", "neighbours", "atlas"];
  let count = 0;

  function mount(div) {
    if (div.getAttribute("data-alexlens-mounted")) return;
    div.setAttribute("data-alexlens-mounted", "1");
    const view = views.includes(div.dataset.alexlens) ? div.dataset.alexlens : "kernels";
    const q = new URLSearchParams({ view: view, id: "e" + (++count) });
    for (const k of ["arch", "precision", "layer", "image", "gallery", "head"]) if (div.dataset[k]) q.set(k, div.dataset[k]);
    const f = document.createElement("iframe");
    f.src = new URL("embed.html?" + q, base).href;
    f.title = "AlexLens: " + view;
    f.setAttribute("loading", "lazy");
    f.style.width = "100%";
    f.style.height = (parseInt(div.dataset.height, 10) || 240) + "px";
    f.style.border = "0";
    f.style.display = "block";
    f.style.colorScheme = "normal";
    frames.set(q.get("id"), f);
    holders.set(q.get("id"), div);
    div.appendChild(f);
  }

  // The embed asks for the height its content needs and reports its state; only our
  // frames are listened to.
  window.addEventListener("message", function (e) {
    const d = e.data;
    if (e.origin !== base.origin || !d || typeof d.alexlens !== "string") return;
    const f = frames.get(d.id);
    if (!f || f.contentWindow !== e.source) return;
    if (d.alexlens === "size") {
      const h = Math.max(40, Math.min(4000, Math.ceil(Number(d.height) || 0)));
      f.style.height = h + "px";
    } else if (d.alexlens === "state" && (d.state === "ready" || d.state === "error")) {
      holders.get(d.id).setAttribute("data-alexlens-state", d.state);
      holders.get(d.id).setAttribute("data-alexlens-status", String(d.text || "").slice(0, 300));
    }
  });

  const io = "IntersectionObserver" in window ? new IntersectionObserver(function (entries) {
    for (const en of entries) {
      if (en.isIntersecting) { io.unobserve(en.target); mount(en.target); }
    }
  }, { rootMargin: "200px" }) : null;

  function scan() {
    document.querySelectorAll("[data-alexlens]").forEach(function (d) { io ? io.observe(d) : mount(d); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", scan);
  else scan();
})();
