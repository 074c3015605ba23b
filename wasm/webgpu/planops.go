package webgpu

import (
	"fmt"
	"strings"

	"github.com/alexlens/alexlens/engine"
)

// planOps is the engine.Backend through which buildPlan runs the engine's forward pass:
// its tensors are placeholders (a shape, no data) standing for plan tensors, and each
// operator call appends the dispatches that compute it. Operator calls cannot return
// errors, so the first one (a tensor past the GPU's limits, a missing weight) is kept in
// err, and later calls only keep shapes consistent.
type planOps struct {
	b    *planBuilder
	ids  map[*engine.Tensor]int // placeholder -> plan tensor
	keys map[*engine.Weight]string
	// convs remembers the dispatch that made a tensor with a convolution, so that Concat
	// can have it write into the concatenation at a channel offset instead (a fire
	// module's expand convolutions: no copy).
	convs map[int]convCall
	last  *engine.Tensor // the latest operator's output
	err   error
}

type convCall struct {
	at  int // index of the dispatch in the plan's ops
	in  int
	key string
	c   engine.ConvSpec
}

func newPlanOps(b *planBuilder, params map[string]*engine.Weight) *planOps {
	o := &planOps{b: b, ids: map[*engine.Tensor]int{}, keys: map[*engine.Weight]string{}, convs: map[int]convCall{}}
	for name, w := range params {
		if key, ok := strings.CutSuffix(name, ".weight"); ok {
			o.keys[w] = key
		}
	}
	return o
}

// tensor makes a plan tensor and its placeholder.
func (o *planOps) tensor(shape ...int) (*engine.Tensor, error) {
	id, err := o.b.tensor(shape...)
	if err != nil {
		return nil, err
	}
	t := &engine.Tensor{Shape: append([]int(nil), shape...)}
	o.ids[t] = id
	return t, nil
}

// out is an operator's output of the given shape, after the dispatch add has been
// appended; a failure is kept, and a placeholder of the shape still returned.
func (o *planOps) out(in *engine.Tensor, shape []int, add func(in, out int) error) *engine.Tensor {
	if o.err != nil {
		return &engine.Tensor{Shape: shape}
	}
	t, err := o.tensor(shape...)
	if err == nil {
		err = add(o.ids[in], o.ids[t])
	}
	if err != nil {
		o.err = err
		return &engine.Tensor{Shape: shape}
	}
	o.last = t
	return t
}

// named marks the latest dispatch as completing the named activation (the GPU pass runs
// as one submission; per-layer times and readbacks key on these marks).
func (o *planOps) named(name string) {
	ops := o.b.p.ops
	if o.err != nil || len(ops) == 0 {
		return
	}
	if ops[len(ops)-1].layer != "" {
		o.err = fmt.Errorf("webgpu: layer %s made no GPU work of its own", name)
		return
	}
	ops[len(ops)-1].layer = name
}

func (o *planOps) key(w *engine.Weight) string {
	if k, ok := o.keys[w]; ok {
		return k
	}
	o.err = fmt.Errorf("webgpu: an operator's weight is not one of the model's parameters")
	return ""
}

func (o *planOps) Name() string { return "webgpu-plan" }

func (o *planOps) Conv2D(x *engine.Tensor, w *engine.Weight, _ []float32, c engine.ConvSpec) *engine.Tensor {
	oh, ow := c.OutSize(x.Shape[2], x.Shape[3])
	key := o.key(w)
	return o.out(x, []int{x.Shape[0], c.Out, oh, ow}, func(in, out int) error {
		o.convs[out] = convCall{at: len(o.b.p.ops), in: in, key: key, c: c}
		return o.b.conv(in, out, 0, key, c)
	})
}

func (o *planOps) Linear(x *engine.Tensor, w *engine.Weight, _ []float32, l engine.LinearSpec) *engine.Tensor {
	key := o.key(w)
	return o.out(x, []int{x.Shape[0], l.Out}, func(in, out int) error { return o.b.linear(in, out, key, l) })
}

func (o *planOps) pool(x *engine.Tensor, p engine.PoolSpec, isMax bool) *engine.Tensor {
	oh, ow := p.OutSize(x.Shape[2], x.Shape[3])
	return o.out(x, []int{x.Shape[0], x.Shape[1], oh, ow}, func(in, out int) error { return o.b.pool(in, out, p, isMax) })
}

func (o *planOps) MaxPool2D(x *engine.Tensor, p engine.PoolSpec) *engine.Tensor {
	return o.pool(x, p, true)
}
func (o *planOps) AvgPool2D(x *engine.Tensor, p engine.PoolSpec) *engine.Tensor {
	return o.pool(x, p, false)
}

func (o *planOps) AdaptiveAvgPool2D(x *engine.Tensor, oh, ow int) *engine.Tensor {
	return o.out(x, []int{x.Shape[0], x.Shape[1], oh, ow}, o.b.adaptiveAvg)
}

func (o *planOps) LRN(x *engine.Tensor, l engine.LRNSpec) *engine.Tensor {
	return o.out(x, x.Shape, func(in, out int) error { return o.b.lrn(in, out, l) })
}

func (o *planOps) ReLU(x *engine.Tensor) *engine.Tensor { return o.out(x, x.Shape, o.b.relu) }

func (o *planOps) Softmax(x *engine.Tensor) *engine.Tensor {
	return o.out(x, x.Shape, func(in, out int) error { return o.b.softmax(in, out, 0) })
}

// Concat joins NCHW tensors along channels. An input that a convolution made is written
// by that convolution straight into its channels of the result (its own tensor is dropped
// from the plan by prune); any other input is copied in.
func (o *planOps) Concat(xs ...*engine.Tensor) *engine.Tensor {
	c := 0
	for _, x := range xs {
		c += x.Shape[1]
	}
	shape := append([]int{xs[0].Shape[0], c}, xs[0].Shape[2:]...)
	if o.err != nil {
		return &engine.Tensor{Shape: shape}
	}
	t, err := o.tensor(shape...)
	if err != nil {
		o.err = err
		return &engine.Tensor{Shape: shape}
	}
	out, coff := o.ids[t], 0
	for _, x := range xs {
		id := o.ids[x]
		if cc, ok := o.convs[id]; ok {
			op, err := o.b.convOp(cc.in, out, coff, cc.key, cc.c)
			if err != nil {
				o.err = err
				break
			}
			o.b.p.ops[cc.at] = op
			delete(o.convs, id)
		} else if err := o.b.concatInto(id, out, coff); err != nil {
			o.err = err
			break
		}
		coff += x.Shape[1]
	}
	o.last = t
	return t
}

// prune drops the tensors no dispatch reads or writes any more (convolution outputs that
// Concat redirected) and renumbers the rest in order.
func (p *plan) prune() {
	used := make([]bool, len(p.tensors))
	for _, t := range []int{p.input, p.act, p.seed, p.dx, p.atAct} {
		if t >= 0 {
			used[t] = true
		}
	}
	for _, op := range p.ops {
		used[op.in], used[op.out] = true, true
		for _, t := range op.aux {
			used[t] = true
		}
	}
	renum := make([]int, len(p.tensors))
	var kept []tensorSpec
	for i, t := range p.tensors {
		renum[i] = -1
		if used[i] {
			renum[i] = len(kept)
			kept = append(kept, t)
		}
	}
	p.tensors = kept
	for i := range p.ops {
		p.ops[i].in, p.ops[i].out = renum[p.ops[i].in], renum[p.ops[i].out]
		for j, t := range p.ops[i].aux {
			p.ops[i].aux[j] = renum[t]
		}
	}
	for name, t := range p.named {
		p.named[name] = renum[t]
	}
	p.input = renum[p.input]
	for _, t := range []*int{&p.logits, &p.probs, &p.act, &p.seed, &p.dx, &p.atAct} {
		if *t >= 0 {
			*t = renum[*t]
		}
	}
}
