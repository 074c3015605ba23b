//go:build !js

package main

import (
	"path/filepath"
	"testing"

	"github.com/alexlens/alexlens/cloudflare/handler"
	"github.com/alexlens/alexlens/cloudflare/workerdtest"
	"github.com/alexlens/alexlens/server/httpsuite"
)

// TestWorkerd builds the Worker, stages the server/httpsuite fixture as its static assets,
// runs it locally in workerd (the Workers runtime, installed with wrangler from npm) and
// holds it to the same conformance suite as the Go server.
func TestWorkerd(t *testing.T) {
	root, _ := filepath.Abs("..")
	deps := workerdtest.InstallDeps(t, root)
	tmp := t.TempDir()
	build := filepath.Join(tmp, "build")
	workerdtest.Build(t, root, build)

	fx, err := httpsuite.WriteFixture(filepath.Join(tmp, "fixture"))
	if err != nil {
		t.Fatal(err)
	}
	fx.StrictPrecompressed = true
	fx.UnknownMethods501 = true // workerd's HTTP parser answers BREW itself
	assets := filepath.Join(build, "assets")
	if _, err := handler.Stage(fx.WebRoot, fx.WeightsDir, assets, handler.MaxAssetBytes); err != nil {
		t.Fatal(err)
	}
	url := workerdtest.Start(t, deps, build, "test-version")
	httpsuite.Run(t, url, fx)
}
