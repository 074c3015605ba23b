package gallery

import "math"

// Portable powers, exponentials and logarithms, for UMAP. They serve two needs: speed (UMAP
// raises every sampled distance to a fitted power, hundreds of millions of times a large map,
// and math.Pow was most of its descent's time, in the browser above all, where Go's math has
// no assembly) and sameness (Go's math.Exp and math.Log run assembly on amd64 and Go code in
// WebAssembly, which can differ in the last bit, and UMAP's descent magnifies any difference:
// these use only +, -, *, / and bit operations, so a map is the same natively and in the
// browser). They agree with the math package to about 1e-9 relative.

// log2Portable is log2 x for finite x > 0 (0 below the normal floats' range: no exponent bits
// to read there), from the float's exponent and an atanh series on its mantissa.
func log2Portable(x float64) float64 {
	if x < 0x1p-1022 {
		return -1022
	}
	// x = m · 2^e with m in [1/√2, √2).
	bits := math.Float64bits(x)
	e := int((bits>>52)&0x7ff) - 1023
	m := math.Float64frombits(bits&^(0x7ff<<52) | 1023<<52) // in [1, 2)
	if m > math.Sqrt2 {
		m /= 2
		e++
	}
	// ln m = 2·atanh(s), s = (m-1)/(m+1), |s| < 0.172: five odd terms leave < 1e-10.
	s := (m - 1) / (m + 1)
	s2 := s * s
	lnm := 2 * s * (1 + s2*(1.0/3+s2*(1.0/5+s2*(1.0/7+s2*(1.0/9+s2/11)))))
	return float64(e) + lnm/math.Ln2
}

// exp2Portable is 2^t: 2^n for the nearest integer n (the exponent's bits) times a Taylor
// series for e^(f·ln 2), |f| <= 1/2. It is 0 below 2^-1022 and +Inf above 2^1024.
func exp2Portable(t float64) float64 {
	if t < -1022 {
		return 0
	}
	if t >= 1024 {
		return math.Inf(1)
	}
	n := math.Floor(t + 0.5)
	r := (t - n) * math.Ln2 // |r| <= 0.35
	er := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040+r/40320)))))))
	k := int(n)
	if k == 1024 { // t just under 1024: 2^1024 is past float64, er < 1 brings it back
		return er * 0x1p1023 * 2
	}
	return er * math.Float64frombits(uint64(k+1023)<<52)
}

// expPortable is e^x.
func expPortable(x float64) float64 { return exp2Portable(x / math.Ln2) }

// powPositive is x^p for finite normal x > 0.
func powPositive(x, p float64) float64 { return exp2Portable(p * log2Portable(x)) }
