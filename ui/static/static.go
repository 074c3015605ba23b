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
