package engine

import (
	"image"
	"math"
	"math/rand"
	"testing"
)

// Known receptive fields (size, stride, offset), worked out by hand from the layer tables:
// AlexNet's conv1 is 11 px at stride 4, and pool5 sees 195 px (the figure usually quoted for
// torchvision's AlexNet).
func TestReceptiveFieldKnownValues(t *testing.T) {
	for _, c := range []struct {
		arch  *Arch
		layer string
		want  Span
	}{
		{AlexNet, "conv1", Span{11, 4, -2}},
		{AlexNet, "pool1", Span{19, 8, -2}},
		{AlexNet, "conv2", Span{51, 8, -18}},
		{AlexNet, "pool2", Span{67, 16, -18}},
		{AlexNet, "conv5", Span{163, 16, -66}},
		{AlexNet, "pool5", Span{195, 32, -66}},
		{AlexNet, "avgpool", Span{195, 32, -66}}, // the identity at 224
		{AlexNetBVLC, "conv1", Span{11, 4, 0}},
		{AlexNetBVLC, "norm1", Span{11, 4, 0}},
		{AlexNetBVLC, "conv2", Span{51, 8, -16}},
		{AlexNetBVLC, "pool5", Span{195, 32, -64}},
		{SqueezeNet11, "conv1", Span{3, 2, 0}},
		{SqueezeNet11, "pool1", Span{7, 4, 0}},
		{SqueezeNet11, "fire2", Span{15, 4, -4}},
		{SqueezeNet11, "pool3", Span{31, 8, -8}},
		{SqueezeNet11, "fire9", Span{207, 16, -88}},
		{SqueezeNet11, "conv10", Span{207, 16, -88}},
	} {
		f, err := c.arch.ReceptiveField(c.layer, c.arch.InputSize, c.arch.InputSize)
		if err != nil {
			t.Errorf("%s %s: %v", c.arch.Name, c.layer, err)
			continue
		}
		if f.Y != c.want || f.X != c.want || f.Global {
			t.Errorf("%s %s: field %+v, want %+v on both axes", c.arch.Name, c.layer, f, c.want)
		}
	}
	for _, c := range []struct {
		arch  *Arch
		layer string
	}{{AlexNet, "fc6"}, {AlexNetBVLC, "fc8"}, {SqueezeNet11, "avgpool10"}} {
		f, err := c.arch.ReceptiveField(c.layer, c.arch.InputSize, c.arch.InputSize)
		if err != nil || !f.Global || f.Y.Size != c.arch.InputSize {
			t.Errorf("%s %s: field %+v, %v; want global", c.arch.Name, c.layer, f, err)
		}
	}
	// At 256, AlexNet's adaptive pool averages 7x7 into 6x6 with overlapping windows.
	if _, err := AlexNet.ReceptiveField("avgpool", 256, 256); err == nil {
		t.Error("AlexNet avgpool at 256: want an error (no regular grid)")
	}
	if r, err := AlexNet.ReceptiveRect("avgpool", 5, 5, 256, 256); err != nil || r.Max != image.Pt(256, 256) {
		t.Errorf("AlexNet avgpool (5, 5) at 256: %v, %v; want a rectangle reaching the corner", r, err)
	}
	for _, bad := range []struct {
		layer      string
		y, x, h, w int
	}{{"conv9", 0, 0, 224, 224}, {"conv1", 55, 0, 224, 224}, {"conv1", 0, -1, 224, 224}, {"conv1", 0, 0, 0, 224}, {"pool5", 0, 0, 20, 20}, {"", 0, 0, 224, 224}} {
		if _, err := AlexNet.ReceptiveRect(bad.layer, bad.y, bad.x, bad.h, bad.w); err == nil {
			t.Errorf("ReceptiveRect(%q, %d, %d, %d, %d): want an error", bad.layer, bad.y, bad.x, bad.h, bad.w)
		}
	}
}

// TestReceptiveRectGradientSupport checks ReceptiveRect against the backward pass: for the
// units at one position of a random-weight network, the input pixels with a nonzero
// gradient must lie in the rectangle and reach all four of its edges (it is tight). Units at corners,
// edges and the centre are tried, so that clipping and padding are covered.
func TestReceptiveRectGradientSupport(t *testing.T) {
	for _, c := range []struct {
		arch   *Arch
		layers []string
	}{
		{AlexNet, []string{"conv1", "pool1", "conv3", "pool5"}},
		{AlexNetBVLC, []string{"norm1", "pool2"}},
		{SqueezeNet11, []string{"pool1", "fire3", "fire9", "conv10"}},
	} {
		m := randomModel(c.arch, 3)
		side := c.arch.InputSize
		r := rand.New(rand.NewSource(4))
		x := NewTensor(1, 3, side, side)
		for i := range x.Data {
			x.Data[i] = float32(r.NormFloat64())
		}
		res, err := m.Forward(x, ForwardOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, layer := range c.layers {
			act := res.Activations[layer]
			_, ch, oh, ow := act.dims4("test")
			first := 0 // fire modules: the expand3x3 channels see the whole rectangle
			for _, l := range c.arch.Layers {
				if l.Name == layer && l.Kind == KindFire {
					first = l.Fire.Expand1x1
				}
			}
			for _, pos := range [][2]int{{0, 0}, {oh - 1, ow - 1}, {0, ow / 2}, {oh / 2, ow / 2}} {
				y, xx := pos[0], pos[1]
				// All channels at (y, x) at once: a max pool unit sends its gradient to one
				// window position only, so a single channel's support may not reach the
				// rectangle's edges, but over a layer's many channels it does.
				v := make([]float32, ch*oh*ow)
				for k := first; k < ch; k++ {
					v[(k*oh+y)*ow+xx] = 1
				}
				rect, err := c.arch.ReceptiveRect(layer, y, xx, side, side)
				if err != nil {
					t.Fatal(err)
				}
				_, g, err := m.InputGradient(x, Direction(layer, v))
				if err != nil {
					t.Fatal(err)
				}
				support := image.Rectangle{}
				for iy := 0; iy < side; iy++ {
					for ix := 0; ix < side; ix++ {
						for k := 0; k < 3; k++ {
							if g.Data[(k*side+iy)*side+ix] != 0 {
								support = support.Union(image.Rect(ix, iy, ix+1, iy+1))
							}
						}
					}
				}
				if support != rect {
					t.Errorf("%s %s units at (%d, %d): gradient support %v, ReceptiveRect %v", c.arch.Name, layer, y, xx, support, rect)
				}
			}
		}
	}
}

// randomModel has He-normal weights and small random biases, like the PyTorch tests' nets.
func randomModel(a *Arch, seed int64) *Model {
	r := rand.New(rand.NewSource(seed))
	m := &Model{Arch: a, Params: map[string]*Weight{}, Fixture: true}
	for _, p := range a.Params() {
		n := 1
		for _, d := range p.Shape {
			n *= d
		}
		w := &Weight{Shape: p.Shape, F32: make([]float32, n)}
		scale := 0.1
		if len(p.Shape) >= 2 {
			scale = math.Sqrt(2 / float64(n/p.Shape[0]))
		}
		for i := range w.F32 {
			w.F32[i] = float32(r.NormFloat64() * scale)
		}
		m.Params[p.Name] = w
	}
	return m
}
