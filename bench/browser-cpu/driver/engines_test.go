package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/alexlens/alexlens/internal/testenv"
	"github.com/alexlens/alexlens/internal/webdriver"
)

// TestEngines runs the benchmark page in other browser engines through internal/webdriver
// (Firefox ESR over WebDriver BiDi, WebKitGTK through WebKitWebDriver), the same page,
// server and report as the Chromium driver, one report per engine in
// build/browser-cpu/report-ENGINE.md. Opt-in, with the engines to run:
// ALEXLENS_BENCH_ENGINES=firefox,webkit (bench/browser-cpu/run.sh sets it). It reports; it
// asserts nothing about speed.
func TestEngines(t *testing.T) {
	list := os.Getenv("ALEXLENS_BENCH_ENGINES")
	if list == "" {
		t.Skip("opt-in: ALEXLENS_BENCH_ENGINES=firefox,webkit (bench/browser-cpu/run.sh)")
	}
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(root, "build", "browser-cpu")
	base, ref, err := serve(files{page: filepath.Join(root, "bench", "browser-cpu", "page"), peers: filepath.Join(work, "node_modules"),
		data: filepath.Join(work, "data"), web: filepath.Join(work, "web"), weights: filepath.Join(work, "weights")})
	if err != nil {
		t.Fatal(err)
	}
	const warmup, runs = 3, 12
	for _, eng := range strings.Split(list, ",") {
		t.Run(eng, func(t *testing.T) {
			loadBefore := loadAvg()
			p := webdriver.Open(t, eng)
			ua := webdriver.Must[string](t, p, "navigator.userAgent")
			var results []result
			for _, pg := range pages(base, "alexlens,alexlens-int8,ort,tfjs", "alexnet,squeezenet1_1", fmt.Sprintf("1,%d", runtime.NumCPU()), warmup, runs, "") {
				if err := p.Navigate(pg.url); err != nil {
					t.Fatal(err)
				}
				var rs []result
				webdriver.Poll(t, p, "the results", "window.benchResult || null", 10*time.Minute, &rs)
				results = append(results, pg.label(rs)...)
			}
			report := render(results, ref, ua, warmup, runs, loadBefore+" / "+loadAvg())
			t.Log("\n" + report)
			if err := os.WriteFile(filepath.Join(work, "report-"+eng+".md"), []byte(report), 0o644); err != nil {
				t.Fatal(err)
			}
		})
	}
}
