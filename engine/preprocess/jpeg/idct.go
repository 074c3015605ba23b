package jpeg

// The inverse DCT is libjpeg's default "islow" method: the Loeffler-Ligtenberg-Moschytz
// factorization (12 multiplies, 32 adds per 1-D pass) in fixed point with 13 fractional
// bits for the constants. The first pass (columns) keeps passBits extra bits of precision
// and the second (rows) removes them together with the 1-D scale factors, rounding half up
// at each of the two descaling steps. Reproducing those two rounding points, not just the
// maths, is what makes the pixels equal libjpeg's.
const (
	constBits = 13
	passBits  = 2
)

// fix(x) = round(x * 2^13), written out as libjpeg's documentation lists them.
const (
	fix0_298631336 = 2446
	fix0_390180644 = 3196
	fix0_541196100 = 4433
	fix0_765366865 = 6270
	fix0_899976223 = 7373
	fix1_175875602 = 9633
	fix1_501321110 = 12299
	fix1_847759065 = 15137
	fix1_961570560 = 16069
	fix2_053119869 = 16819
	fix2_562915447 = 20995
	fix3_072711026 = 25172
)

// descale divides by 2^n rounding half up (an arithmetic shift, as in libjpeg).
func descale(x int32, n uint) int32 { return (x + 1<<(n-1)) >> n }

// idct dequantizes one block of coefficients (natural order), inverse-transforms it, and
// writes the 8x8 samples to dst with the given stride, level-shifted and clamped to 0..255.
// Clamping, rather than libjpeg's C table that wraps far-out values, is what its SIMD code
// (used on x86 and ARM) does; the two differ only on values no encoder produces.
func idct(coef *[64]int16, q *[64]int32, dst []byte, stride int) {
	var ws [64]int32
	if allACZero(coef) {
		// A flat block, the commonest kind: both passes reduce to one rounding of the
		// DC term, exactly as the full computation would round it.
		v := sample(descale(int32(coef[0])*q[0]<<passBits, passBits+3))
		for r := 0; r < 8; r++ {
			out := dst[r*stride : r*stride+8 : r*stride+8]
			for i := range out {
				out[i] = v
			}
		}
		return
	}
	// Pass 1: columns, from coefficients into ws, scaled up by 2^passBits.
	for c := 0; c < 8; c++ {
		if coef[8+c] == 0 && coef[16+c] == 0 && coef[24+c] == 0 && coef[32+c] == 0 &&
			coef[40+c] == 0 && coef[48+c] == 0 && coef[56+c] == 0 {
			// Only the DC term: the column is flat. Same result as the full pass.
			dc := int32(coef[c]) * q[c] << passBits
			for r := 0; r < 8; r++ {
				ws[8*r+c] = dc
			}
			continue
		}
		// Even part.
		z2 := int32(coef[16+c]) * q[16+c]
		z3 := int32(coef[48+c]) * q[48+c]
		z1 := (z2 + z3) * fix0_541196100
		tmp2 := z1 + z3*-fix1_847759065
		tmp3 := z1 + z2*fix0_765366865
		z2 = int32(coef[c]) * q[c]
		z3 = int32(coef[32+c]) * q[32+c]
		tmp0 := (z2 + z3) << constBits
		tmp1 := (z2 - z3) << constBits
		tmp10, tmp13 := tmp0+tmp3, tmp0-tmp3
		tmp11, tmp12 := tmp1+tmp2, tmp1-tmp2
		// Odd part.
		tmp0 = int32(coef[56+c]) * q[56+c]
		tmp1 = int32(coef[40+c]) * q[40+c]
		tmp2 = int32(coef[24+c]) * q[24+c]
		tmp3 = int32(coef[8+c]) * q[8+c]
		z1 = tmp0 + tmp3
		z2 = tmp1 + tmp2
		z3 = tmp0 + tmp2
		z4 := tmp1 + tmp3
		z5 := (z3 + z4) * fix1_175875602
		tmp0 *= fix0_298631336
		tmp1 *= fix2_053119869
		tmp2 *= fix3_072711026
		tmp3 *= fix1_501321110
		z1 *= -fix0_899976223
		z2 *= -fix2_562915447
		z3 = z3*-fix1_961570560 + z5
		z4 = z4*-fix0_390180644 + z5
		tmp0 += z1 + z3
		tmp1 += z2 + z4
		tmp2 += z2 + z3
		tmp3 += z1 + z4
		const n = constBits - passBits
		ws[c] = descale(tmp10+tmp3, n)
		ws[56+c] = descale(tmp10-tmp3, n)
		ws[8+c] = descale(tmp11+tmp2, n)
		ws[48+c] = descale(tmp11-tmp2, n)
		ws[16+c] = descale(tmp12+tmp1, n)
		ws[40+c] = descale(tmp12-tmp1, n)
		ws[24+c] = descale(tmp13+tmp0, n)
		ws[32+c] = descale(tmp13-tmp0, n)
	}
	// Pass 2: rows, from ws to samples, removing passBits and the factor 8 of the 2-D
	// transform.
	const n = constBits + passBits + 3
	for r := 0; r < 8; r++ {
		w := ws[8*r : 8*r+8 : 8*r+8]
		out := dst[r*stride : r*stride+8 : r*stride+8]
		if w[1] == 0 && w[2] == 0 && w[3] == 0 && w[4] == 0 && w[5] == 0 && w[6] == 0 && w[7] == 0 {
			v := sample(descale(w[0], passBits+3))
			for i := range out {
				out[i] = v
			}
			continue
		}
		z2, z3 := w[2], w[6]
		z1 := (z2 + z3) * fix0_541196100
		tmp2 := z1 + z3*-fix1_847759065
		tmp3 := z1 + z2*fix0_765366865
		tmp0 := (w[0] + w[4]) << constBits
		tmp1 := (w[0] - w[4]) << constBits
		tmp10, tmp13 := tmp0+tmp3, tmp0-tmp3
		tmp11, tmp12 := tmp1+tmp2, tmp1-tmp2
		tmp0, tmp1, tmp2, tmp3 = w[7], w[5], w[3], w[1]
		z1 = tmp0 + tmp3
		z2 = tmp1 + tmp2
		z3 = tmp0 + tmp2
		z4 := tmp1 + tmp3
		z5 := (z3 + z4) * fix1_175875602
		tmp0 *= fix0_298631336
		tmp1 *= fix2_053119869
		tmp2 *= fix3_072711026
		tmp3 *= fix1_501321110
		z1 *= -fix0_899976223
		z2 *= -fix2_562915447
		z3 = z3*-fix1_961570560 + z5
		z4 = z4*-fix0_390180644 + z5
		tmp0 += z1 + z3
		tmp1 += z2 + z4
		tmp2 += z2 + z3
		tmp3 += z1 + z4
		out[0] = sample(descale(tmp10+tmp3, n))
		out[7] = sample(descale(tmp10-tmp3, n))
		out[1] = sample(descale(tmp11+tmp2, n))
		out[6] = sample(descale(tmp11-tmp2, n))
		out[2] = sample(descale(tmp12+tmp1, n))
		out[5] = sample(descale(tmp12-tmp1, n))
		out[3] = sample(descale(tmp13+tmp0, n))
		out[4] = sample(descale(tmp13-tmp0, n))
	}
}

// sample level-shifts an IDCT output (centred on 0) to 0..255.
func sample(v int32) byte {
	v += 128
	if uint32(v) > 255 {
		if v < 0 {
			return 0
		}
		return 255
	}
	return byte(v)
}

// allACZero reports whether a block has only its DC coefficient.
func allACZero(coef *[64]int16) bool {
	var or int16
	for _, c := range coef[1:] {
		or |= c
	}
	return or == 0
}
