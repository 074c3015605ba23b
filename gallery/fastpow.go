package gallery

import "math"

// powPositive is x^p for finite x > 0 and moderate p (|p·log2 x| < 1000), to about 1e-9
// relative: UMAP raises every sampled distance to a fitted power, hundreds of millions of
// times a large map, and math.Pow (or Exp of Log) was most of its descent's time, in the
// browser above all, where Go's math has no assembly. Written as 2^(p·log2 x): log2 from the
// float's exponent and an atanh series on its mantissa, 2^t from an integer power (the
// exponent's bits) and a Taylor series on the rest.
func powPositive(x, p float64) float64 {
	if x < 0x1p-1022 { // subnormal: no exponent bits to read
		return math.Pow(x, p)
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
	t := p * (float64(e) + lnm/math.Ln2) // p · log2 x
	// 2^t = 2^n · e^(f·ln 2), n the nearest integer, |f| <= 1/2: |f·ln 2| <= 0.35.
	n := math.Floor(t + 0.5)
	r := (t - n) * math.Ln2
	er := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040+r/40320)))))))
	k := max(-1022, min(1023, int(n)))
	return er * math.Float64frombits(uint64(k+1023)<<52)
}
