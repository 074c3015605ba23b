//go:build !js

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/internal/chromium"
)

// TestEngineOutOfMemory runs the app in a Chromium whose WebAssembly memories cannot grow
// past a limit (V8's --wasm-max-mem-pages, 64 KiB pages), as on a phone short of memory,
// with AlexNet's float32 (244 MB) and int8 (61 MB) files. Go's runtime then stops the
// engine worker with "fatal error: out of memory": at 216 MB while the float32 file loads,
// at 256 MB in the first pass. The page must not hang: the worker is restarted, the int8
// weights are loaded instead with a note saying why, and the page classifies.
func TestEngineOutOfMemory(t *testing.T) {
	dir, _ := alexNetFiles(t, engine.F32, engine.Int8)
	var log requestLog
	url := serveWeights(t, dir, &log)
	photo := filepath.Join(moduleRoot, "ui", "samples", "chelsea.jpg")
	for _, tc := range []struct {
		name  string
		pages int
	}{{"while-loading", 3456}, {"in-a-pass", 4096}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := chromium.New(t, chromium.Options{Extra: []chromedp.ExecAllocatorOption{chromedp.Flag("js-flags", fmt.Sprintf("--wasm-max-mem-pages=%d", tc.pages))}})
			tab := chromium.NewTab(t, ctx)
			console := chromium.Console(tab)
			openAt(t, tab, url, "?arch=alexnet&backend=cpu")
			upload(t, tab, photo)
			// In a pass the engine stops with the photo: wait for the restart and the int8
			// load, then classify again.
			_, err := chromedp.Run(tab, chromedp.Poll[bool](`(document.querySelector('[data-testid=weights-note]')?.textContent || '').includes('did not fit') && document.querySelector('[data-testid=status]')?.textContent === 'ready' || null`,
				chromedp.WithPollingTimeout(3*60e9)))
			if err != nil {
				t.Fatalf("no int8 reload after the engine ran out of memory: %v; page: %s", err, text(t, tab, "status"))
			}
			upload(t, tab, photo)
			if err := waitAnyResult(tab); err != nil {
				t.Fatal(err)
			}
			lines := console.Lines()
			if !slices.ContainsFunc(lines, func(l string) bool {
				return strings.Contains(l, "restarting the engine worker") && strings.Contains(l, "fatal error: out of memory")
			}) {
				t.Errorf("the console does not say the engine was restarted after running out of memory")
			}
			footer, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.querySelector('footer')?.textContent ?? ''`))
			if !strings.Contains(footer, "int8 weights") {
				t.Errorf("footer %q, want the int8 weights loaded", footer)
			}
			t.Logf("weights note: %q", text(t, tab, "weights-note"))
		})
	}
}

// waitAnyResult waits until the page shows predictions.
func waitAnyResult(tab context.Context) error {
	_, err := chromedp.Run(tab, chromedp.Poll[bool](`document.querySelectorAll('[data-testid=prediction]').length === 5 || null`, chromedp.WithPollingTimeout(2*60e9)))
	return err
}
