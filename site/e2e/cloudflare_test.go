//go:build !js

package e2e

import (
	"path/filepath"
	"testing"

	"github.com/alexlens/alexlens/cloudflare/handler"
	"github.com/alexlens/alexlens/cloudflare/workerdtest"
	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/internal/testenv"
)

// TestWorkerServesApp: the exported site staged as Workers static assets and served by
// the Go Worker in workerd works in Chromium: the app starts, loads sharded weights, and
// classifies; its service worker installs from the Worker too.
func TestWorkerServesApp(t *testing.T) {
	ctx := browser(t)
	deps := workerdtest.InstallDeps(t, moduleRoot)
	tmp := t.TempDir()
	build := filepath.Join(tmp, "build")
	workerdtest.Build(t, moduleRoot, build)
	dist := filepath.Join(tmp, "dist")
	res := export(t, webDir, dist)
	if _, err := handler.Stage(dist, filepath.Join(dist, "weights"), filepath.Join(build, "assets"), handler.MaxAssetBytes); err != nil {
		t.Fatal(err)
	}
	url := workerdtest.Start(t, deps, build, res.Build)
	open(t, ctx, url+"/?arch="+engine.SqueezeNet11.Name+"&precision=f32")
	checkCat(t, classify(t, ctx, testenv.Photo(t, "chelsea.png")))
	controlledBy(t, ctx, res.Build)
	if v := eval[string](t, ctx, `fetch('/healthz').then(r => r.json()).then(j => j.version)`); v != res.Build {
		t.Errorf("/healthz version %q, want %q", v, res.Build)
	}
}
