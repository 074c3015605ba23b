package webgpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/alexlens/alexlens/engine"
)

// A plan is a network description turned into GPU work for one input shape: the tensors
// (activation buffers) and, in order, the kernel dispatches with their uniform blocks. It is
// built once per input shape and replayed by every forward pass of that shape, so a pass
// is one command buffer: no per-layer CPU round trip. Plans hold no GPU objects, so they
// are built and tested natively.
type plan struct {
	tensors []tensorSpec
	ops     []op
	named   map[string]int // activation name -> tensor
	order   []string       // activation names in order
	input   int
	logits  int // -1 when the pass stops before the classifier
	probs   int // softmax of the logits, -1 likewise
	// A gradient plan (buildGradPlan) runs ops [0, backwardFrom) forward to act, the
	// objectives' layer, then, once the CPU has written the gradient of the objectives
	// into seed, the rest back to dx: the input's gradient, or the gradient at atAct, the
	// output of the layer the pass stops at. All are -1 in a forward plan (atAct also when
	// the pass goes back to the input).
	act, seed, dx, atAct int
	backwardFrom         int
}

type tensorSpec struct {
	shape []int
}

func (t tensorSpec) len() int {
	n := 1
	for _, d := range t.shape {
		n *= d
	}
	return n
}

// op is one kernel dispatch.
type op struct {
	kernel  string
	in, out int    // tensor indices
	aux     []int  // further inputs of the backward kernels, bound from 6 on
	param   string // parameter key prefix (features.0) for convolution and linear
	uniform []byte
	groups  [3]int // workgroups in x, y, z
	layer   string // the activation this op completes, "" for an intermediate step
	flops   int64  // multiply-adds x 2, for the design notes and benchmarks
}

// Limits are the adapter limits a plan must respect.
type Limits struct {
	MaxWorkgroupsPerDimension int
	MaxStorageBufferBinding   int64
	MaxBufferSize             int64
}

// DefaultLimits are the WebGPU spec's guaranteed minimums (what a device gets when it asks
// for nothing).
var DefaultLimits = Limits{MaxWorkgroupsPerDimension: 65535, MaxStorageBufferBinding: 128 << 20, MaxBufferSize: 256 << 20}

// uniforms packs u32 (int) and f32 (float32) scalars in order, little-endian, padded to a
// multiple of 16 bytes as uniform blocks require.
func uniforms(vals ...any) []byte {
	b := make([]byte, 0, 64)
	for _, v := range vals {
		switch v := v.(type) {
		case int:
			b = binary.LittleEndian.AppendUint32(b, uint32(v))
		case bool:
			u := uint32(0)
			if v {
				u = 1
			}
			b = binary.LittleEndian.AppendUint32(b, u)
		case float32:
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		default:
			panic(fmt.Sprintf("webgpu: uniform of type %T", v))
		}
	}
	for len(b)%16 != 0 {
		b = append(b, 0)
	}
	return b
}

// flatGroups is the dispatch of a one-invocation-per-element kernel over n elements:
// 256-wide workgroups laid out in 2-D when x would pass the per-dimension limit.
func flatGroups(n int, lim Limits) ([3]int, error) {
	g := (n + flatThreads - 1) / flatThreads
	if g <= lim.MaxWorkgroupsPerDimension {
		return [3]int{max(g, 1), 1, 1}, nil
	}
	x := lim.MaxWorkgroupsPerDimension
	y := (g + x - 1) / x
	if y > lim.MaxWorkgroupsPerDimension {
		return [3]int{}, fmt.Errorf("webgpu: %d elements are more than one dispatch can cover", n)
	}
	return [3]int{x, y, 1}, nil
}

// rowWords is the length in u32 words of one int8 weight row: rows are padded to whole
// words so each starts on a word boundary.
func rowWords(rowLen int) int { return (rowLen + 3) / 4 }

// packInt8 lays out an int8 weight for the GPU: row o in words [o*rowWords, (o+1)*rowWords),
// element i of a row in byte i%4 (little-endian) of word i/4, padding bytes zero.
func packInt8(w *engine.Weight) []byte {
	rows, n := w.Rows(), w.RowLen()
	stride := 4 * rowWords(n)
	out := make([]byte, rows*stride)
	for o := 0; o < rows; o++ {
		for i, q := range w.I8[o*n : (o+1)*n] {
			out[o*stride+i] = byte(q)
		}
	}
	return out
}

// weightBytes is the size of a weight on the GPU.
func weightBytes(w *engine.Weight) int64 {
	if w.Quantized() {
		return int64(w.Rows()) * 4 * int64(rowWords(w.RowLen()))
	}
	return int64(len(w.F32)) * 4
}

// planBuilder accumulates tensors and ops.
type planBuilder struct {
	p      *plan
	lim    Limits
	params map[string]*engine.Weight
}

func (b *planBuilder) tensor(shape ...int) (int, error) {
	t := tensorSpec{shape: append([]int(nil), shape...)}
	if bytes := int64(t.len()) * 4; bytes > b.lim.MaxStorageBufferBinding || bytes > b.lim.MaxBufferSize {
		return 0, fmt.Errorf("webgpu: an activation of shape %v needs %d MB, more than this GPU binds (%d MB)",
			shape, bytes>>20, min(b.lim.MaxStorageBufferBinding, b.lim.MaxBufferSize)>>20)
	}
	b.p.tensors = append(b.p.tensors, t)
	return len(b.p.tensors) - 1, nil
}

func (b *planBuilder) shape(t int) []int { return b.p.tensors[t].shape }

// conv appends a convolution of tensor in, writing channels [coff, coff+c.Out) of out.
func (b *planBuilder) conv(in, out, coff int, key string, c engine.ConvSpec) error {
	o, err := b.convOp(in, out, coff, key, c)
	if err != nil {
		return err
	}
	b.p.ops = append(b.p.ops, o)
	return nil
}

// convOp is conv's dispatch.
func (b *planBuilder) convOp(in, out, coff int, key string, c engine.ConvSpec) (op, error) {
	w := b.params[key+".weight"]
	if w == nil {
		return op{}, fmt.Errorf("webgpu: no weight %s.weight", key)
	}
	if want := []int{c.Out, c.In / max(c.Groups, 1), c.KH, c.KW}; c.Groups < 1 || c.In%c.Groups != 0 || c.Out%c.Groups != 0 || !slices.Equal(w.Shape, want) {
		return op{}, fmt.Errorf("webgpu: %s.weight has shape %v, groups %d: does not fit a %d -> %d convolution", key, w.Shape, c.Groups, c.In, c.Out)
	}
	s := b.shape(in)
	if s[1] != c.In {
		return op{}, fmt.Errorf("webgpu: %s wants %d input channels, has %d", key, c.In, s[1])
	}
	n, h, wd := s[0], s[2], s[3]
	oh, ow := c.OutSize(h, wd)
	cing, mg := c.In/c.Groups, c.Out/c.Groups
	k := cing * c.KH * c.KW
	kernel, stride := kConv, k
	if w.Quantized() {
		kernel, stride = kConvI8, rowWords(k)
	}
	gx, gy, gz := (oh*ow+gemmTile-1)/gemmTile, (mg+gemmTile-1)/gemmTile, n*c.Groups
	if gx > b.lim.MaxWorkgroupsPerDimension || gy > b.lim.MaxWorkgroupsPerDimension || gz > b.lim.MaxWorkgroupsPerDimension {
		return op{}, fmt.Errorf("webgpu: convolution %s of a %dx%d input is too large for one dispatch", key, h, wd)
	}
	u := uniforms(c.In, h, wd, oh, ow, c.KH, c.KW, c.StrideH, c.StrideW, c.PadT, c.PadL, c.DilH,
		c.DilW, c.Groups, mg, cing, k, stride, b.shape(out)[1], coff, c.ReLU, oh*ow, 0, 0)
	return op{kernel: kernel, in: in, out: out, param: key, uniform: u,
		groups: [3]int{gx, gy, gz}, flops: 2 * int64(n) * int64(c.Out) * int64(oh*ow) * int64(k)}, nil
}

// linear appends a fully connected layer: matrix-vector at batch 1, tiled GEMM otherwise.
func (b *planBuilder) linear(in, out int, key string, l engine.LinearSpec) error {
	w := b.params[key+".weight"]
	if w == nil {
		return fmt.Errorf("webgpu: no weight %s.weight", key)
	}
	if !slices.Equal(w.Shape, []int{l.Out, l.In}) {
		return fmt.Errorf("webgpu: %s.weight has shape %v, want [%d %d]", key, w.Shape, l.Out, l.In)
	}
	n := b.shape(in)[0]
	if b.p.tensors[in].len() != n*l.In {
		return fmt.Errorf("webgpu: %s wants %d inputs per item, has shape %v", key, l.In, b.shape(in))
	}
	stride := l.In
	if w.Quantized() {
		stride = rowWords(l.In)
	}
	flops := 2 * int64(n) * int64(l.In) * int64(l.Out)
	if n == 1 {
		kernel := kMatvec
		if w.Quantized() {
			kernel = kMatvecI8
		}
		gx := min(l.Out, b.lim.MaxWorkgroupsPerDimension)
		gy := (l.Out + gx - 1) / gx
		u := uniforms(l.In, l.Out, stride, l.ReLU, gx, 0, 0, 0)
		b.p.ops = append(b.p.ops, op{kernel: kernel, in: in, out: out, param: key, uniform: u, groups: [3]int{gx, gy, 1}, flops: flops})
		return nil
	}
	kernel := kLinear
	if w.Quantized() {
		kernel = kLinearI8
	}
	gx, gy := (n+gemmTile-1)/gemmTile, (l.Out+gemmTile-1)/gemmTile
	if gx > b.lim.MaxWorkgroupsPerDimension || gy > b.lim.MaxWorkgroupsPerDimension {
		return fmt.Errorf("webgpu: linear %s is too large for one dispatch", key)
	}
	// The GEMM's conv fields are unused here: K = In, M = Out, N = batch.
	u := uniforms(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, l.Out, 0, l.In, stride, l.Out, 0, l.ReLU, n, 0, 0)
	b.p.ops = append(b.p.ops, op{kernel: kernel, in: in, out: out, param: key, uniform: u, groups: [3]int{gx, gy, 1}, flops: flops})
	return nil
}

func (b *planBuilder) flat(kernel string, in, out int, total int, u []byte) error {
	g, err := flatGroups(total, b.lim)
	if err != nil {
		return err
	}
	b.p.ops = append(b.p.ops, op{kernel: kernel, in: in, out: out, uniform: u, groups: g})
	return nil
}

func (b *planBuilder) pool(in, out int, p engine.PoolSpec, isMax bool) error {
	s, o := b.shape(in), b.shape(out)
	total := o[0] * o[1] * o[2] * o[3]
	return b.flat(kPool, in, out, total, uniforms(total, s[2], s[3], o[2], o[3], p.KH, p.KW, p.StrideH,
		p.StrideW, p.PadT, p.PadL, p.PadB, p.PadR, isMax, p.CountIncludePad, 0))
}

func (b *planBuilder) adaptiveAvg(in, out int) error {
	s, o := b.shape(in), b.shape(out)
	total := o[0] * o[1] * o[2] * o[3]
	return b.flat(kAdaptive, in, out, total, uniforms(total, s[2], s[3], o[2], o[3], 0, 0, 0))
}

func (b *planBuilder) lrn(in, out int, l engine.LRNSpec) error {
	s := b.shape(in)
	total := s[0] * s[1] * s[2] * s[3]
	return b.flat(kLRN, in, out, total, uniforms(total, s[1], s[2]*s[3], (l.Size-1)/2, l.Size/2, 0, 0, 0,
		l.Alpha/float32(l.Size), l.Beta, l.K, float32(0)))
}

func (b *planBuilder) relu(in, out int) error {
	total := b.p.tensors[in].len()
	return b.flat(kReLU, in, out, total, uniforms(total))
}

func (b *planBuilder) concatInto(in, out, coff int) error {
	s, o := b.shape(in), b.shape(out)
	hw := 1
	for _, d := range s[2:] {
		hw *= d
	}
	total := b.p.tensors[in].len()
	return b.flat(kConcat, in, out, total, uniforms(total, s[1], hw, o[1], coff, 0, 0, 0))
}

// softmax normalizes rows of length d (the tensor's last dimension when d is 0).
func (b *planBuilder) softmax(in, out, d int) error {
	s := b.shape(in)
	if d == 0 {
		d = s[len(s)-1]
	}
	rows := b.p.tensors[in].len() / max(d, 1)
	if rows > b.lim.MaxWorkgroupsPerDimension {
		return fmt.Errorf("webgpu: softmax over %d rows is too many for one dispatch", rows)
	}
	b.p.ops = append(b.p.ops, op{kernel: kSoftmax, in: in, out: out, uniform: uniforms(rows, d), groups: [3]int{rows, 1, 1}})
	return nil
}

// buildPlan turns a model into a plan for an n x 3 x h x w input, stopping after stopAfter
// ("" = run to the end, or to the model's last layer for partial weights). It runs the
// engine's own forward pass (engine.Model.Forward, the one interpreter of the layer list)
// with planOps as its backend, so every operator call becomes GPU work instead of
// arithmetic.
func buildPlan(m *engine.Model, n, h, w int, stopAfter string, lim Limits) (*plan, error) {
	if n < 1 || h < 1 || w < 1 {
		return nil, fmt.Errorf("webgpu: input must be N x 3 x H x W with positive sizes, got %dx3x%dx%d", n, h, w)
	}
	if _, err := m.Arch.Shapes(h, w); err != nil {
		return nil, err
	}
	p := newPlan()
	ops := newPlanOps(&planBuilder{p: p, lim: lim, params: m.Params}, m.Params)
	x, err := ops.tensor(n, 3, h, w)
	if err != nil {
		return nil, err
	}
	p.input = ops.ids[x]
	res, err := m.Forward(x, engine.ForwardOptions{Backend: ops, StopAfter: stopAfter,
		OnLayer: func(name string, _, _ int, _ time.Duration) { ops.named(name) }})
	if err == nil {
		err = ops.err
	}
	if err != nil {
		return nil, err
	}
	for _, name := range res.Order {
		p.named[name] = ops.ids[res.Activations[name]]
	}
	p.order = res.Order
	if res.Logits != nil {
		// Logits are the last activation flattened to N x classes (SqueezeNet's is
		// N x 1000 x 1 x 1).
		p.logits = ops.ids[ops.last]
		classes := p.tensors[p.logits].len() / n
		if p.probs, err = ops.b.tensor(n, classes); err != nil {
			return nil, err
		}
		if err := ops.b.softmax(p.logits, p.probs, classes); err != nil {
			return nil, err
		}
	}
	p.prune()
	return p, nil
}

func newPlan() *plan {
	return &plan{named: map[string]int{}, logits: -1, probs: -1, act: -1, seed: -1, dx: -1, atAct: -1}
}

// buildGradPlan records a gradient pass for an n x 3 x h x w input and objectives that read
// target (before its fused ReLU when preReLU), back to the input or to the output of the
// layer named at: the engine's own gradient loops (engine.Model.TraceGradient) run with
// planOps as both the forward and the backward backend, so each operator and each
// backward step becomes GPU work. The objectives themselves are evaluated on the CPU
// between the two halves (GPUModel.Gradient).
func buildGradPlan(m *engine.Model, n, h, w int, target string, preReLU bool, at string, lim Limits) (*plan, error) {
	if n < 1 || h < 1 || w < 1 {
		return nil, fmt.Errorf("webgpu: input must be N x 3 x H x W with positive sizes, got %dx3x%dx%d", n, h, w)
	}
	if _, err := m.Arch.Shapes(h, w); err != nil {
		return nil, err
	}
	if m.Arch.LayerIndex(target) < 0 || at != "" && m.Arch.LayerIndex(at) < 0 {
		return nil, fmt.Errorf("%s has no layer %q or %q (layers: %v)", m.Arch.Name, target, at, m.Arch.LayerNames())
	}
	if at != "" && m.Arch.LayerIndex(at) > m.Arch.LayerIndex(target) {
		return nil, fmt.Errorf("%s: %s comes after %s, which the objectives read: it has no gradient", m.Arch.Name, at, target)
	}
	p := newPlan()
	ops := newPlanOps(&planBuilder{p: p, lim: lim, params: m.Params}, m.Params)
	x, err := ops.tensor(n, 3, h, w)
	if err != nil {
		return nil, err
	}
	p.input = ops.ids[x]
	var act, seed *engine.Tensor
	atAct, dx := m.TraceGradient(x, ops, ops, target, preReLU, at, func(a *engine.Tensor) *engine.Tensor {
		act = a
		p.backwardFrom = len(p.ops)
		if ops.err != nil {
			return &engine.Tensor{Shape: a.Shape}
		}
		if seed, ops.err = ops.tensor(a.Shape...); ops.err != nil {
			return &engine.Tensor{Shape: a.Shape}
		}
		return seed
	})
	if ops.err != nil {
		return nil, ops.err
	}
	p.act, p.seed, p.dx = ops.ids[act], ops.ids[seed], ops.ids[dx]
	if atAct != nil {
		p.atAct = ops.ids[atAct]
	}
	p.prune()
	return p, nil
}

// Flops is the plan's arithmetic (2 x multiply-adds) per activation name, for benchmarks.
func (p *plan) layerFlops() map[string]int64 {
	out := map[string]int64{}
	var acc int64
	for _, o := range p.ops {
		acc += o.flops
		if o.layer != "" {
			out[o.layer] = acc
			acc = 0
		}
	}
	return out
}
