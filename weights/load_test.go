package weights

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/engine/imagenet"
	"github.com/alexlens/alexlens/engine/preprocess"
	"github.com/alexlens/alexlens/internal/testenv"
	"github.com/alexlens/alexlens/weights/pth"
)

func TestLoadRealSqueezeNet(t *testing.T) {
	path := testenv.SharedWeight(t, "squeezenet1_1-imagenet.pth")
	m, err := Load(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if m.Arch != engine.SqueezeNet11 || m.Fixture || m.Partial != "" || m.Precision() != engine.F32 {
		t.Fatalf("loaded %s fixture=%v partial=%q %s", m.Arch.Name, m.Fixture, m.Partial, m.Precision())
	}
	// Through .alxw and back, bit-exact.
	dir := t.TempDir()
	f32Path, err := WriteModel(dir, m, "test")
	if err != nil {
		t.Fatal(err)
	}
	back, err := Load(f32Path, "squeezenet1_1")
	if err != nil {
		t.Fatal(err)
	}
	sameParams(t, back, m)

	// Trained weights predict: real photos (Debian's python3-skimage) through the .pth model
	// and the int8 .alxw give the labels PyTorch gives (shared/weights/README.md).
	q, err := WriteModel(dir, m.WithPrecision(engine.Int8), "test")
	if err != nil {
		t.Fatal(err)
	}
	mq, err := Load(q, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, "alexnet"); err == nil || !strings.Contains(err.Error(), "another architecture") || !strings.Contains(err.Error(), path) {
		t.Errorf("SqueezeNet weights loaded as AlexNet: %v", err)
	}
	if _, err := Load(f32Path, "alexnet"); err == nil || !strings.Contains(err.Error(), "not alexnet") {
		t.Errorf("SqueezeNet .alxw loaded as AlexNet: %v", err)
	}

	for _, c := range []struct{ photo, want string }{{"coffee.png", "espresso"}, {"chelsea.png", "tiger cat|Egyptian cat|tabby"}} {
		x, err := preprocess.Load(testenv.Photo(t, c.photo), 224)
		if err != nil {
			t.Fatal(err)
		}
		for _, model := range []*engine.Model{m, mq} {
			res, err := model.Forward(x, engine.ForwardOptions{})
			if err != nil {
				t.Fatal(err)
			}
			top := engine.TopK(engine.Probabilities(res.Logits).Row(0), 1)[0]
			if label := imagenet.Label(top.Index); !slices.Contains(strings.Split(c.want, "|"), label) {
				t.Errorf("%s, %s weights: top-1 %q (%.2f), want %s", c.photo, model.Precision(), label, top.Prob, c.want)
			}
		}
	}

}

func TestLoadRealBVLCConv1(t *testing.T) {
	path := testenv.SharedWeight(t, "bvlc_alexnet_conv1.pth")
	m, err := Load(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if m.Arch != engine.AlexNetBVLC || m.Partial == "" || len(m.Params) != 2 {
		t.Fatalf("loaded %s partial=%q with %d tensors", m.Arch.Name, m.Partial, len(m.Params))
	}
	paths, err := ConvertFile(path, t.TempDir(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		got, err := Load(p, "alexnet-bvlc")
		if err != nil {
			t.Fatal(err)
		}
		if got.Partial != m.Partial {
			t.Errorf("%s: partial %q, want %q", p, got.Partial, m.Partial)
		}
		if strings.Contains(p, "-f32-") {
			sameParams(t, got, m)
		}
	}
}

// TestLoadFromTorch loads a state_dict that real PyTorch saved and the same module exported
// to ONNX by torch.onnx.export: content sniffing and architecture inference on torch's own
// output, and both paths give the same bits.
func TestLoadFromTorch(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import torch, torchvision, onnx").Run(); err != nil {
		t.Skipf("PyTorch/ONNX not available at %s (scripts/install-test-deps.sh installs them): %v", py, err)
	}
	dir := t.TempDir()
	script := `import sys, torch, torchvision
torch.manual_seed(0)
m = torchvision.models.squeezenet1_1().eval()
# torchvision starts biases at zero, and torch.onnx.export merges identical initializers;
# trained weights have distinct values, so give these some.
with torch.no_grad():
    for p in m.parameters():
        p.uniform_(-0.1, 0.1)
torch.save(m.state_dict(), sys.argv[1])
torch.onnx.export(m, torch.zeros(1, 3, 224, 224), sys.argv[2], do_constant_folding=False)`
	pthPath, onnxPath := filepath.Join(dir, "sq.pth"), filepath.Join(dir, "sq.model")
	if b, err := exec.Command(py, "-c", script, pthPath, onnxPath).CombinedOutput(); err != nil {
		t.Fatalf("torch: %v\n%s", err, b)
	}
	fromPth, err := Load(pthPath, "")
	if err != nil {
		t.Fatal(err)
	}
	if fromPth.Arch != engine.SqueezeNet11 || fromPth.Partial != "" {
		t.Fatalf("loaded %s partial %q", fromPth.Arch.Name, fromPth.Partial)
	}
	for _, arch := range []string{"", "squeezenet1_1"} {
		fromONNX, err := Load(onnxPath, arch)
		if err != nil {
			t.Fatal(err)
		}
		if fromONNX.Arch != engine.SqueezeNet11 {
			t.Fatalf("ONNX loaded as %s", fromONNX.Arch.Name)
		}
		sameParams(t, fromONNX, fromPth)
	}
	if _, err := Load(onnxPath, "alexnet"); err == nil || !strings.Contains(err.Error(), onnxPath) {
		t.Errorf("SqueezeNet ONNX loaded as AlexNet: %v", err)
	}
}

func TestLoadKinds(t *testing.T) {
	dir := t.TempDir()
	fix := Fixture(engine.SqueezeNet11, 2)

	// A .pth written by the pth package, conv1 only: a partial model of the inferred arch.
	var buf bytes.Buffer
	ts := tensorsOf(fix)
	conv1 := map[string]*engine.Tensor{"features.0.weight": ts["features.0.weight"], "features.0.bias": ts["features.0.bias"]}
	if err := pth.Write(&buf, conv1, nil); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "conv1.weights") // the name says nothing; the content decides
	os.WriteFile(p, buf.Bytes(), 0o644)
	m, err := Load(p, "")
	if err != nil {
		t.Fatal(err)
	}
	if m.Arch != engine.SqueezeNet11 || m.Partial != "pool1" {
		t.Fatalf("conv1 .pth: %s partial %q", m.Arch.Name, m.Partial)
	}

	for _, c := range []struct {
		name, content, want string
	}{
		{"missing.pth", "", "no such file"},
		{"garbage.bin", "\x01\x02\x03 not weights at all", "ONNX"},
		{"broken.alxw", "ALXW\x01\x00\x00\x00", "too short"},
		{"broken.pth", "PK\x03\x04 broken zip", "pth"},
	} {
		path := filepath.Join(dir, c.name)
		if c.content != "" {
			os.WriteFile(path, []byte(c.content), 0o644)
		}
		_, err := Load(path, "")
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v should say %q and name the file", c.name, err, c.want)
		}
	}
}

func TestInferArch(t *testing.T) {
	for _, a := range []*engine.Arch{engine.AlexNet, engine.AlexNetBVLC, engine.SqueezeNet11} {
		ts := map[string]*engine.Tensor{}
		for _, p := range a.Params()[:2] {
			ts[p.Name] = &engine.Tensor{Shape: p.Shape}
		}
		got, err := InferArch(ts)
		if err != nil || got != a {
			t.Errorf("%s conv1: inferred %v, %v", a.Name, got, err)
		}
	}
	if _, err := InferArch(map[string]*engine.Tensor{"fc.weight": {Shape: []int{10, 5}}}); err == nil || !strings.Contains(err.Error(), "fc.weight [10 5]") {
		t.Errorf("unknown tensors: %v", err)
	}
	// Two architectures with the same parameters: the error lists both, and naming one works.
	twin := *engine.SqueezeNet11
	twin.Name = "squeezenet-twin"
	engine.Archs[twin.Name] = &twin
	defer delete(engine.Archs, twin.Name)
	ts := tensorsOf(Fixture(engine.SqueezeNet11, 1))
	if _, err := InferArch(ts); err == nil || !strings.Contains(err.Error(), "squeezenet-twin") || !strings.Contains(err.Error(), "squeezenet1_1") {
		t.Errorf("ambiguous tensors: %v", err)
	}
	if m, err := FromTensors(ts, "squeezenet1_1"); err != nil || m.Arch != engine.SqueezeNet11 {
		t.Errorf("named arch: %v", err)
	}
}
