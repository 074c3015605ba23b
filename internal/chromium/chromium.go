//go:build !js

// Package chromium starts the headless Chromium that the project's browser tests and
// browser benchmarks drive with chromedp: one place that knows where the binary lives, which
// flags keep it quiet and reproducible, how a test skips when it is missing, and how a page
// is saved as a picture.
package chromium

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// NotInstalled is the reason tests give when they skip for want of a browser.
const NotInstalled = "Chromium is not installed (apt-get install chromium, or scripts/install-test-deps.sh)"

// candidates are the places Debian, Ubuntu and Google put the browser. The real binary
// comes first: /usr/bin/chromium is a shell wrapper that prints a stray line on start.
var candidates = []string{"/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"}

// Path is the browser binary: $ALEXLENS_CHROMIUM when set, else the first installed of the
// usual places; "" when there is none.
func Path() string {
	if p := os.Getenv("ALEXLENS_CHROMIUM"); p != "" {
		return p
	}
	for _, p := range candidates {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// Options says what a browser needs beyond the standard flags.
type Options struct {
	// WebGPU turns on Chromium's software WebGPU adapter (SwiftShader). Without it
	// navigator.gpu exists but requestAdapter() answers null: the fallback case.
	WebGPU bool
	// FakeMedia answers getUserMedia with a synthetic camera, without a permission prompt.
	FakeMedia bool
	// UserDataDir is the profile folder; "" lets chromedp make a temporary one.
	UserDataDir string
	// Extra flags, after the standard ones (they win on a clash).
	Extra []chromedp.ExecAllocatorOption
}

// AllocatorOptions are chromedp's defaults (no first-run UI, no background networking, no
// throttling of background tabs) plus the new headless mode, no sandbox (tests run as
// root in CI) and none of the update, reporting and ping traffic that would leave loopback.
func AllocatorOptions(path string, o Options) []chromedp.ExecAllocatorOption {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox,
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
	)
	if o.UserDataDir != "" {
		opts = append(opts, chromedp.UserDataDir(o.UserDataDir))
	}
	if o.WebGPU {
		opts = append(opts, chromedp.Flag("enable-unsafe-webgpu", true))
	}
	if o.FakeMedia {
		opts = append(opts,
			chromedp.Flag("use-fake-ui-for-media-stream", true),
			chromedp.Flag("use-fake-device-for-media-stream", true))
	}
	return append(opts, o.Extra...)
}

// Start launches the browser at path (lazily, on the first action) and returns the context
// of its first tab and the function that closes it. It is for programs; tests use New.
func Start(path string, o Options) (context.Context, context.CancelFunc) {
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), AllocatorOptions(path, o)...)
	ctx, cancel := chromedp.NewContext(actx)
	return ctx, func() { cancel(); cancelAlloc() }
}

// ViewportWidth and ViewportHeight are the window size New and NewTab give each tab.
const ViewportWidth, ViewportHeight = 1280, 900

// PhoneWidth and PhoneHeight are the CSS-pixel screen EmulatePhone gives a tab: a common
// recent phone held upright, the size the apps' narrow layouts are checked at.
const PhoneWidth, PhoneHeight = 390, 844

// EmulatePhone makes ctx's tab a phone screen: PhoneWidth x PhoneHeight at two device
// pixels per CSS pixel, with mobile viewport rules (the page's meta viewport applies).
func EmulatePhone(ctx context.Context) error {
	return chromedp.Do(ctx, chromedp.EmulateViewport(PhoneWidth, PhoneHeight, chromedp.EmulateScale(2), chromedp.EmulateMobile))
}

// New starts a browser with a fresh profile for the test, or skips the test with
// NotInstalled. The context is its first tab, already started, with a 1280x900 viewport
// and its console printed if the test fails; everything closes when the test ends.
func New(t testing.TB, o Options) context.Context {
	t.Helper()
	path := Path()
	if path == "" {
		t.Skip(NotInstalled)
	}
	if o.UserDataDir == "" {
		o.UserDataDir = t.TempDir()
	}
	ctx, cancel := Start(path, o)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(ViewportWidth, ViewportHeight)); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	KeepConsole(t, ctx)
	return ctx
}

// NewTab opens another tab in parent's browser (same profile) with the same viewport and
// console capture; it closes when the test ends.
func NewTab(t testing.TB, parent context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(parent)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(ViewportWidth, ViewportHeight)); err != nil {
		t.Fatal(err)
	}
	KeepConsole(t, ctx)
	return ctx
}

// KeepConsole records the tab's console messages and logs them if the test fails: the
// page's own account is usually the quickest way to see why.
func KeepConsole(t testing.TB, ctx context.Context) {
	c := Console(ctx)
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range c.Lines() {
				t.Log("console:", l)
			}
		}
	})
}

// ConsoleLog is a tab's console so far, safe to read while the tab is still writing.
type ConsoleLog struct {
	mu    sync.Mutex
	lines []string
}

// Console starts recording ctx's tab console.
func Console(ctx context.Context) *ConsoleLog {
	c := &ConsoleLog{}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			c.mu.Lock()
			c.lines = append(c.lines, m.String())
			c.mu.Unlock()
		}
	}()
	return c
}

// Lines is a copy of the messages recorded so far.
func (c *ConsoleLog) Lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...)
}

// Screenshot saves the tab's viewport as a PNG at path, making its folder.
func Screenshot(ctx context.Context, path string) error {
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		return err
	}
	return writeFile(path, png)
}

// FullPageScreenshot saves the whole page at width w: the viewport is stretched to the
// page's height (at least h) for the capture, then put back to w x h.
func FullPageScreenshot(ctx context.Context, path string, w, h int64) error {
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, h)); err != nil {
		return err
	}
	full, err := chromedp.Run(ctx, chromedp.Evaluate[int64](`Math.ceil(document.documentElement.scrollHeight)`))
	if err != nil {
		return err
	}
	// The pause lets layout settle at the new size before the capture.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, max(h, full)), chromedp.Sleep(150*time.Millisecond)); err != nil {
		return err
	}
	png, shotErr := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if shotErr == nil {
		shotErr = writeFile(path, png)
	}
	return errors.Join(shotErr, chromedp.Do(ctx, chromedp.EmulateViewport(w, h)))
}

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
