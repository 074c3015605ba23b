package featurevis

import "math"

// sigmoid is 1/(1+exp(-x)) to within a few units in the last place. render takes one per
// pixel and channel every step, and math.Exp, built for every corner of its range, took
// 70 ns of each in Go's WebAssembly (a tenth of a feature-visualization step).
func sigmoid(x float64) float64 {
	if !(x > -700 && x < 700) { // far tails, infinities, NaN: the library's exp
		return 1 / (1 + math.Exp(-x))
	}
	return 1 / (1 + expReduced(-x))
}

// expReduced is e^x for |x| < 700: x = k*ln2 + r with k an integer and |r| <= ln2/2, so
// e^x = 2^k * e^r, 2^k built from its exponent bits (a normal number over this range) and
// e^r from its Taylor series to r^13 (the first term left out is below 2^-55 of the sum).
// ln2 is split into a head with few significant bits, so that k*ln2Head is exact, and the
// remainder ln2Tail: r keeps its precision even where k*ln2 nearly cancels x.
func expReduced(x float64) float64 {
	const (
		log2e   = 1.4426950408889634074 // 1/ln2
		ln2Head = 0.693145751953125     // ln2 rounded to 22 bits
		ln2Tail = 1.42860682030941723212e-6
	)
	k := math.Floor(x*log2e + 0.5)
	r := (x - k*ln2Head) - k*ln2Tail
	// Horner's rule on sum_{n<=13} r^n/n!.
	p := 1.0 / 6227020800 // 1/13!
	for _, f := range [...]float64{1.0 / 479001600, 1.0 / 39916800, 1.0 / 3628800, 1.0 / 362880, 1.0 / 40320,
		1.0 / 5040, 1.0 / 720, 1.0 / 120, 1.0 / 24, 1.0 / 6, 0.5, 1, 1} {
		p = p*r + f
	}
	return p * math.Float64frombits(uint64(int64(k)+1023)<<52)
}
