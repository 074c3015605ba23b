//go:build goexperiment.simd && wasm

package featurevis

import "simd/archsimd"

func init() {
	butterflyRowsImpl = butterflyRowsWasmSIMD
}

// butterflyRowsWasmSIMD is butterflyRows two columns at a time, the same operations in the
// same order (WebAssembly has no fused multiply-add), so the same values.
func butterflyRowsWasmSIMD(lr, li, hr, hi []float64, tr, ti float64) {
	n := len(lr)
	li, hr, hi = li[:n], hr[:n], hi[:n]
	vtr, vti := archsimd.BroadcastFloat64x2(tr), archsimd.BroadcastFloat64x2(ti)
	j := 0
	for ; j+2 <= n; j += 2 {
		plr, pli, phr, phi := lr[j:j+2:j+2], li[j:j+2:j+2], hr[j:j+2:j+2], hi[j:j+2:j+2]
		xr, xi := archsimd.LoadFloat64x2(phr), archsimd.LoadFloat64x2(phi)
		br := xr.Mul(vtr).Sub(xi.Mul(vti))
		bi := xr.Mul(vti).Add(xi.Mul(vtr))
		ar, ai := archsimd.LoadFloat64x2(plr), archsimd.LoadFloat64x2(pli)
		ar.Add(br).Store(plr)
		ai.Add(bi).Store(pli)
		ar.Sub(br).Store(phr)
		ai.Sub(bi).Store(phi)
	}
	butterflyRows(lr[j:], li[j:], hr[j:], hi[j:], tr, ti)
}
