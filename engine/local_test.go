package engine

import (
	"math/rand"
	"slices"
	"testing"
)

// TestLocalPass: variants run through a LocalPass give what Forward gives them, for every
// kind of layer the networks have (strided and grouped convolutions with and without
// padding, ceil-mode pools, LRN, fire modules), changed regions at the corners, edges and
// middle, one pixel and the whole image, mixed in one batch, with edits on locally and fully
// computed layers, and with a kept layer that ends the local part early.
func TestLocalPass(t *testing.T) {
	type variant struct {
		r    Region
		fill float32
	}
	for _, tc := range []struct {
		a    *Arch
		h, w int
		keep string // a kept layer (and the pass's end), "" for the logits
		be   Backend
	}{
		{AlexNet, 224, 224, "", FastCPU{}},
		{AlexNetBVLC, 227, 227, "", FastCPU{}},
		{SqueezeNet11, 224, 224, "", FastCPU{}},
		{SqueezeNet11, 200, 171, "", FastCPU{}},
		{SqueezeNet11, 224, 224, "fire5", FastCPU{}},
	} {
		m := randomModel(tc.a, 3)
		r := rand.New(rand.NewSource(4))
		x := NewTensor(1, 3, tc.h, tc.w)
		for i := range x.Data {
			x.Data[i] = float32(r.NormFloat64())
		}
		names := tc.a.LayerNames()
		vec := make([]float32, 0)
		shapes, _ := tc.a.Shapes(tc.a.InputSize, tc.a.InputSize)
		for range shapes[names[2]][1] {
			vec = append(vec, float32(r.NormFloat64()))
		}
		opt := ForwardOptions{Backend: tc.be, Keep: func(string) bool { return false }, Edits: []Edit{
			{Layer: names[0], Op: EditScale, Channel: 1, Value: 2},
			{Layer: names[2], Op: EditAdd, Vector: vec, Value: 0.5},
			{Layer: names[len(names)-3], Op: EditSet, Channel: 0, Value: 1},
		}}
		if tc.keep != "" {
			opt.Keep = func(n string) bool { return n == tc.keep }
			opt.StopAfter = tc.keep
		}
		lp, err := m.NewLocalPass(x, opt)
		if err != nil {
			t.Fatal(err)
		}
		h, w := tc.h, tc.w
		vs := []variant{
			{Region{0, 0, 32, 32}, 0}, {Region{h - 20, w - 32, h, w}, 1}, {Region{100, 0, 132, 7}, -1},
			{Region{90, 90, 122, 122}, 0}, {Region{h / 2, w / 2, h/2 + 1, w/2 + 1}, 3},
			{Region{0, 0, h, w}, 0}, {Region{5, w - 40, 37, w - 8}, 0.5}, {Region{60, 60, 92, 92}, 0},
		}
		variants := NewTensor(len(vs), 3, h, w)
		var changed []Region
		for i, v := range vs {
			item := variants.Data[i*3*h*w : (i+1)*3*h*w]
			copy(item, x.Data)
			for c := range 3 {
				for y := v.r.Y0; y < v.r.Y1; y++ {
					for xx := v.r.X0; xx < v.r.X1; xx++ {
						item[(c*h+y)*w+xx] = v.fill
					}
				}
			}
			changed = append(changed, v.r)
		}
		got, err := lp.Forward(variants, changed)
		if err != nil {
			t.Fatal(err)
		}
		want, err := m.Forward(variants, opt)
		if err != nil {
			t.Fatal(err)
		}
		name := tc.a.Name + " " + tc.keep
		if tc.keep == "" {
			for i := range vs {
				k := tc.a.Classes
				if e := RelL2(got.Logits.Data[i*k:(i+1)*k], want.Logits.Data[i*k:(i+1)*k]); e > 1e-5 {
					t.Errorf("%s %v: logits differ from Forward's by %.3g", name, vs[i].r, e)
				}
			}
		} else {
			if got.Logits != nil || !slices.Equal(got.Activations[tc.keep].Shape, want.Activations[tc.keep].Shape) {
				t.Fatalf("%s: kept %v, want %v", name, got.Activations[tc.keep].Shape, want.Activations[tc.keep].Shape)
			}
			if e := RelL2(got.Activations[tc.keep].Data, want.Activations[tc.keep].Data); e > 1e-5 {
				t.Errorf("%s: kept activation differs from Forward's by %.3g", name, e)
			}
		}
		// The image itself changed nowhere would be a caller's mistake: regions must be real.
		if _, err := lp.Forward(gather(variants, []int{0}), []Region{{3, 3, 3, 9}}); err == nil {
			t.Errorf("%s: an empty region was accepted", name)
		}
		if _, err := lp.Forward(gather(variants, []int{0}), []Region{{0, 0, h + 1, 4}}); err == nil {
			t.Errorf("%s: a region past the image was accepted", name)
		}
		if _, err := lp.Forward(variants, changed[:1]); err == nil {
			t.Errorf("%s: fewer regions than variants were accepted", name)
		}
	}
}

// TestLocalPassSavesWork: an occlusion patch's plan recomputes only part of the early layers,
// and the patches of an occlusion grid share few batch shapes.
func TestLocalPassSavesWork(t *testing.T) {
	m := randomModel(SqueezeNet11, 3)
	lp, err := m.NewLocalPass(NewTensor(1, 3, 224, 224), ForwardOptions{Keep: func(string) bool { return false }})
	if err != nil {
		t.Fatal(err)
	}
	pl := lp.plan(Region{96, 96, 128, 128})
	if len(pl.windows) == 0 || pl.windows[0].Y1-pl.windows[0].Y0 > 20 {
		t.Errorf("a 32 px patch's conv1 window is %v (of 111 rows)", pl.windows)
	}
	keys := map[string]bool{}
	for y := 0; y < 224; y += 16 {
		for x := 0; x < 224; x += 16 {
			keys[lp.batchKey(Region{y, x, min(y+32, 224), min(x+32, 224)})] = true
		}
	}
	if len(keys) != 4 { // 32 x 32, and 16 rows or columns or both at the right and bottom
		t.Errorf("the 196 patches of a 14x14 grid plan %d different shapes, want 4", len(keys))
	}
}
