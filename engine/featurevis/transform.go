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

// set prepares the taps of transform a from an h x w image. The loops here and in apply and
// adjoint are written out tap by tap: they run for every input pixel of every step, and Go's
// WebAssembly pays for each loop iteration and each math.Floor call more than for the
// arithmetic.
func (s *sampler) set(a affine, h, w int) {
	oc := float64(s.n-1) / 2
	cy, cx := float64(h-1)/2, float64(w-1)/2
	inside := func(y, x int) int32 {
		if y >= 0 && y < h && x >= 0 && x < w {
			return int32(y*w + x)
		}
		return -1
	}
	for qy := 0; qy < s.n; qy++ {
		row := qy * s.n
		idx, weight := s.idx[row:row+s.n], s.weight[row:row+s.n]
		for qx := range idx {
			dy, dx := float64(qy)-oc, float64(qx)-oc
			sy := a.m00*dy + a.m01*dx + cy + a.ty
			sx := a.m10*dy + a.m11*dx + cx + a.tx
			y0, x0 := floor(sy), floor(sx)
			fy, fx := sy-float64(y0), sx-float64(x0)
			// Taps (y0, x0), (y0, x0+1), (y0+1, x0), (y0+1, x0+1).
			weight[qx] = [4]float64{(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx}
			idx[qx] = [4]int32{inside(y0, x0), inside(y0, x0+1), inside(y0+1, x0), inside(y0+1, x0+1)}
		}
	}
}

// floor is math.Floor for the sampler's coordinates (well inside int's range) as an int.
func floor(v float64) int {
	i := int(v)
	if float64(i) > v {
		i--
	}
	return i
}

// tap is the image value at index i, or padValue outside the image (i < 0).
func tap(src []float64, i int32) float64 {
	if i < 0 {
		return padValue
	}
	return src[i]
}

// apply samples one image plane into dst (n x n).
func (s *sampler) apply(dst []float32, src []float64, mean, std float32) {
	idx, weight := s.idx[:len(dst)], s.weight[:len(dst)]
	for q := range dst {
		i, wt := &idx[q], &weight[q]
		v := wt[0]*tap(src, i[0]) + wt[1]*tap(src, i[1]) + wt[2]*tap(src, i[2]) + wt[3]*tap(src, i[3])
		dst[q] = (float32(v) - mean) / std
	}
}

// adjoint adds to gSrc the gradient that reaches the image from gDst, the gradient of the
// normalized network input (the transpose of apply; padding takes no gradient).
func (s *sampler) adjoint(gSrc []float64, gDst []float32, std float32) {
	idx, weight := s.idx[:len(gDst)], s.weight[:len(gDst)]
	for q, g := range gDst {
		gv := float64(g / std)
		i, wt := &idx[q], &weight[q]
		if i[0] >= 0 {
			gSrc[i[0]] += wt[0] * gv
		}
		if i[1] >= 0 {
			gSrc[i[1]] += wt[1] * gv
		}
		if i[2] >= 0 {
			gSrc[i[2]] += wt[2] * gv
		}
		if i[3] >= 0 {
			gSrc[i[3]] += wt[3] * gv
		}
	}
}
