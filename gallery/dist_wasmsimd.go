//go:build goexperiment.simd && wasm

package gallery

import "simd/archsimd"

func init() {
	squaredDistances = func(a []float32, p packedRows, from, to int, out []float32) {
		for j := from; j < to; j++ {
			out[j-from] = squaredDistanceWasmSIMD(a, p.row(j))
		}
	}
}

// squaredDistanceWasmSIMD is squaredDistanceGo with its four sums in one vector: the same
// values (see dist.go), four times fewer instructions. Go's scalar WebAssembly made the
// neighbour search most of a 20,000-image layout in the browser.
func squaredDistanceWasmSIMD(a, b []float32) float32 {
	b = b[:len(a)]
	var acc archsimd.Float32x4
	for j := 0; j+4 <= len(a); j += 4 {
		d := archsimd.LoadFloat32x4(a[j : j+4]).Sub(archsimd.LoadFloat32x4(b[j : j+4]))
		acc = acc.Add(d.Mul(d))
	}
	var s [4]float32
	acc.Store(s[:])
	return (s[0] + s[1]) + (s[2] + s[3])
}
