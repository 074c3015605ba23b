//go:build goexperiment.simd && wasm

package featurevis

import "simd/archsimd"

func init() {
	adamPartsImpl = adamPartsWasmSIMD
}

// adamPartsWasmSIMD is adamParts two parts (one complex parameter) at a time, the same
// operations in the same order.
func adamPartsWasmSIMD(p, g, m, v []float64, lr, b1, b2, c1, c2 float64) {
	n := len(p)
	g, m, v = g[:n], m[:n], v[:n]
	b := archsimd.BroadcastFloat64x2
	vb1, vb2, va1, va2 := b(b1), b(b2), b(1-b1), b(1-b2)
	vlr, vc1, vc2, eps := b(lr), b(c1), b(c2), b(adamEps)
	i := 0
	for ; i+2 <= n; i += 2 {
		pp, pg, pm, pv := p[i:i+2:i+2], g[i:i+2:i+2], m[i:i+2:i+2], v[i:i+2:i+2]
		gi := archsimd.LoadFloat64x2(pg)
		mi := vb1.Mul(archsimd.LoadFloat64x2(pm)).Add(va1.Mul(gi))
		vi := vb2.Mul(archsimd.LoadFloat64x2(pv)).Add(va2.Mul(gi).Mul(gi))
		mi.Store(pm)
		vi.Store(pv)
		step := vlr.Mul(mi.Div(vc1)).Div(vi.Div(vc2).Sqrt().Add(eps))
		archsimd.LoadFloat64x2(pp).Add(step).Store(pp)
	}
	adamParts(p[i:], g[i:], m[i:], v[i:], lr, b1, b2, c1, c2)
}
