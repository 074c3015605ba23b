//go:build !js

package e2e

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/gallery"
	"github.com/alexlens/alexlens/gallery/gallerytest"
	"github.com/alexlens/alexlens/internal/testenv"
	"github.com/alexlens/alexlens/weights"
)

// TestLookNumbers measures the look-inside views in the browser for BENCHMARKS.md: gallery
// embedding throughput, neighbour search time at 1k, 10k and 100k items, atlas layout time
// and one feature visualization. Timing is measured, never asserted; it runs only with
// ALEXLENS_BROWSER_BENCH=1 and writes testout/look-numbers.md.
func TestLookNumbers(t *testing.T) {
	if os.Getenv("ALEXLENS_BROWSER_BENCH") == "" {
		t.Skip("measurement only: set ALEXLENS_BROWSER_BENCH=1 to run it")
	}
	if skipAll != "" {
		t.Skip(skipAll)
	}
	var out strings.Builder
	fmt.Fprintf(&out, "### Look inside (browser: headless Chromium, one engine Web Worker, %s)\n\n", time.Now().UTC().Format("2006-01-02"))

	archs := []string{engine.AlexNet.Name}
	if haveReal {
		archs = []string{engine.SqueezeNet11.Name, engine.AlexNet.Name}
	}
	fmt.Fprintf(&out, "Gallery embedding (decode, resize, forward, label, 64 px thumbnail; wall time from the file input to the last item shown):\n\n| network | precision | images | seconds | images/s |\n|---|---|---|---|---|\n")
	photos := benchPhotos(t, 20)
	for _, arch := range archs {
		for _, prec := range []string{"int8", "f32"} {
			ctx := browser(t, false)
			openLook(t, ctx, "?arch="+arch+"&precision="+prec, "embeddings")
			waitCount(t, ctx, 4)
			start := time.Now()
			uploadTo(t, ctx, "gallery-input", photos...)
			waitCount(t, ctx, 4+len(photos))
			d := time.Since(start)
			fmt.Fprintf(&out, "| %s | %s | %d | %.1f | %.2f |\n", arch, prec, len(photos), d.Seconds(), float64(len(photos))/d.Seconds())
		}
	}

	fmt.Fprintf(&out, "\nNeighbour search (k=8, cosine; exact scan of the int8 codes in the worker, its own time, median of 7 queries) and loading the .alxg file (upload to the items listed):\n\n| network | dim | items | file | load | search median | search min |\n|---|---|---|---|---|---|---|\n")
	var atlasLines []string
	for _, arch := range archs {
		for _, n := range []int{1000, 10000, 100000} {
			if arch == engine.AlexNet.Name && n == 100000 {
				continue // 410 MB of int8 codes; SqueezeNet shows the large case
			}
			ctx := browser(t, false)
			openLook(t, ctx, "?arch="+arch+"&precision=int8", "embeddings")
			file, size := syntheticFile(t, arch, n)
			start := time.Now()
			uploadTo(t, ctx, "gallery-file", file)
			if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`+document.querySelector('[data-testid=gallery-count]')?.dataset.count === %d || null`, n), chromedp.WithPollingTimeout(300*time.Second))); err != nil {
				t.Fatalf("%s %d: loading: %v (page: %s)", arch, n, err, pageText(ctx))
			}
			load := time.Since(start)
			var ms []float64
			for q := range 7 {
				click(t, ctx, fmt.Sprintf(`[data-testid=gallery-item][data-index="%d"]`, q*37%min(n, maxShown)))
				name := fmt.Sprintf("item%06d.jpg", q*37%min(n, maxShown))
				waitNeighbors(t, ctx, name, "cosine")
				v, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`parseFloat(document.querySelector('[data-testid=search-ms]').dataset.ms)`))
				if err != nil {
					t.Fatal(err)
				}
				ms = append(ms, v)
			}
			sort.Float64s(ms)
			dim := 4096
			if arch == engine.SqueezeNet11.Name {
				dim = 512
			}
			fmt.Fprintf(&out, "| %s | %d | %d | %s | %.1f s | %.2f ms | %.2f ms |\n", arch, dim, n, kb(size), load.Seconds(), ms[len(ms)/2], ms[0])

			if arch == archs[0] && n <= 10000 {
				nav(t, ctx, "atlas")
				methods := []string{"pca"}
				if n <= 1000 {
					methods = append(methods, "tsne")
				}
				for _, m := range methods {
					f := atlasLayoutMs(t, ctx, m, n)
					atlasLines = append(atlasLines, fmt.Sprintf("| %s | %d | %s | %.0f ms |", arch, n, m, f))
				}
			}
		}
	}
	fmt.Fprintf(&out, "\nAtlas layout (the worker's layout time alone; t-SNE: exact, 1000 steps, perplexity 30, PCA start):\n\n| network | items | method | layout |\n|---|---|---|---|\n%s\n", strings.Join(atlasLines, "\n"))

	fmt.Fprintf(&out, "\nFeature visualization (one run at 128 px, channel 3 of the Units view's default layer; the worker's time):\n\n| network | precision | steps | time | per step |\n|---|---|---|---|---|\n")
	for _, arch := range archs {
		ctx := browser(t, false)
		openLook(t, ctx, "?arch="+arch+"&precision=int8", "units")
		setField(t, ctx, "unit-channel", "3")
		steps := 64
		if arch == engine.AlexNet.Name {
			steps = 16 // seconds a step in scalar wasm: a shorter run, the same per-step cost
		}
		setField(t, ctx, "featurevis-steps", strconv.Itoa(steps))
		click(t, ctx, `[data-testid=featurevis-run]`)
		v, err := chromedp.Run(ctx, chromedp.Poll[string](`(document.querySelector('[data-testid=featurevis-progress]')?.textContent || '').startsWith('done') ? document.querySelector('[data-testid=featurevis-progress]').dataset.ms : null`, chromedp.WithPollingTimeout(600*time.Second)))
		if err != nil {
			t.Fatalf("feature visualization on %s: %v", arch, err)
		}
		f, _ := strconv.ParseFloat(v, 64)
		fmt.Fprintf(&out, "| %s | int8 | %d | %.1f s | %.0f ms |\n", arch, steps, f/1000, f/float64(steps))
	}
	if err := os.MkdirAll("testout", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("testout", "look-numbers.md"), []byte(out.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
}

// maxShown is the gallery grid's thumbnail cap (ui/look.go maxShownItems).
const maxShown = 600

// benchPhotos copies real photos under distinct names until there are n.
func benchPhotos(t *testing.T, n int) []string {
	t.Helper()
	dir := t.TempDir()
	srcs := []string{"chelsea.png", "coffee.png", "astronaut.png", "motorcycle_left.png", "horse.png"}
	var paths []string
	for i := 0; len(paths) < n; i++ {
		name := srcs[i%len(srcs)]
		data, err := os.ReadFile(testenv.Photo(t, name))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, fmt.Sprintf("%02d-%s", i, name))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// syntheticFile writes a gallery of n random ReLU-like embeddings for the served int8
// weights of arch (their fingerprint), without thumbnails.
func syntheticFile(t *testing.T, arch string, n int) (string, int) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(weightsDir, manifestFile(t, arch, "int8")))
	if err != nil {
		t.Fatal(err)
	}
	m, err := weights.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	h, err := gallery.HeaderFor(m, "", gallery.Int8, 0, "bench")
	if err != nil {
		t.Fatal(err)
	}
	g, _ := gallery.New(h)
	if err := gallerytest.Fill(g, n, 1); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := g.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), fmt.Sprintf("%s-%d.alxg", arch, n))
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, buf.Len()
}

// TestFeatureVisNumbers (opt-in: ALEXLENS_BROWSER_BENCH=1) times feature visualization in
// the app as a visitor runs it: the Units view's default layer, channel 3, 64 steps at
// 128 px, the app's default threads and 2 threads; the worker's own time, of the first run
// after the page opens and of a second, and the wall time from the click to the result as the
// page shows it. The first run starts as soon as the view is ready, unless ALEXLENS_FV_PAUSE
// (a Go duration) says how long to wait. It reports; it asserts nothing about speed.
func TestFeatureVisNumbers(t *testing.T) {
	if os.Getenv("ALEXLENS_BROWSER_BENCH") == "" {
		t.Skip("opt-in: set ALEXLENS_BROWSER_BENCH=1")
	}
	for _, arch := range []string{engine.SqueezeNet11.Name, engine.AlexNet.Name} {
		if arch == engine.SqueezeNet11.Name && !haveReal {
			continue
		}
		for _, c := range []struct{ precision, threads string }{{"f32", ""}, {"int8", ""}, {"f32", "2"}} {
			name := arch + "/" + c.precision + "/" + cmp.Or(c.threads, "default")
			t.Run(name, func(t *testing.T) {
				ctx := browser(t, false)
				query := "?arch=" + arch + "&precision=" + c.precision
				if c.threads != "" {
					query += "&threads=" + c.threads
				}
				openLook(t, ctx, query, "units")
				setField(t, ctx, "unit-channel", "3")
				setField(t, ctx, "featurevis-steps", "64")
				threads := "default threads"
				if c.threads != "" {
					threads = c.threads + " threads"
				}
				// The first run after the page opens also packs the backward pass's
				// weights and runs while the browser still compiles the engine's hot code
				// to its optimizing tier; the second is what a visitor trying a few units
				// waits for.
				last := ""
				if p := os.Getenv("ALEXLENS_FV_PAUSE"); p != "" {
					// A visitor who reads the view before clicking, while the page
					// finishes what opening it started.
					d, err := time.ParseDuration(p)
					if err != nil {
						t.Fatalf("ALEXLENS_FV_PAUSE=%q: %v", p, err)
					}
					time.Sleep(d)
				}
				for _, run := range []string{"first run", "second run"} {
					stopProfile := func() {}
					if run == "first run" {
						stopProfile = profileWorker(t, ctx, "featurevis-"+strings.ReplaceAll(name, "/", "-"))
					}
					start := time.Now()
					click(t, ctx, `[data-testid=featurevis-run]`)
					v, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => {
						const p = document.querySelector('[data-testid=featurevis-progress]');
						return (p?.textContent || '').startsWith('done') && p.dataset.ms !== `+strconv.Quote(last)+` ? p.dataset.ms : null;
					})()`, chromedp.WithPollingTimeout(600*time.Second)))
					wall := time.Since(start)
					stopProfile()
					if err != nil {
						t.Fatalf("feature visualization on %s, %s: %v", arch, run, err)
					}
					last = v
					f, _ := strconv.ParseFloat(v, 64)
					t.Logf("featurevis %s %s, %s, %s: 64 steps at 128 px in %.2f s (%.0f ms a step, %.1f steps/s; click to done %.2f s)", arch, c.precision, threads, run, f/1000, f/64, 64000/f, wall.Seconds())
				}
			})
		}
	}
}

// TestAtlasNumbers (opt-in: ALEXLENS_BROWSER_BENCH=1) times the Atlas view on synthetic
// galleries as a visitor runs it (the app's default settings, int8 weights, one engine
// worker): the layout of 1,000, 10,000 and 20,000 items (the worker's own time; t-SNE is
// exact to 4,096 items and Barnes-Hut beyond), and the icons of the 1,000-item map's cells
// (wall time from the click to the last icon drawn). It reports; it asserts nothing about
// speed.
func TestAtlasNumbers(t *testing.T) {
	if os.Getenv("ALEXLENS_BROWSER_BENCH") == "" {
		t.Skip("measurement only: set ALEXLENS_BROWSER_BENCH=1 to run it")
	}
	if skipAll != "" {
		t.Skip(skipAll)
	}
	arch := engine.AlexNet.Name
	if haveReal {
		arch = engine.SqueezeNet11.Name
	}
	var out strings.Builder
	fmt.Fprintf(&out, "### Atlas (browser: headless Chromium, %s int8, one engine Web Worker, %s)\n\n| items | method | layout |\n|---:|---|---:|\n", arch, time.Now().UTC().Format("2006-01-02"))
	var icons string
	sizes, methods := []int{1000, 10000, 20000}, []string{"pca", "tsne", "umap"}
	if s := os.Getenv("ALEXLENS_ATLAS_ITEMS"); s != "" { // e.g. 20000
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("ALEXLENS_ATLAS_ITEMS=%q: %v", s, err)
		}
		sizes = []int{n}
	}
	if s := os.Getenv("ALEXLENS_ATLAS_METHODS"); s != "" { // e.g. pca,umap
		methods = strings.Split(s, ",")
	}
	for _, n := range sizes {
		ctx := browser(t, false)
		openLook(t, ctx, "?arch="+arch+"&precision=int8", "embeddings")
		file, _ := syntheticFile(t, arch, n)
		uploadTo(t, ctx, "gallery-file", file)
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`+document.querySelector('[data-testid=gallery-count]')?.dataset.count === %d || null`, n), chromedp.WithPollingTimeout(300*time.Second))); err != nil {
			t.Fatalf("%d items: loading: %v (page: %s)", n, err, pageText(ctx))
		}
		nav(t, ctx, "atlas")
		for _, m := range methods {
			f := atlasLayoutMs(t, ctx, m, n)
			fmt.Fprintf(&out, "| %d | %s | %.1f s |\n", n, m, f/1000)
			t.Logf("%d items, %s: %.1f s", n, m, f/1000)
		}
		if n == 1000 {
			cells := evalInt(t, ctx, `document.querySelectorAll('[data-testid=atlas-cell]').length`)
			start := time.Now()
			click(t, ctx, `[data-testid=atlas-icons]`)
			if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`+document.querySelector('[data-testid=atlas-canvas]').dataset.icons === %d || !!document.querySelector('[data-testid=look-error]') || null`, cells), chromedp.WithPollingTimeout(900*time.Second))); err != nil {
				t.Fatalf("atlas icons: %v (page: %s)", err, pageText(ctx))
			}
			d := time.Since(start)
			icons = fmt.Sprintf("\nIcons of the 1,000-item %s map (the app's defaults): %d cells in %.1f s, %.2f icons/s.\n", methods[len(methods)-1], cells, d.Seconds(), float64(cells)/d.Seconds())
			t.Log(icons)
		}
	}
	out.WriteString(icons)
	if err := os.MkdirAll("testout", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("testout", "atlas-numbers.md"), []byte(out.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
}

// atlasLayoutMs lays out the Atlas view's gallery of n items by method and returns the
// worker's own layout time.
func atlasLayoutMs(t *testing.T, ctx context.Context, method string, n int) float64 {
	t.Helper()
	setField(t, ctx, "atlas-method", method)
	click(t, ctx, `[data-testid=atlas-run]`)
	v, err := chromedp.Run(ctx, chromedp.Poll[string](fmt.Sprintf(`(document.querySelector('[data-testid=atlas-canvas]')?.dataset.method === %q && !document.querySelector('[data-testid=look-progress]')) ? document.querySelector('[data-testid=atlas-canvas]').dataset.ms : null`, method), chromedp.WithPollingTimeout(900*time.Second)))
	if err != nil {
		t.Fatalf("atlas %s of %d: %v", method, n, err)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		t.Fatalf("atlas %s of %d: layout time %q: %v", method, n, v, err)
	}
	return f
}
