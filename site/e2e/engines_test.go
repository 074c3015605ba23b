//go:build !js

package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/internal/apppage"
	"github.com/alexlens/alexlens/internal/testenv"
	"github.com/alexlens/alexlens/internal/webdriver"
	"github.com/alexlens/alexlens/server"
)

// TestEngines walks the static export in each engine people read on (Chromium, Firefox
// ESR, WebKitGTK): the app starts from sharded weights and its service worker takes
// control; with the host gone (every connection dropped) a reload starts from the service
// worker's cache and classifies; and a blog post on another origin shows a classify and an
// activations embed, which share one engine.
func TestEngines(t *testing.T) {
	if skipAll != "" {
		t.Skip(skipAll)
	}
	dist := filepath.Join(t.TempDir(), "dist")
	res := export(t, webDir, dist)
	sq := engine.SqueezeNet11.Name
	for _, name := range webdriver.Engines {
		t.Run(name, func(t *testing.T) {
			p := webdriver.Open(t, name)
			w := apppage.Page{T: t, P: p}
			h := serveCSP(t, dist, server.DefaultCSP)

			// The PWA: ready, controlled by this build's service worker, then offline.
			w.Open(h.url + "/?arch=" + sq + "&precision=f32")
			waitControlled(t, res.Build, func(js string) swAnswer { return webdriver.Must[swAnswer](t, p, js) }, func() string { return webdriver.Text(p) })
			h.offline.Store(true)
			before := h.count("", "")
			w.Open(h.url + "/?arch=" + sq + "&precision=f32")
			if got := webdriver.Must[string](t, p, `document.documentElement.dataset.build`); got != res.Build {
				t.Errorf("offline page is build %q, want %q", got, res.Build)
			}
			var top []prediction
			for _, x := range w.Classify(testenv.Photo(t, "chelsea.png")) {
				top = append(top, prediction{x.Label, x.Prob})
			}
			checkCat(t, top)
			if after := h.count("", ""); after != before {
				t.Errorf("the host answered %d requests while offline", after-before)
			}
			h.offline.Store(false)

			// Embeds in a blog post on another origin.
			post := blogPost(t, h.url, `
<div data-alexlens="classify" data-arch="`+sq+`"></div>
<div data-alexlens="activations" data-arch="`+sq+`" data-layer="conv1"></div>`)
			if err := p.Navigate(post); err != nil {
				t.Fatal(err)
			}
			var states []embedState
			webdriver.Poll(t, p, "2 embeds", `(() => {
				const s = [...document.querySelectorAll('[data-alexlens-state]')].map(d => ({View: d.dataset.alexlens, State: d.dataset.alexlensState, Status: d.dataset.alexlensStatus || ''}));
				return s.length >= 2 && s.every(x => x.State !== 'loading') ? s : null;
			})()`, 240*time.Second, &states)
			for _, s := range states {
				if s.State != "ready" {
					t.Errorf("%s embed: %s (%s)", s.View, s.State, s.Status)
				}
				if haveReal && s.View == "classify" && !strings.Contains(s.Status, "cat") && !strings.Contains(s.Status, "tabby") {
					t.Errorf("classify embed on chelsea.jpg: %s", s.Status)
				}
				t.Logf("%s embed: %s", s.View, s.Status)
			}
			if v := webdriver.Must[[]string](t, p, `window.violations`); len(v) > 0 {
				t.Errorf("CSP violations on the host page: %v", v)
			}
		})
	}
}
