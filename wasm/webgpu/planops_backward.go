package webgpu

import (
	"fmt"

	"github.com/alexlens/alexlens/engine"
)

// planOps as the engine.Backward through which buildGradPlan runs the engine's backward
// loop: each backward step appends the dispatches of shaders_backward.go that compute it.

func (o *planOps) ConvBackward(g, out *engine.Tensor, w *engine.Weight, c engine.ConvSpec, inShape []int) *engine.Tensor {
	key := o.key(w)
	if c.ReLU {
		o.reluMask(g, out)
	}
	return o.out(g, inShape, func(gi, dx int) error { return o.b.convDx(gi, dx, 0, key, c, false) })
}

// FireBackward masks the concatenated gradient once (both expand convolutions fuse the same
// ReLU), reads each expand branch's channels of it in place, and adds the two input
// gradients in the squeeze output's gradient.
func (o *planOps) FireBackward(g *engine.Tensor, f engine.FireSpec, w engine.FireWeights, in, squeeze, out *engine.Tensor) *engine.Tensor {
	sq, e1, e3 := f.Convs()
	k1, k3, ks := o.key(w.Expand1x1), o.key(w.Expand3x3), o.key(w.Squeeze)
	if e1.ReLU {
		o.reluMask(g, out)
	}
	ds := o.out(g, squeeze.Shape, func(gi, ds int) error {
		if err := o.b.convDx(gi, ds, 0, k1, e1, false); err != nil {
			return err
		}
		return o.b.convDx(gi, ds, e1.Out, k3, e3, true)
	})
	if sq.ReLU {
		o.reluMask(ds, squeeze)
	}
	return o.out(ds, in.Shape, func(gi, dx int) error { return o.b.convDx(gi, dx, 0, ks, sq, false) })
}

func (o *planOps) MaxPoolBackward(g, in, out *engine.Tensor, p engine.PoolSpec) *engine.Tensor {
	return o.out(g, in.Shape, func(gi, dx int) error { return o.b.maxPoolDx(gi, o.ids[in], o.ids[out], dx, p) })
}

func (o *planOps) LRNBackward(g, in *engine.Tensor, l engine.LRNSpec) *engine.Tensor {
	return o.out(g, in.Shape, func(gi, dx int) error { return o.b.lrnDx(gi, o.ids[in], dx, l) })
}

func (o *planOps) AdaptiveAvgPoolBackward(g *engine.Tensor, inShape []int) *engine.Tensor {
	return o.out(g, inShape, o.b.adaptiveDx)
}

func (o *planOps) LinearBackward(g, out *engine.Tensor, w *engine.Weight, l engine.LinearSpec, inShape []int) *engine.Tensor {
	key := o.key(w)
	if l.ReLU {
		o.reluMask(g, out)
	}
	return o.out(g, inShape, func(gi, dx int) error { return o.b.linearDx(gi, dx, key, l) })
}

// reluMask zeroes g in place where the fused ReLU's output y was off.
func (o *planOps) reluMask(g, y *engine.Tensor) {
	if o.err != nil {
		return
	}
	gi, yi := o.ids[g], o.ids[y]
	if n, m := o.b.p.tensors[gi].len(), o.b.p.tensors[yi].len(); n != m {
		o.err = fmt.Errorf("webgpu: a ReLU mask of %d values for a gradient of %d", m, n)
		return
	}
	o.err = o.b.flat(kReLUMask, yi, gi, o.b.p.tensors[gi].len(), uniforms(o.b.p.tensors[gi].len()))
}

// convDx appends a convolution's input gradient: dx from channels [dyOff, dyOff+c.Out) of
// dy, added onto dx when accumulate.
func (b *planBuilder) convDx(dy, dx, dyOff int, key string, c engine.ConvSpec, accumulate bool) error {
	w := b.params[key+".weight"]
	if w == nil {
		return fmt.Errorf("webgpu: no weight %s.weight", key)
	}
	s, d := b.shape(dx), b.shape(dy)
	n, h, wd := s[0], s[2], s[3]
	oh, ow := c.OutSize(h, wd)
	if s[1] != c.In || d[0] != n || d[1] < dyOff+c.Out || d[2] != oh || d[3] != ow {
		return fmt.Errorf("webgpu: %s backward: gradient %v does not fit a %d -> %d convolution of %v", key, d, c.In, c.Out, s)
	}
	cing, mg := c.In/c.Groups, c.Out/c.Groups
	kernel, stride := kConvDx, cing*c.KH*c.KW
	if w.Quantized() {
		kernel, stride = kConvDxI8, rowWords(stride)
	}
	total := b.p.tensors[dx].len()
	g, err := flatGroups(total, b.lim)
	if err != nil {
		return err
	}
	u := uniforms(total, c.In, h, wd, oh, ow, c.KH, c.KW, c.StrideH, c.StrideW, c.PadT, c.PadL,
		c.DilH, c.DilW, c.Groups, mg, cing, stride, d[1], dyOff, accumulate, 0, 0, 0)
	b.p.ops = append(b.p.ops, op{kernel: kernel, in: dy, out: dx, param: key, uniform: u, groups: g,
		flops: 2 * int64(n) * int64(c.Out) * int64(oh*ow) * int64(cing*c.KH*c.KW)})
	return nil
}

// maxPoolDx appends a max pool's input gradient; x and y are the forward pass's input and
// output.
func (b *planBuilder) maxPoolDx(dy, x, y, dx int, p engine.PoolSpec) error {
	s, o := b.shape(dx), b.shape(dy)
	total := b.p.tensors[dx].len()
	if err := b.flat(kMaxPoolDx, dy, dx, total, uniforms(total, s[2], s[3], o[2], o[3], p.KH, p.KW,
		p.StrideH, p.StrideW, p.PadT, p.PadL, 0)); err != nil {
		return err
	}
	b.p.ops[len(b.p.ops)-1].aux = []int{x, y}
	return nil
}

func (b *planBuilder) adaptiveDx(dy, dx int) error {
	s, o := b.shape(dx), b.shape(dy)
	total := b.p.tensors[dx].len()
	return b.flat(kAdaptiveDx, dy, dx, total, uniforms(total, s[2], s[3], o[2], o[3], 0, 0, 0))
}

// lrnDx appends local response normalization's input gradient; x is its forward input.
func (b *planBuilder) lrnDx(dy, x, dx int, l engine.LRNSpec) error {
	s := b.shape(dx)
	total := b.p.tensors[dx].len()
	if err := b.flat(kLRNDx, dy, dx, total, uniforms(total, s[1], s[2]*s[3], (l.Size-1)/2, l.Size/2, 0, 0, 0,
		l.Alpha/float32(l.Size), l.Beta, l.K, float32(0))); err != nil {
		return err
	}
	b.p.ops[len(b.p.ops)-1].aux = []int{x}
	return nil
}

// linearDx appends a fully connected layer's input gradient, dx = dy · W.
func (b *planBuilder) linearDx(dy, dx int, key string, l engine.LinearSpec) error {
	w := b.params[key+".weight"]
	if w == nil {
		return fmt.Errorf("webgpu: no weight %s.weight", key)
	}
	n := b.shape(dy)[0]
	total := b.p.tensors[dx].len()
	if total != n*l.In || b.p.tensors[dy].len() != n*l.Out {
		return fmt.Errorf("webgpu: %s backward: gradient %v does not fit %d -> %d features", key, b.shape(dy), l.In, l.Out)
	}
	kernel, stride := kLinearDx, l.In
	if w.Quantized() {
		kernel, stride = kLinearDxI8, rowWords(l.In)
	}
	g, err := flatGroups(total, b.lim)
	if err != nil {
		return err
	}
	b.p.ops = append(b.p.ops, op{kernel: kernel, in: dy, out: dx, param: key, uniform: uniforms(total, l.In, l.Out, stride),
		groups: g, flops: 2 * int64(n) * int64(l.In) * int64(l.Out)})
	return nil
}
