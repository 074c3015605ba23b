// Package split runs one forward pass across several engine instances: in the browser,
// several Web Workers, each a Go wasm instance (Go's wasm has no threads). Every convolution
// and fully connected layer is divided by output channels: part p of n holds only its
// channels' weights (Slice), computes its share of the layer, and the shares are exchanged
// (an all-gather) so that every part goes on with the whole activation. The cheap layers
// (pools, concatenation, softmax) run whole in every part.
//
// The arithmetic of every output value is the same as in one instance (same kernel, same
// order of additions), so the parts' logits equal the single instance's exactly.
package split

import (
	"fmt"

	"github.com/alexlens/alexlens/engine"
)

// Exchanger delivers one layer's shares between the parts of a pass.
type Exchanger interface {
	// AllGather sends this part's share (its output channels of layer number seq, in NCHW
	// order for its channel range) to every other part and returns every part's share in
	// part order, this part's included. It blocks until all have arrived.
	AllGather(seq int, mine []float32) ([][]float32, error)
}

// Range is the output channels [Lo, Hi) that part p of n computes of a layer with out
// channels. Boundaries are multiples of 8 where the layer is wide enough, so that the
// micro-kernel's row panels stay whole; a part may get no channels of a narrow layer.
func Range(out, p, n int) (lo, hi int) {
	edge := func(i int) int {
		e := out * i / n
		if out >= 8*n {
			e = (e + 4) / 8 * 8
		}
		return min(e, out)
	}
	if p == n-1 {
		return edge(p), out
	}
	return edge(p), edge(p + 1)
}

// Slice returns the model with the convolution and linear weights (and biases) of part p
// of n only: 1/n of the weight memory. The result runs only through a Backend of the same
// part. Grouped convolutions (BVLC AlexNet's) are not split: every part keeps them whole.
func Slice(m *engine.Model, p, n int) (*engine.Model, error) {
	return slice(m, p, n, sliceRows)
}

// slice is Slice with the way rows are taken: copied (Slice) or shared (View).
func slice(m *engine.Model, p, n int, rows func(w *engine.Weight, lo, hi int) *engine.Weight) (*engine.Model, error) {
	if n < 1 || p < 0 || p >= n {
		return nil, fmt.Errorf("split: part %d of %d does not exist", p, n)
	}
	out := &engine.Model{Arch: m.Arch, Params: map[string]*engine.Weight{}, Fixture: m.Fixture, Partial: m.Partial}
	for k, w := range m.Params {
		out.Params[k] = w
	}
	for _, key := range splitKeys(m.Arch) {
		w, b := m.Params[key+".weight"], m.Params[key+".bias"]
		if w == nil {
			continue // a partial model
		}
		lo, hi := Range(w.Rows(), p, n)
		out.Params[key+".weight"] = rows(w, lo, hi)
		if b != nil {
			out.Params[key+".bias"] = rows(b, lo, hi)
		}
	}
	return out, nil
}

// splitKeys are the parameter keys (without .weight/.bias) of the layers that are split.
func splitKeys(a *engine.Arch) []string {
	var keys []string
	for _, l := range a.Layers {
		switch l.Kind {
		case engine.KindConv:
			if l.Conv.Groups == 1 {
				keys = append(keys, l.Key)
			}
		case engine.KindLinear:
			keys = append(keys, l.Key)
		case engine.KindFire:
			keys = append(keys, l.Key+".squeeze", l.Key+".expand1x1", l.Key+".expand3x3")
		}
	}
	return keys
}

// sliceRows copies rows [lo, hi) of a weight or bias: a copy, so that once the whole model
// is dropped only this part's rows stay in memory.
func sliceRows(w *engine.Weight, lo, hi int) *engine.Weight {
	shape := append([]int{hi - lo}, w.Shape[1:]...)
	n := w.RowLen()
	s := &engine.Weight{Shape: shape}
	if w.Quantized() {
		s.I8 = append([]int8(nil), w.I8[lo*n:hi*n]...)
		s.Scale = append([]float32(nil), w.Scale[lo:hi]...)
	} else {
		s.F32 = append([]float32(nil), w.F32[lo*n:hi*n]...)
	}
	return s
}

// Backend runs part Part of Parts of a pass on a model made by Slice, with Inner (the fast
// CPU backend) doing the arithmetic and X the exchanges. A Backend serves one pass at a
// time. An exchange that fails panics with the exchanger's error: the Backend interface has
// no error results, and the worker reports a panic in a pass as that pass's error.
type Backend struct {
	Inner       engine.Backend
	Part, Parts int
	X           Exchanger
	seq         int
}

func (b *Backend) Name() string {
	return fmt.Sprintf("%s, part %d of %d", b.Inner.Name(), b.Part+1, b.Parts)
}

// Conv2D computes this part's output channels and gathers the others'.
func (b *Backend) Conv2D(x *engine.Tensor, w *engine.Weight, bias []float32, c engine.ConvSpec) *engine.Tensor {
	if b.Parts == 1 || c.Groups != 1 {
		return b.Inner.Conv2D(x, w, bias, c)
	}
	full := c.Out
	lo, hi := Range(full, b.Part, b.Parts)
	if w.Rows() != hi-lo {
		panic(fmt.Sprintf("split: conv2d weight has %d output channels, part %d of %d needs %d (model not made by Slice for this part?)", w.Rows(), b.Part, b.Parts, hi-lo))
	}
	n, _, h, wd := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	oh, ow := c.OutSize(h, wd)
	var mine []float32
	if hi > lo {
		c.Out = hi - lo
		mine = b.Inner.Conv2D(x, w, bias, c).Data
	}
	return b.gather(mine, n, full, oh*ow, []int{n, full, oh, ow})
}

// Linear computes this part's outputs and gathers the others'.
func (b *Backend) Linear(x *engine.Tensor, w *engine.Weight, bias []float32, l engine.LinearSpec) *engine.Tensor {
	if b.Parts == 1 {
		return b.Inner.Linear(x, w, bias, l)
	}
	full := l.Out
	lo, hi := Range(full, b.Part, b.Parts)
	if w.Rows() != hi-lo {
		panic(fmt.Sprintf("split: linear weight has %d outputs, part %d of %d needs %d (model not made by Slice for this part?)", w.Rows(), b.Part, b.Parts, hi-lo))
	}
	var mine []float32
	n := x.Shape[0]
	if hi > lo {
		l.Out = hi - lo
		mine = b.Inner.Linear(x, w, bias, l).Data
	}
	return b.gather(mine, n, full, 1, []int{n, full})
}

// gather exchanges the shares of one layer and assembles the whole output: for each batch
// item, every part's channel range in order.
func (b *Backend) gather(mine []float32, n, channels, plane int, shape []int) *engine.Tensor {
	b.seq++
	shares, err := b.X.AllGather(b.seq, mine)
	if err != nil {
		panic(fmt.Sprintf("split: exchanging layer outputs between parts: %v", err))
	}
	y := engine.NewTensor(shape...)
	for p, s := range shares {
		lo, hi := Range(channels, p, b.Parts)
		per := (hi - lo) * plane
		if len(s) != n*per {
			panic(fmt.Sprintf("split: part %d sent %d values for exchange %d, want %d", p, len(s), b.seq, n*per))
		}
		for i := 0; i < n; i++ {
			copy(y.Data[(i*channels+lo)*plane:(i*channels+hi)*plane], s[i*per:(i+1)*per])
		}
	}
	return y
}

// Reset starts a new pass: exchanges are numbered from 1 in every pass, so that all parts
// agree on the numbers whatever happened before (a pass that failed half-way).
func (b *Backend) Reset() { b.seq = 0 }

func (b *Backend) MaxPool2D(x *engine.Tensor, p engine.PoolSpec) *engine.Tensor {
	return b.Inner.MaxPool2D(x, p)
}
func (b *Backend) AvgPool2D(x *engine.Tensor, p engine.PoolSpec) *engine.Tensor {
	return b.Inner.AvgPool2D(x, p)
}
func (b *Backend) AdaptiveAvgPool2D(x *engine.Tensor, oh, ow int) *engine.Tensor {
	return b.Inner.AdaptiveAvgPool2D(x, oh, ow)
}
func (b *Backend) LRN(x *engine.Tensor, l engine.LRNSpec) *engine.Tensor { return b.Inner.LRN(x, l) }
func (b *Backend) ReLU(x *engine.Tensor) *engine.Tensor                  { return b.Inner.ReLU(x) }
func (b *Backend) Concat(xs ...*engine.Tensor) *engine.Tensor            { return b.Inner.Concat(xs...) }
func (b *Backend) Softmax(x *engine.Tensor) *engine.Tensor               { return b.Inner.Softmax(x) }

// DefaultParts is the number of workers for a visitor with cores logical cores
// (navigator.hardwareConcurrency): one per core, at most 4. The cap is a guess, not a
// measurement (this project's machines have 2 cores): every part adds an exchange per layer
// and holds a wasm instance's memory.
func DefaultParts(cores int) int {
	switch {
	case cores <= 1:
		return 1
	case cores <= 4:
		return cores
	default:
		return 4
	}
}
