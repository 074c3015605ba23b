package engine

import (
	"math/rand"
	"slices"
	"testing"
)

func TestParamCounts(t *testing.T) {
	// torchvision's numbers; the BVLC count is the Caffe model's (60,965,224).
	for _, c := range []struct {
		a    *Arch
		want int
	}{{AlexNet, 61100840}, {SqueezeNet11, 1235496}, {AlexNetBVLC, 60965224}} {
		if got := c.a.ParamCount(); got != c.want {
			t.Errorf("%s: %d parameters, want %d", c.a.Name, got, c.want)
		}
	}
}

func TestShapes(t *testing.T) {
	for _, c := range []struct {
		a     *Arch
		layer string
		want  []int
	}{
		{AlexNet, "conv1", []int{1, 64, 55, 55}},
		{AlexNet, "pool5", []int{1, 256, 6, 6}},
		{AlexNet, "fc7", []int{1, 4096}},
		{AlexNetBVLC, "conv1", []int{1, 96, 55, 55}},
		{AlexNetBVLC, "pool2", []int{1, 256, 13, 13}},
		{AlexNetBVLC, "fc8", []int{1, 1000}},
		{SqueezeNet11, "conv1", []int{1, 64, 111, 111}},
		{SqueezeNet11, "pool1", []int{1, 64, 55, 55}},
		{SqueezeNet11, "fire9", []int{1, 512, 13, 13}},
		{SqueezeNet11, "avgpool10", []int{1, 1000, 1, 1}},
	} {
		s, err := c.a.Shapes(c.a.InputSize, c.a.InputSize)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(s[c.layer], c.want) {
			t.Errorf("%s %s: shape %v, want %v", c.a.Name, c.layer, s[c.layer], c.want)
		}
	}
	if _, err := AlexNetBVLC.Shapes(224, 224); err == nil {
		t.Error("BVLC AlexNet accepted a 224x224 input its fc6 cannot take")
	}
	if _, err := SqueezeNet11.Shapes(8, 8); err == nil {
		t.Error("SqueezeNet accepted an 8x8 input")
	}
}

func TestPoolCeilMode(t *testing.T) {
	// PyTorch: MaxPool2d(3, 2, ceil_mode=True) on 111 gives 55, on 6 gives 3 (the last
	// window starts inside the input), on 5 gives 2.
	for _, c := range [][3]int{{111, 55, 55}, {6, 3, 2}, {5, 2, 2}, {13, 6, 6}} {
		p := PoolSpec{KH: 3, KW: 3, StrideH: 2, StrideW: 2, Ceil: true}
		if oh, _ := p.OutSize(c[0], c[0]); oh != c[1] {
			t.Errorf("ceil pool of %d: %d, want %d", c[0], oh, c[1])
		}
		p.Ceil = false
		if oh, _ := p.OutSize(c[0], c[0]); oh != c[2] {
			t.Errorf("floor pool of %d: %d, want %d", c[0], oh, c[2])
		}
	}
}

func TestTopK(t *testing.T) {
	got := TopK([]float32{0.1, 0.5, 0.05, 0.5, 0.35}, 3)
	want := []Class{{1, 0.5}, {3, 0.5}, {4, 0.35}}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("TopK = %v, want %v", got, want)
		}
	}
	if n := len(TopK([]float32{1, 2}, 5)); n != 2 {
		t.Errorf("TopK of 2 values with k=5 returned %d", n)
	}
}

func randomTensors(a *Arch, seed int64, layers int) map[string]*Tensor {
	r := rand.New(rand.NewSource(seed))
	ts := map[string]*Tensor{}
	for i, p := range a.Params() {
		if layers > 0 && i >= layers*2 {
			break
		}
		t := NewTensor(p.Shape...)
		for j := range t.Data {
			t.Data[j] = float32(r.NormFloat64() * 0.05)
		}
		ts[p.Name] = t
	}
	return ts
}

func TestNewModelRejectsMismatch(t *testing.T) {
	ts := randomTensors(SqueezeNet11, 1, 0)
	if _, err := NewModel(AlexNet, ts); err == nil {
		t.Error("AlexNet accepted SqueezeNet tensors")
	}
	ts["features.0.bias"].Data[3] = float32(nanValue())
	if _, err := NewModel(SqueezeNet11, ts); err == nil {
		t.Error("NaN weights accepted")
	}
}

func nanValue() float64 { z := 0.0; return z / z }

func TestPartialModel(t *testing.T) {
	m, err := NewPartialModel(AlexNetBVLC, randomTensors(AlexNetBVLC, 2, 1))
	if err != nil {
		t.Fatal(err)
	}
	if m.Partial != "pool1" {
		t.Errorf("partial model covers up to %q, want pool1", m.Partial)
	}
	x := NewTensor(1, 3, 227, 227)
	res, err := m.Forward(x, ForwardOptions{Backend: Reference{}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Logits != nil || res.Activations["conv1"] == nil {
		t.Errorf("partial forward: logits %v, conv1 %v", res.Logits, res.Activations["conv1"] != nil)
	}
	if _, err := m.Forward(x, ForwardOptions{StopAfter: "fc7"}); err == nil {
		t.Error("partial model ran past its weights")
	}
}

func TestQuantizeRoundTrip(t *testing.T) {
	w := &Weight{Shape: []int{2, 3}, F32: []float32{1, -0.5, 0.25, 0, 0, 0}}
	q := QuantizeWeight(w)
	d := Dequantize(q)
	for i, v := range w.F32 {
		if diff := d.F32[i] - v; diff > q.Scale[i/3]/2+1e-7 || diff < -q.Scale[i/3]/2-1e-7 {
			t.Errorf("value %d: %v -> %v", i, v, d.F32[i])
		}
	}
	if q.I8[0] != 127 || q.Scale[1] != 0 {
		t.Errorf("quantized %v scales %v", q.I8, q.Scale)
	}
}
