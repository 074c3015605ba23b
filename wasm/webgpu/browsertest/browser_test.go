//go:build !js

package browsertest

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/engine/preprocess"
	"github.com/alexlens/alexlens/internal/chromium"
	"github.com/alexlens/alexlens/internal/testenv"
	"github.com/alexlens/alexlens/wasm/webgpu/report"
	"github.com/alexlens/alexlens/weights"
)

var (
	setupOnce sync.Once
	setupErr  error
	skipWhy   string
	root      string
	siteDir   string
	baseURL   string
	chrome    string
)

// site builds the driver once per test binary and serves it.
func site(t *testing.T) string {
	t.Helper()
	setupOnce.Do(func() {
		chrome = chromium.Path()
		if chrome == "" {
			skipWhy = chromium.NotInstalled
			return
		}
		if root, setupErr = testenv.ModuleRoot(); setupErr != nil {
			return
		}
		siteDir, setupErr = os.MkdirTemp("", "alexlens-webgpu-")
		if setupErr != nil {
			return
		}
		start := time.Now()
		if setupErr = Build(root, siteDir); setupErr != nil {
			return
		}
		fmt.Fprintf(os.Stderr, "browsertest: driver built in %v\n", time.Since(start).Round(time.Millisecond))
		baseURL, _, setupErr = Serve(siteDir)
	})
	if skipWhy != "" {
		t.Skip(skipWhy)
	}
	if setupErr != nil {
		t.Fatal(setupErr)
	}
	return baseURL
}

func TestMain(m *testing.M) {
	code := m.Run()
	if siteDir != "" {
		os.RemoveAll(siteDir)
	}
	os.Exit(code)
}

// run opens one suite in a fresh browser.
func run(t *testing.T, webgpu bool, query string, stall time.Duration) *report.Report {
	t.Helper()
	base := site(t)
	ctx, stop := chromium.Start(chrome, chromium.Options{WebGPU: webgpu})
	defer stop()
	// stall bounds the wait for each case; the whole suite may take a few times that.
	ctx, cancel := context.WithTimeout(ctx, 3*stall)
	defer cancel()
	start := time.Now()
	rep, console, err := Run(ctx, base, query, stall)
	if err != nil || rep.Fatal != "" {
		for _, l := range console {
			t.Log("console:", l)
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Fatalf("page: %s", rep.Fatal)
	}
	t.Logf("%s: %d cases in %v on %q", query, len(rep.Cases), time.Since(start).Round(time.Millisecond), rep.Adapter)
	return rep
}

// checkCases asserts every comparison is within its bound, with no NaN and no buffers left.
func checkCases(t *testing.T, rep *report.Report) {
	t.Helper()
	if len(rep.Cases) == 0 {
		t.Fatal("the page reported no cases")
	}
	for _, c := range rep.Cases {
		switch {
		case strings.HasPrefix(c.Name, "error:"):
			if c.Error == "" {
				t.Errorf("%s: no error reported", c.Name)
			}
		case c.Error != "":
			t.Errorf("%s: %s", c.Name, c.Error)
		case c.NaN:
			t.Errorf("%s: NaN or infinite values", c.Name)
		case c.RelL2 > c.Bound:
			t.Errorf("%s: relative L2 %.3g over %.3g (max abs %.3g)", c.Name, c.RelL2, c.Bound, c.MaxAbs)
		}
		if c.Live != 0 {
			t.Errorf("%s: %d GPU buffers still held", c.Name, c.Live)
		}
		if len(c.CPUTop5) > 0 && !slices.Equal(c.GPUTop5, c.CPUTop5) {
			t.Errorf("%s: GPU top-5 %v, CPU top-5 %v", c.Name, c.GPUTop5, c.CPUTop5)
		}
	}
	if testing.Verbose() {
		for _, c := range rep.Cases {
			t.Logf("%-60s relL2 %.2e maxAbs %.2e live %d %s", c.Name, c.RelL2, c.MaxAbs, c.Live, c.Error)
		}
	}
}

// TestOperators runs every operator on the GPU and on the CPU reference, float32 and int8,
// with sizes that are not multiples of the kernels' tiles, plus bad inputs.
func TestOperators(t *testing.T) {
	rep := run(t, true, "suite=ops", 90*time.Second)
	checkCases(t, rep)
	for _, want := range []string{"conv grouped", "linear batch 1", "linear batch 3", "maxpool", "avgpool", "adaptive avg", "lrn", "relu", "concat", "softmax"} {
		if !slices.ContainsFunc(rep.Cases, func(c report.Case) bool { return strings.Contains(c.Name, want) }) {
			t.Errorf("no %q case ran", want)
		}
	}
}

// TestNetworks runs each network (fixture weights, float32 and int8) on the GPU and the CPU
// path and compares every named activation, the logits and the probabilities.
func TestNetworks(t *testing.T) {
	for _, a := range []string{engine.SqueezeNet11.Name, engine.AlexNet.Name, engine.AlexNetBVLC.Name} {
		t.Run(a, func(t *testing.T) {
			if testing.Short() && a != engine.SqueezeNet11.Name {
				t.Skip("-short: the AlexNets take 2-3 minutes each on SwiftShader")
			}
			rep := run(t, true, "suite=nets&arch="+a, 300*time.Second)
			checkCases(t, rep)
			var f32, i8 int64
			for k, v := range rep.Extra {
				n := int64(v.(float64))
				if strings.Contains(k, " f32 ") && !strings.Contains(k, "batch") {
					f32 = n
				}
				if strings.Contains(k, " int8 ") && !strings.Contains(k, "batch") {
					i8 = n
				}
			}
			// int8 weights stay int8 on the GPU: about a quarter of float32's bytes (biases and
			// scales stay float32, and row padding adds a few bytes).
			if f32 == 0 || i8 == 0 || float64(i8) > 0.3*float64(f32) {
				t.Errorf("GPU weight bytes: f32 %d, int8 %d; want int8 near a quarter", f32, i8)
			}
			t.Logf("GPU weight bytes: f32 %.1f MB, int8 %.1f MB", float64(f32)/1e6, float64(i8)/1e6)
		})
	}
}

// TestGradients runs gradient passes (the backward kernels) on the GPU and on the CPU path
// for each network, fixture weights in float32 and int8, and compares the input gradients
// and the objectives' values. Times are SwiftShader's: correctness only.
func TestGradients(t *testing.T) {
	for _, a := range []string{engine.SqueezeNet11.Name, engine.AlexNet.Name, engine.AlexNetBVLC.Name} {
		t.Run(a, func(t *testing.T) {
			if testing.Short() && a != engine.SqueezeNet11.Name {
				t.Skip("-short: the AlexNets take minutes on SwiftShader")
			}
			rep := run(t, true, "suite=grads&arch="+a, 300*time.Second)
			checkCases(t, rep)
			wants := []string{"f32", "int8", "class 7 logit gradient", "pre-ReLU gradient", "batch 2 gradient", "logit to", "release"}
			if a == engine.AlexNetBVLC.Name {
				wants = []string{"f32", "pre-ReLU gradient", "release"}
			}
			for _, want := range wants {
				if !slices.ContainsFunc(rep.Cases, func(c report.Case) bool { return strings.Contains(c.Name, want) }) {
					t.Errorf("no %q case ran", want)
				}
			}
			for _, c := range rep.Cases {
				if strings.HasSuffix(c.Name, " gradient") {
					t.Logf("%s: %.1f ms (first step, program built) on %s", c.Name, c.Millis, rep.Adapter)
				}
			}
		})
	}
}

// TestFallback triggers each way WebGPU can fail and checks the pass finishes on the CPU
// with the CPU path's exact result, says why, and leaves no GPU buffer behind.
func TestFallback(t *testing.T) {
	rep := run(t, true, "suite=fallback", 120*time.Second)
	// auto treats a software adapter as no GPU; headless Chromium's SwiftShader is one.
	auto := struct{ backend, reason string }{"webgpu", ""}
	if rep.Extra["fallbackAdapter"] == true {
		auto = struct{ backend, reason string }{"cpu", "software fallback"}
	}
	want := map[string]struct{ backend, reason string }{
		"forced webgpu":        {"webgpu", ""},
		"auto with an adapter": auto,
		"forced cpu":           {"cpu", ""},
		"requestDevice fails":  {"cpu", "requestDevice failed"},
		"shader compile error": {"cpu", "does not compile"},
		"device lost mid-run":  {"cpu", "finished on the CPU"},
		"no navigator.gpu":     {"cpu", "no navigator.gpu"},
	}
	checkFallback(t, rep, want)
	for _, c := range rep.Cases {
		if c.Name == "device lost mid-run" && c.Precision != "started on webgpu" {
			t.Errorf("device lost case: %s, want started on webgpu", c.Precision)
		}
	}
}

// TestFallbackNoAdapter runs in a Chromium without --enable-unsafe-webgpu: navigator.gpu
// exists but requestAdapter() returns null.
func TestFallbackNoAdapter(t *testing.T) {
	rep := run(t, false, "suite=noadapter", 120*time.Second)
	if rep.Extra["navigator.gpu"] != true {
		t.Errorf("expected navigator.gpu to exist without an adapter, report says %v", rep.Extra["navigator.gpu"])
	}
	checkFallback(t, rep, map[string]struct{ backend, reason string }{
		"requestAdapter returns null": {"cpu", "requestAdapter returned null"},
	})
}

func checkFallback(t *testing.T, rep *report.Report, want map[string]struct{ backend, reason string }) {
	t.Helper()
	seen := map[string]bool{}
	for _, c := range rep.Cases {
		w, ok := want[c.Name]
		if !ok {
			t.Errorf("unexpected case %q", c.Name)
			continue
		}
		seen[c.Name] = true
		if c.Error != "" {
			t.Errorf("%s: %s", c.Name, c.Error)
		}
		if c.Backend != w.backend {
			t.Errorf("%s: backend %q, want %q (reason %q)", c.Name, c.Backend, w.backend, c.Reason)
		}
		if !strings.Contains(c.Reason, w.reason) {
			t.Errorf("%s: reason %q does not say %q", c.Name, c.Reason, w.reason)
		}
		// On the CPU the result is the CPU path's, bit for bit; on WebGPU within the bound.
		bound := 0.0
		if w.backend == "webgpu" {
			bound = 1e-4
		}
		if c.RelL2 > bound || c.NaN {
			t.Errorf("%s: relative L2 %.3g against the CPU path, want <= %g", c.Name, c.RelL2, bound)
		}
		if !slices.Equal(c.GPUTop5, c.CPUTop5) || len(c.CPUTop5) != 5 {
			t.Errorf("%s: top-5 %v, CPU %v", c.Name, c.GPUTop5, c.CPUTop5)
		}
		if c.Live != 0 {
			t.Errorf("%s: %d GPU buffers left after falling back", c.Name, c.Live)
		}
		t.Logf("%-28s backend %-6s reason %q", c.Name, c.Backend, c.Reason)
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("case %q did not run", name)
		}
	}
}

// TestPhotosTop5 runs the released SqueezeNet 1.1 on real photos: the GPU's top-5 must be
// the CPU path's, float32 and int8.
func TestPhotosTop5(t *testing.T) {
	site(t)
	pthFile := testenv.SharedWeight(t, "squeezenet1_1-imagenet.pth")
	names := []string{"chelsea.png", "coffee.png", "motorcycle_left.png", "camera.png"} // SwiftShader: ~10 s per pass
	m, err := weights.Load(pthFile, engine.SqueezeNet11.Name)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "model.alxw"))
	if err != nil {
		t.Fatal(err)
	}
	if err := weights.Encode(f, m, "squeezenet1_1-imagenet.pth"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for i, n := range names {
		x, err := preprocess.Load(testenv.Photo(t, n), engine.SqueezeNet11.InputSize)
		if err != nil {
			t.Fatal(err)
		}
		if err := writeTensor(filepath.Join(dir, fmt.Sprintf("photo%d.f32", i)), x); err != nil {
			t.Fatal(err)
		}
	}
	// The files live in a folder of this test's, linked into the served site.
	link := filepath.Join(siteDir, "photos-"+filepath.Base(dir))
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(link)
	rep := run(t, true, fmt.Sprintf("suite=photos&n=%d&dir=%s", len(names), filepath.Base(link)), 240*time.Second)
	checkCases(t, rep)
	for _, c := range rep.Cases {
		if len(c.GPUTop5) > 0 {
			t.Logf("%s: top-5 %v", c.Name, c.GPUTop5)
		}
	}
}

func writeTensor(path string, x *engine.Tensor) error {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(x.Shape)))
	for _, d := range x.Shape {
		b = binary.LittleEndian.AppendUint32(b, uint32(d))
	}
	for _, v := range x.Data {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return os.WriteFile(path, b, 0o644)
}
