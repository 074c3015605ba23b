package engine_test

// PyTorch as the numeric reference for whole networks. testdata/torchref.py builds each
// architecture in PyTorch (torchvision's alexnet and squeezenet1_1, and a hand-written BVLC
// AlexNet), runs a seeded batch and dumps weights, input and every named activation; these
// tests load the dump into engine and require the same numbers from every backend.

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/alexlens/alexlens/engine"
)

// The Debian interpreter: the python3 first on PATH on the development machines has no torch.
const torchPython = "/usr/bin/python3"

// floatTol is the relative L2 error every float32 activation must stay under. Engine and
// PyTorch sum in different orders (engine's Reference in float64), so a few ulps per
// accumulation are expected; anything structural (wrong padding, grouping, pooling edge,
// LRN window) is orders of magnitude larger.
const floatTol = 1e-4

// int8LogitTol bounds the relative L2 error of int8-weight logits against PyTorch's float32
// logits on the random-weight networks (He-normal weights, the worst case for per-channel
// scales); measured values are logged by TestTorchReference and stated in quant.go.
const int8LogitTol = 0.03

// requireTorch skips the test when the Debian PyTorch is not installed.
func requireTorch(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(torchPython); err != nil {
		t.Skipf("PyTorch cross-check needs %s with torch and torchvision (scripts/install-test-deps.sh installs them): %v", torchPython, err)
	}
	out, err := exec.Command(torchPython, "-c", "import torch, torchvision, PIL").CombinedOutput()
	if err != nil {
		t.Skipf("PyTorch cross-check needs python3-torch, python3-torchvision and python3-pil (scripts/install-test-deps.sh installs them): %v: %s", err, out)
	}
}

// torchDump is one run of testdata/torchref.py: a manifest and its raw float32 files.
type torchDump struct {
	dir string
	man struct {
		Params      map[string]dumpEntry
		Activations map[string]dumpEntry
		Inputs      map[string]dumpEntry
		Layers      []string
		Images      []string
	}
}

type dumpEntry struct {
	File  string
	Shape []int
}

// runTorchRef runs the script with args (after the output directory is appended where the
// mode wants it) and reads the manifest.
func runTorchRef(t *testing.T, args ...string) *torchDump {
	t.Helper()
	requireTorch(t)
	d := &torchDump{dir: t.TempDir()}
	var full []string
	for _, a := range args {
		if a == "OUT" {
			a = d.dir
		}
		full = append(full, a)
	}
	cmd := exec.Command(torchPython, append([]string{filepath.Join("testdata", "torchref.py")}, full...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testdata/torchref.py %v: %v\n%s", args, err, out)
	}
	b, err := os.ReadFile(filepath.Join(d.dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &d.man); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	return d
}

// load reads one raw little-endian float32 tensor of the dump.
func (d *torchDump) load(e dumpEntry) (*engine.Tensor, error) {
	b, err := os.ReadFile(filepath.Join(d.dir, e.File))
	if err != nil {
		return nil, err
	}
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("%s: %d bytes is not a whole number of float32", e.File, len(b))
	}
	data := make([]float32, len(b)/4)
	for i := range data {
		data[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return engine.FromData(data, e.Shape...)
}

func (d *torchDump) mustLoad(t *testing.T, section map[string]dumpEntry, name string) *engine.Tensor {
	t.Helper()
	e, ok := section[name]
	if !ok {
		t.Fatalf("torch dump has no tensor %q", name)
	}
	x, err := d.load(e)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// model builds an engine float32 model from the dumped state_dict.
func (d *torchDump) model(t *testing.T, a *engine.Arch) *engine.Model {
	t.Helper()
	params := map[string]*engine.Tensor{}
	for name := range d.man.Params {
		params[name] = d.mustLoad(t, d.man.Params, name)
	}
	m, err := engine.NewModel(a, params)
	if err != nil {
		t.Fatalf("engine.NewModel from the PyTorch state_dict: %v", err)
	}
	return m
}

// backends lists Reference and the default backend, once each.
func backends() []engine.Backend {
	bs := []engine.Backend{engine.Reference{}}
	if def := engine.DefaultBackend(); def.Name() != bs[0].Name() {
		bs = append(bs, def)
	}
	return bs
}

func sameInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// TestTorchReference runs each architecture with PyTorch-initialized random weights on a
// batch of two image-like inputs and requires every named activation and the logits of
// every backend to match PyTorch's float32 forward pass; then it measures int8 weights
// against the same float32 logits.
func TestTorchReference(t *testing.T) {
	requireTorch(t)
	for _, a := range []*engine.Arch{engine.SqueezeNet11, engine.AlexNet, engine.AlexNetBVLC} {
		t.Run(a.Name, func(t *testing.T) {
			d := runTorchRef(t, "random", a.Name, "7", "OUT", "--batch", "2")
			if got, want := fmt.Sprint(a.LayerNames()), fmt.Sprint(d.man.Layers); got != want {
				t.Fatalf("engine layer names %s, PyTorch dump names %s", got, want)
			}
			m := d.model(t, a)
			x := d.mustLoad(t, d.man.Inputs, "input")
			logitsWant := d.mustLoad(t, d.man.Activations, "logits")

			for _, be := range backends() {
				t.Run("f32/"+be.Name(), func(t *testing.T) {
					res, err := m.Forward(x, engine.ForwardOptions{Backend: be})
					if err != nil {
						t.Fatal(err)
					}
					for _, name := range d.man.Layers {
						want := d.mustLoad(t, d.man.Activations, name)
						got := res.Activations[name]
						if got == nil {
							t.Errorf("%s: engine left no activation", name)
							continue
						}
						if !sameInts(got.Shape, want.Shape) {
							t.Errorf("%s: engine shape %v, PyTorch %v", name, got.Shape, want.Shape)
							continue
						}
						e := engine.RelL2(got.Data, want.Data)
						t.Logf("%-9s %v rel L2 %.2e", name, got.Shape, e)
						if !(e < floatTol) {
							t.Errorf("%s: relative L2 error %.3g against PyTorch, want < %g", name, e, floatTol)
						}
					}
					if e := engine.RelL2(res.Logits.Data, logitsWant.Data); !(e < floatTol) || !sameInts(res.Logits.Shape, logitsWant.Shape) {
						t.Errorf("logits %v: relative L2 error %.3g against PyTorch %v, want < %g", res.Logits.Shape, e, logitsWant.Shape, floatTol)
					}
				})
			}

			m8 := m.WithPrecision(engine.Int8)
			if m8.Precision() != engine.Int8 {
				t.Fatalf("WithPrecision(Int8) left precision %s", m8.Precision())
			}
			for _, be := range backends() {
				t.Run("int8/"+be.Name(), func(t *testing.T) {
					res, err := m8.Forward(x, engine.ForwardOptions{Backend: be})
					if err != nil {
						t.Fatal(err)
					}
					e := engine.RelL2(res.Logits.Data, logitsWant.Data)
					agree := 0
					n := x.Shape[0]
					for i := 0; i < n; i++ {
						if argmax(res.Logits.Row(i)) == argmax(logitsWant.Row(i)) {
							agree++
						}
					}
					t.Logf("int8 weights vs PyTorch float32: logits rel L2 %.3e, top-1 agrees on %d/%d", e, agree, n)
					if !(e < int8LogitTol) {
						t.Errorf("int8 logits: relative L2 error %.3g against PyTorch float32, want < %g", e, int8LogitTol)
					}
					if agree != n {
						t.Errorf("int8 top-1 differs from PyTorch float32 on %d of %d inputs", n-agree, n)
					}
				})
			}
		})
	}
}
