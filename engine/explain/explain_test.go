package explain

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/engine/preprocess"
	"github.com/alexlens/alexlens/internal/testenv"
	"github.com/alexlens/alexlens/teach"
	"github.com/alexlens/alexlens/weights"
)

// tol is the relative L2 error a map must stay under against PyTorch (issue 12).
const tol = 1e-4

const python = "/usr/bin/python3" // Debian's, with python3-torch

// request is one explainref.py request; the JSON names are the script's.
type request struct {
	Method string     `json:"method"`
	Class  int        `json:"class"`
	Layer  string     `json:"layer,omitempty"`
	Edits  []editJSON `json:"edits,omitempty"`
}

type editJSON struct {
	Op      string    `json:"op"`
	Layer   string    `json:"layer"`
	Channel int       `json:"channel"`
	Value   float32   `json:"value"`
	Vector  []float32 `json:"vector,omitempty"`
}

func (e editJSON) engine() engine.Edit {
	op := map[string]engine.EditOp{"set": engine.EditSet, "scale": engine.EditScale, "add": engine.EditAdd}[e.Op]
	return engine.Edit{Layer: e.Layer, Op: op, Channel: e.Channel, Value: e.Value, Vector: e.Vector}
}

func (r request) edits() []engine.Edit {
	var out []engine.Edit
	for _, e := range r.Edits {
		out = append(out, e.engine())
	}
	return out
}

type refResult struct {
	data  []float32
	shape []int
	logit float64
}

// torchRef runs explainref.py; it returns the model (the seeded weights it drew, or nil for
// a weights file) and one result per request.
func torchRef(t *testing.T, arch *engine.Arch, weightsArg string, x *engine.Tensor, reqs []request) (map[string]*engine.Tensor, []refResult) {
	t.Helper()
	if out, err := exec.Command(python, "-c", "import torch, torchvision").CombinedOutput(); err != nil {
		t.Skipf("the PyTorch reference needs %s with python3-torch and python3-torchvision (scripts/install-test-deps.sh installs them): %v: %s", python, err, out)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "input.f32")
	writeF32(t, in, x.Data)
	js, _ := json.Marshal(reqs)
	cmd := exec.Command(python, filepath.Join("testdata", "explainref.py"), arch.Name, weightsArg, in, dir, string(js))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testdata/explainref.py: %v\n%s", err, out)
	}
	var man struct {
		Params map[string]struct {
			File  string
			Shape []int
		}
		Results []struct {
			File  string
			Shape []int
			Logit float64
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &man); err != nil {
		t.Fatal(err)
	}
	params := map[string]*engine.Tensor{}
	for name, p := range man.Params {
		params[name], _ = engine.FromData(readF32(t, filepath.Join(dir, p.File)), p.Shape...)
	}
	var res []refResult
	for _, r := range man.Results {
		res = append(res, refResult{readF32(t, filepath.Join(dir, r.File)), r.Shape, r.Logit})
	}
	return params, res
}

func writeF32(t *testing.T, path string, v []float32) {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readF32(t *testing.T, path string) []float32 {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// photo is a real photo preprocessed as classify does.
func photo(t testing.TB, name string, side int) *engine.Tensor {
	x, err := preprocess.Load(testenv.Photo(t, name), side)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// compareWithTorch runs every request through Explain (gradcam, saliency) or Forward and
// requires PyTorch's result within tol. Where the fast kernels' float32 sums flip a ReLU
// decision on a value within rounding of zero (see engine's TestInputGradientTorch), the
// map may miss tol by that one unit's share; the Reference backend (float64 sums) must
// then meet it.
func compareWithTorch(t *testing.T, m *engine.Model, x *engine.Tensor, reqs []request, want []refResult) {
	for i, r := range reqs {
		name := fmt.Sprintf("%s class %d %s edits %v", r.Method, r.Class, r.Layer, r.edits())
		got, logit := run(t, m, x, r, nil)
		e := engine.RelL2(got, want[i].data)
		t.Logf("%-60s rel L2 %.2e", name, e)
		if len(got) != len(want[i].data) {
			t.Fatalf("%s: %d values, PyTorch %d (%v)", name, len(got), len(want[i].data), want[i].shape)
		}
		if engine.RelL2(want[i].data, make([]float32, len(want[i].data))) == 0 {
			t.Errorf("%s: PyTorch's map is zero, so the case tests nothing", name)
		}
		if r.Method != "forward" && math.Abs(float64(logit)-want[i].logit) > 1e-4*math.Max(1, math.Abs(want[i].logit)) {
			t.Errorf("%s: logit %g, PyTorch %g", name, logit, want[i].logit)
		}
		if len(r.Edits) > 0 { // the edits must matter, or the case tests nothing
			plain := r
			plain.Edits = nil
			if unedited, _ := run(t, m, x, plain, nil); engine.RelL2(unedited, got) < 1e-4 {
				t.Errorf("%s: the edits change nothing", name)
			}
		}
		if e < tol {
			continue
		}
		got, _ = run(t, m, x, r, engine.Reference{})
		eRef := engine.RelL2(got, want[i].data)
		t.Logf("%-60s with the Reference backend: rel L2 %.2e", name, eRef)
		if !(e < 1e-2 && eRef < tol) {
			t.Errorf("%s: rel L2 error %.3g (Reference backend %.3g) against PyTorch, want < %g", name, e, eRef, tol)
		}
	}
}

func run(t *testing.T, m *engine.Model, x *engine.Tensor, r request, be engine.Backend) ([]float32, float32) {
	t.Helper()
	if r.Method == "forward" {
		res, err := m.Forward(x, engine.ForwardOptions{Backend: be, Edits: r.edits()})
		if err != nil {
			t.Fatal(err)
		}
		return res.Logits.Data, 0
	}
	mp, err := Explain(context.Background(), m, x, Options{Method: Method(r.Method), Class: r.Class, Layer: r.Layer, Edits: r.edits(), Backend: be})
	if err != nil {
		t.Fatalf("%s: %v", r.Method, err)
	}
	return mp.Values, mp.Logit
}

func direction(n int, seed float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(math.Sin(seed * float64(i+1)))
	}
	return v
}

// TestAgainstTorchSeeded: Grad-CAM, saliency and interventions on both AlexNets with
// PyTorch-seeded weights, on a real photo.
func TestAgainstTorchSeeded(t *testing.T) {
	for _, c := range []struct {
		arch *engine.Arch
		reqs []request
	}{
		{engine.AlexNet, []request{
			{Method: "gradcam", Class: 281, Layer: "conv5"},
			{Method: "gradcam", Class: 7, Layer: "conv2"},
			{Method: "gradcam", Class: 7, Layer: "pool5", Edits: []editJSON{{Op: "set", Layer: "conv4", Channel: 3, Value: 0}, {Op: "scale", Layer: "conv2", Channel: 5, Value: 2.5}}},
			{Method: "saliency", Class: 281},
			{Method: "saliency", Class: 281, Edits: []editJSON{{Op: "scale", Layer: "conv5", Channel: 0, Value: -1}, {Op: "add", Layer: "fc7", Value: 0.5, Vector: direction(4096, 0.3)}}},
			{Method: "forward", Edits: []editJSON{{Op: "set", Layer: "fc6", Channel: 10, Value: 4}, {Op: "add", Layer: "conv3", Value: -1, Vector: direction(384, 1.7)}, {Op: "scale", Layer: "pool1", Channel: 2, Value: 0}}},
		}},
		{engine.AlexNetBVLC, []request{
			{Method: "gradcam", Class: 500, Layer: "conv5"},
			{Method: "gradcam", Class: 500, Layer: "norm2", Edits: []editJSON{{Op: "set", Layer: "norm1", Channel: 4, Value: 1}}},
			{Method: "saliency", Class: 500},
			{Method: "forward", Edits: []editJSON{{Op: "scale", Layer: "conv1", Channel: 0, Value: 3}}},
		}},
		{engine.SqueezeNet11, []request{
			{Method: "gradcam", Class: 3, Layer: "fire9", Edits: []editJSON{{Op: "set", Layer: "fire4", Channel: 200, Value: 2}}},
			{Method: "saliency", Class: 3, Edits: []editJSON{{Op: "scale", Layer: "fire7", Channel: 1, Value: 0}}},
		}},
	} {
		t.Run(c.arch.Name, func(t *testing.T) {
			x := photo(t, "chelsea.png", c.arch.InputSize)
			params, want := torchRef(t, c.arch, "7", x, c.reqs)
			m, err := engine.NewModel(c.arch, params)
			if err != nil {
				t.Fatal(err)
			}
			compareWithTorch(t, m, x, c.reqs, want)
		})
	}
}

// TestAgainstTorchReal: the released SqueezeNet 1.1 on real photos, each map for the photo's
// own top-1 class.
func TestAgainstTorchReal(t *testing.T) {
	path := testenv.SharedWeight(t, "squeezenet1_1-imagenet.pth")
	m, err := weights.Load(path, engine.SqueezeNet11.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"chelsea.png", "coffee.png"} {
		t.Run(name, func(t *testing.T) {
			x := photo(t, name, 224)
			res, err := m.Forward(x, engine.ForwardOptions{})
			if err != nil {
				t.Fatal(err)
			}
			top := engine.TopK(engine.Probabilities(res.Logits).Data, 1)[0].Index
			// Switch off fire9's strongest channel for this photo: an edit that matters.
			f9 := res.Activations["fire9"]
			hw := f9.Len() / f9.Shape[1]
			strong, best := 0, float32(0)
			for c := range f9.Shape[1] {
				var s float32
				for _, v := range f9.Data[c*hw : (c+1)*hw] {
					s += v
				}
				if s > best {
					strong, best = c, s
				}
			}
			off := editJSON{Op: "set", Layer: "fire9", Channel: strong, Value: 0}
			reqs := []request{
				{Method: "gradcam", Class: top},
				{Method: "gradcam", Class: top, Layer: "fire5"},
				{Method: "gradcam", Class: top, Layer: "conv10"},
				{Method: "saliency", Class: top},
				{Method: "saliency", Class: top, Edits: []editJSON{off}},
				{Method: "forward", Edits: []editJSON{off, {Op: "scale", Layer: "fire5", Channel: 3, Value: 3}, {Op: "add", Layer: "conv1", Value: 0.2, Vector: direction(64, 2.1)}}},
			}
			if reqs[0].Layer == "" {
				reqs[0].Layer = DefaultLayer(m.Arch)
			}
			_, want := torchRef(t, m.Arch, path, x, reqs)
			compareWithTorch(t, m, x, reqs, want)
		})
	}
}

// TestOcclusionIsPerPatchForward: occlusion's value at each position is exactly the drop of
// the class probability in a forward pass of the photo with that patch greyed, however the
// passes are batched.
func TestOcclusionIsPerPatchForward(t *testing.T) {
	m := weights.Fixture(engine.SqueezeNet11, 3)
	x := photo(t, "coffee.png", 224)
	opt := Options{Method: Occlusion, Class: 42, Patch: 48, Stride: 40, Batch: 5}
	mp, err := Explain(context.Background(), m, x, opt)
	if err != nil {
		t.Fatal(err)
	}
	if mp.Rows != 6 || mp.Cols != 6 || mp.Passes != 37 {
		t.Fatalf("occlusion grid %dx%d in %d passes, want 6x6 in 37", mp.Rows, mp.Cols, mp.Passes)
	}
	prob := func(x *engine.Tensor) float32 {
		res, err := m.Forward(x, engine.ForwardOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return engine.Probabilities(res.Logits).Data[42]
	}
	p0 := prob(x)
	if p0 != mp.Prob {
		t.Errorf("probability %g, a forward pass says %g", mp.Prob, p0)
	}
	var worst float64
	for r := range mp.Rows {
		for c := range mp.Cols {
			xo := x.Clone()
			Occlude(xo.Data, 224, 224, r*40, c*40, 48)
			want := p0 - prob(xo)
			worst = max(worst, math.Abs(float64(mp.Values[r*mp.Cols+c]-want)))
		}
	}
	// The batched pass blocks its products differently from a single image's: float32
	// rounding of the sums, no more.
	if worst > 1e-6 {
		t.Errorf("occlusion differs from the per-patch forward passes by up to %g", worst)
	}
	if slices.Max(mp.Values) == 0 && slices.Min(mp.Values) == 0 {
		t.Error("occlusion map is all zero")
	}
}

// TestIntegratedGradientsComplete: the attributions sum to the logit's change from black to
// the photo, closer with more steps.
func TestIntegratedGradientsComplete(t *testing.T) {
	m := weights.Fixture(engine.AlexNet, 5)
	x := photo(t, "astronaut.png", 224)
	var gaps []float64
	for _, steps := range []int{4, 32} {
		mp, err := Explain(context.Background(), m, x, Options{Method: IntegratedGradients, Class: Top1, Samples: steps})
		if err != nil {
			t.Fatal(err)
		}
		var sum float64
		for _, v := range mp.Values {
			sum += float64(v)
		}
		c := mp.Completeness
		t.Logf("%d steps: attributions sum %.4f, logit change %.4f, gap %.2e", steps, c.Sum, c.Delta, c.Gap)
		if math.Abs(sum-c.Sum) > 1e-3*math.Abs(c.Sum)+1e-3 {
			t.Errorf("the map sums to %g, the reported sum is %g", sum, c.Sum)
		}
		gaps = append(gaps, c.Gap)
	}
	if !(gaps[1] < 0.05 && gaps[1] < gaps[0]) {
		t.Errorf("completeness gap %.3g with 4 steps, %.3g with 32: want under 5%% and shrinking", gaps[0], gaps[1])
	}
}

// TestSmoothGradBatchesAndSeeds: the noisy copies depend on the seed alone, not on how they
// are batched, and one copy without noise is saliency.
func TestSmoothGradBatchesAndSeeds(t *testing.T) {
	m := weights.Fixture(engine.SqueezeNet11, 2)
	x := photo(t, "chelsea.png", 224)
	get := func(o Options) []float32 {
		mp, err := Explain(context.Background(), m, x, o)
		if err != nil {
			t.Fatal(err)
		}
		return mp.Values
	}
	a := get(Options{Method: SmoothGrad, Class: 1, Samples: 6, Batch: 4, Seed: 9})
	b := get(Options{Method: SmoothGrad, Class: 1, Samples: 6, Batch: 6, Seed: 9})
	c := get(Options{Method: SmoothGrad, Class: 1, Samples: 6, Batch: 6, Seed: 10})
	if e := engine.RelL2(a, b); e > 1e-5 {
		t.Errorf("batches of 4 and of 6 differ by %.3g", e)
	}
	if e := engine.RelL2(a, c); e < 1e-3 {
		t.Errorf("seeds 9 and 10 agree within %.3g: the noise is not drawn from the seed", e)
	}
	s := get(Options{Method: Saliency, Class: 1})
	one := get(Options{Method: SmoothGrad, Class: 1, Samples: 1, Noise: 1e-9})
	if e := engine.RelL2(one, s); e > 1e-4 {
		t.Errorf("one copy with no noise differs from saliency by %.3g", e)
	}
}

func TestBadRequests(t *testing.T) {
	m := weights.Fixture(engine.AlexNet, 1)
	x := engine.NewTensor(1, 3, 224, 224)
	for _, c := range []struct {
		opt  Options
		want string
	}{
		{Options{Method: "lime"}, "unknown attribution method"},
		{Options{Method: GradCAM, Class: 1000}, "class 1000 is out of range"},
		{Options{Method: GradCAM, Class: -5}, "out of range"},
		{Options{Method: GradCAM, Layer: "conv9"}, `no layer "conv9"`},
		{Options{Method: GradCAM, Layer: "fc7"}, "fully connected"},
		{Options{Method: SmoothGrad, Samples: 100000}, "samples"},
		{Options{Method: Occlusion, Patch: 500}, "patch"},
		{Options{Method: Saliency, Edits: []engine.Edit{{Layer: "conv2", Op: engine.EditSet, Channel: 256}}}, "conv2 has 192 channels"},
		{Options{Method: Saliency, Edits: []engine.Edit{{Layer: "fc7", Op: engine.EditAdd, Vector: []float32{1, 2}}}}, "4096 values"},
		{Options{Method: Saliency, Edits: []engine.Edit{{Layer: "fc7", Op: engine.EditScale, Value: float32(math.NaN())}}}, "finite"},
	} {
		_, err := Explain(context.Background(), m, x, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one saying %q", c.opt, err, c.want)
		}
	}
	if _, err := Explain(context.Background(), m, engine.NewTensor(2, 3, 224, 224), Options{Method: Saliency}); err == nil {
		t.Error("a batch of two photos was accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Explain(ctx, m, x, Options{Method: SmoothGrad, Samples: 4, Batch: 1}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled request: %v", err)
	}
}

func TestEditParse(t *testing.T) {
	e, err := engine.ParseEdit(engine.EditScale, "conv5:12=-0.5")
	if err != nil || e.Layer != "conv5" || e.Channel != 12 || e.Value != -0.5 || e.Op != engine.EditScale {
		t.Fatalf("ParseEdit: %+v, %v", e, err)
	}
	if e.String() != "scale conv5:12=-0.5" {
		t.Errorf("String: %q", e.String())
	}
	for _, bad := range []string{"conv5", "conv5:x=1", "conv5:1=abc", ":1=2", "conv5:1=NaN", "conv5:1=Inf"} {
		if _, err := engine.ParseEdit(engine.EditSet, bad); err == nil {
			t.Errorf("ParseEdit(%q) accepted", bad)
		}
	}
}

// TestRender: the overlay keeps the photo where the map is zero (up to the faint floor) and
// colours it where the map peaks.
func TestRender(t *testing.T) {
	mp := &Map{Rows: 2, Cols: 2, Values: []float32{0, 0, 0, 4}}
	up := mp.Upsample(4, 4)
	if up[0] != 0 || up[15] != 4 || !(up[5] > 0 && up[5] < 4) {
		t.Errorf("upsampled %v", up)
	}
	photo := &preprocess.RGB{W: 4, H: 4, Pix: make([]byte, 48)}
	for i := range photo.Pix {
		photo.Pix[i] = 128
	}
	img := mp.Overlay(photo, 1)
	if img.Pix[0] == img.Pix[4*15] {
		t.Error("the overlay looks the same where the map is 0 and where it peaks")
	}
	if got := mp.Overlay(photo, 0); got.Pix[4*15] != 128 {
		t.Errorf("opacity 0 changed the photo: %d", got.Pix[4*15])
	}
}

// TestKnockOut: each unit's drop, and each point of the curve, is what a forward pass with
// those units set to 0 (engine.Edit) gives; the units are ranked by their drop.
func TestKnockOut(t *testing.T) {
	x := photo(t, "coffee.png", 224)
	for _, c := range []struct {
		m     *engine.Model
		layer string
	}{
		{weights.Fixture(engine.AlexNet, 4), "conv5"},
		{weights.Fixture(engine.AlexNet, 4), "fc7"},
		{weights.Fixture(engine.SqueezeNet11, 4), "fire9"},
	} {
		t.Run(c.m.Arch.Name+"/"+c.layer, func(t *testing.T) {
			ko, err := FindKnockOut(context.Background(), c.m, x, KnockOutOptions{Layer: c.layer, Class: Top1, Count: 4, Candidates: 12})
			if err != nil {
				t.Fatal(err)
			}
			prob := func(off []KnockedUnit) float32 {
				var edits []engine.Edit
				for _, u := range off {
					edits = append(edits, engine.Edit{Layer: c.layer, Op: engine.EditSet, Channel: u.Channel})
				}
				res, err := c.m.Forward(x, engine.ForwardOptions{Edits: edits})
				if err != nil {
					t.Fatal(err)
				}
				return engine.Probabilities(res.Logits).Data[ko.Class]
			}
			p0 := prob(nil)
			if len(ko.Units) != 4 || len(ko.Curve) != 5 {
				t.Fatalf("%d units, %d curve points", len(ko.Units), len(ko.Curve))
			}
			for i, u := range ko.Units {
				if i > 0 && u.Drop > ko.Units[i-1].Drop {
					t.Errorf("unit %d drops %g, more than the one before it (%g)", i, u.Drop, ko.Units[i-1].Drop)
				}
				if want := p0 - prob([]KnockedUnit{u}); math.Abs(float64(u.Drop-want)) > 1e-5 {
					t.Errorf("unit %d: drop %g, a forward pass with it off says %g", u.Channel, u.Drop, want)
				}
				if want := prob(ko.Units[:i+1]); math.Abs(float64(ko.Curve[i+1]-want)) > 1e-5 {
					t.Errorf("curve point %d: %g, a forward pass says %g", i+1, ko.Curve[i+1], want)
				}
			}
			if math.Abs(float64(ko.Curve[0]-p0)) > 1e-5 || !(ko.Units[0].Drop > 0) {
				t.Errorf("curve starts at %g (forward %g), first drop %g", ko.Curve[0], p0, ko.Units[0].Drop)
			}
			t.Logf("class %d: p %.4f; units %+v; curve %v", ko.Class, p0, ko.Units, ko.Curve)
		})
	}
	m := weights.Fixture(engine.AlexNet, 4)
	for _, layer := range []string{"fc8", "conv9", ""} {
		if _, err := FindKnockOut(context.Background(), m, x, KnockOutOptions{Layer: layer, Class: Top1}); err == nil {
			t.Errorf("knock-out of layer %q accepted", layer)
		}
	}
}

// TestTaughtClass: a head taught on fc7 is explained by its own logit and probability. A
// head whose two classes are AlexNet's fc8 rows 281 and 285 has, for its class 0, exactly
// ImageNet class 281's logit: its gradient maps (Grad-CAM, saliency, integrated gradients)
// equal class 281's; occlusion, which reads probabilities, is the drop of the head's own
// probability (a softmax over its two classes), checked against a forward pass per patch.
func TestTaughtClass(t *testing.T) {
	m := weights.Fixture(engine.AlexNet, 5)
	x := photo(t, "chelsea.png", 224)
	w, b := m.Params["classifier.6.weight"].F32, m.Params["classifier.6.bias"].F32
	rows := []int{281, 285}
	h := &teach.Head{Arch: m.Arch.Name, Layer: "fc7", Classes: []string{"tabby", "siamese"}, Dim: 4096}
	for _, r := range rows {
		h.W1 = append(h.W1, w[r*4096:(r+1)*4096]...)
		h.B1 = append(h.B1, b[r])
	}
	for _, method := range []Method{GradCAM, Saliency, IntegratedGradients} {
		want, err := Explain(context.Background(), m, x, Options{Method: method, Class: rows[0], Samples: 2})
		if err != nil {
			t.Fatal(err)
		}
		got, err := Explain(context.Background(), m, x, Options{Method: method, Class: 0, Head: h, Samples: 2})
		if err != nil {
			t.Fatal(err)
		}
		if e := engine.RelL2(got.Values, want.Values); !(e < 1e-4) || math.Abs(float64(got.Logit-want.Logit)) > 1e-3 {
			t.Errorf("%s: the head's class 0 (logit %g) vs ImageNet class %d (logit %g): maps differ by rel L2 %.3g", method, got.Logit, rows[0], want.Logit, e)
		}
		if c := got.Completeness; c != nil && math.Abs(c.Delta-want.Completeness.Delta) > 1e-3*math.Abs(c.Delta) {
			t.Errorf("%s: the logit's change from black %g, ImageNet class %d's %g", method, c.Delta, rows[0], want.Completeness.Delta)
		}
	}

	headProb := func(x *engine.Tensor) float32 {
		res, err := m.Forward(x, engine.ForwardOptions{Keep: func(n string) bool { return n == "fc7" }})
		if err != nil {
			t.Fatal(err)
		}
		p, err := h.Probabilities(res.Activations["fc7"].Data)
		if err != nil {
			t.Fatal(err)
		}
		return p[1]
	}
	mp, err := Explain(context.Background(), m, x, Options{Method: Occlusion, Class: 1, Head: h, Patch: 64, Stride: 80, Batch: 4})
	if err != nil {
		t.Fatal(err)
	}
	p0 := headProb(x)
	if math.Abs(float64(mp.Prob-p0)) > 1e-6 {
		t.Errorf("the head's probability %g, a forward pass says %g", mp.Prob, p0)
	}
	for r := range mp.Rows {
		for c := range mp.Cols {
			xo := x.Clone()
			Occlude(xo.Data, 224, 224, r*80, c*80, 64)
			if want := p0 - headProb(xo); math.Abs(float64(mp.Values[r*mp.Cols+c]-want)) > 1e-5 {
				t.Errorf("occlusion at (%d, %d): %g, a forward pass says %g", r, c, mp.Values[r*mp.Cols+c], want)
			}
		}
	}

	top, err := Explain(context.Background(), m, x, Options{Method: Saliency, Class: Top1, Head: h})
	if err != nil || top.Class != map[bool]int{true: 0, false: 1}[p0 < 0.5] {
		t.Errorf("the head's top-1: class %v (%v), its probabilities say %d", top, err, map[bool]int{true: 0, false: 1}[p0 < 0.5])
	}
	for _, c := range []struct {
		opt  Options
		want string
	}{
		{Options{Method: Saliency, Class: 2, Head: h}, "the head has classes 0 to 1"},
		{Options{Method: Saliency, Head: &teach.Head{Arch: "squeezenet1_1", Layer: "fc7", Classes: h.Classes, Dim: 4096, W1: h.W1, B1: h.B1}}, "taught on squeezenet1_1"},
		{Options{Method: Saliency, Head: &teach.Head{Arch: m.Arch.Name, Layer: "fc7", Classes: h.Classes, Dim: 4096, W1: h.W1[:5], B1: h.B1}}, "W1"},
	} {
		if _, err := Explain(context.Background(), m, x, c.opt); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one saying %q", c.opt.Head, err, c.want)
		}
	}
}
