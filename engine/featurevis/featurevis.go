// Package featurevis synthesizes images that excite a unit, a channel, a class or a direction
// of a network, by gradient ascent on the input, in the manner of Distill's "Feature
// Visualization" (Olah, Mordvintsev, Schubert 2017): a decorrelated Fourier-space image
// parameterization (param.go), random jitter, zoom and rotation every step (transform.go)
// and Adam. Everything is deterministic for a seed.
package featurevis

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"math/rand"
	"unsafe"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/engine/preprocess"
)

// Options describes one visualization.
type Options struct {
	// Objective is what to maximize. For channels and neurons, set its PreReLU: a unit that
	// is off for the grey starting image has no gradient after its ReLU and would never move.
	Objective engine.Objective
	// Size is the side of the synthesized square image; 0 means the network's input size.
	// The network sees the transformed image at this size too (as in Lucid), unless the
	// network cannot run at it (AlexNet below 63 px): then at its own input size.
	Size int
	// Steps of gradient ascent; 0 means 256.
	Steps int
	// LearningRate of Adam; 0 means 0.05 (Lucid's default).
	LearningRate float64
	// Seed fixes the initial noise and every random transform.
	Seed int64
	// Seeds, for RunBatch, gives image i the seed Seeds[i] instead of Seed+i.
	Seeds []int64
	// Transforms applied before each step; nil means DefaultTransforms, &Transforms{} none.
	Transforms *Transforms
	// Progress, if set, is called after every step; Preview is filled every PreviewEvery
	// steps (0: never) and after the last.
	Progress     func(Progress)
	PreviewEvery int
	// Grad tunes the gradient computation (backend, threads).
	Grad engine.GradOptions
}

// Progress reports one step of one image.
type Progress struct {
	Item        int // which of RunBatch's objectives; 0 for Run
	Step, Steps int
	Value       float32     // the objective before this step's update, under its transform
	Preview     *image.RGBA // nil except every PreviewEvery steps and after the last
}

// Result is a finished (or cancelled) visualization.
type Result struct {
	Image  *image.RGBA
	Values []float32 // the objective at each step taken
}

// Limits that keep a request from a UI from asking for unbounded work or memory.
const (
	MaxSize  = 1024
	MaxSteps = 100000
	MaxBatch = 256
)

// Run optimizes an image for opt.Objective on m. When ctx is cancelled it stops between
// steps and returns the image so far together with ctx's error.
func Run(ctx context.Context, m *engine.Model, opt Options) (*Result, error) {
	res, err := RunBatch(ctx, m, opt, []engine.Objective{opt.Objective})
	if len(res) == 0 {
		return nil, err
	}
	return res[0], err
}

// RunBatch optimizes one image per objective, all of them through one batched forward and
// backward pass a step (an atlas's icons share the network's products). opt.Objective is
// ignored. Image i is the image Run makes for objectives[i] with the seed opt.Seed+i (or
// opt.Seeds[i]): each image draws its own noise and transforms, so an image does not depend
// on how the objectives were batched. The objectives must read one layer (engine.InputGradientBatch).
func RunBatch(ctx context.Context, m *engine.Model, opt Options, objectives []engine.Objective) ([]*Result, error) {
	if m == nil || m.Arch == nil {
		return nil, errors.New("featurevis: no model")
	}
	if opt.Size == 0 {
		opt.Size = m.Arch.InputSize
	}
	if opt.Steps == 0 {
		opt.Steps = 256
	}
	if opt.LearningRate == 0 {
		opt.LearningRate = 0.05
	}
	tf := DefaultTransforms()
	if opt.Transforms != nil {
		tf = *opt.Transforms
	}
	switch {
	case len(objectives) < 1 || len(objectives) > MaxBatch:
		return nil, fmt.Errorf("featurevis: %d objectives, want 1 to %d", len(objectives), MaxBatch)
	case opt.Seeds != nil && len(opt.Seeds) != len(objectives):
		return nil, fmt.Errorf("featurevis: %d seeds for %d objectives", len(opt.Seeds), len(objectives))
	case opt.Size < 8 || opt.Size > MaxSize:
		return nil, fmt.Errorf("featurevis: image size %d, want 8 to %d", opt.Size, MaxSize)
	case opt.Steps < 0 || opt.Steps > MaxSteps:
		return nil, fmt.Errorf("featurevis: %d steps, want 1 to %d", opt.Steps, MaxSteps)
	case !(opt.LearningRate > 0) || math.IsInf(opt.LearningRate, 0):
		return nil, fmt.Errorf("featurevis: learning rate %g, want a positive number", opt.LearningRate)
	case tf.Jitter < 0 || tf.Jitter > MaxSize || !(tf.ScaleSpan >= 0 && tf.ScaleSpan < 0.9) || !(tf.RotateDeg >= 0 && tf.RotateDeg <= 180):
		return nil, fmt.Errorf("featurevis: transforms %+v out of range (jitter 0 to %d px, scale span below 0.9, rotation 0 to 180 degrees)", tf, MaxSize)
	case opt.PreviewEvery < 0:
		return nil, fmt.Errorf("featurevis: preview every %d steps", opt.PreviewEvery)
	}
	n := networkSide(m.Arch, opt.Size)
	if _, err := m.Arch.Shapes(n, n); err != nil {
		return nil, fmt.Errorf("featurevis: %w", err)
	}

	items := make([]*item, len(objectives))
	res := make([]*Result, len(objectives))
	for i := range items {
		seed := opt.Seed + int64(i)
		if opt.Seeds != nil {
			seed = opt.Seeds[i]
		}
		items[i] = newItem(opt, seed, n)
		res[i] = &Result{}
	}
	finish := func() {
		for i, it := range items {
			it.render()
			res[i].Image = it.im.rgba()
		}
	}
	plane := n * n
	x := engine.NewTensor(len(items), 3, n, n)
	for step := 0; step < opt.Steps; step++ {
		if err := ctx.Err(); err != nil {
			finish()
			return res, err
		}
		// Forward: spectrum -> image -> transformed, normalized network input.
		for i, it := range items {
			it.render()
			it.smp.set(tf.draw(it.r), opt.Size, opt.Size)
			for c := 0; c < 3; c++ {
				it.smp.apply(x.Data[(3*i+c)*plane:(3*i+c+1)*plane], it.im.rgb[c], preprocess.Mean[c], preprocess.Std[c])
			}
		}
		values, gx, err := m.InputGradientBatch(x, objectives, opt.Grad)
		if err != nil {
			return nil, fmt.Errorf("featurevis: %w", err)
		}
		// Backward: input gradient -> image gradient -> spectrum gradient; ascend.
		for i, it := range items {
			for c := 0; c < 3; c++ {
				clear(it.gRGB[c])
				it.smp.adjoint(it.gRGB[c], gx.Data[(3*i+c)*plane:(3*i+c+1)*plane], preprocess.Std[c])
			}
			it.im.backward(it.gRGB, it.gSpec)
			it.adam.ascend(it.im.spec, it.gSpec)
			it.stale = true
			res[i].Values = append(res[i].Values, values[i])
		}
		gx.Release() // the next step's input gradient reuses it
		if opt.Progress != nil {
			preview := step+1 == opt.Steps || (opt.PreviewEvery > 0 && (step+1)%opt.PreviewEvery == 0)
			for i, it := range items {
				p := Progress{Item: i, Step: step + 1, Steps: opt.Steps, Value: values[i]}
				if preview {
					it.render()
					p.Preview = it.im.rgba()
				}
				opt.Progress(p)
			}
		}
	}
	finish()
	return res, nil
}

// item is one image being optimized: its parameters, optimizer state, random source and
// the taps of its current transform.
type item struct {
	r     *rand.Rand
	stale bool // the spectrum changed since im last rendered it
	im    *fourierImage
	adam  *adam
	smp   *sampler
	gRGB  [3][]float64
	gSpec [3][]complex128
}

func newItem(opt Options, seed int64, n int) *item {
	r := rand.New(rand.NewSource(seed))
	im := newFourierImage(opt.Size, opt.Size, func() float64 { return 0.01 * r.NormFloat64() })
	it := &item{r: r, stale: true, im: im, adam: newAdam(im.spec, opt.LearningRate), smp: newSampler(n)}
	for c := range it.gRGB {
		it.gRGB[c] = make([]float64, opt.Size*opt.Size)
		it.gSpec[c] = make([]complex128, len(im.spec[c]))
	}
	return it
}

// render renders the image unless it is current: a preview's render serves the next step
// (the app previews every 4 steps), and the last step's preview the result.
func (it *item) render() {
	if it.stale {
		it.im.render()
		it.stale = false
	}
}

// networkSide is the side of the network input a size x size image is seen at: its own size,
// so that a small image costs little (a 128 px image is a third of the work of a 224 px
// input), or the network's input size where the network cannot run at the image's size.
func networkSide(a *engine.Arch, size int) int {
	if _, err := a.Shapes(size, size); err != nil {
		return a.InputSize
	}
	return size
}

// rgba converts the last rendered image to 8-bit RGBA.
func (im *fourierImage) rgba() *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, im.w, im.h))
	for c := 0; c < 3; c++ {
		pix, v := out.Pix[c:], im.rgb[c][:im.h*im.w]
		for p, x := range v {
			pix[4*p] = round8(255 * x)
		}
	}
	for p := 3; p < len(out.Pix); p += 4 {
		out.Pix[p] = 255
	}
	return out
}

// round8 is math.Round(x) for x clamped to [0, 255] (NaN to 0): the floor plus one where
// the fraction is at least a half (x - floor(x) is exact). math.Round, min and max are calls
// in Go's WebAssembly, which made this conversion cost as much as a colour transform.
func round8(x float64) uint8 {
	if !(x > 0) {
		return 0
	}
	if x > 255 {
		return 255
	}
	f := math.Floor(x)
	if x-f >= 0.5 {
		f++
	}
	return uint8(f)
}

// adam is the Adam optimizer (Kingma and Ba 2015) over complex parameters, each real and
// imaginary part adapted on its own, stepping uphill.
type adam struct {
	lr     float64
	t      int
	m, v   [3][]complex128 // v holds squares of the parts, componentwise
	b1, b2 float64
}

func newAdam(params [3][]complex128, lr float64) *adam {
	a := &adam{lr: lr, b1: 0.9, b2: 0.999}
	for c := range params {
		a.m[c] = make([]complex128, len(params[c]))
		a.v[c] = make([]complex128, len(params[c]))
	}
	return a
}

func (a *adam) ascend(params, grads [3][]complex128) {
	a.t++
	c1 := 1 - math.Pow(a.b1, float64(a.t))
	c2 := 1 - math.Pow(a.b2, float64(a.t))
	for c := range params {
		adamPartsImpl(parts(params[c]), parts(grads[c]), parts(a.m[c]), parts(a.v[c]), a.lr, a.b1, a.b2, c1, c2)
	}
}

// parts is z's real and imaginary parts, side by side, in z's storage.
func parts(z []complex128) []float64 {
	if len(z) == 0 {
		return nil
	}
	return unsafe.Slice((*float64)(unsafe.Pointer(&z[0])), 2*len(z))
}

// adamEps keeps Adam's step finite where a parameter's gradients have all been 0.
const adamEps = 1e-8

// adamPartsImpl is adamParts or a SIMD variant of it (adam_wasmsimd.go).
var adamPartsImpl = adamParts

// adamParts steps each parameter p[i] uphill by Adam's rule from its gradient g[i], updating
// its moments m[i] and v[i]; c1 and c2 are this step's bias corrections.
func adamParts(p, g, m, v []float64, lr, b1, b2, c1, c2 float64) {
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	for i, gi := range g {
		m[i] = b1*m[i] + (1-b1)*gi
		v[i] = b2*v[i] + (1-b2)*gi*gi
		p[i] += lr * (m[i] / c1) / (math.Sqrt(v[i]/c2) + adamEps)
	}
}
