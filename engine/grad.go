package engine

import (
	"fmt"
	"math"
)

// Backpropagation to the input image, for the "look inside" views: feature visualization
// ascends the gradient of an objective (a class logit, a channel, a neuron, a direction in a
// layer's activation space) with respect to the input pixels.
//
// The forward pass is Model.Forward's, recording on a tape what each layer's backward step
// needs; the backward pass walks the tape in reverse, one backward function per operator
// (grad_ops.go). Weights are never differentiated, so no weight gradients are computed.

// ObjectiveKind selects what an Objective measures.
type ObjectiveKind int

const (
	// ObjectiveClass is the logit (pre-softmax score) of class Channel.
	ObjectiveClass ObjectiveKind = iota
	// ObjectiveChannel is the mean over positions of Layer's channel Channel.
	ObjectiveChannel
	// ObjectiveNeuron is Layer's channel Channel at position (Y, X).
	ObjectiveNeuron
	// ObjectiveDirection is the dot product of Layer's activation with Vector: a vector of
	// C values is applied at every position and averaged over positions (Lucid's
	// "direction"); a vector of C*H*W values is dotted with the whole activation.
	ObjectiveDirection
	// ObjectiveEmbedding is Func of Layer's embedding: its activation averaged over
	// positions (C values), as galleries and taught heads read it; a taught class's logit.
	ObjectiveEmbedding
)

// EmbeddingFunc is a differentiable scalar function of one layer's embedding, such as a
// class logit of a head taught on that layer (teach.Head.LogitFunc).
type EmbeddingFunc interface {
	// Dim is how many values the function reads.
	Dim() int
	// ValueGrad returns the function's value at e and writes its gradient into grad.
	ValueGrad(e, grad []float32) float64
}

// Objective is a scalar function of one layer's activation (the layer's output after its
// fused ReLU, as in Result.Activations). Over a batch, the values of the items are summed,
// so each item's gradient is its own.
type Objective struct {
	Kind    ObjectiveKind
	Layer   string // ignored for ObjectiveClass
	Channel int    // class index for ObjectiveClass
	Y, X    int
	Vector  []float32
	// PreReLU reads the layer's output before its fused ReLU (convolutions, fire modules,
	// fully connected layers). A unit that is off for the current input has no gradient
	// after its ReLU; before it, gradient ascent can still switch it on. Lucid visualizes
	// "pre_relu" tensors for this reason.
	PreReLU bool
	// CosPow, for a per-position direction, multiplies each position's dot product a·v by
	// max(cos(a, v), 0.1)^CosPow, so that the image is pushed towards the direction itself
	// rather than towards ever larger activations that merely lean its way: Lucid's
	// direction_neuron_cossim, the objective of the activation atlas's icons (Carter et al.
	// 2019). 0 is the plain dot product.
	CosPow float64
	// Func is ObjectiveEmbedding's function.
	Func EmbeddingFunc
}

// minCos is the floor under the cosine of a CosPow objective, so that a position pointing
// away from the direction still has a gradient towards it.
const minCos = 0.1

// OfEmbedding is the objective "f of layer's embedding" (see ObjectiveEmbedding).
func OfEmbedding(layer string, f EmbeddingFunc) Objective {
	return Objective{Kind: ObjectiveEmbedding, Layer: layer, Func: f}
}

// ClassLogit is the objective "logit of class c".
func ClassLogit(c int) Objective { return Objective{Kind: ObjectiveClass, Channel: c} }

// ChannelMean is the objective "mean activation of channel ch of layer" (a unit in Distill's
// words). For a fully connected layer the channel is one feature.
func ChannelMean(layer string, ch int) Objective {
	return Objective{Kind: ObjectiveChannel, Layer: layer, Channel: ch}
}

// Neuron is the objective "activation of channel ch of layer at (y, x)".
func Neuron(layer string, ch, y, x int) Objective {
	return Objective{Kind: ObjectiveNeuron, Layer: layer, Channel: ch, Y: y, X: x}
}

// Direction is the objective "projection of layer's activation on v" (see ObjectiveDirection).
func Direction(layer string, v []float32) Objective {
	return Objective{Kind: ObjectiveDirection, Layer: layer, Vector: v}
}

func (o Objective) String() string {
	if o.PreReLU {
		p := o
		p.PreReLU = false
		return p.String() + " (pre-ReLU)"
	}
	switch o.Kind {
	case ObjectiveClass:
		return fmt.Sprintf("class %d logit", o.Channel)
	case ObjectiveChannel:
		return fmt.Sprintf("%s channel %d mean", o.Layer, o.Channel)
	case ObjectiveNeuron:
		return fmt.Sprintf("%s channel %d at (%d, %d)", o.Layer, o.Channel, o.Y, o.X)
	case ObjectiveDirection:
		if o.CosPow != 0 {
			return fmt.Sprintf("%s direction (%d values, cosine^%g)", o.Layer, len(o.Vector), o.CosPow)
		}
		return fmt.Sprintf("%s direction (%d values)", o.Layer, len(o.Vector))
	case ObjectiveEmbedding:
		return fmt.Sprintf("a function of the %s embedding", o.Layer)
	}
	return fmt.Sprintf("objective kind %d", int(o.Kind))
}

// layerName is the layer whose activation the objective reads.
func (o Objective) layerName(a *Arch) string {
	if o.Kind == ObjectiveClass {
		names := a.LayerNames()
		return names[len(names)-1]
	}
	return o.Layer
}

// GradOptions tunes one gradient computation.
type GradOptions struct {
	// Backend runs the forward operators; nil means the default (fastest CPU) backend. The
	// backward operators are FastCPU's: Backend's own when it is a FastCPU (its block GEMM
	// included, so that in the browser the gradients' products run on the generated
	// module as the forward pass's do), a plain one otherwise.
	Backend Backend
	// Threads bounds the goroutines of the backward operators; 0 means the backend's.
	Threads int
	// Edits are interventions applied in the forward pass (see Edit), and differentiated.
	Edits []Edit
	// Device, when set, runs input gradients without edits on a device of its own (the
	// browser's WebGPU runner); when it fails, the pass is computed here as without it.
	Device GradDevice
}

// GradDevice computes whole gradient passes on a device of its own: it runs the forward
// pass to target (without target's fused ReLU when preReLU) and keeps the tape there, hands
// target's activation to seed, which evaluates the objectives on the CPU and returns the
// gradient to start from, and runs the backward pass back to the input, or to the output
// of the layer named at (then returning that output too, as ActivationGradient does). The
// WebGPU runner records its passes by running the engine's own loops on placeholder
// tensors (TraceGradient).
type GradDevice interface {
	Gradient(x *Tensor, target string, preReLU bool, at string, seed func(act *Tensor) *Tensor) (atAct, grad *Tensor, err error)
}

// Backward is the set of backward operators, one per layer kind with a gradient: FastCPU
// computes them; a device backend records them as its own work (see TraceGradient).
type Backward interface {
	ConvBackward(g, out *Tensor, w *Weight, c ConvSpec, inShape []int) *Tensor
	FireBackward(g *Tensor, f FireSpec, w FireWeights, in, squeeze, out *Tensor) *Tensor
	MaxPoolBackward(g, in, out *Tensor, p PoolSpec) *Tensor
	LRNBackward(g, in *Tensor, l LRNSpec) *Tensor
	AdaptiveAvgPoolBackward(g *Tensor, inShape []int) *Tensor
	LinearBackward(g, out *Tensor, w *Weight, l LinearSpec, inShape []int) *Tensor
}

// FireWeights are a fire module's three convolution weights.
type FireWeights struct{ Squeeze, Expand1x1, Expand3x3 *Weight }

func (m *Model) fireWeights(key string) FireWeights {
	return FireWeights{m.Params[key+".squeeze.weight"], m.Params[key+".expand1x1.weight"], m.Params[key+".expand3x3.weight"]}
}

// InputGradient returns the objective's value at x and its gradient with respect to x (the
// normalized input batch, N x 3 x H x W), in float32. int8 weights are used dequantized.
func (m *Model) InputGradient(x *Tensor, obj Objective) (value float32, grad *Tensor, err error) {
	return m.InputGradientWith(x, obj, GradOptions{})
}

// InputGradientWith is InputGradient with options.
func (m *Model) InputGradientWith(x *Tensor, obj Objective, opt GradOptions) (float32, *Tensor, error) {
	objs := []Objective{obj} // a malformed x is then reported as such
	if x != nil && len(x.Shape) == 4 {
		for len(objs) < x.Shape[0] {
			objs = append(objs, obj)
		}
	}
	values, g, err := m.InputGradientBatch(x, objs, opt)
	var sum float32
	for _, v := range values {
		sum += v
	}
	return sum, g, err
}

// InputGradientBatch gives each item of the batch x its own objective, objs[i] for item i,
// in one pass: several feature visualizations (an atlas's icons) share the network's
// products. The objectives must read the same layer, all before or all after its ReLU. It
// returns each item's objective value and the batch's input gradient.
func (m *Model) InputGradientBatch(x *Tensor, objs []Objective, opt GradOptions) ([]float32, *Tensor, error) {
	values, _, g, err := m.gradient(x, objs, opt, "")
	return values, g, err
}

// ActivationGradient is InputGradientBatch stopped at the named layer: it returns the
// objectives' values, the layer's activation (as Forward returns it, edits applied) and the
// gradient of the objectives with respect to it. Grad-CAM weighs a layer's channels by it.
func (m *Model) ActivationGradient(x *Tensor, objs []Objective, layer string, opt GradOptions) (values []float32, act, grad *Tensor, err error) {
	if layer == "" {
		return nil, nil, nil, fmt.Errorf("%s: name the layer whose gradient is wanted", m.Arch.Name)
	}
	return m.gradient(x, objs, opt, layer)
}

// gradient is the backward pass: the forward pass to the objectives' layer on a tape, then
// back to the input, or to the output of the layer named at.
func (m *Model) gradient(x *Tensor, objs []Objective, opt GradOptions, at string) ([]float32, *Tensor, *Tensor, error) {
	if len(objs) == 0 {
		return nil, nil, nil, fmt.Errorf("%s: no objective for the gradient", m.Arch.Name)
	}
	if x != nil && len(x.Shape) == 4 && x.Shape[0] != len(objs) {
		return nil, nil, nil, fmt.Errorf("%s: %d objectives for a batch of %d images", m.Arch.Name, len(objs), x.Shape[0])
	}
	obj := objs[0]
	shapes, err := m.checkGradInput(x, obj)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, o := range objs[1:] {
		if o.layerName(m.Arch) != obj.layerName(m.Arch) || o.PreReLU != obj.PreReLU {
			return nil, nil, nil, fmt.Errorf("%s: a batch's objectives must read one layer (%s and %s)", m.Arch.Name, obj, o)
		}
		if _, err := m.checkGradInput(x, o); err != nil {
			return nil, nil, nil, err
		}
	}
	if err := m.CheckEdits(opt.Edits); err != nil {
		return nil, nil, nil, err
	}
	target := obj.layerName(m.Arch)
	if at != "" {
		if _, ok := shapes[at]; !ok {
			return nil, nil, nil, fmt.Errorf("%s has no layer %q (layers: %v)", m.Arch.Name, at, m.Arch.LayerNames())
		}
		if m.Arch.LayerIndex(at) > m.Arch.LayerIndex(target) {
			return nil, nil, nil, fmt.Errorf("%s: %s comes after %s, which the objective reads: it has no gradient", m.Arch.Name, at, target)
		}
	}
	be := opt.Backend
	if be == nil {
		be = DefaultBackend()
	}
	bw, _ := be.(FastCPU) // its block GEMM too: the browser's generated module
	if opt.Threads > 0 {
		bw.Threads = opt.Threads
	}

	if opt.Device != nil && len(opt.Edits) == 0 {
		var values []float32
		atAct, g, err := opt.Device.Gradient(x, target, obj.PreReLU, at, func(act *Tensor) *Tensor {
			var g *Tensor
			values, g = seed(objs, act, shapes[target])
			return g
		})
		if err == nil {
			return values, atAct, g, nil
		}
		// The device failed (it says why and leaves itself for good): compute it here.
	}

	tape, act := m.forwardTape(x, be, target, obj.PreReLU, opt.Edits)
	values, g := seed(objs, act, shapes[target])
	g, stop := m.backward(tape, g, bw, at)
	var atAct *Tensor
	if stop >= 0 {
		atAct = tape[stop].out
		if tape[stop].edited != nil {
			atAct = tape[stop].edited
		}
		atAct = atAct.Clone() // the tape's tensors go back to the free list
	}
	if _, recycles := be.(FastCPU); recycles {
		releaseTape(tape, x)
	}
	return values, atAct, g, nil
}

// TraceGradient runs a gradient pass's operators without objectives: the forward pass to
// target on be (without target's fused ReLU when preReLU), seedGrad turning target's
// activation into the gradient to start from, and the backward pass on bw to the input, or
// to the output of the layer named at, which it returns as atAct (nil for the input). A
// device backend records its gradient program this way, with placeholder tensors, so the
// engine's loops stay the one place that knows the order of the steps. x, the layers and
// the model are assumed checked (the device's caller, the engine's gradient, has).
func (m *Model) TraceGradient(x *Tensor, be Backend, bw Backward, target string, preReLU bool, at string, seedGrad func(act *Tensor) *Tensor) (atAct, grad *Tensor) {
	tape, act := m.forwardTape(x, be, target, preReLU, nil)
	g, stop := m.backward(tape, seedGrad(act), bw, at)
	if stop >= 0 {
		atAct = tape[stop].out
	}
	return atAct, g
}

// backward walks the tape in reverse from g, the gradient of the tape's last output, each
// step turning the gradient of a layer's output into the gradient of its input; it stops
// at the output of the layer named at ("" = the input) and says which step that was (-1
// for the input).
func (m *Model) backward(tape []tapeStep, g *Tensor, bw Backward, at string) (*Tensor, int) {
	for i := len(tape) - 1; i >= 0; i-- {
		s := tape[i]
		l := s.layer
		if at != "" && l.Name == at {
			return g, i
		}
		if s.edited != nil {
			editsBackward(g, s.edits)
		}
		gOut := g
		switch l.Kind {
		case KindConv:
			g = bw.ConvBackward(g, s.out, m.Params[l.Key+".weight"], l.Conv, s.in.Shape)
		case KindFire:
			g = bw.FireBackward(g, l.Fire, m.fireWeights(l.Key), s.in, s.squeeze, s.out)
		case KindMaxPool:
			g = bw.MaxPoolBackward(g, s.in, s.out, l.Pool)
		case KindLRN:
			g = bw.LRNBackward(g, s.in, l.LRN)
		case KindAdaptiveAvgPool:
			g = bw.AdaptiveAvgPoolBackward(g, s.in.Shape)
		case KindDropout:
			// The identity at inference, so its gradient passes through.
		case KindLinear:
			g = bw.LinearBackward(g, s.out, m.Params[l.Key+".weight"], l.Linear, s.in.Shape)
		}
		if !sharesData(g, gOut) {
			recycle(gOut) // consumed: the next step's gradients reuse its buffer
		}
	}
	return g, -1
}

// releaseTape gives the activations the forward pass made back to the free list, so that
// the next step (feature visualization takes hundreds) allocates none; x, the caller's
// input, is kept.
func releaseTape(tape []tapeStep, x *Tensor) {
	seen := map[*float32]bool{}
	if len(x.Data) > 0 {
		seen[&x.Data[0]] = true
	}
	for _, s := range tape {
		for _, t := range []*Tensor{s.out, s.squeeze, s.edited} {
			if t == nil || len(t.Data) == 0 || seen[&t.Data[0]] {
				continue
			}
			seen[&t.Data[0]] = true
			recycle(t)
		}
	}
}

// tapeStep is what one layer's backward step needs from the forward pass.
type tapeStep struct {
	layer   Layer
	in, out *Tensor // out as the layer made it, before any edit
	squeeze *Tensor // fire modules: the squeeze convolution's output
	edits   []Edit  // the interventions on out, if any
	edited  *Tensor // out with the edits applied: what the next layer reads
}

// forwardTape runs the network up to and including the layer named target, as Forward does,
// and returns the tape and target's activation; preReLU leaves out target's fused ReLU (and
// its edits, which apply after the ReLU).
func (m *Model) forwardTape(x *Tensor, be Backend, target string, preReLU bool, edits []Edit) ([]tapeStep, *Tensor) {
	var tape []tapeStep
	_, recycles := be.(FastCPU)
	for _, l := range m.Arch.Layers {
		if preReLU && l.Name == target {
			l = l.WithoutReLU()
		}
		s := tapeStep{layer: l, in: x}
		var made inner
		x, made = m.applyLayer(be, l, x)
		s.squeeze = made.squeeze
		if recycles && made.squeeze != nil {
			// The backward step reads the expand convolutions' outputs in the concatenation
			// only: theirs go back to the free list now, as Forward's do.
			for _, t := range []*Tensor{made.expand1x1, made.expand3x3} {
				if !sharesData(t, x) {
					recycle(t)
				}
			}
		}
		s.out = x
		if es := editsFor(edits, l.Name); len(es) > 0 && !(preReLU && l.Name == target) {
			// A copy, since the backward steps of this layer read its output as it was made.
			s.edits, s.edited = es, newOutput(x.Shape...)
			copy(s.edited.Data, x.Data)
			applyEdits(s.edited, es)
			x = s.edited
		}
		tape = append(tape, s)
		if l.Name == target {
			break
		}
	}
	return tape, x
}

// checkGradInput validates the input and the objective against the model before any work,
// so that bad requests from a UI get an error rather than a panic.
func (m *Model) checkGradInput(x *Tensor, obj Objective) (map[string][]int, error) {
	a := m.Arch
	if x == nil || len(x.Shape) != 4 || x.Shape[1] != 3 || x.Shape[0] < 1 || x.Len() != x.Shape[0]*3*x.Shape[2]*x.Shape[3] {
		var shape []int
		if x != nil {
			shape = x.Shape
		}
		return nil, fmt.Errorf("%s: gradient input must be N x 3 x H x W, got %v", a.Name, shape)
	}
	shapes, err := a.Shapes(x.Shape[2], x.Shape[3])
	if err != nil {
		return nil, err
	}
	target := obj.layerName(a)
	shape, ok := shapes[target]
	if !ok {
		return nil, fmt.Errorf("%s has no layer %q (layers: %v)", a.Name, target, a.LayerNames())
	}
	if m.Partial != "" && a.LayerIndex(target) > a.LayerIndex(m.Partial) {
		return nil, fmt.Errorf("%s: these weights cover layers up to %s only, cannot reach %s", a.Name, m.Partial, target)
	}
	c, h, w := actDims(shape)
	switch obj.Kind {
	case ObjectiveClass, ObjectiveChannel:
		if obj.Channel < 0 || obj.Channel >= c {
			return nil, fmt.Errorf("%s: %s has %d channels, no channel %d", a.Name, target, c, obj.Channel)
		}
	case ObjectiveNeuron:
		if obj.Channel < 0 || obj.Channel >= c || obj.Y < 0 || obj.Y >= h || obj.X < 0 || obj.X >= w {
			return nil, fmt.Errorf("%s: %s is %d channels of %dx%d, no neuron (%d, %d, %d)", a.Name, target, c, h, w, obj.Channel, obj.Y, obj.X)
		}
	case ObjectiveDirection:
		if len(obj.Vector) != c && len(obj.Vector) != c*h*w {
			return nil, fmt.Errorf("%s: a direction in %s needs %d (per position) or %d (whole activation) values, got %d", a.Name, target, c, c*h*w, len(obj.Vector))
		}
		if HasNaN(obj.Vector) {
			return nil, fmt.Errorf("%s: direction vector holds NaN or infinite values", a.Name)
		}
		if obj.CosPow != 0 && (len(obj.Vector) != c || !(obj.CosPow > 0 && obj.CosPow <= 16)) {
			return nil, fmt.Errorf("%s: a cosine power (%g) needs a per-position direction (%d values) and a power in (0, 16]", a.Name, obj.CosPow, c)
		}
	case ObjectiveEmbedding:
		if obj.Func == nil || obj.Func.Dim() != c {
			dim := 0
			if obj.Func != nil {
				dim = obj.Func.Dim()
			}
			return nil, fmt.Errorf("%s: %s has %d channels, the embedding function reads %d values", a.Name, target, c, dim)
		}
	default:
		return nil, fmt.Errorf("unknown objective kind %d", int(obj.Kind))
	}
	return shapes, nil
}

// actDims reads channels, height and width of an activation shape: [1 C H W] for images,
// [1 F] for fully connected layers (F channels of 1x1).
func actDims(shape []int) (c, h, w int) {
	if len(shape) == 2 {
		return shape[1], 1, 1
	}
	return shape[1], shape[2], shape[3]
}

// seed evaluates each item's objective on act (the batch's activation of the objectives'
// layer) and returns their values and the gradient with respect to act.
func seed(objs []Objective, act *Tensor, itemShape []int) ([]float32, *Tensor) {
	c, h, w := actDims(itemShape)
	per := c * h * w
	g := newZeroed(act.Shape...)
	values := make([]float32, len(objs))
	for b, o := range objs {
		values[b] = float32(o.seedItem(act.Data[b*per:(b+1)*per], g.Data[b*per:(b+1)*per], c, h, w))
	}
	return values, g
}

// seedItem evaluates the objective on one item's activation a (c x h x w) and writes its
// gradient into d.
func (o Objective) seedItem(a, d []float32, c, h, w int) float64 {
	var v float64
	switch o.Kind {
	case ObjectiveClass, ObjectiveChannel:
		inv := 1 / float64(h*w)
		for i := o.Channel * h * w; i < (o.Channel+1)*h*w; i++ {
			v += float64(a[i]) * inv
			d[i] = float32(inv)
		}
	case ObjectiveNeuron:
		i := (o.Channel*h+o.Y)*w + o.X
		v += float64(a[i])
		d[i] = 1
	case ObjectiveDirection:
		if len(o.Vector) != c { // the whole activation
			for i, u := range o.Vector {
				v += float64(a[i]) * float64(u)
				d[i] = u
			}
			return v
		}
		if o.CosPow != 0 {
			return o.seedCosine(a, d, c, h*w)
		}
		inv := 1 / float64(h*w)
		for ch, u := range o.Vector {
			for i := ch * h * w; i < (ch+1)*h*w; i++ {
				v += float64(a[i]) * float64(u) * inv
				d[i] = float32(float64(u) * inv)
			}
		}
	case ObjectiveEmbedding:
		hw := h * w
		e, ge := make([]float32, c), make([]float32, c)
		for ch := range c {
			var s float64
			for _, x := range a[ch*hw : (ch+1)*hw] {
				s += float64(x)
			}
			e[ch] = float32(s / float64(hw))
		}
		v = o.Func.ValueGrad(e, ge)
		for ch, g := range ge {
			for i := ch * hw; i < (ch+1)*hw; i++ {
				d[i] = g / float32(hw)
			}
		}
	}
	return v
}

// seedCosine is the per-position direction objective with CosPow: the mean over the hw
// positions of f(a) = (a·u) max(cos(a, u), minCos)^k, whose gradient is
// u cos^k + (a·u) k cos^(k-1) ∂cos/∂a, with ∂cos/∂a = u/(|a||u|+ε) - cos |u| a / (|a| (|a||u|+ε)),
// and u cos^k alone where the cosine is below the floor.
func (o Objective) seedCosine(a, d []float32, c, hw int) float64 {
	const eps = 1e-6
	k := o.CosPow
	var uu float64
	for _, u := range o.Vector {
		uu += float64(u) * float64(u)
	}
	un := math.Sqrt(uu)
	inv := 1 / float64(hw)
	var v float64
	for p := 0; p < hw; p++ {
		var dot, aa float64
		for ch, u := range o.Vector {
			x := float64(a[ch*hw+p])
			dot += x * float64(u)
			aa += x * x
		}
		an := math.Sqrt(aa)
		den := an*un + eps
		cos := dot / den
		if cos < minCos {
			v += dot * math.Pow(minCos, k) * inv
			for ch, u := range o.Vector {
				d[ch*hw+p] = float32(float64(u) * math.Pow(minCos, k) * inv)
			}
			continue
		}
		ck := math.Pow(cos, k)
		v += dot * ck * inv
		// ∂cos/∂a = u/den - dot |u| a / (|a| den²); the |a| = 0 case has cos = 0 < minCos.
		cu, ca := 1/den, dot*un/(an*den*den)
		f := dot * k * math.Pow(cos, k-1)
		for ch, u := range o.Vector {
			x := float64(a[ch*hw+p])
			d[ch*hw+p] = float32((float64(u)*ck + f*(float64(u)*cu-x*ca)) * inv)
		}
	}
	return v
}
