//go:build !js

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser starts a fresh headless Chromium with its own profile. webgpu=false leaves
// navigator.gpu without an adapter (the fallback case); true enables Chromium's software
// WebGPU. The returned context is one tab; newTab opens more in the same profile.
func browser(t *testing.T, webgpu bool) context.Context {
	t.Helper()
	if skipAll != "" {
		t.Skip(skipAll)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromePath),
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
	)
	if webgpu {
		opts = append(opts, chromedp.Flag("enable-unsafe-webgpu", true))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	keepConsole(t, ctx)
	return ctx
}

// keepConsole records the tab's console and prints it when the test fails.
func keepConsole(t *testing.T, ctx context.Context) {
	var mu sync.Mutex
	var lines []string
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			mu.Lock()
			lines = append(lines, m.String())
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		if t.Failed() {
			mu.Lock()
			defer mu.Unlock()
			for _, l := range lines {
				t.Log("console:", l)
			}
		}
	})
}

func newTab(t *testing.T, parent context.Context) context.Context {
	ctx, cancel := chromedp.NewContext(parent)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}
	keepConsole(t, ctx)
	return ctx
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

// waitResult waits for result number seq, or fails with the page's error message.
func waitResult(t *testing.T, ctx context.Context, seq int) {
	t.Helper()
	type out struct{ Seq, Error string }
	o, err := chromedp.Run(ctx, chromedp.Poll[out](fmt.Sprintf(`(() => {
		const err = document.querySelector('[data-testid=error]')?.textContent || '';
		const seq = document.querySelector('[data-testid=result]')?.dataset.seq || '';
		return (err || seq === '%d') ? {Seq: seq, Error: err} : null;
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

// screenshot saves the whole page under testout/ for a person to look at: the viewport is
// stretched to the page's height for the capture, then put back.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	shot(t, ctx, name, 1280, 900)
}

func shot(t *testing.T, ctx context.Context, name string, w, h int64) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, h)); err != nil {
		t.Fatal(err)
	}
	full, err := chromedp.Run(ctx, chromedp.Evaluate[int64](`Math.ceil(document.documentElement.scrollHeight)`))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, max(h, full)), chromedp.Sleep(150*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err == nil {
		err = os.MkdirAll("testout", 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join("testout", name+".png"), png, 0o644)
	}
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, h)); err != nil {
		t.Fatal(err)
	}
}
