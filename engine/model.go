package engine

import (
	"fmt"
	"slices"
	"time"
)

// Model is an architecture with its parameters, ready to run.
type Model struct {
	Arch *Arch
	// Params maps state_dict keys (features.0.weight) to tensors. Convolution and linear
	// weights may be int8; biases are always float32.
	Params map[string]*Weight
	// Fixture is true for untrained, generated weights: predictions are meaningless and
	// every front end says so.
	Fixture bool
	// Partial, when set, is the last layer the weights cover (see NewPartialModel).
	Partial string
}

// NewModel checks that tensors hold exactly the parameters the architecture needs, with the
// right shapes and finite values, and builds a float32 model. Extra tensors are an error too:
// they usually mean the file is for another architecture.
func NewModel(a *Arch, tensors map[string]*Tensor) (*Model, error) {
	m := &Model{Arch: a, Params: map[string]*Weight{}}
	for _, p := range a.Params() {
		t, ok := tensors[p.Name]
		if !ok {
			return nil, fmt.Errorf("weights for %s: missing tensor %q (shape %v)", a.Name, p.Name, p.Shape)
		}
		if !slices.Equal(t.Shape, p.Shape) {
			return nil, fmt.Errorf("weights for %s: tensor %q has shape %v, want %v (weights for another architecture?)", a.Name, p.Name, t.Shape, p.Shape)
		}
		if HasNaN(t.Data) {
			return nil, fmt.Errorf("weights for %s: tensor %q holds NaN or infinite values", a.Name, p.Name)
		}
		m.Params[p.Name] = &Weight{Shape: t.Shape, F32: t.Data}
	}
	if len(tensors) != len(m.Params) {
		for name := range tensors {
			if _, ok := m.Params[name]; !ok {
				return nil, fmt.Errorf("weights for %s: unexpected tensor %q (weights for another architecture?)", a.Name, name)
			}
		}
	}
	return m, nil
}

// Shape is the activation shape after each named layer for a 1 x 3 x h x w input, or an
// error when the input is too small or does not fit the fully connected layers.
func (a *Arch) Shapes(h, w int) (map[string][]int, error) {
	shapes := map[string][]int{}
	c := 3
	flat := -1 // set once a linear layer has flattened the activation
	for _, l := range a.Layers {
		switch l.Kind {
		case KindConv:
			if c != l.Conv.In {
				return nil, fmt.Errorf("%s: %s wants %d channels, has %d", a.Name, l.Name, l.Conv.In, c)
			}
			h, w = l.Conv.OutSize(h, w)
			c = l.Conv.Out
		case KindFire:
			_, e1, e3 := l.Fire.Convs()
			c = e1.Out + e3.Out
		case KindMaxPool:
			h, w = l.Pool.OutSize(h, w)
		case KindAdaptiveAvgPool:
			h, w = l.OutH, l.OutW
		case KindLinear:
			n := c * h * w
			if flat >= 0 {
				n = flat
			}
			if n != l.Linear.In {
				return nil, fmt.Errorf("%s: input of %dx%d does not fit %s (%d features, want %d); use %dx%d",
					a.Name, h, w, l.Name, n, l.Linear.In, a.InputSize, a.InputSize)
			}
			flat = l.Linear.Out
		}
		if h < 1 || w < 1 {
			return nil, fmt.Errorf("%s: input too small, %s would be empty", a.Name, l.Name)
		}
		if l.Name != "" {
			if flat >= 0 {
				shapes[l.Name] = []int{1, flat}
			} else {
				shapes[l.Name] = []int{1, c, h, w}
			}
		}
	}
	return shapes, nil
}

// ForwardOptions tunes one forward pass.
type ForwardOptions struct {
	// Backend runs the operators; nil means the fastest CPU backend.
	Backend Backend
	// Keep selects the activations to return by name; nil keeps all of them.
	Keep func(name string) bool
	// StopAfter ends the pass after the named layer (for a view that needs conv1 only).
	StopAfter string
	// OnLayer, if set, is called after each named layer with its time: progress for the UI.
	OnLayer func(name string, index, total int, took time.Duration)
	// Edits are interventions on named layers' activations (see Edit).
	Edits []Edit
}

// Result is what a forward pass leaves behind.
type Result struct {
	Logits      *Tensor            // N x Classes, nil when stopped early
	Activations map[string]*Tensor // by layer name
	Order       []string           // names in the order they were computed
	LayerTimes  map[string]time.Duration
	// recyclable: the tensors were made by FastCPU from the activation free list, and
	// Release may give them back to it.
	recyclable bool
}

// Release gives the result's activations back to the engine for the next pass to reuse
// (FastCPU passes only; a no-op otherwise), and empties the result: neither it nor any of
// its tensors may be used afterwards. A caller that keeps every activation of every pass
// (the app, for its maps) then allocates nothing per pass; fresh tensors cost it a quarter
// of an AlexNet pass in the browser (BENCHMARKS.md "The app's own speed").
func (r *Result) Release() {
	if r == nil || !r.recyclable {
		return
	}
	seen := map[*float32]bool{} // a layer that passes its input on shares one tensor
	for _, t := range r.Activations {
		if len(t.Data) == 0 || seen[&t.Data[0]] {
			continue
		}
		seen[&t.Data[0]] = true
		recycle(t)
	}
	r.Activations, r.Logits, r.recyclable = nil, nil, false
}

// Forward runs the network on x, an N x 3 x H x W batch of normalized images.
func (m *Model) Forward(x *Tensor, opt ForwardOptions) (*Result, error) {
	if err := m.checkForward(x, &opt); err != nil {
		return nil, err
	}
	return m.forward(x, 0, opt), nil
}

// checkForward checks Forward's arguments, and stops a partial model's pass after its last
// layer.
func (m *Model) checkForward(x *Tensor, opt *ForwardOptions) error {
	if len(x.Shape) != 4 || x.Shape[1] != 3 || x.Shape[0] < 1 {
		return fmt.Errorf("%s: input must be N x 3 x H x W, got %v", m.Arch.Name, x.Shape)
	}
	if _, err := m.Arch.Shapes(x.Shape[2], x.Shape[3]); err != nil {
		return err
	}
	if opt.StopAfter != "" && m.Arch.LayerIndex(opt.StopAfter) < 0 {
		return fmt.Errorf("%s has no layer %q (layers: %v)", m.Arch.Name, opt.StopAfter, m.Arch.LayerNames())
	}
	if m.Partial != "" {
		if opt.StopAfter == "" {
			opt.StopAfter = m.Partial
		}
		if idx := m.Arch.LayerIndex(opt.StopAfter); idx > m.Arch.LayerIndex(m.Partial) {
			return fmt.Errorf("%s: these weights cover layers up to %s only, cannot run to %s", m.Arch.Name, m.Partial, opt.StopAfter)
		}
	}
	if err := m.CheckEdits(opt.Edits); err != nil {
		return err
	}
	return nil
}

// ForwardFrom runs the network from the named layer's activation act (N x the layer's shape
// at the architecture's input size) to the end, as Forward would have after that layer:
// interventions on the units of one layer try every variant in one batch without running
// the layers before it again. act is taken as what the next layer reads, so edits on the
// named layer itself are not applied again; edits on later layers are.
func (m *Model) ForwardFrom(layer string, act *Tensor, opt ForwardOptions) (*Result, error) {
	a := m.Arch
	shapes, err := a.Shapes(a.InputSize, a.InputSize)
	if err != nil {
		return nil, err
	}
	shape, ok := shapes[layer]
	if !ok {
		return nil, fmt.Errorf("%s has no layer %q (layers: %v)", a.Name, layer, a.LayerNames())
	}
	per := 1
	for _, d := range shape[1:] {
		per *= d
	}
	if act == nil || len(act.Shape) != len(shape) || act.Shape[0] < 1 || !slices.Equal(act.Shape[1:], shape[1:]) || act.Len() != act.Shape[0]*per {
		return nil, fmt.Errorf("%s: an activation of %s must be N x %v", a.Name, layer, shape[1:])
	}
	if m.Partial != "" {
		return nil, fmt.Errorf("%s: these weights cover layers up to %s only", a.Name, m.Partial)
	}
	if err := m.CheckEdits(opt.Edits); err != nil {
		return nil, err
	}
	start := slices.IndexFunc(a.Layers, func(l Layer) bool { return l.Name == layer }) + 1
	return m.forward(act, start, opt), nil
}

// forward is the forward pass from a.Layers[start] on, its arguments checked.
func (m *Model) forward(x *Tensor, start int, opt ForwardOptions) *Result {
	be := opt.Backend
	if be == nil {
		be = DefaultBackend()
	}
	res := &Result{Activations: map[string]*Tensor{}, LayerTimes: map[string]time.Duration{}}
	total := len(m.Arch.LayerNames())
	began := time.Now()

	// Intermediate tensors that nobody keeps go back to the activation free list once used
	// (FastCPU only: other backends may hold on to their tensors).
	_, recycles := be.(FastCPU)
	done := func(t *Tensor, owned bool, next *Tensor) {
		if recycles && owned && !sharesData(t, next) {
			recycle(t)
		}
	}
	owned := false // x was made by this pass and is not kept
	res.recyclable = recycles

	// The forward pass: one step per layer of the description, as in the paper's figure.
	for _, l := range m.Arch.Layers[start:] {
		in := x
		var made inner
		x, made = m.applyLayer(be, l, x)
		x = editLayer(x, in, editsFor(opt.Edits, l.Name))
		for _, t := range made.tensors() {
			done(t, true, x)
		}
		if x != in {
			done(in, owned, x)
			owned = true
		}
		if l.Name == "" {
			continue
		}
		took := time.Since(began)
		began = time.Now()
		res.LayerTimes[l.Name] = took
		res.Order = append(res.Order, l.Name)
		if opt.Keep == nil || opt.Keep(l.Name) {
			res.Activations[l.Name] = x
			owned = false
		}
		if opt.OnLayer != nil {
			opt.OnLayer(l.Name, len(res.Order)-1, total, took)
		}
		if l.Name == opt.StopAfter {
			return res
		}
	}
	res.Logits = Flatten(x, 1)
	return res
}

// applyLayer runs one layer of the description on x with be: the one place where a layer's
// kind becomes operator calls. Forward, the gradient tape (grad.go) and the gallery's head
// (ApplyLayer) all run layers through it. made holds what the layer made on the way to its
// output (a fire module's convolutions), for the tape and for recycling.
func (m *Model) applyLayer(be Backend, l Layer, x *Tensor) (y *Tensor, made inner) {
	switch l.Kind {
	case KindConv:
		return be.Conv2D(x, m.Params[l.Key+".weight"], m.bias(l.Key), l.Conv), inner{}
	case KindFire:
		sq, e1, e3 := l.Fire.Convs()
		s := be.Conv2D(x, m.Params[l.Key+".squeeze.weight"], m.bias(l.Key+".squeeze"), sq)
		a := be.Conv2D(s, m.Params[l.Key+".expand1x1.weight"], m.bias(l.Key+".expand1x1"), e1)
		b := be.Conv2D(s, m.Params[l.Key+".expand3x3.weight"], m.bias(l.Key+".expand3x3"), e3)
		return be.Concat(a, b), inner{squeeze: s, expand1x1: a, expand3x3: b}
	case KindMaxPool:
		return be.MaxPool2D(x, l.Pool), inner{}
	case KindLRN:
		return be.LRN(x, l.LRN), inner{}
	case KindAdaptiveAvgPool:
		return be.AdaptiveAvgPool2D(x, l.OutH, l.OutW), inner{}
	case KindDropout:
		return x, inner{} // the identity at inference
	case KindLinear:
		return be.Linear(x, m.Params[l.Key+".weight"], m.bias(l.Key), l.Linear), inner{}
	}
	panic(fmt.Sprintf("engine: %s: layer %q of unknown kind %d", m.Arch.Name, l.Name, l.Kind))
}

// ApplyLayer runs one layer of m's description on x with be (nil: the default backend), as
// Forward does.
func (m *Model) ApplyLayer(be Backend, l Layer, x *Tensor) *Tensor {
	if be == nil {
		be = DefaultBackend()
	}
	y, _ := m.applyLayer(be, l, x)
	return y
}

// inner are the tensors a layer makes on the way to its output: a fire module's squeeze
// and expand convolutions (nil for other layers).
type inner struct{ squeeze, expand1x1, expand3x3 *Tensor }

func (in inner) tensors() []*Tensor {
	if in.squeeze == nil {
		return nil
	}
	return []*Tensor{in.squeeze, in.expand1x1, in.expand3x3}
}

// sharesData reports whether two tensors share their first element (one is a view of the
// other), in which case neither may be recycled while the other lives.
func sharesData(a, b *Tensor) bool {
	return len(a.Data) > 0 && len(b.Data) > 0 && &a.Data[0] == &b.Data[0]
}

func (m *Model) bias(key string) []float32 {
	if b := m.Params[key+".bias"]; b != nil {
		return b.F32
	}
	return nil
}

// LayerIndex is the position of the named activation among LayerNames, -1 when there is none.
func (a *Arch) LayerIndex(name string) int { return slices.Index(a.LayerNames(), name) }

// Probabilities is the softmax of the logits.
func Probabilities(logits *Tensor) *Tensor { return softmax(logits) }

// Class is one ranked prediction.
type Class struct {
	Index int
	Prob  float32
}

// TopK returns the k most probable classes of one row of probabilities, best first; ties go
// to the lower index, so the order is deterministic.
func TopK(probs []float32, k int) []Class {
	k = min(k, len(probs))
	top := make([]Class, 0, k+1)
	for i, p := range probs {
		if len(top) == k && !(p > top[k-1].Prob) {
			continue
		}
		j := len(top)
		if j < k {
			top = append(top, Class{})
		} else {
			j = k - 1
		}
		for j > 0 && p > top[j-1].Prob {
			top[j] = top[j-1]
			j--
		}
		top[j] = Class{i, p}
	}
	return top
}

// NewPartialModel is NewModel for files that hold only the first layers of a network, such
// as the original AlexNet's conv1 kernels: the layers present must be a prefix of the
// architecture, and Forward can run only as far as they go (ForwardOptions.StopAfter).
func NewPartialModel(a *Arch, tensors map[string]*Tensor) (*Model, error) {
	var have []ParamSpec
	for _, p := range a.Params() {
		if _, ok := tensors[p.Name]; !ok {
			break
		}
		have = append(have, p)
	}
	if len(have) == 0 {
		return nil, fmt.Errorf("weights for %s: none of its layers are present (first wanted: %q)", a.Name, a.Params()[0].Name)
	}
	sub := map[string]*Tensor{}
	for _, p := range have {
		sub[p.Name] = tensors[p.Name]
	}
	// The layers up to the first one whose parameters are missing.
	var layers []Layer
	for _, l := range a.Layers {
		if l.Key != "" && !hasPrefixParam(have, l.Key) {
			break
		}
		layers = append(layers, l)
	}
	m, err := NewModel(&Arch{Name: a.Name, Layers: layers}, sub)
	if err != nil {
		return nil, err
	}
	m.Arch = a
	m.Partial = layers[len(layers)-1].Name
	return m, nil
}

func hasPrefixParam(ps []ParamSpec, key string) bool {
	for _, p := range ps {
		if len(p.Name) > len(key) && p.Name[:len(key)] == key && p.Name[len(key)] == '.' {
			return true
		}
	}
	return false
}
