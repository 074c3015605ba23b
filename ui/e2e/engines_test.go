//go:build !js

package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/internal/apppage"
	"github.com/alexlens/alexlens/internal/testenv"
	"github.com/alexlens/alexlens/internal/webdriver"
)

// TestEngines is the focused suite that walks every path of the app in each engine people
// read on (Chromium, Firefox ESR, WebKitGTK; the full suite above runs in Chromium only):
// ready, the compute path (the generated SIMD module runs in all three), the top-5 on real
// photos against PyTorch's (torchvision preprocessing, the real SqueezeNet) and the native
// path's (every run, fixtures too), a broken image
// answered with a message while the page keeps working, the kernel grid, an activation
// map, attribution and an intervention, and every view: the starter gallery embedded and stored (IndexedDB), an atlas laid
// out, a unit's top patches, feature visualization progressing. axe-core checks every view
// for serious and critical accessibility violations.
func TestEngines(t *testing.T) {
	if skipAll != "" {
		t.Skip(skipAll)
	}
	arch, precision := engine.AlexNet.Name, "int8"
	if haveReal {
		arch, precision = engine.SqueezeNet11.Name, "f32"
	}
	file := manifestFile(t, arch, precision)
	photos := []string{"chelsea.png", "coffee.png"}
	var native [][]prediction
	for _, p := range photos {
		native = append(native, nativeTop5(t, file, testenv.Photo(t, p)))
	}
	torch := torchTop5(t, photos) // nil without the real weights or PyTorch
	broken := filepath.Join(t.TempDir(), "broken.jpg")
	if err := os.WriteFile(broken, []byte("\xff\xd8\xff\xe0 not really a JPEG"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range webdriver.Engines {
		t.Run(name, func(t *testing.T) {
			p := webdriver.Open(t, name)
			w := apppage.Page{T: t, P: p}
			start := time.Now()
			w.Open(baseURL + "/?arch=" + arch + "&precision=" + precision + "&backend=cpu")
			t.Logf("%s: ready in %v", name, time.Since(start).Round(time.Millisecond))

			for i, photo := range photos {
				w.Upload(testenv.Photo(t, photo))
				w.WaitResult(i + 1)
				got := w.Predictions()
				if len(got) != 5 {
					t.Fatalf("%s: %d predictions, want 5", photo, len(got))
				}
				for r := range native[i] {
					if got[r].Label != native[i][r].Label || math.Abs(got[r].Prob-native[i][r].Prob) > 1e-3 {
						t.Errorf("%s rank %d: page %q %.5f, native %q %.5f", photo, r+1, got[r].Label, got[r].Prob, native[i][r].Label, native[i][r].Prob)
					}
				}
				if torch != nil {
					checkTorch(t, photo, got, torch[i])
				}
				t.Logf("%s: %s %.3f, forward %s ms", photo, got[0].Label, got[0].Prob, w.Text("forward-ms"))
			}
			w.Accessible("classify")
			// Read after a pass: the compute path then names the kernel that ran it.
			path := w.Text("compute-path")
			t.Logf("%s: compute path %q", name, path)
			if !strings.Contains(path, "generated SIMD module") {
				t.Errorf("compute path %q: the generated SIMD module does not run", path)
			}

			// A broken image: a message, and the page still classifies.
			w.Upload(broken)
			msg := ""
			webdriver.Poll(t, p, "the error message", `document.querySelector('[data-testid=error]')?.textContent || null`, 60*time.Second, &msg)
			if strings.Contains(msg, "panic") || len(strings.TrimSpace(msg)) < 10 {
				t.Errorf("broken image: message %q", msg)
			}
			w.Upload(testenv.Photo(t, photos[0]))
			w.WaitResult(len(photos) + 1)

			// Why? and What if?: the top-1's Grad-CAM drawn over the photo, and a unit
			// switched off from the form runs the image again.
			w.Click(`[data-testid=why-class]`)
			webdriver.Poll(t, p, "the Grad-CAM map", `document.querySelector('[data-testid=why-heat]')?.dataset.method === 'gradcam' || null`, 120*time.Second, nil)
			if lit := webdriver.Must[int](t, p, litPixels(`[data-testid=why-heat]`)); lit == 0 {
				t.Error("the Grad-CAM canvas is blank")
			}
			w.Click(`[data-testid=edit-apply]`)
			w.WaitResult(len(photos) + 2)
			if n := webdriver.Must[int](t, p, `document.querySelectorAll('[data-testid=edit]').length`); n != 1 {
				t.Errorf("%d interventions listed after one", n)
			}
			w.Accessible("classify-why")
			w.Click(`[data-testid=edit-clear]`)
			w.WaitResult(len(photos) + 3)

			// The kernel grid and an activation map are drawn (canvases with lit pixels).
			if n := webdriver.Must[int](t, p, `document.querySelectorAll('[data-testid=kernel]').length`); n < 16 {
				t.Errorf("%d kernels in the grid", n)
			}
			if lit := webdriver.Must[int](t, p, litPixels(`[data-testid=kernel]`)); lit == 0 {
				t.Error("the first kernel's canvas is blank")
			}
			w.Nav("layers")
			webdriver.Poll(t, p, "an activation map", `document.querySelector('[data-testid=activation-map]') ? true : null`, 30*time.Second, nil)
			webdriver.Poll(t, p, "the activation map drawn", fmt.Sprintf(`(%s) > 0 || null`, litPixels(`[data-testid=activation-map]`)), 30*time.Second, nil)
			w.Accessible("layers")

			// Embeddings: the starter gallery (the sample photos) is embedded and stored.
			w.Nav("embeddings")
			count := 0
			webdriver.Poll(t, p, "the starter gallery", `(n => n >= 4 ? n : null)(+(document.querySelector('[data-testid=gallery-count]')?.dataset.count ?? 0))`, 240*time.Second, &count)
			w.Idle()
			w.Accessible("embeddings")
			// Atlas: a PCA layout of the gallery.
			w.Nav("atlas")
			w.Click(`[data-testid=atlas-run]`)
			webdriver.Poll(t, p, "the atlas", `+document.querySelector('[data-testid=atlas-canvas]')?.dataset.points || null`, 120*time.Second, nil)
			w.Idle()
			// Its cells' icons: feature visualization in a batch, drawn into the map.
			w.Click(`[data-testid=atlas-icons]`)
			webdriver.Poll(t, p, "the atlas icons", `+document.querySelector('[data-testid=atlas-canvas]').dataset.icons || null`, 300*time.Second, nil)
			w.Idle()
			w.Accessible("atlas")
			// Units: top patches of a channel, and feature visualization makes progress.
			w.Nav("units")
			w.Click(`[data-testid=unit-run]`)
			webdriver.Poll(t, p, "top patches", `document.querySelectorAll('[data-testid=unit-patch]').length || null`, 120*time.Second, nil)
			w.Idle()
			w.Accessible("units")
			w.Click(`[data-testid=featurevis-run]`)
			webdriver.Poll(t, p, "feature visualization steps", `(+(document.querySelector('[data-testid=featurevis-progress]')?.dataset.step ?? 0) >= 2) || null`, 240*time.Second, nil)
			if w.Exists(`[data-testid=featurevis-cancel]`) {
				w.Click(`[data-testid=featurevis-cancel]`)
			}
			// Teach: the view reopens what this browser keeps (IndexedDB), a class is named
			// and kept, and the view is checked for accessibility.
			w.Nav("teach")
			webdriver.Poll(t, p, "the Teach view", `document.querySelector('[data-testid=teach-view][data-ready]') ? true : null`, 120*time.Second, nil)
			webdriver.Must[bool](t, p, `(() => { const e = document.querySelector('[data-testid=teach-name]'); e.value = 'mine'; e.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`)
			w.Click(`[data-testid=teach-add-class]`)
			webdriver.Poll(t, p, "a Teach class", `document.querySelector('[data-testid=teach-class][data-name=mine]') && document.querySelector('[data-testid=teach-view][data-ready]') ? true : null`, 60*time.Second, nil)
			if note := webdriver.Must[string](t, p, `(document.querySelector('[data-testid=teach-unstored]') || document.querySelector('[data-testid=teach-error]'))?.textContent || ''`); note != "" {
				t.Errorf("the Teach view says: %s", note)
			}
			w.Accessible("teach")
			w.Nav("classify")
			if !w.Exists(`[data-testid=dropzone]`) {
				t.Error("back on Classify, no drop zone")
			}
		})
	}
}

// litPixels is a JS expression: how many pixels of the first canvas matching sel are not
// black (read with getImageData: WebKit leaves canvases out of screenshots under Xvfb).
func litPixels(sel string) string {
	return fmt.Sprintf(`(() => {
		const c = document.querySelector(%q);
		if (!c || !c.width || !c.height) return 0;
		const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
		let n = 0;
		for (let i = 0; i < d.length; i += 4) if (d[i] + d[i+1] + d[i+2] > 30) n++;
		return n;
	})()`, sel)
}

// torchClass is one class of PyTorch's top-5 (cmd/alexlens/testdata/torch_classify.py).
type torchClass struct {
	Index int     `json:"index"`
	Prob  float64 `json:"prob"`
}

// torchTop5 is PyTorch's top-5 (torchvision preprocessing and SqueezeNet 1.1 with the real
// weights) for each photo, or nil, with a log line, when the weights or PyTorch are absent.
func torchTop5(t *testing.T, photos []string) [][]torchClass {
	t.Helper()
	if !haveReal {
		t.Log("no real SqueezeNet weights: the page is compared with the native path only")
		return nil
	}
	args := []string{filepath.Join(moduleRoot, "cmd", "alexlens", "testdata", "torch_classify.py"), testenv.SharedWeight(t, "squeezenet1_1-imagenet.pth")}
	for _, p := range photos {
		args = append(args, testenv.Photo(t, p))
	}
	out, err := exec.Command("/usr/bin/python3", args...).Output()
	if err != nil {
		t.Logf("PyTorch reference unavailable (%v): the page is compared with the native path only", err)
		return nil
	}
	var rows []struct {
		Top []torchClass `json:"top"`
	}
	if err := json.Unmarshal(out, &rows); err != nil || len(rows) != len(photos) {
		t.Fatalf("PyTorch reference: %v (%d rows)", err, len(rows))
	}
	var top [][]torchClass
	for _, r := range rows {
		top = append(top, r.Top)
	}
	return top
}

// checkTorch holds the page's top-5 to PyTorch's: the same top-1, and every PyTorch class
// of the top-5 present with its probability within 1e-3 (near-ties may swap ranks).
func checkTorch(t *testing.T, photo string, got []apppage.Prediction, want []torchClass) {
	t.Helper()
	if got[0].Index != want[0].Index {
		t.Errorf("%s: top-1 %d (%s), PyTorch %d", photo, got[0].Index, got[0].Label, want[0].Index)
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			if g.Index == w.Index {
				found = true
				if math.Abs(g.Prob-w.Prob) > 1e-3 {
					t.Errorf("%s: class %d p=%.4f, PyTorch %.4f", photo, w.Index, g.Prob, w.Prob)
				}
			}
		}
		if !found && w.Prob > 1e-3 {
			t.Errorf("%s: PyTorch's class %d (p=%.4f) is not in the page's top-5", photo, w.Index, w.Prob)
		}
	}
}
