//go:build goexperiment.simd && wasm

package gallery

import "simd/archsimd"

func init() {
	dot64 = dot64WasmSIMD
	axpy64 = axpy64WasmSIMD
}

// dot64WasmSIMD is dot64Go with its two lanes in one vector: the same operations in the same
// order, so the same value. PCA's products (every layout's, and t-SNE's and UMAP's reduction
// before their neighbour search) are these two loops.
func dot64WasmSIMD(a, b []float64) float64 {
	b = b[:len(a)]
	var acc archsimd.Float64x2
	j := 0
	for ; j+2 <= len(a); j += 2 {
		acc = acc.Add(archsimd.LoadFloat64x2(a[j : j+2 : j+2]).Mul(archsimd.LoadFloat64x2(b[j : j+2 : j+2])))
	}
	var l [2]float64
	acc.Store(l[:])
	s := l[0] + l[1]
	for ; j < len(a); j++ {
		s += a[j] * b[j]
	}
	return s
}

func axpy64WasmSIMD(c float64, x, y []float64) {
	y = y[:len(x)]
	vc := archsimd.BroadcastFloat64x2(c)
	j := 0
	for ; j+2 <= len(x); j += 2 {
		py := y[j : j+2 : j+2]
		archsimd.LoadFloat64x2(py).Add(vc.Mul(archsimd.LoadFloat64x2(x[j : j+2 : j+2]))).Store(py)
	}
	for ; j < len(x); j++ {
		y[j] += c * x[j]
	}
}
