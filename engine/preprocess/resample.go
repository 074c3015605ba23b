package preprocess

import (
	"fmt"
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

// taps are the fixed-point weights of one resampling pass: output pixel i reads the source
// pixels first[i] .. first[i]+count[i]-1 with weights w[i*width : i*width+count[i]].
type taps struct {
	first, count []int
	w            []int32
	width        int // weights stored per output pixel
}

// bilinearTaps computes the weights mapping inSize source pixels onto outSize output pixels.
// The float64 arithmetic follows the same order of operations as PIL so that boundary cases
// (a weight that is exactly zero, a window edge at exactly .5) come out the same.
func bilinearTaps(inSize, outSize int) taps {
	scale := float64(inSize) / float64(outSize)
	filterScale := scale
	if filterScale < 1 {
		filterScale = 1
	}
	support := 1.0 * filterScale // the triangle's half-width is 1 source pixel at scale 1
	width := int(math.Ceil(support))*2 + 1
	t := taps{first: make([]int, outSize), count: make([]int, outSize), w: make([]int32, outSize*width), width: width}
	inv := 1.0 / filterScale
	weights := make([]float64, width)
	for i := 0; i < outSize; i++ {
		center := float64(float64(i)+0.5) * scale
		lo := int(float64(center-support) + 0.5) // truncation toward zero, as a C cast
		if lo < 0 {
			lo = 0
		}
		hi := int(float64(center+support) + 0.5)
		if hi > inSize {
			hi = inSize
		}
		n := hi - lo
		if n > width { // cannot happen with the support above; guards the slice below
			n = width
		}
		var sum float64
		for j := 0; j < n; j++ {
			d := float64(float64(float64(j+lo)-center)+0.5) * inv
			w := triangle(d)
			weights[j] = w
			sum += w
		}
		row := t.w[i*width : i*width+width]
		for j := 0; j < n; j++ {
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
		t.first[i], t.count[i] = lo, n
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
	src, srcH, rowOffset := pix, h, 0
	vt := bilinearTaps(h, outH)
	if outW != w {
		// Only the source rows the vertical pass will read need the horizontal pass.
		firstRow := vt.first[0]
		lastRow := vt.first[outH-1] + vt.count[outH-1]
		if outH == h {
			firstRow, lastRow = 0, h
		}
		src = horizontalPass(pix, w, firstRow, lastRow, outW)
		srcH, rowOffset = lastRow-firstRow, firstRow
	}
	if outH == h {
		if outW == w {
			return append([]byte(nil), pix...)
		}
		return src
	}
	return verticalPass(src, outW, srcH, rowOffset, vt, outH)
}

// horizontalPass resamples rows [rowLo, rowHi) of a w-wide RGB image to outW columns.
func horizontalPass(pix []byte, w, rowLo, rowHi, outW int) []byte {
	t := bilinearTaps(w, outW)
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

// verticalPass resamples a w-wide RGB image of h rows to outH rows; rowOffset is the source
// row that pix's first row stands for (the horizontal pass may have skipped unused rows).
func verticalPass(pix []byte, w, h, rowOffset int, t taps, outH int) []byte {
	out := make([]byte, outH*w*3)
	stride := w * 3
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
