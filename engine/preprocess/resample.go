package preprocess

import (
	"fmt"
	"image"
	"math"
)

// This file reproduces PIL's Image.resize(size, BILINEAR) on 8-bit RGB images, which is what
// torchvision's Resize does to a PIL image. PIL resizes in two separable passes (horizontal
// first, then vertical), each a convolution with a triangle filter whose support widens with
// the downscale factor (so downscaling averages every source pixel: antialiasing). The weights
// are computed in float64, normalized per output pixel, then turned into fixed-point integers;
// every pass rounds and clamps its result to uint8. Matching each of those steps is what makes
// the output bit-exact rather than merely close.

// coefBits is the fixed-point precision of the filter weights: 32 bits minus 8 for the pixel
// value minus 2 for headroom, so a sum of weighted 8-bit samples fits an int32.
const coefBits = 32 - 8 - 2

// taps are the fixed-point weights of one resampling pass for output pixels lo..lo+n-1:
// output pixel lo+i reads the source pixels first[i] .. first[i]+count[i]-1 with weights
// w[i*width : i*width+count[i]].
type taps struct {
	first, count []int
	w            []int32
	width        int // weights stored per output pixel
}

// bilinearTaps computes the weights mapping inSize source pixels onto output pixels lo..hi-1
// of an outSize-pixel axis. Computing only a window is what lets Tensor resize just the
// centre crop: each output pixel depends on its own taps alone. The float64 arithmetic follows
// PIL's order of operations so that boundary cases (a weight that is exactly zero, a window
// edge at exactly .5) come out the same.
func bilinearTaps(inSize, outSize, lo, hi int) taps {
	scale := float64(inSize) / float64(outSize)
	filterScale := scale
	if filterScale < 1 {
		filterScale = 1
	}
	support := 1.0 * filterScale // the triangle's half-width is 1 source pixel at scale 1
	width := int(math.Ceil(support))*2 + 1
	n := hi - lo
	t := taps{first: make([]int, n), count: make([]int, n), w: make([]int32, n*width), width: width}
	inv := 1.0 / filterScale
	weights := make([]float64, width)
	for i := 0; i < n; i++ {
		center := float64(float64(lo+i)+0.5) * scale
		first := int(float64(center-support) + 0.5) // truncation toward zero, as a C cast
		if first < 0 {
			first = 0
		}
		last := int(float64(center+support) + 0.5)
		if last > inSize {
			last = inSize
		}
		k := last - first
		if k > width { // cannot happen with the support above; guards the slices below
			k = width
		}
		var sum float64
		for j := 0; j < k; j++ {
			d := float64(float64(float64(j+first)-center)+0.5) * inv
			w := triangle(d)
			weights[j] = w
			sum += w
		}
		row := t.w[i*width : i*width+width]
		for j := 0; j < k; j++ {
			w := weights[j]
			if sum != 0 {
				w /= sum
			}
			// Round half away from zero into fixed point, like PIL's normalization.
			if w < 0 {
				row[j] = int32(-0.5 + float64(w*(1<<coefBits)))
			} else {
				row[j] = int32(0.5 + float64(w*(1<<coefBits)))
			}
		}
		t.first[i], t.count[i] = first, k
	}
	return t
}

// triangle is the bilinear filter kernel: 1-|x| on [-1, 1], zero elsewhere.
func triangle(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return 1 - x
	}
	return 0
}

// clampShift turns a fixed-point accumulator back into a uint8: arithmetic shift (floor), then
// clamp to [0, 255]. The accumulator starts at one half, so together this rounds half up.
func clampShift(acc int32) uint8 {
	v := acc >> coefBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// ResizeRGB resizes a packed 8-bit RGB image (3 bytes per pixel, rows without padding) to
// outW x outH exactly as PIL's Image.resize(..., BILINEAR) does. Useful for thumbnails too.
func ResizeRGB(pix []byte, w, h, outW, outH int) ([]byte, error) {
	if w <= 0 || h <= 0 || outW <= 0 || outH <= 0 {
		return nil, fmt.Errorf("preprocess: resize %dx%d -> %dx%d: sizes must be positive", w, h, outW, outH)
	}
	if int64(w)*int64(h)*3 != int64(len(pix)) {
		return nil, fmt.Errorf("preprocess: resize: %dx%d RGB needs %d bytes, have %d", w, h, int64(w)*int64(h)*3, len(pix))
	}
	if int64(outW)*int64(outH) > maxResizeOutput {
		return nil, fmt.Errorf("preprocess: resize output %dx%d is larger than %d pixels", outW, outH, maxResizeOutput)
	}
	return resizeRGB(pix, w, h, outW, outH), nil
}

// maxResizeOutput bounds what ResizeRGB will allocate for its result.
const maxResizeOutput = 1 << 28

// resizeRGB is ResizeRGB without argument checks.
func resizeRGB(pix []byte, w, h, outW, outH int) []byte {
	return resizeWindow(pix, w, h, outW, outH, image.Rect(0, 0, outW, outH))
}

// resizeWindow computes the part win of the outW x outH resize of a w x h RGB image: the
// same values the full resize has there, at the cost of the window alone. Like PIL it runs
// the horizontal pass first (on just the source rows the vertical pass will read), rounds
// to uint8, then the vertical pass; an axis whose size does not change is not resampled.
func resizeWindow(pix []byte, w, h, outW, outH int, win image.Rectangle) []byte {
	ww := win.Dx()
	rowLo, rowHi := win.Min.Y, win.Max.Y // source rows needed
	var vt taps
	if outH != h {
		vt = bilinearTaps(h, outH, win.Min.Y, win.Max.Y)
		last := len(vt.first) - 1
		rowLo, rowHi = vt.first[0], vt.first[last]+vt.count[last]
	}
	var mid []byte // rows rowLo..rowHi-1, columns of the window
	if outW != w {
		mid = horizontalPass(pix, w, rowLo, rowHi, bilinearTaps(w, outW, win.Min.X, win.Max.X))
	} else {
		mid = make([]byte, (rowHi-rowLo)*ww*3)
		for y := rowLo; y < rowHi; y++ {
			copy(mid[(y-rowLo)*ww*3:(y-rowLo+1)*ww*3], pix[(y*w+win.Min.X)*3:(y*w+win.Max.X)*3])
		}
	}
	if outH == h {
		return mid
	}
	return verticalPass(mid, ww, rowLo, vt)
}

// horizontalPass resamples rows [rowLo, rowHi) of a w-wide RGB image with the given taps
// (one per output column).
func horizontalPass(pix []byte, w, rowLo, rowHi int, t taps) []byte {
	outW := len(t.first)
	out := make([]byte, (rowHi-rowLo)*outW*3)
	for y := rowLo; y < rowHi; y++ {
		in := pix[y*w*3 : (y+1)*w*3]
		o := out[(y-rowLo)*outW*3 : (y-rowLo+1)*outW*3]
		for x := 0; x < outW; x++ {
			first, n := t.first[x], t.count[x]
			k := t.w[x*t.width : x*t.width+n]
			const half = 1 << (coefBits - 1)
			r, g, b := int32(half), int32(half), int32(half)
			s := in[first*3 : (first+n)*3]
			for j, wj := range k {
				r += int32(s[3*j]) * wj
				g += int32(s[3*j+1]) * wj
				b += int32(s[3*j+2]) * wj
			}
			o[3*x], o[3*x+1], o[3*x+2] = clampShift(r), clampShift(g), clampShift(b)
		}
	}
	return out
}

// verticalPass resamples a w-wide RGB image with the given taps (one per output row);
// rowOffset is the source row that pix's first row stands for.
func verticalPass(pix []byte, w, rowOffset int, t taps) []byte {
	outH := len(t.first)
	stride := w * 3
	out := make([]byte, outH*stride)
	acc := make([]int32, stride)
	for y := 0; y < outH; y++ {
		first, n := t.first[y]-rowOffset, t.count[y]
		k := t.w[y*t.width : y*t.width+n]
		const half = 1 << (coefBits - 1)
		for i := range acc {
			acc[i] = half
		}
		// Row by row rather than pixel by pixel: the same sums, cache-friendly order.
		for j, wj := range k {
			row := pix[(first+j)*stride : (first+j+1)*stride]
			for i, v := range row {
				acc[i] += int32(v) * wj
			}
		}
		o := out[y*stride : (y+1)*stride]
		for i, a := range acc {
			o[i] = clampShift(a)
		}
	}
	return out
}
