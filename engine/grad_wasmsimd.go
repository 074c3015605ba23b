//go:build goexperiment.simd && wasm

package engine

import "simd/archsimd"

func init() {
	reluMaskImpl = reluMaskWasmSIMD
}

// reluMaskWasmSIMD is reluMaskSlice four lanes at a time: gd *= (out > 0 ? 1 : 0), the same
// product (a NaN gradient under an off unit stays NaN), with one loop branch per eight
// values instead of one per value, which Go's WebAssembly pays for dearly.
func reluMaskWasmSIMD(gd, out []float32) {
	gd = gd[:len(out)]
	ones := archsimd.BroadcastFloat32x4(1)
	zero := archsimd.Float32x4{}
	i := 0
	for ; i+8 <= len(out); i += 8 {
		g, o := gd[i:i+8:i+8], out[i:i+8:i+8]
		a, b := archsimd.LoadFloat32x4(o[0:4]), archsimd.LoadFloat32x4(o[4:8])
		archsimd.LoadFloat32x4(g[0:4]).Mul(ones.Masked(a.Greater(zero))).Store(g[0:4])
		archsimd.LoadFloat32x4(g[4:8]).Mul(ones.Masked(b.Greater(zero))).Store(g[4:8])
	}
	reluMaskSlice(gd[i:], out[i:])
}
