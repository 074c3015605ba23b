package onnx

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/internal/testenv"
)

const photo = "/usr/lib/python3/dist-packages/skimage/data/chelsea.png"

// sharedWeights is the folder of real trained weights: $ALEXLENS_SHARED/weights, or
// ../shared/weights beside the module root; "" when absent.
func sharedWeights(t *testing.T) string {
	w := testenv.SharedWeightsDir()
	if !fileExists(filepath.Join(w, "README.md")) {
		return ""
	}
	return w
}

// importFixtures runs testdata/make_import_models.py once: real ONNX files written by
// torch.onnx.export, with PyTorch's logits for the same inputs.
func importFixtures(t *testing.T) (dir string, haveReal bool) {
	t.Helper()
	if err := exec.Command(python, "-c", "import torch, torchvision, onnx, PIL").Run(); err != nil {
		t.Skipf("%s with torch, torchvision, onnx and PIL is needed as the reference (apt-get install python3-torch python3-torchvision python3-onnx python3-pil): %v", python, err)
	}
	if !fileExists(photo) {
		t.Skipf("photo %s absent (apt-get install python3-skimage)", photo)
	}
	dir = t.TempDir()
	args := []string{"testdata/make_import_models.py", dir, "1", photo}
	if w := sharedWeights(t); w != "" {
		args = append(args, filepath.Join(w, "squeezenet1_1-imagenet.pth"), filepath.Join(w, "bvlc_alexnet_conv1.pth"))
		haveReal = true
	}
	cmd := exec.Command(python, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make_import_models.py: %v\n%s", err, out)
	}
	return dir, haveReal
}

func readFixture(t *testing.T, path string) *engine.Tensor {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := ReadTensor(data)
	if err != nil {
		t.Fatal(err)
	}
	et, err := tp.Engine()
	if err != nil {
		t.Fatal(err)
	}
	return et
}

func forwardLogits(t *testing.T, arch *engine.Arch, ts map[string]*engine.Tensor, x *engine.Tensor) *engine.Tensor {
	t.Helper()
	m, err := engine.NewModel(arch, ts)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Forward(x, engine.ForwardOptions{Backend: engine.Reference{}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Logits
}

func TestImportModel(t *testing.T) {
	dir, haveReal := importFixtures(t)

	bvlc, err := os.ReadFile(filepath.Join(dir, "bvlc_zoo.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	x := readFixture(t, filepath.Join(dir, "bvlc_input.pb"))
	want := readFixture(t, filepath.Join(dir, "bvlc_logits.pb"))

	t.Run("bvlc zoo names, Caffe input folded", func(t *testing.T) {
		ts, err := ImportModel(bvlc, engine.AlexNetBVLC)
		if err != nil {
			t.Fatal(err)
		}
		got := forwardLogits(t, engine.AlexNetBVLC, ts, x)
		for row, what := range []string{"photo", "noise"} {
			e := engine.RelL2(got.Row(row), want.Row(row))
			t.Logf("%s: engine (reference backend, torchvision input) vs PyTorch (Caffe input): rel L2 %.2e", what, e)
			if e > 1e-4 {
				t.Errorf("%s: logits differ from PyTorch's by rel L2 %.3g, want <= 1e-4", what, e)
			}
		}
		// The two inputs must give clearly different logits, or the comparison says little.
		if d := engine.RelL2(want.Row(0), want.Row(1)); d < 0.05 {
			t.Errorf("PyTorch's logits for the photo and the noise differ by only %.3g: weak fixture", d)
		}
	})

	t.Run("the fold changes conv1", func(t *testing.T) {
		// Cheap guard that the comparison above depends on the fold: conv1's output on the
		// photo with the unfolded Caffe weights is far from the folded one.
		conv1 := func(fold bool) *engine.Tensor {
			ts, err := importModel(bvlc, engine.AlexNetBVLC, fold)
			if err != nil {
				t.Fatal(err)
			}
			m, err := engine.NewModel(engine.AlexNetBVLC, ts)
			if err != nil {
				t.Fatal(err)
			}
			res, err := m.Forward(&engine.Tensor{Shape: []int{1, 3, 227, 227}, Data: x.Row(0)},
				engine.ForwardOptions{Backend: engine.Reference{}, StopAfter: "conv1"})
			if err != nil {
				t.Fatal(err)
			}
			return res.Activations["conv1"]
		}
		if e := engine.RelL2(conv1(false).Data, conv1(true).Data); e < 0.1 {
			t.Errorf("conv1 with and without the fold differ by only %.3g", e)
		}
	})

	t.Run("architecture found by its names", func(t *testing.T) {
		a, ts, err := ImportAnyArch(bvlc)
		if err != nil || a != engine.AlexNetBVLC || len(ts) != len(a.Params()) {
			t.Errorf("ImportAnyArch(bvlc_zoo.onnx) = %v, %d tensors, %v", a, len(ts), err)
		}
	})

	t.Run("wrong architecture", func(t *testing.T) {
		_, err := ImportModel(bvlc, engine.SqueezeNet11)
		if err == nil || !strings.Contains(err.Error(), "features.0.weight") || !strings.Contains(err.Error(), "conv1_w_0") {
			t.Errorf("err = %v, want it to name what is missing and what the file holds", err)
		}
		_, err = ImportModel(bvlc, engine.AlexNet)
		if err == nil || !strings.Contains(err.Error(), "missing") {
			t.Errorf("torchvision AlexNet from the BVLC file: err = %v", err)
		}
		// Same names, different convolution: the graph's Conv attributes give it away.
		arch := *engine.AlexNetBVLC
		arch.Layers = append([]engine.Layer(nil), arch.Layers...)
		arch.Layers[3].Conv.Groups = 1
		_, err = ImportModel(bvlc, &arch)
		if err == nil || !strings.Contains(err.Error(), "group 2") {
			t.Errorf("conv2 without groups: err = %v", err)
		}
	})

	if !haveReal {
		t.Skip("real weights absent (../shared/weights, or set ALEXLENS_SHARED): the SqueezeNet and conv1 fold checks did not run")
	}

	t.Run("squeezenet real weights, engine names", func(t *testing.T) {
		data, err := os.ReadFile(filepath.Join(dir, "squeezenet.onnx"))
		if err != nil {
			t.Fatal(err)
		}
		ts, err := ImportModel(data, engine.SqueezeNet11)
		if err != nil {
			t.Fatal(err)
		}
		x := readFixture(t, filepath.Join(dir, "squeezenet_input.pb"))
		want := readFixture(t, filepath.Join(dir, "squeezenet_logits.pb"))
		got := forwardLogits(t, engine.SqueezeNet11, ts, x)
		for row := 0; row < 2; row++ {
			e := engine.RelL2(got.Row(row), want.Row(row))
			if e > 1e-4 {
				t.Errorf("row %d: logits differ from PyTorch's by rel L2 %.3g", row, e)
			}
			gt := engine.TopK(got.Row(row), 1)[0].Index
			wt := engine.TopK(want.Row(row), 1)[0].Index
			t.Logf("row %d: rel L2 %.2e, top-1 engine %d, PyTorch %d", row, e, gt, wt)
			if gt != wt {
				t.Errorf("row %d: top-1 %d, PyTorch says %d", row, gt, wt)
			}
		}
	})

	t.Run("fold of the real BVLC conv1", func(t *testing.T) {
		w, b := readFixture(t, filepath.Join(dir, "conv1_raw_w.pb")), readFixture(t, filepath.Join(dir, "conv1_raw_b.pb"))
		fw, fb, err := FoldCaffeInput(w, b)
		if err != nil {
			t.Fatal(err)
		}
		ww, wb := readFixture(t, filepath.Join(dir, "conv1_folded_w.pb")), readFixture(t, filepath.Join(dir, "conv1_folded_b.pb"))
		ew, eb := engine.RelL2(fw.Data, ww.Data), engine.RelL2(fb.Data, wb.Data)
		t.Logf("folded conv1 vs bvlc_alexnet_conv1.pth: weight rel L2 %.2e, bias rel L2 %.2e", ew, eb)
		if ew > 1e-6 || eb > 1e-6 {
			t.Errorf("fold differs from the shipped folded conv1: weight %.3g, bias %.3g", ew, eb)
		}
	})
}
