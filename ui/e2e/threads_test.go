//go:build !js

package e2e

import (
	"context"
	"fmt"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/alexlens/alexlens/internal/chromium"
	"github.com/alexlens/alexlens/internal/testenv"
	"github.com/alexlens/alexlens/server"
	"github.com/alexlens/alexlens/wasm/protocol"
)

// TestThreads loads the app served without cross-origin isolation (server.Config
// NotIsolated, as for a host that cannot send the headers) with ?threads=1, ?threads=2 and
// without the parameter, on the real SqueezeNet weights and the AlexNet fixture, classifies
// two photos in a row and checks that the top-5 equals the native path's (as in
// TestClassifyMatchesNative) and that the page says how many threads ran: one, since kernel
// workers need shared memory, and with threads=2 a note saying why.
func TestThreads(t *testing.T) {
	ctx := browser(t, false)
	photos := []string{"chelsea.png", "coffee.png"}
	for _, p := range photos {
		testenv.Photo(t, p) // skips when python3-skimage is absent
	}
	h, err := server.New(server.Config{WebRoot: webDir, WeightsDir: weightsDir, NotIsolated: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	cases := []struct {
		arch, precision, threads string
		trained                  bool
	}{
		{"squeezenet1_1", "f32", "1", true},
		{"squeezenet1_1", "f32", "2", true},
		{"squeezenet1_1", "f32", "", true},
		{"alexnet", "int8", "1", false},
		{"alexnet", "int8", "2", false},
		{"alexnet", "int8", "", false},
	}
	for _, tc := range cases {
		name := tc.arch + "-threads-" + tc.threads
		if tc.threads == "" {
			name = tc.arch + "-threads-auto"
		}
		t.Run(name, func(t *testing.T) {
			if tc.trained && !haveReal {
				t.Skipf("real SqueezeNet weights absent (%s): set ALEXLENS_SHARED to the folder holding weights/", testenv.SharedWeightsDir())
			}
			tab := chromium.NewTab(t, ctx)
			query := "?arch=" + tc.arch + "&precision=" + tc.precision
			if tc.threads != "" {
				query += "&threads=" + tc.threads
			}
			openAt(t, tab, srv.URL, query)
			workers := "1 thread"
			if note := text(t, tab, "backend-note"); (tc.threads == "2") != strings.Contains(note, "2 threads need a cross-origin isolated page") {
				t.Errorf("threads=%s on a page that is not isolated: note %q", tc.threads, note)
			}
			file := manifestFile(t, tc.arch, tc.precision)
			for i, p := range photos {
				photo := filepath.Join(testenv.PhotosDir, p)
				upload(t, tab, photo)
				waitResult(t, tab, i+1)
				got := predictions(t, tab)
				native := nativeTop5(t, file, photo)
				if len(got) != 5 {
					t.Fatalf("%s: page shows %d predictions, want 5: %v", p, len(got), got)
				}
				for r := range native {
					if got[r].Label != native[r].Label || math.Abs(got[r].Prob-native[r].Prob) > 1e-3 {
						t.Errorf("%s rank %d: page %q %.5f, native %q %.5f", p, r+1, got[r].Label, got[r].Prob, native[r].Label, native[r].Prob)
					}
				}
				// Chromium runs the generated WebAssembly SIMD module (wasm/cpukernel).
				path := text(t, tab, "compute-path")
				if !strings.HasSuffix(path, " · "+workers) || !strings.Contains(path, " · generated SIMD module · ") {
					t.Errorf("%s: compute path %q does not name the generated SIMD module and end in %q", p, path, workers)
				}
				ms := text(t, tab, "forward-ms")
				if ms == "" || ms == "<missing>" {
					t.Errorf("%s: no forward time shown", p)
				}
				t.Logf("%s on %s: forward %s ms, %s", tc.arch, workers, ms, got[0].Label)
			}
		})
	}
}

// TestThreadsIsolated serves the app cross-origin isolated (the server's default) and
// checks that ?threads=2 then runs the engine
// on a shared memory with a kernel worker beside it (wasm/cpukernel's pool; the engine
// worker says so on the console) and still gives the native path's top-5, on the AlexNet
// fixture and, where present, the real SqueezeNet.
func TestThreadsIsolated(t *testing.T) {
	ctx := browser(t, false)
	photo := testenv.Photo(t, "chelsea.png")
	h, err := server.New(server.Config{WebRoot: webDir, WeightsDir: weightsDir})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, tc := range []struct {
		arch, precision string
		trained         bool
	}{{"alexnet", "int8", false}, {"squeezenet1_1", "f32", true}} {
		t.Run(tc.arch, func(t *testing.T) {
			if tc.trained && !haveReal {
				t.Skipf("real SqueezeNet weights absent (%s)", testenv.SharedWeightsDir())
			}
			tab := chromium.NewTab(t, ctx)
			console := chromium.Console(tab)
			openAt(t, tab, srv.URL, "?arch="+tc.arch+"&precision="+tc.precision+"&threads=2")
			if evalInt(t, tab, `self.crossOriginIsolated ? 1 : 0`) != 1 {
				t.Fatal("the page served isolated (the default) is not cross-origin isolated")
			}
			upload(t, tab, photo)
			waitResult(t, tab, 1)
			got, native := predictions(t, tab), nativeTop5(t, manifestFile(t, tc.arch, tc.precision), photo)
			if len(got) != 5 {
				t.Fatalf("page shows %d predictions, want 5: %v", len(got), got)
			}
			for r := range native {
				if got[r].Label != native[r].Label || math.Abs(got[r].Prob-native[r].Prob) > 1e-3 {
					t.Errorf("rank %d: page %q %.5f, native %q %.5f", r+1, got[r].Label, got[r].Prob, native[r].Label, native[r].Prob)
				}
			}
			if path, want := text(t, tab, "compute-path"), " · generated SIMD module · "+tc.precision+" · 2 threads (kernel workers)"; !strings.HasSuffix(path, want) {
				t.Errorf("compute path %q does not end in %q", path, want)
			}
			// One Go worker and a kernel worker on its shared memory (wasm/cpukernel's pool).
			const want = "kernels on 2 threads over shared memory"
			if !slices.ContainsFunc(console.Lines(), func(l string) bool { return strings.Contains(l, want) }) {
				t.Errorf("the console does not say %q: %q", want, console.Lines())
			}
			t.Logf("%s on 2 threads, isolated: forward %s ms, %s", tc.arch, text(t, tab, "forward-ms"), got[0].Label)
		})
	}
	// Without ?threads the page gets the cores less one (protocol.DefaultThreads).
	tab := chromium.NewTab(t, ctx)
	openAt(t, tab, srv.URL, "?arch=alexnet&precision=int8")
	upload(t, tab, photo)
	waitResult(t, tab, 1)
	n := protocol.DefaultThreads(evalInt(t, tab, `navigator.hardwareConcurrency`))
	want := "1 thread"
	if n > 1 {
		want = fmt.Sprintf("%d threads (kernel workers)", n)
	}
	if path := text(t, tab, "compute-path"); !strings.HasSuffix(path, " · "+want) {
		t.Errorf("without ?threads: compute path %q does not end in %q", path, want)
	}
}

// TestThreadsNumbers (opt-in: ALEXLENS_BROWSER_BENCH=1) measures the app's forward time
// ([data-testid=forward-ms]) on 1 and 2 threads, served cross-origin isolated so that the
// second thread is a kernel worker: one tab each, loaded side by side and run in turn photo
// by photo, so that load from elsewhere falls on both alike. It reports medians; it asserts
// nothing about speed.
func TestThreadsNumbers(t *testing.T) {
	if os.Getenv("ALEXLENS_BROWSER_BENCH") == "" {
		t.Skip("opt-in: set ALEXLENS_BROWSER_BENCH=1")
	}
	ctx := browser(t, false)
	photo := testenv.Photo(t, "coffee.png")
	h, err := server.New(server.Config{WebRoot: webDir, WeightsDir: weightsDir})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	const rounds = 12
	for _, net := range []struct{ arch, precision string }{{"alexnet", "f32"}, {"alexnet", "int8"}, {"squeezenet1_1", "f32"}} {
		if net.arch == "squeezenet1_1" && !haveReal {
			continue
		}
		tabs := map[int]context.Context{}
		times := map[int][]float64{}
		for _, n := range []int{1, 2} {
			tabs[n] = chromium.NewTab(t, ctx)
			openAt(t, tabs[n], srv.URL, fmt.Sprintf("?arch=%s&precision=%s&threads=%d", net.arch, net.precision, n))
		}
		for r := 1; r <= rounds; r++ {
			for _, n := range []int{1, 2} {
				upload(t, tabs[n], photo)
				waitResult(t, tabs[n], r)
				v, err := strconv.ParseFloat(text(t, tabs[n], "forward-ms"), 64)
				if err != nil {
					t.Fatal(err)
				}
				if r > 2 { // the first passes pack the weights
					times[n] = append(times[n], v)
				}
			}
		}
		t.Logf("%s %s forward ms (median of %d, in the app): 1 thread %.1f, 2 threads %.1f", net.arch, net.precision, rounds-2, median(times[1]), median(times[2]))
	}
}

// TestWebcamNumbers (opt-in: ALEXLENS_BROWSER_BENCH=1) measures the live webcam (Chromium's
// fake camera) with the Classify view's activation maps on screen, in the app as served
// (cross-origin isolated), for each network at 1 and 2 threads: frames per second over
// ten seconds, and the main thread's long tasks (over 50 ms, PerformanceObserver) in that
// time. It reports; it asserts nothing about speed.
func TestWebcamNumbers(t *testing.T) {
	if os.Getenv("ALEXLENS_BROWSER_BENCH") == "" {
		t.Skip("opt-in: set ALEXLENS_BROWSER_BENCH=1")
	}
	ctx := browser(t, false)
	const window = 10 * time.Second
	type longTasks struct{ Count, TotalMs, MaxMs float64 }
	for _, net := range []struct{ arch, precision string }{{"squeezenet1_1", "f32"}, {"alexnet", "f32"}} {
		if net.arch == "squeezenet1_1" && !haveReal {
			t.Logf("squeezenet1_1: real weights absent, skipped")
			continue
		}
		for _, n := range []int{1, 2} {
			tab := chromium.NewTab(t, ctx)
			open(t, tab, fmt.Sprintf("?arch=%s&precision=%s&threads=%d", net.arch, net.precision, n))
			if err := chromedp.Do(tab, chromedp.Click(chromedp.Search(`//button[text()="Use webcam"]`))); err != nil {
				t.Fatal(err)
			}
			waitResult(t, tab, 5) // warm-up: the first passes pack the weights
			if _, err := chromedp.Run(tab, chromedp.Evaluate[chromedp.Void](`window.alexlensLongTasks = []; new PerformanceObserver(l => { for (const e of l.getEntries()) window.alexlensLongTasks.push(e.duration); }).observe({type: "longtask"})`)); err != nil {
				t.Fatal(err)
			}
			first := resultSeq(t, tab)
			start := time.Now()
			time.Sleep(window)
			frames := resultSeq(t, tab) - first
			took := time.Since(start)
			lt, err := chromedp.Run(tab, chromedp.Evaluate[longTasks](`(() => { const d = window.alexlensLongTasks; return {Count: d.length, TotalMs: d.reduce((a, b) => a + b, 0), MaxMs: d.length ? Math.max(...d) : 0}; })()`))
			if err != nil {
				t.Fatal(err)
			}
			if err := chromedp.Do(tab, chromedp.Click(chromedp.Search(`//button[text()="Stop webcam"]`))); err != nil {
				t.Fatal(err)
			}
			t.Logf("webcam %s %s, %d thread(s), maps shown: %.1f frames/s (%d in %.1f s, last forward %s ms); main-thread long tasks: %.0f, %.0f ms in all, longest %.0f ms",
				net.arch, net.precision, n, float64(frames)/took.Seconds(), frames, took.Seconds(), text(t, tab, "forward-ms"), lt.Count, lt.TotalMs, lt.MaxMs)
		}
	}
}
