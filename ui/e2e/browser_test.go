//go:build !js

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexlens/alexlens/internal/chromium"
	"github.com/chromedp/chromedp"
)

// browser starts a fresh headless Chromium with its own profile and a fake camera (the
// webcam test; the other pages never ask for it). webgpu=false leaves navigator.gpu
// without an adapter (the fallback case); true enables Chromium's software WebGPU. The
// returned context is one tab; chromium.NewTab opens more in the same profile.
func browser(t *testing.T, webgpu bool) context.Context {
	t.Helper()
	return chromium.New(t, chromium.Options{WebGPU: webgpu, FakeMedia: true})
}

// open navigates and waits until the status line says ready (or failed: then the test
// fails with the page's own message). It returns the time from navigation to ready.
func open(t *testing.T, ctx context.Context, query string) time.Duration {
	t.Helper()
	return openAt(t, ctx, baseURL, query)
}

// openAt is open on another server.
func openAt(t *testing.T, ctx context.Context, base, query string) time.Duration {
	t.Helper()
	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"+query)); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	type st struct {
		Status, Error, Boot string
	}
	s, err := chromedp.Run(ctx, chromedp.Poll[st](`(() => {
		const q = s => document.querySelector(s);
		const status = q('[data-testid=status]')?.textContent || '';
		const error = q('[data-testid=error]')?.textContent || '';
		const boot = q('[data-testid=boot-error]')?.textContent || '';
		return (status === 'ready' || status === 'failed' || boot) ? {Status: status, Error: error, Boot: boot} : null;
	})()`, chromedp.WithPollingTimeout(120*time.Second), chromedp.WithPollingInterval(10*time.Millisecond)))
	if err != nil {
		t.Fatalf("waiting for ready: %v (page: %s)", err, pageText(ctx))
	}
	if s.Status != "ready" {
		t.Fatalf("page did not get ready: status %q, error %q %s", s.Status, s.Error, s.Boot)
	}
	return time.Since(start)
}

func pageText(ctx context.Context) string {
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(tctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 600) : ''`))
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return s
}

func text(t *testing.T, ctx context.Context, testid string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector('[data-testid=%s]')?.textContent ?? '<missing>'`, testid)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func evalInt(t *testing.T, ctx context.Context, js string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](js))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// resultSeq is the number of results the page has shown.
func resultSeq(t *testing.T, ctx context.Context) int {
	return evalInt(t, ctx, `+(document.querySelector('[data-testid=result]')?.dataset.seq || 0)`)
}

// upload puts a file into the image input, as the file picker would.
func upload(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.CSS(`[data-testid=image-input]`), []string{path})); err != nil {
		t.Fatalf("upload %s: %v", path, err)
	}
}

// waitResult waits for result number seq (or a later one: the webcam's frames can come
// faster than the poll), or fails with the page's error message.
func waitResult(t *testing.T, ctx context.Context, seq int) {
	t.Helper()
	type out struct{ Seq, Error string }
	o, err := chromedp.Run(ctx, chromedp.Poll[out](fmt.Sprintf(`(() => {
		const err = document.querySelector('[data-testid=error]')?.textContent || '';
		const seq = document.querySelector('[data-testid=result]')?.dataset.seq || '';
		return (err || +seq >= %d) ? {Seq: seq, Error: err} : null;
	})()`, seq), chromedp.WithPollingTimeout(120*time.Second), chromedp.WithPollingInterval(10*time.Millisecond)))
	if err != nil {
		t.Fatalf("waiting for result %d: %v (page: %s)", seq, err, pageText(ctx))
	}
	if o.Error != "" {
		t.Fatalf("the page reported an error instead of result %d: %s", seq, o.Error)
	}
}

// waitError waits for the error banner and returns its text.
func waitError(t *testing.T, ctx context.Context) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Poll[string](`document.querySelector('[data-testid=error]')?.textContent || null`,
		chromedp.WithPollingTimeout(60*time.Second), chromedp.WithPollingInterval(10*time.Millisecond)))
	if err != nil {
		t.Fatalf("waiting for an error message: %v (page: %s)", err, pageText(ctx))
	}
	return strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "dismiss"))
}

type prediction struct {
	Label string
	Prob  float64
}

func predictions(t *testing.T, ctx context.Context) []prediction {
	t.Helper()
	p, err := chromedp.Run(ctx, chromedp.Evaluate[[]prediction](`[...document.querySelectorAll('[data-testid=prediction]')].map(e => ({Label: e.dataset.label, Prob: parseFloat(e.dataset.prob)}))`))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// screenshot saves the whole page under testout/ for a person to look at, at the
// standard window size.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	shot(t, ctx, name, chromium.ViewportWidth, chromium.ViewportHeight)
}

// shot saves the whole page, laid out w pixels wide, as testout/<name>.png.
func shot(t *testing.T, ctx context.Context, name string, w, h int64) {
	t.Helper()
	if err := chromium.FullPageScreenshot(ctx, filepath.Join("testout", name+".png"), w, h); err != nil {
		t.Errorf("screenshot %s: %v", name, err)
	}
}
