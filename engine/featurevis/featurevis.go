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
	// Transforms applied before each step; nil means DefaultTransforms, &Transforms{} none.
	Transforms *Transforms
	// Progress, if set, is called after every step; Preview is filled every PreviewEvery
	// steps (0: never) and after the last.
	Progress     func(Progress)
	PreviewEvery int
	// Grad tunes the gradient computation (backend, threads).
	Grad engine.GradOptions
}

// Progress reports one step.
type Progress struct {
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
)

// Run optimizes an image for opt.Objective on m. When ctx is cancelled it stops between
// steps and returns the image so far together with ctx's error.
func Run(ctx context.Context, m *engine.Model, opt Options) (*Result, error) {
	if m == nil || m.Arch == nil {
		return nil, errors.New("featurevis: no model")
	}
	n := m.Arch.InputSize
	if opt.Size == 0 {
		opt.Size = n
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

	n = networkSide(m.Arch, opt.Size)
	if _, err := m.Arch.Shapes(n, n); err != nil {
		return nil, fmt.Errorf("featurevis: %w", err)
	}
	r := rand.New(rand.NewSource(opt.Seed))
	im := newFourierImage(opt.Size, opt.Size, func() float64 { return 0.01 * r.NormFloat64() })
	adam := newAdam(im.spec, opt.LearningRate)
	smp := newSampler(n)
	x := engine.NewTensor(1, 3, n, n)
	var gRGB [3][]float64
	var gSpec [3][]complex128
	for c := range gRGB {
		gRGB[c] = make([]float64, opt.Size*opt.Size)
		gSpec[c] = make([]complex128, len(im.spec[c]))
	}
	res := &Result{}
	for step := 0; step < opt.Steps; step++ {
		if err := ctx.Err(); err != nil {
			im.render()
			res.Image = im.rgba()
			return res, err
		}
		// Forward: spectrum -> image -> transformed, normalized network input.
		im.render()
		smp.set(tf.draw(r), opt.Size, opt.Size)
		plane := n * n
		for c := 0; c < 3; c++ {
			smp.apply(x.Data[c*plane:(c+1)*plane], im.rgb[c], preprocess.Mean[c], preprocess.Std[c])
		}
		value, gx, err := m.InputGradientWith(x, opt.Objective, opt.Grad)
		if err != nil {
			return nil, fmt.Errorf("featurevis: %w", err)
		}
		// Backward: input gradient -> image gradient -> spectrum gradient; ascend.
		for c := 0; c < 3; c++ {
			clear(gRGB[c])
			smp.adjoint(gRGB[c], gx.Data[c*plane:(c+1)*plane], preprocess.Std[c])
		}
		im.backward(gRGB, gSpec)
		adam.ascend(im.spec, gSpec)
		res.Values = append(res.Values, value)

		if opt.Progress != nil {
			p := Progress{Step: step + 1, Steps: opt.Steps, Value: value}
			if step+1 == opt.Steps || (opt.PreviewEvery > 0 && (step+1)%opt.PreviewEvery == 0) {
				im.render()
				p.Preview = im.rgba()
			}
			opt.Progress(p)
		}
	}
	im.render()
	res.Image = im.rgba()
	return res, nil
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
	for p := 0; p < im.h*im.w; p++ {
		for c := 0; c < 3; c++ {
			out.Pix[4*p+c] = uint8(math.Round(255 * min(1, max(0, im.rgb[c][p]))))
		}
		out.Pix[4*p+3] = 255
	}
	return out
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
	const eps = 1e-8
	a.t++
	c1 := 1 - math.Pow(a.b1, float64(a.t))
	c2 := 1 - math.Pow(a.b2, float64(a.t))
	part := func(m, v *float64, g float64) float64 {
		*m = a.b1**m + (1-a.b1)*g
		*v = a.b2**v + (1-a.b2)*g*g
		return a.lr * (*m / c1) / (math.Sqrt(*v/c2) + eps)
	}
	for c := range params {
		for i, g := range grads[c] {
			mr, mi := real(a.m[c][i]), imag(a.m[c][i])
			vr, vi := real(a.v[c][i]), imag(a.v[c][i])
			dr := part(&mr, &vr, real(g))
			di := part(&mi, &vi, imag(g))
			a.m[c][i], a.v[c][i] = complex(mr, mi), complex(vr, vi)
			params[c][i] += complex(dr, di)
		}
	}
}
