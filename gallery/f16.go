package gallery

import "math"

// IEEE 754 binary16 ("half") conversion. Embeddings are stored as half floats when the
// gallery's encoding is f16: 11 significant bits, so a relative error of at most 2^-11 per
// component for values in the normal range (6.1e-5 to 65504).

// maxHalf is the largest finite half float.
const maxHalf = 65504

// toHalf rounds f to the nearest half float (ties to even). Values beyond the half range
// saturate to ±65504 rather than becoming infinities, so a stored embedding is always
// finite; NaN must be refused by the caller.
func toHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	abs := b & 0x7fffffff
	switch {
	case abs >= 0x477ff000: // rounds to >= 65520, beyond the largest half: saturate
		return sign | 0x7bff
	case abs >= 0x38800000: // normal half (>= 2^-14)
		// Re-bias the exponent (127 -> 15) and round the 23-bit mantissa to 10 bits, ties to
		// even: adding 0xfff plus the lowest kept bit carries exactly when the dropped bits
		// exceed half, or equal half with an odd kept bit.
		rounded := abs - (112 << 23) + 0xfff + ((abs >> 13) & 1)
		return sign | uint16(rounded>>13)
	case abs >= 0x33000000: // subnormal half: the value is a multiple of 2^-24
		// Shift the full significand (with its implicit 1) right so the result counts units
		// of 2^-24, rounding to nearest even.
		exp := abs >> 23
		mant := abs&0x7fffff | 0x800000
		shift := 126 - exp // 2^-24 units: value = mant * 2^(exp-150)
		q := mant >> shift
		rem := mant & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && q&1 == 1) {
			q++
		}
		return sign | uint16(q)
	default: // below half of the smallest subnormal: zero
		return sign
	}
}

// fromHalf widens a half float exactly.
func fromHalf(h uint16) float32 {
	return halfTable[h]
}

// halfTable holds every half float's value: the search loops widen with one lookup.
var halfTable = func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = halfValue(uint16(i))
	}
	return &t
}()

func halfValue(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch exp {
	case 0: // zero or subnormal: mant * 2^-24
		v := float32(mant) * (1.0 / (1 << 24))
		return math.Float32frombits(math.Float32bits(v) | sign)
	case 0x1f: // infinity or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}

// halfFinite reports whether a stored half is a finite number.
func halfFinite(h uint16) bool { return h&0x7c00 != 0x7c00 }
