package featurevis

import (
	"math"
	"math/rand"
)

// Transforms are the random changes applied to the image before every step, so that the
// optimization finds features that survive small shifts, zooms and turns instead of
// adversarial pixel patterns (Distill's "transformation robustness"). The zero value
// applies none.
type Transforms struct {
	Jitter    int     // shift by up to this many pixels each way
	ScaleSpan float64 // zoom by a factor in [1-ScaleSpan, 1+ScaleSpan]
	RotateDeg float64 // rotate by up to this many degrees each way
}

// DefaultTransforms are close to Lucid's standard_transforms (pad 12, jitter 8, scale
// 0.9-1.1, rotate -10..10 degrees, jitter 4), drawn as one affine map per step.
func DefaultTransforms() Transforms { return Transforms{Jitter: 12, ScaleSpan: 0.1, RotateDeg: 10} }

// affine maps a network input pixel q to the image point M (q - outCentre) + srcCentre + t.
type affine struct {
	m00, m01, m10, m11 float64
	ty, tx             float64
}

func identity() affine { return affine{m00: 1, m11: 1} }

// draw picks one random transform: Lucid's discrete choices (whole-pixel shifts, zooms in
// steps of 2%, rotations in whole degrees with extra weight on none) from r.
func (t Transforms) draw(r *rand.Rand) affine {
	s := 1.0
	if t.ScaleSpan > 0 {
		steps := int(math.Round(t.ScaleSpan / 0.02))
		s = 1 + float64(r.Intn(2*steps+1)-steps)*0.02
	}
	theta := 0.0
	if deg := int(t.RotateDeg); deg > 0 {
		if k := r.Intn(2*deg + 1 + deg/2); k <= 2*deg {
			theta = float64(k-deg) * math.Pi / 180
		}
	}
	var ty, tx float64
	if t.Jitter > 0 {
		ty, tx = float64(r.Intn(2*t.Jitter+1)-t.Jitter), float64(r.Intn(2*t.Jitter+1)-t.Jitter)
	}
	sin, cos := math.Sincos(theta)
	// The input shows the image zoomed by s: image offsets are input offsets divided by s.
	return affine{m00: cos / s, m01: -sin / s, m10: sin / s, m11: cos / s, ty: ty, tx: tx}
}

// padValue is what the network sees outside the image: mid grey, as Lucid's padding.
const padValue = 0.5

// sampler holds, for each network input pixel, the four image pixels of its bilinear
// interpolation and their weights (index -1: outside the image, reads padValue).
type sampler struct {
	n      int // network input side
	idx    [][4]int32
	weight [][4]float64
}

func newSampler(n int) *sampler {
	return &sampler{n: n, idx: make([][4]int32, n*n), weight: make([][4]float64, n*n)}
}

// set prepares the taps of transform a from an h x w image.
func (s *sampler) set(a affine, h, w int) {
	oc := float64(s.n-1) / 2
	cy, cx := float64(h-1)/2, float64(w-1)/2
	for qy := 0; qy < s.n; qy++ {
		for qx := 0; qx < s.n; qx++ {
			dy, dx := float64(qy)-oc, float64(qx)-oc
			sy := a.m00*dy + a.m01*dx + cy + a.ty
			sx := a.m10*dy + a.m11*dx + cx + a.tx
			y0, x0 := math.Floor(sy), math.Floor(sx)
			fy, fx := sy-y0, sx-x0
			q := qy*s.n + qx
			for k, tap := range [4][2]int{{0, 0}, {0, 1}, {1, 0}, {1, 1}} {
				iy, ix := int(y0)+tap[0], int(x0)+tap[1]
				wy, wx := 1-fy, 1-fx
				if tap[0] == 1 {
					wy = fy
				}
				if tap[1] == 1 {
					wx = fx
				}
				s.weight[q][k] = wy * wx
				s.idx[q][k] = -1
				if iy >= 0 && iy < h && ix >= 0 && ix < w {
					s.idx[q][k] = int32(iy*w + ix)
				}
			}
		}
	}
}

// apply samples one image plane into dst (n x n).
func (s *sampler) apply(dst []float32, src []float64, mean, std float32) {
	for q := range dst {
		var v float64
		for k, i := range s.idx[q] {
			if i < 0 {
				v += s.weight[q][k] * padValue
			} else {
				v += s.weight[q][k] * src[i]
			}
		}
		dst[q] = (float32(v) - mean) / std
	}
}

// adjoint adds to gSrc the gradient that reaches the image from gDst, the gradient of the
// normalized network input (the transpose of apply; padding takes no gradient).
func (s *sampler) adjoint(gSrc []float64, gDst []float32, std float32) {
	for q, g := range gDst {
		gv := float64(g / std)
		for k, i := range s.idx[q] {
			if i >= 0 {
				gSrc[i] += s.weight[q][k] * gv
			}
		}
	}
}
