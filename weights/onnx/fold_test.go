package onnx

import (
	"math/rand"
	"testing"

	"github.com/alexlens/alexlens/engine"
)

// The fold's defining property, checked with the engine's own convolution and no Python:
// the folded convolution on torchvision input equals the Caffe one on Caffe input made
// from the same pixels.
func TestFoldCaffeInputProperty(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	const out, k, size = 4, 3, 9
	w, b := engine.NewTensor(out, 3, k, k), engine.NewTensor(out)
	for i := range w.Data {
		w.Data[i] = float32(rng.NormFloat64() * 0.01)
	}
	for i := range b.Data {
		b.Data[i] = float32(rng.NormFloat64())
	}
	tv, caffe := engine.NewTensor(1, 3, size, size), engine.NewTensor(1, 3, size, size)
	plane := size * size
	for i := 0; i < plane; i++ {
		for c := 0; c < 3; c++ { // c: RGB
			p := float64(rng.Intn(256))
			tv.Data[c*plane+i] = float32((p/255 - torchMean[c]) / torchStd[c])
			caffe.Data[(2-c)*plane+i] = float32(p - CaffeMeanBGR[2-c])
		}
	}
	spec := engine.ConvSpec{In: 3, Out: out, KH: k, KW: k, StrideH: 2, StrideW: 2, DilH: 1, DilW: 1, Groups: 1}
	fw, fb, err := FoldCaffeInput(w, b)
	if err != nil {
		t.Fatal(err)
	}
	var ref engine.Reference
	want := ref.Conv2D(caffe, &engine.Weight{Shape: w.Shape, F32: w.Data}, b.Data, spec)
	got := ref.Conv2D(tv, &engine.Weight{Shape: fw.Shape, F32: fw.Data}, fb.Data, spec)
	if e := engine.RelL2(got.Data, want.Data); e > 1e-6 {
		t.Errorf("folded conv on torchvision input vs Caffe conv on Caffe input: rel L2 %.3g", e)
	}
	if _, _, err := FoldCaffeInput(engine.NewTensor(4, 1, 3, 3), b); err == nil {
		t.Error("a one-channel weight was folded")
	}
	if _, _, err := FoldCaffeInput(w, engine.NewTensor(5)); err == nil {
		t.Error("a bias of the wrong length was accepted")
	}
}
