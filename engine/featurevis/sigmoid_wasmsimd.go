//go:build goexperiment.simd && wasm

package featurevis

import "simd/archsimd"

func init() {
	sigmoidsImpl = sigmoidsWasmSIMD
}

// sigmoidsWasmSIMD is sigmoids two values at a time: the same operations in the same order
// (WebAssembly has no fused multiply-add), so the same values. k is rounded by truncating
// t ± 1/2 as sigmoids' conversion does (for t = -0, k is -0 where sigmoids has 0: the
// values after it are the same), and 2^k built from k's low bits, read off k plus
// 1.5 * 2^52 (exact for |k| < 2^51). A pair with a value outside (-700, 700) or a NaN takes
// the portable loop.
func sigmoidsWasmSIMD(xs []float64) {
	const (
		log2e   = 1.4426950408889634074
		ln2Head = 0.693145751953125
		ln2Tail = 1.42860682030941723212e-6
		magic   = 0x1.8p52
	)
	b := archsimd.BroadcastFloat64x2
	vlog2e, head, tail, one, vmagic := b(log2e), b(ln2Head), b(ln2Tail), b(1), b(magic)
	half, sign := archsimd.BroadcastUint64x2(0x3fe0000000000000), archsimd.BroadcastUint64x2(1<<63)
	bias := archsimd.BroadcastUint64x2(0x4338000000000000 - 1023)
	c13, c12, c11, c10, c9, c8, c7 := b(1.0/6227020800), b(1.0/479001600), b(1.0/39916800), b(1.0/3628800), b(1.0/362880), b(1.0/40320), b(1.0/5040)
	c6, c5, c4, c3, c2 := b(1.0/720), b(1.0/120), b(1.0/24), b(1.0/6), b(0.5)
	i := 0
	for ; i+2 <= len(xs); i += 2 {
		px := xs[i : i+2 : i+2]
		if !(px[0] > -700 && px[0] < 700 && px[1] > -700 && px[1] < 700) {
			sigmoids(px)
			continue
		}
		x := archsimd.LoadFloat64x2(px).Neg()
		t := x.Mul(vlog2e)
		// t ± 1/2, the half taking t's sign (t - 1/2 is t + -1/2 exactly).
		k := t.Add(t.ToBits().And(sign).Or(half).BitsToFloat64()).Trunc()
		r := x.Sub(k.Mul(head)).Sub(k.Mul(tail))
		p := c13.Mul(r).Add(c12)
		p = p.Mul(r).Add(c11)
		p = p.Mul(r).Add(c10)
		p = p.Mul(r).Add(c9)
		p = p.Mul(r).Add(c8)
		p = p.Mul(r).Add(c7)
		p = p.Mul(r).Add(c6)
		p = p.Mul(r).Add(c5)
		p = p.Mul(r).Add(c4)
		p = p.Mul(r).Add(c3)
		p = p.Mul(r).Add(c2)
		p = p.Mul(r).Add(one)
		p = p.Mul(r).Add(one)
		twoK := k.Add(vmagic).ToBits().Sub(bias).ShiftAllLeft(52).BitsToFloat64()
		one.Div(one.Add(p.Mul(twoK))).Store(px)
	}
	sigmoids(xs[i:])
}
