package featurevis

import "math"

// sigmoidsImpl is sigmoids or a SIMD variant of it (sigmoid_wasmsimd.go).
var sigmoidsImpl = sigmoids

// sigmoids sets each x[i] to 1/(1+exp(-x[i])), to within a few units in the last place.
// render takes one per pixel and channel every step; math.Exp, built for every corner of
// its range, and a function call per value (which Go's WebAssembly makes dear) took 70 ns
// of each there, a tenth of a feature-visualization step. Here e^-x is computed in the
// loop: -x = k*ln2 + r with k an integer and |r| <= ln2/2, so e^-x = 2^k * e^r, 2^k built
// from its exponent bits (a normal number while |x| < 700; the far tails, infinities and
// NaN take math.Exp) and e^r from its Taylor series to r^13 (the first term left out is
// below 2^-55 of the sum). ln2 is split into a head with few significant bits, so that
// k*ln2Head is exact, and the remainder ln2Tail: r keeps its precision even where k*ln2
// nearly cancels x.
func sigmoids(xs []float64) {
	const (
		log2e   = 1.4426950408889634074 // 1/ln2
		ln2Head = 0.693145751953125     // ln2 rounded to 22 bits
		ln2Tail = 1.42860682030941723212e-6
	)
	for i, x := range xs {
		if !(x > -700 && x < 700) {
			xs[i] = 1 / (1 + math.Exp(-x))
			continue
		}
		x = -x
		// k = x/ln2 rounded half away from zero, by conversion (math.Floor is a call).
		t := x * log2e
		if t < 0 {
			t -= 0.5
		} else {
			t += 0.5
		}
		ik := int64(t)
		k := float64(ik)
		r := (x - k*ln2Head) - k*ln2Tail
		// Horner's rule on sum_{n<=13} r^n/n!, written out.
		p := 1.0/6227020800*r + 1.0/479001600
		p = p*r + 1.0/39916800
		p = p*r + 1.0/3628800
		p = p*r + 1.0/362880
		p = p*r + 1.0/40320
		p = p*r + 1.0/5040
		p = p*r + 1.0/720
		p = p*r + 1.0/120
		p = p*r + 1.0/24
		p = p*r + 1.0/6
		p = p*r + 0.5
		p = p*r + 1
		p = p*r + 1
		xs[i] = 1 / (1 + p*math.Float64frombits(uint64(ik+1023)<<52))
	}
}
