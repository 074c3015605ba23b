// Package explain answers "which part of my photo made it say tabby?": attribution maps for a
// class (one of ImageNet's, or one the reader taught on a layer's embedding: a teach.Head), by
// five methods that each read the network differently.
//
//   - Grad-CAM (Selvaraju et al. 2017): a convolutional layer's channels weighed by the
//     spatial mean of the class logit's gradient, ReLU(sum_k alpha_k A_k), at that layer's
//     resolution: where the layer saw evidence for the class.
//   - Saliency (Simonyan et al. 2014): max over colour channels of |d logit / d pixel|.
//   - SmoothGrad (Smilkov et al. 2017): saliency averaged over noisy copies of the photo,
//     which quiets the gradient's speckle.
//   - Occlusion (Zeiler & Fergus 2014): how much the class's probability drops when a grey
//     patch hides each part of the photo: no gradients, only forward passes.
//   - Integrated gradients (Sundararajan et al. 2017) from a black photo: the gradient
//     averaged along the straight path from black to the photo, times the photo's difference
//     from black. The attributions should sum to the logit's change along the path; the
//     remainder (the completeness gap) says how well the path integral was approximated.
//
// Every method batches its passes (noisy copies, path points, occluded photos) through the
// engine, so they run on the fast kernels as feature visualization does, and every method
// takes the same interventions (engine.Edit) as the forward pass.
package explain

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"slices"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/engine/preprocess"
	"github.com/alexlens/alexlens/teach"
)

// Method names an attribution method as the CLI and the app spell it.
type Method string

const (
	GradCAM             Method = "gradcam"
	Saliency            Method = "saliency"
	SmoothGrad          Method = "smoothgrad"
	Occlusion           Method = "occlusion"
	IntegratedGradients Method = "ig"
)

// Methods lists the methods in the order the app offers them.
var Methods = []Method{GradCAM, Saliency, SmoothGrad, Occlusion, IntegratedGradients}

// ParseMethod checks a method name.
func ParseMethod(s string) (Method, error) {
	if slices.Contains(Methods, Method(s)) {
		return Method(s), nil
	}
	return "", fmt.Errorf("unknown attribution method %q (known: %v)", s, Methods)
}

// Options selects the class, the method and its settings. Zero values take the defaults.
type Options struct {
	Method Method
	// Class is the ImageNet class explained; -1 (or Top1) means the network's top-1.
	Class int
	// Head, when set, is a head taught on one of the network's layers (the Teach view's):
	// Class is then one of its classes, scored by its logit and probability, and Top1 is
	// its top-1.
	Head *teach.Head
	// Layer is Grad-CAM's layer; "" is the last convolutional layer before the classifier.
	Layer string
	// Samples: SmoothGrad's noisy copies (16), integrated gradients' path points (32).
	Samples int
	// Noise is SmoothGrad's standard deviation as a fraction of the input's range (0.15,
	// the paper's choice).
	Noise float64
	// Patch and Stride are occlusion's grey square and its step, in input pixels (32 and 16:
	// a 14x14 grid at 224 px).
	Patch, Stride int
	// Seed draws SmoothGrad's noise.
	Seed int64
	// Batch bounds the images per pass (8: larger batches ran no faster natively, and
	// take more memory).
	Batch int
	// Backend and Threads run the passes (nil, 0: the default backend).
	Backend engine.Backend
	Threads int
	// Device, when set, runs the input gradients (saliency, SmoothGrad, integrated
	// gradients) without edits: see engine.GradOptions.
	Device engine.GradDevice
	// Edits are interventions on the network, applied to every pass.
	Edits []engine.Edit
	// Progress, if set, is told after each pass: done of total passes.
	Progress func(done, total int)
	// Logits, when the caller has them, are x's logits with these Edits (the app's last
	// pass): Explain then needs no forward pass of its own to find the class's score.
	Logits []float32
}

// Top1 asks for the network's own top-1 class.
const Top1 = -1

// Limits on what one request may ask for: bounded work, whatever the page sends.
const (
	MaxSamples = 256
	MaxBatch   = 64
)

// Map is one attribution map: Rows x Cols values, row-major, before any upsampling or
// colouring. Grad-CAM's is at its layer's resolution, occlusion's one value per patch
// position, the others at the network's input resolution.
type Map struct {
	Method     Method
	Class      int
	Layer      string // Grad-CAM's layer
	Rows, Cols int
	Values     []float32
	// Logit and Prob are the class's score for the photo (with the edits).
	Logit, Prob float32
	// Completeness is integrated gradients' check (nil for the other methods).
	Completeness *Completeness
	// Passes is how many images went through the network (forward and backward counted
	// once each), for the benchmarks.
	Passes int
}

// Completeness compares integrated gradients' attributions with what they should sum to.
type Completeness struct {
	Sum   float64 `json:"sum"`   // the attributions' total
	Delta float64 `json:"delta"` // logit(photo) - logit(baseline)
	Gap   float64 `json:"gap"`   // |Sum - Delta| / |Delta|
}

// withDefaults fills in zero options.
func (o Options) withDefaults(a *engine.Arch) Options {
	if o.Samples == 0 {
		o.Samples = map[Method]int{SmoothGrad: 16, IntegratedGradients: 32}[o.Method]
	}
	if o.Noise == 0 {
		o.Noise = 0.15
	}
	if o.Patch == 0 {
		o.Patch = a.InputSize / 7
	}
	if o.Stride == 0 {
		o.Stride = a.InputSize / 14
	}
	if o.Batch == 0 {
		o.Batch = 8
	}
	if o.Method == GradCAM && o.Layer == "" {
		o.Layer = DefaultLayer(a)
	}
	return o
}

// DefaultLayer is Grad-CAM's default: the last convolutional layer before the classifier
// (AlexNet's conv5; SqueezeNet's fire9, since its conv10 is the classifier itself).
func DefaultLayer(a *engine.Arch) string {
	name := ""
	for _, l := range a.Layers {
		if l.Name != "" && (l.Kind == engine.KindConv && l.Conv.Out != a.Classes || l.Kind == engine.KindFire) {
			name = l.Name
		}
	}
	return name
}

// check validates the request before any work.
func (o Options) check(m *engine.Model, x *engine.Tensor) error {
	a := m.Arch
	if m.Partial != "" {
		return fmt.Errorf("these %s weights cover only up to %s: they cannot explain a class", a.Name, m.Partial)
	}
	if x == nil || len(x.Shape) != 4 || x.Shape[0] != 1 || x.Shape[1] != 3 || x.Len() != 3*x.Shape[2]*x.Shape[3] {
		return fmt.Errorf("explain: the photo must be one 1 x 3 x H x W input")
	}
	if _, err := ParseMethod(string(o.Method)); err != nil {
		return err
	}
	if h := o.Head; h != nil {
		if err := h.Check(); err != nil {
			return err
		}
		if h.Arch != a.Name {
			return fmt.Errorf("the head was taught on %s, not %s", h.Arch, a.Name)
		}
		shapes, err := a.Shapes(x.Shape[2], x.Shape[3])
		if err != nil {
			return err
		}
		if _, ok := shapes[h.Layer]; !ok {
			return fmt.Errorf("the head reads %s's %q, which it does not have", a.Name, h.Layer)
		}
		if o.Class != Top1 && (o.Class < 0 || o.Class >= len(h.Classes)) {
			return fmt.Errorf("class %d is out of range: the head has classes 0 to %d", o.Class, len(h.Classes)-1)
		}
	} else if o.Class != Top1 && (o.Class < 0 || o.Class >= a.Classes) {
		return fmt.Errorf("class %d is out of range: %s has classes 0 to %d", o.Class, a.Name, a.Classes-1)
	}
	if (o.Method == SmoothGrad || o.Method == IntegratedGradients) && (o.Samples < 1 || o.Samples > MaxSamples) {
		return fmt.Errorf("%s: %d samples; give 1 to %d", o.Method, o.Samples, MaxSamples)
	}
	if o.Batch < 1 || o.Batch > MaxBatch {
		return fmt.Errorf("explain: batch %d; give 1 to %d", o.Batch, MaxBatch)
	}
	if o.Method == SmoothGrad && !(o.Noise > 0 && o.Noise <= 1) {
		return fmt.Errorf("smoothgrad: noise %g; give a fraction of the input's range in (0, 1]", o.Noise)
	}
	h, w := x.Shape[2], x.Shape[3]
	if o.Method == Occlusion && (o.Patch < 1 || o.Stride < 1 || o.Patch > min(h, w) || o.Stride > min(h, w)) {
		return fmt.Errorf("occlusion: patch %d and stride %d must be 1 to %d pixels", o.Patch, o.Stride, min(h, w))
	}
	if o.Method == GradCAM {
		shapes, err := a.Shapes(h, w)
		if err != nil {
			return err
		}
		shape, ok := shapes[o.Layer]
		if !ok {
			return fmt.Errorf("%s has no layer %q (layers: %v)", a.Name, o.Layer, a.LayerNames())
		}
		if len(shape) != 4 {
			return fmt.Errorf("grad-cam needs a layer with positions; %s is fully connected (try %s)", o.Layer, DefaultLayer(a))
		}
	}
	return m.CheckEdits(o.Edits)
}

// Explain computes the attribution map of one class for x, a 1 x 3 x H x W normalized photo.
func Explain(ctx context.Context, m *engine.Model, x *engine.Tensor, opt Options) (*Map, error) {
	opt = opt.withDefaults(m.Arch)
	if err := opt.check(m, x); err != nil {
		return nil, err
	}
	e := &explainer{ctx: ctx, m: m, x: x, opt: opt}
	logits := opt.Logits
	if len(logits) != m.Arch.Classes || opt.Head != nil {
		res, err := m.Forward(x, e.forwardOptions())
		if err != nil {
			return nil, err
		}
		logits, err = e.logits(res, 0)
		res.Release()
		if err != nil {
			return nil, err
		}
	}
	probs := engine.Probabilities(&engine.Tensor{Shape: []int{1, len(logits)}, Data: logits}).Data
	if opt.Class == Top1 {
		opt.Class = engine.TopK(probs, 1)[0].Index
		e.opt.Class = opt.Class
	}
	out := &Map{Method: opt.Method, Class: opt.Class, Logit: logits[opt.Class], Prob: probs[opt.Class]}
	var err error
	switch opt.Method {
	case GradCAM:
		err = e.gradCAM(out)
	case Saliency:
		err = e.smoothGrad(out, 1, 0)
	case SmoothGrad:
		err = e.smoothGrad(out, opt.Samples, opt.Noise)
	case Occlusion:
		err = e.occlusion(out)
	case IntegratedGradients:
		err = e.integratedGradients(out)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// explainer carries one request through its method.
type explainer struct {
	ctx  context.Context
	m    *engine.Model
	x    *engine.Tensor
	opt  Options
	done int // passes so far
}

func (e *explainer) gradOptions() engine.GradOptions {
	return engine.GradOptions{Backend: e.opt.Backend, Threads: e.opt.Threads, Edits: e.opt.Edits, Device: e.opt.Device}
}

// forwardOptions run a forward pass that keeps what scoring needs: the head's layer when a
// taught class is explained (and nothing past it), else only the logits.
func (e *explainer) forwardOptions() engine.ForwardOptions {
	opt := engine.ForwardOptions{Backend: e.opt.Backend, Edits: e.opt.Edits, Keep: func(string) bool { return false }}
	if h := e.opt.Head; h != nil {
		opt.Keep = func(n string) bool { return n == h.Layer }
		opt.StopAfter = h.Layer
	}
	return opt
}

// logits are item i's scores: the network's logits, or the head's on the item's embedding
// (the layer's activation averaged over positions, as the head was taught on).
func (e *explainer) logits(res *engine.Result, i int) ([]float32, error) {
	h := e.opt.Head
	if h == nil {
		k := res.Logits.Shape[1]
		return slices.Clone(res.Logits.Data[i*k : (i+1)*k]), nil
	}
	act := res.Activations[h.Layer]
	if act == nil {
		return nil, fmt.Errorf("explain: the forward pass left no %s activation", h.Layer)
	}
	row := act.Row(i)
	per := len(row) / h.Dim
	if per*h.Dim != len(row) {
		return nil, fmt.Errorf("explain: %s has %d values, the head reads %d", h.Layer, len(row), h.Dim)
	}
	emb := make([]float32, h.Dim)
	for c := range emb {
		var s float64
		for _, v := range row[c*per : (c+1)*per] {
			s += float64(v)
		}
		emb[c] = float32(s / float64(per))
	}
	return h.Logits(emb)
}

// objective is the explained score as the gradients see it.
func (e *explainer) objective() (engine.Objective, error) {
	h := e.opt.Head
	if h == nil {
		return engine.ClassLogit(e.opt.Class), nil
	}
	f, err := h.LogitFunc(e.opt.Class)
	if err != nil {
		return engine.Objective{}, err
	}
	return engine.OfEmbedding(h.Layer, f), nil
}

// progress reports n more passes of total and says whether to stop.
func (e *explainer) progress(n, total int) error {
	e.done += n
	if e.opt.Progress != nil {
		e.opt.Progress(e.done, total)
	}
	return e.ctx.Err()
}

// gradCAM: ReLU(sum_k alpha_k A_k), alpha_k the spatial mean of d logit / d A_k.
func (e *explainer) gradCAM(out *Map) error {
	obj, err := e.objective()
	if err != nil {
		return err
	}
	_, act, g, err := e.m.ActivationGradient(e.x, []engine.Objective{obj}, e.opt.Layer, e.gradOptions())
	if err != nil {
		return err
	}
	k, h, w := act.Shape[1], act.Shape[2], act.Shape[3]
	hw := h * w
	cam := make([]float64, hw)
	for c := range k {
		var alpha float64
		for _, v := range g.Data[c*hw : (c+1)*hw] {
			alpha += float64(v)
		}
		alpha /= float64(hw)
		for p, v := range act.Data[c*hw : (c+1)*hw] {
			cam[p] += alpha * float64(v)
		}
	}
	out.Layer, out.Rows, out.Cols = e.opt.Layer, h, w
	out.Values = make([]float32, hw)
	for p, v := range cam {
		out.Values[p] = float32(max(v, 0))
	}
	out.Passes = 1
	return e.progress(1, 1)
}

// smoothGrad averages the saliency (max over colour channels of |gradient|) of n copies of
// the photo with Gaussian noise of sigma = noise x the input's range; n = 1 with no noise is
// plain saliency.
func (e *explainer) smoothGrad(out *Map, n int, noise float64) error {
	h, w := e.x.Shape[2], e.x.Shape[3]
	plane := h * w
	lo, hi := slices.Min(e.x.Data), slices.Max(e.x.Data)
	sigma := noise * float64(hi-lo)
	rng := rand.New(rand.NewSource(e.opt.Seed))
	sum := make([]float64, plane)
	for start := 0; start < n; start += e.opt.Batch {
		b := min(e.opt.Batch, n-start)
		xb := e.batch(start, b, func(_ int, item []float32) {
			if sigma > 0 {
				for j := range item {
					item[j] += float32(rng.NormFloat64() * sigma)
				}
			}
		})
		g, err := e.inputGradient(xb)
		if err != nil {
			return err
		}
		for i := range b {
			for p := range plane {
				m := float32(0)
				for c := range 3 {
					m = max(m, float32(math.Abs(float64(g.Data[(3*i+c)*plane+p]))))
				}
				sum[p] += float64(m)
			}
		}
		if err := e.progress(b, n); err != nil {
			return err
		}
	}
	out.Rows, out.Cols, out.Passes = h, w, n
	out.Values = make([]float32, plane)
	for p, v := range sum {
		out.Values[p] = float32(v / float64(n))
	}
	return nil
}

// batch is b of a method's images, numbers start to start+b-1 of all its passes: each a
// copy of the photo that fill(number, pixels) changes.
func (e *explainer) batch(start, b int, fill func(k int, item []float32)) *engine.Tensor {
	h, w := e.x.Shape[2], e.x.Shape[3]
	per := 3 * h * w
	xb := engine.NewTensor(b, 3, h, w)
	for i := range b {
		item := xb.Data[i*per : (i+1)*per]
		copy(item, e.x.Data)
		fill(start+i, item)
	}
	return xb
}

// inputGradient is the gradient of the class's logit for every item of xb.
func (e *explainer) inputGradient(xb *engine.Tensor) (*engine.Tensor, error) {
	obj, err := e.objective()
	if err != nil {
		return nil, err
	}
	objs := make([]engine.Objective, xb.Shape[0])
	for i := range objs {
		objs[i] = obj
	}
	_, g, err := e.m.InputGradientBatch(xb, objs, e.gradOptions())
	return g, err
}

// occlusion slides a patch of the dataset's mean colour (0 after normalization: grey) over
// the photo, Patch pixels square every Stride pixels (clipped at the right and bottom edges),
// and records the class probability's drop: positive where hiding that part hurts. Each
// occluded photo differs from the photo only under its patch, so its pass recomputes each
// layer only where the patch can reach (engine.LocalPass).
func (e *explainer) occlusion(out *Map) error {
	h, w := e.x.Shape[2], e.x.Shape[3]
	rows, cols := (h+e.opt.Stride-1)/e.opt.Stride, (w+e.opt.Stride-1)/e.opt.Stride
	n := rows * cols
	out.Rows, out.Cols, out.Passes = rows, cols, n+1
	out.Values = make([]float32, n)
	lp, err := e.m.NewLocalPass(e.x, e.forwardOptions())
	if err != nil {
		return err
	}
	if err := e.progress(1, n+1); err != nil { // the unoccluded pass
		return err
	}
	at := func(k int) (y, x int) { return k / cols * e.opt.Stride, k % cols * e.opt.Stride }
	// The region a patch changes, moved inside the photo where the patch is clipped (a
	// larger region than the change is still right): patches of one size batch together.
	patch := func(k int) engine.Region {
		y, x := at(k)
		y, x = min(y, h-e.opt.Patch), min(x, w-e.opt.Patch)
		return engine.Region{Y0: y, X0: x, Y1: y + e.opt.Patch, X1: x + e.opt.Patch}
	}
	for start := 0; start < n; start += e.opt.Batch {
		b := min(e.opt.Batch, n-start)
		changed := make([]engine.Region, b)
		xb := e.batch(start, b, func(k int, item []float32) {
			y, x := at(k)
			Occlude(item, h, w, y, x, e.opt.Patch)
			changed[k-start] = patch(k)
		})
		res, err := lp.Forward(xb, changed)
		if err != nil {
			return err
		}
		for i := range b {
			logits, err := e.logits(res, i)
			if err != nil {
				res.Release()
				return err
			}
			probs := engine.Probabilities(&engine.Tensor{Shape: []int{1, len(logits)}, Data: logits}).Data
			out.Values[start+i] = out.Prob - probs[out.Class]
		}
		res.Release()
		if err := e.progress(b, n+1); err != nil {
			return err
		}
	}
	return nil
}

// Occlude greys a size x size square at (y, x) of one 3 x h x w normalized image, clipped to
// the image.
func Occlude(item []float32, h, w, y, x, size int) {
	for c := range 3 {
		for r := y; r < min(y+size, h); r++ {
			clear(item[(c*h+r)*w+x : (c*h+r)*w+min(x+size, w)])
		}
	}
}

// Baseline is integrated gradients' starting point: a black photo, normalized.
func Baseline(h, w int) *engine.Tensor {
	t := engine.NewTensor(1, 3, h, w)
	for c := range 3 {
		v := (0 - preprocess.Mean[c]) / preprocess.Std[c]
		for i := c * h * w; i < (c+1)*h*w; i++ {
			t.Data[i] = v
		}
	}
	return t
}

// integratedGradients averages the gradient at the midpoints of Samples equal steps from
// the black baseline to the photo, multiplies by (photo - baseline) and sums over colour
// channels; signed, since a pixel can argue against the class.
func (e *explainer) integratedGradients(out *Map) error {
	h, w := e.x.Shape[2], e.x.Shape[3]
	plane := h * w
	base := Baseline(h, w)
	n := e.opt.Samples
	avg := make([]float64, 3*plane)
	for start := 0; start < n; start += e.opt.Batch {
		b := min(e.opt.Batch, n-start)
		xb := e.batch(start, b, func(k int, item []float32) {
			alpha := (float64(k) + 0.5) / float64(n)
			for j := range item {
				item[j] = float32(float64(base.Data[j]) + alpha*float64(e.x.Data[j]-base.Data[j]))
			}
		})
		g, err := e.inputGradient(xb)
		if err != nil {
			return err
		}
		for i := range b {
			for j, v := range g.Data[i*3*plane : (i+1)*3*plane] {
				avg[j] += float64(v)
			}
		}
		if err := e.progress(b, n+1); err != nil {
			return err
		}
	}
	out.Rows, out.Cols, out.Passes = h, w, n+1
	out.Values = make([]float32, plane)
	var sum float64
	for j, g := range avg {
		a := g / float64(n) * float64(e.x.Data[j]-base.Data[j])
		sum += a
		out.Values[j%plane] += float32(a)
	}
	res, err := e.m.Forward(base, e.forwardOptions())
	if err != nil {
		return err
	}
	logits, err := e.logits(res, 0)
	res.Release()
	if err != nil {
		return err
	}
	delta := float64(out.Logit) - float64(logits[out.Class])
	out.Completeness = &Completeness{Sum: sum, Delta: delta, Gap: math.Abs(sum-delta) / math.Max(math.Abs(delta), 1e-12)}
	return e.progress(1, n+1)
}
