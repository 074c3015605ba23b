//go:build !js

package chromium

import (
	"bytes"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func TestPathPrefersEnvironment(t *testing.T) {
	t.Setenv("ALEXLENS_CHROMIUM", "/opt/some/chrome")
	if got := Path(); got != "/opt/some/chrome" {
		t.Errorf("Path() = %q with ALEXLENS_CHROMIUM set", got)
	}
	t.Setenv("ALEXLENS_CHROMIUM", "")
	got := Path()
	if got != "" && !slices.Contains(candidates, got) {
		t.Errorf("Path() = %q, not one of %v", got, candidates)
	}
}

// TestBrowserPageConsoleScreenshots drives a real Chromium: a loopback page logs to the
// console and is taller than the viewport; the viewport shot is 1280x900, the full-page
// shot covers the page, the viewport is put back afterwards, and phone emulation gives a
// 390 px wide screen at two device pixels per CSS pixel.
func TestBrowserPageConsoleScreenshots(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<!doctype html><meta name="viewport" content="width=device-width"><body style="margin:0"><div style="height:2000px;background:#c33">tall</div>
<script>console.log('hello from the page')</script></body>`))
	}))
	defer srv.Close()
	ctx := New(t, Options{})
	con := Console(ctx)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	view, full := filepath.Join(dir, "a", "view.png"), filepath.Join(dir, "b", "full.png")
	if err := Screenshot(ctx, view); err != nil {
		t.Fatal(err)
	}
	if err := FullPageScreenshot(ctx, full, 800, 600); err != nil {
		t.Fatal(err)
	}
	checkSize(t, view, ViewportWidth, ViewportHeight)
	checkSize(t, full, 800, 2000)
	inner, err := chromedp.Run(ctx, chromedp.Evaluate[[]int]("[innerWidth, innerHeight]"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(inner, []int{800, 600}) {
		t.Errorf("viewport after the full-page shot is %v, want [800 600]", inner)
	}
	if err := EmulatePhone(ctx); err != nil {
		t.Fatal(err)
	}
	phone, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64]("[innerWidth, devicePixelRatio]"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(phone, []float64{PhoneWidth, 2}) {
		t.Errorf("phone emulation gives [innerWidth, devicePixelRatio] = %v, want [%d 2]", phone, PhoneWidth)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !slices.ContainsFunc(con.Lines(), func(l string) bool { return strings.Contains(l, "hello from the page") }) {
		if time.Now().After(deadline) {
			t.Fatalf("console lines %q lack the page's message", con.Lines())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func checkSize(t *testing.T, path string, w, h int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if got := img.Bounds().Size(); got.X != w || got.Y != h {
		t.Errorf("%s is %dx%d, want %dx%d", path, got.X, got.Y, w, h)
	}
}
