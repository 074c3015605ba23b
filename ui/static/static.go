// Package static holds the web app's files that `alexlens site` adds to a static export:
// the service worker, the script that registers it, the web app manifest and the embed
// page with its snippet. The rest of this folder is copied by scripts/build-web.sh.
package static

import "embed"

// PWA holds sw.js (a template: BUILD and SHELL are filled in per build), pwa.js and
// manifest.webmanifest.
//
//go:embed sw.js pwa.js manifest.webmanifest
var PWA embed.FS

// Embed holds the embed page (embed.html, with view.js, engine.js and embed.css, templates
// the export fills with hashed names), the host page's snippet (embed.js) and the live
// preview (demo.html).
//
//go:embed embed/embed.html embed/embed.js embed/view.js embed/engine.js embed/embed.css embed/demo.html
var Embed embed.FS
