//go:build goexperiment.simd && wasm

package engine

import (
	"math"
	"simd/archsimd"
)

// Max pooling with WebAssembly SIMD. Go's wasm code pays for every branch (a function's
// blocks are dispatched through one loop and a br_table), so the scalar loops of
// maxPoolPlane cost far more per value there than natively; here nearly all the work is
// f32x4.max, which has the builtin max's semantics (NaN wins, +0 over -0).

func init() {
	maxPoolPlaneImpl = maxPoolPlaneWasmSIMD
}

// maxPoolPlaneWasmSIMD computes what maxPoolPlane does, vertically first: for each output
// row, the maximum of the window's input rows (vrow, w values), then for every column the
// maximum of KW neighbours (wmax[x] = max vrow[x..x+KW)), from which each output column
// picks its window's value. Windows clipped by the image edge are done one by one.
func maxPoolPlaneWasmSIMD(out, in, hmax []float32, cols [][2]int, h, w, oh, ow int, p PoolSpec) {
	negInf := float32(math.Inf(-1))
	if len(hmax) < 2*w+8 {
		hmax = make([]float32, 2*w+8)
	}
	vrow, wmax := hmax[:w], hmax[w:2*w]
	for oy := 0; oy < oh; oy++ {
		y0 := oy*p.StrideH - p.PadT
		y1 := min(y0+p.KH, h)
		y0 = max(y0, 0)
		orow := out[oy*ow : (oy+1)*ow]
		if y0 >= y1 { // a window wholly in the padding
			for ox := range orow {
				orow[ox] = negInf
			}
			continue
		}
		copy(vrow, in[y0*w:(y0+1)*w])
		for iy := y0 + 1; iy < y1; iy++ {
			maxInto(vrow, in[iy*w:(iy+1)*w])
		}
		// wmax[x] for every x whose window [x, x+KW) lies inside the row.
		full := w - p.KW + 1
		if full > 0 {
			copy(wmax[:full], vrow[:full])
			for d := 1; d < p.KW; d++ {
				maxInto(wmax[:full], vrow[d:d+full])
			}
		}
		for ox, c := range cols {
			if c[1]-c[0] == p.KW {
				orow[ox] = wmax[c[0]]
				continue
			}
			m := negInf
			for _, v := range vrow[c[0]:c[1]] {
				m = maxF32(m, v)
			}
			orow[ox] = m
		}
	}
}

// maxInto sets dst[i] = max(dst[i], src[i]).
func maxInto(dst, src []float32) {
	src = src[:len(dst)]
	i := 0
	for ; i+8 <= len(dst); i += 8 {
		d, s := dst[i:i+8:i+8], src[i:i+8:i+8]
		archsimd.LoadFloat32x4(d[0:4]).Max(archsimd.LoadFloat32x4(s[0:4])).Store(d[0:4])
		archsimd.LoadFloat32x4(d[4:8]).Max(archsimd.LoadFloat32x4(s[4:8])).Store(d[4:8])
	}
	for ; i+4 <= len(dst); i += 4 {
		archsimd.LoadFloat32x4(dst[i : i+4]).Max(archsimd.LoadFloat32x4(src[i : i+4])).Store(dst[i : i+4])
	}
	for ; i < len(dst); i++ {
		dst[i] = maxF32(dst[i], src[i])
	}
}
