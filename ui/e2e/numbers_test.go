//go:build !js

package e2e

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/chromedp/chromedp"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/internal/chromium"
)

// TestPhoneLayout: on a phone-sized screen nothing overflows sideways, and the app works
// from the keyboard alone (focus a sample photo, press Enter).
func TestPhoneLayout(t *testing.T) {
	ctx := browser(t, false)
	arch := engine.AlexNet.Name
	if haveReal {
		arch = engine.SqueezeNet11.Name
	}
	if err := chromium.EmulatePhone(ctx); err != nil {
		t.Fatal(err)
	}
	open(t, ctx, "?arch="+arch+"&precision=int8")
	if err := chromedp.Do(ctx, chromedp.Focus(chromedp.CSS(`[data-sample="chelsea.jpg"]`)), chromedp.KeyEvent("\r")); err != nil {
		t.Fatal(err)
	}
	waitResult(t, ctx, 1)
	if w := evalInt(t, ctx, `document.documentElement.scrollWidth`); w > chromium.PhoneWidth {
		t.Errorf("page is %d px wide on a %d px screen", w, chromium.PhoneWidth)
	}
	shot(t, ctx, "phone", chromium.PhoneWidth, chromium.PhoneHeight)
}

// TestBrowserNumbers measures what BENCHMARKS.md reports for the browser: asset sizes,
// navigation to ready and to the first prediction (cold profile and cached), and forward
// latency per network and precision on the CPU path. Timing is measured, never asserted;
// it runs only with ALEXLENS_BROWSER_BENCH=1 (ALEXLENS_BROWSER_BENCH_ONLY=arch/precision
// picks one configuration) and writes testout/browser-numbers.md.
func TestBrowserNumbers(t *testing.T) {
	if os.Getenv("ALEXLENS_BROWSER_BENCH") == "" {
		t.Skip("measurement only: set ALEXLENS_BROWSER_BENCH=1 to run it")
	}
	if skipAll != "" {
		t.Skip(skipAll)
	}
	var out strings.Builder
	fmt.Fprintf(&out, "## Browser (headless Chromium, %s)\n\n### Assets\n\n| file | raw | gzip -9 | brotli -11 |\n|---|---|---|---|\n", chromePath)
	entries, _ := os.ReadDir(webDir)
	for _, e := range entries {
		if e.IsDir() || !(strings.HasSuffix(e.Name(), ".wasm") || strings.HasSuffix(e.Name(), ".js") || strings.HasSuffix(e.Name(), ".css")) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(webDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		var gz, br bytes.Buffer
		g, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		g.Write(b)
		g.Close()
		w := brotli.NewWriterLevel(&br, brotli.BestCompression)
		w.Write(b)
		w.Close()
		fmt.Fprintf(&out, "| %s | %s | %s | %s |\n", e.Name(), kb(len(b)), kb(gz.Len()), kb(br.Len()))
	}

	type config struct{ arch, precision string }
	configs := []config{{engine.AlexNet.Name, "int8"}, {engine.AlexNet.Name, "f32"}}
	if haveReal {
		configs = append([]config{{engine.SqueezeNet11.Name, "f32"}, {engine.SqueezeNet11.Name, "int8"}}, configs...)
	}
	if only := os.Getenv("ALEXLENS_BROWSER_BENCH_ONLY"); only != "" { // e.g. alexnet/int8
		var keep []config
		for _, c := range configs {
			if c.arch+"/"+c.precision == only {
				keep = append(keep, c)
			}
		}
		configs = keep
	}
	sample := filepath.Join(moduleRoot, "ui", "samples", "chelsea.jpg")
	fmt.Fprintf(&out, "\n### Start-up and latency (chelsea.jpg, file input; forward = the page's forward-ms, median of 5)\n\n")
	fmt.Fprintf(&out, "| network | precision | weights | cold: to ready | cold: to 1st prediction | cached: to ready | cached: to 1st prediction | forward (ms) | preprocess (ms) |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range configs {
		ctx := browser(t, false)
		var visits [2][2]time.Duration
		var fwd, prep []float64
		for v := range 2 {
			tab := chromium.NewTab(t, ctx)
			start := time.Now()
			visits[v][0] = open(t, tab, "?arch="+c.arch+"&precision="+c.precision)
			upload(t, tab, sample)
			waitResult(t, tab, 1)
			visits[v][1] = time.Since(start)
			if v == 1 {
				for i := 2; i <= 6; i++ {
					upload(t, tab, sample)
					waitResult(t, tab, i)
					f, _ := strconv.ParseFloat(text(t, tab, "forward-ms"), 64)
					fwd = append(fwd, f)
					t.Logf("%s %s forward %.0f ms", c.arch, c.precision, f)
					p, _ := chromedp.Run(tab, chromedp.Evaluate[float64](`parseFloat((document.querySelector('.timing .small')?.textContent.match(/preprocessing ([0-9.]+)/) || [0, 'NaN'])[1])`))
					prep = append(prep, p)
				}
			}
		}
		kind := "trained"
		if c.arch == engine.AlexNet.Name {
			kind = "fixture"
		}
		fmt.Fprintf(&out, "| %s | %s | %s | %v | %v | %v | %v | %.0f | %.0f |\n", c.arch, c.precision, kind,
			ms(visits[0][0]), ms(visits[0][1]), ms(visits[1][0]), ms(visits[1][1]), median(fwd), median(prep))
	}
	t.Log("\n" + out.String())
	if err := os.MkdirAll("testout", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("testout", "browser-numbers.md"), []byte(out.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func kb(n int) string { return fmt.Sprintf("%.0f KB", float64(n)/1024) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}
