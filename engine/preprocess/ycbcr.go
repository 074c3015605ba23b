package preprocess

import "image"

// Decoders hand back YCbCr with the chroma planes at their stored (often halved) resolution.
// Go's own conversion picks the nearest chroma sample; libjpeg (behind PIL) and libwebp
// instead interpolate ("fancy upsampling"), and each rounds in its own way. On a photo the
// difference is several grey levels along every colour edge, so both are reproduced here.

// chromaPlanes returns the Cb and Cr planes of m as tightly packed cw x ch arrays, and the
// subsampling factors; ok is false for layouts handled by the generic path.
func chromaPlanes(m *image.YCbCr) (cb, cr []byte, cw, ch, hs, vs int, ok bool) {
	if m.Rect.Min != (image.Point{}) {
		return nil, nil, 0, 0, 0, 0, false
	}
	w, h := m.Rect.Dx(), m.Rect.Dy()
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio444:
		hs, vs = 1, 1
	case image.YCbCrSubsampleRatio422:
		hs, vs = 2, 1
	case image.YCbCrSubsampleRatio420:
		hs, vs = 2, 2
	case image.YCbCrSubsampleRatio440:
		hs, vs = 1, 2
	case image.YCbCrSubsampleRatio411:
		hs, vs = 4, 1
	case image.YCbCrSubsampleRatio410:
		hs, vs = 4, 2
	default:
		return nil, nil, 0, 0, 0, 0, false
	}
	cw, ch = (w+hs-1)/hs, (h+vs-1)/vs
	cb, cr = make([]byte, cw*ch), make([]byte, cw*ch)
	for y := 0; y < ch; y++ {
		copy(cb[y*cw:(y+1)*cw], m.Cb[y*m.CStride:y*m.CStride+cw])
		copy(cr[y*cw:(y+1)*cw], m.Cr[y*m.CStride:y*m.CStride+cw])
	}
	return cb, cr, cw, ch, hs, vs, true
}

// jpegUpsample brings one chroma plane to w x h like libjpeg's default decoder: a 3:1
// triangle between the two nearest samples along each halved axis (edges replicated), with
// libjpeg's alternating rounding biases; 4x subsampling is plain replication there.
func jpegUpsample(p []byte, cw, ch, w, h, hs, vs int) []byte {
	out := make([]byte, w*h)
	at := func(x, y int) int { return int(p[y*cw+x]) }
	for y := 0; y < h; y++ {
		near, far := y/vs, y/vs
		if vs == 2 {
			far = nearFar(y, ch)
		}
		o := out[y*w : (y+1)*w]
		switch {
		case hs == 2 && vs == 2:
			colsum := func(j int) int { return 3*at(j, near) + at(j, far) }
			for x := 0; x < w; x++ {
				j := x / 2
				switch {
				case x%2 == 0 && j == 0:
					o[x] = byte((colsum(0)*4 + 8) >> 4)
				case x%2 == 0:
					o[x] = byte((3*colsum(j) + colsum(j-1) + 8) >> 4)
				case j == cw-1:
					o[x] = byte((colsum(j)*4 + 7) >> 4)
				default:
					o[x] = byte((3*colsum(j) + colsum(j+1) + 7) >> 4)
				}
			}
		case hs == 2 && vs == 1:
			for x := 0; x < w; x++ {
				j := x / 2
				switch {
				case x%2 == 0 && j == 0:
					o[x] = byte(at(0, y))
				case x%2 == 0:
					o[x] = byte((3*at(j, y) + at(j-1, y) + 1) >> 2)
				case j == cw-1:
					o[x] = byte(at(j, y))
				default:
					o[x] = byte((3*at(j, y) + at(j+1, y) + 2) >> 2)
				}
			}
		case hs == 1 && vs == 2:
			bias := 1 // rows above the chroma sample's centre round down, rows below up
			if y%2 == 1 {
				bias = 2
			}
			for x := 0; x < w; x++ {
				o[x] = byte((3*at(x, near) + at(x, far) + bias) >> 2)
			}
		default: // 1:1, or 4x horizontal: replication
			for x := 0; x < w; x++ {
				o[x] = byte(at(x/hs, near))
			}
		}
	}
	return out
}

// nearFar returns, for output row (or column) i of a 2x-subsampled axis with n samples, the
// farther of the two samples that straddle it, clamped to the edge. The nearer one is i/2.
func nearFar(i, n int) int {
	f := i/2 - 1
	if i%2 == 1 {
		f = i/2 + 1
	}
	if f < 0 {
		f = 0
	}
	if f > n-1 {
		f = n - 1
	}
	return f
}

// libjpeg's YCbCr->RGB tables: 16-bit fixed point, rounding folded into the table entries.
var ycc struct {
	crR, cbB [256]int
	crG, cbG [256]int32
}

func init() {
	fix := func(x float64) int32 { return int32(x*(1<<16) + 0.5) }
	for i := 0; i < 256; i++ {
		x := int32(i - 128)
		ycc.crR[i] = int((fix(1.40200)*x + 1<<15) >> 16)
		ycc.cbB[i] = int((fix(1.77200)*x + 1<<15) >> 16)
		ycc.crG[i] = -fix(0.71414) * x
		ycc.cbG[i] = -fix(0.34414)*x + 1<<15
	}
}

// jpegYCbCrToRGB converts a decoded JPEG the way libjpeg (and so PIL) would.
func jpegYCbCrToRGB(m *image.YCbCr) *RGB {
	cbp, crp, cw, ch, hs, vs, ok := chromaPlanes(m)
	if !ok {
		return genericToRGB(m)
	}
	w, h := m.Rect.Dx(), m.Rect.Dy()
	cb := jpegUpsample(cbp, cw, ch, w, h, hs, vs)
	cr := jpegUpsample(crp, cw, ch, w, h, hs, vs)
	out := newRGB(w, h)
	for y := 0; y < h; y++ {
		yr := m.Y[y*m.YStride : y*m.YStride+w]
		o := out.Pix[y*w*3:]
		for x, yv := range yr {
			Y, b, r := int(yv), cb[y*w+x], cr[y*w+x]
			o[3*x] = clamp8(Y + ycc.crR[r])
			o[3*x+1] = clamp8(Y + int((ycc.cbG[b]+ycc.crG[r])>>16))
			o[3*x+2] = clamp8(Y + ycc.cbB[b])
		}
	}
	return out
}

// webpYCbCrToRGB converts a decoded lossy WebP (always 4:2:0) the way libwebp does by
// default: each chroma value is a 9:3:3:1 blend of the four nearest samples computed in two
// rounded steps, except in the first and (for even widths) last column, where only the
// vertical 3:1 blend applies; then libwebp's 14-bit YUV->RGB.
func webpYCbCrToRGB(m *image.YCbCr) *RGB {
	cbp, crp, cw, ch, hs, vs, ok := chromaPlanes(m)
	if !ok || hs != 2 || vs != 2 {
		return jpegYCbCrToRGB(m)
	}
	w, h := m.Rect.Dx(), m.Rect.Dy()
	out := newRGB(w, h)
	up := func(p []byte, x, y int) int {
		nr, fr := y/2, nearFar(y, ch)
		nc := x / 2
		if x == 0 || (x%2 == 1 && nc == cw-1) {
			return (3*int(p[nr*cw+nc]) + int(p[fr*cw+nc]) + 2) >> 2
		}
		fc := nc + 1
		if x%2 == 0 {
			fc = nc - 1
		}
		nn, nf := int(p[nr*cw+nc]), int(p[nr*cw+fc])
		fn, ff := int(p[fr*cw+nc]), int(p[fr*cw+fc])
		diag := (nn + 3*nf + 3*fn + ff + 8) >> 3
		return (diag + nn) >> 1
	}
	for y := 0; y < h; y++ {
		yr := m.Y[y*m.YStride : y*m.YStride+w]
		o := out.Pix[y*w*3:]
		for x, yv := range yr {
			u, v := up(cbp, x, y), up(crp, x, y)
			Y := multHi(int(yv), 19077)
			o[3*x] = webpClip(Y + multHi(v, 26149) - 14234)
			o[3*x+1] = webpClip(Y - multHi(u, 6419) - multHi(v, 13320) + 8708)
			o[3*x+2] = webpClip(Y + multHi(u, 33050) - 17685)
		}
	}
	return out
}

func multHi(v, c int) int { return (v * c) >> 8 }

// webpClip takes libwebp's 6-fractional-bit result back to a clamped uint8.
func webpClip(v int) uint8 {
	if v&^(256<<6-1) == 0 {
		return uint8(v >> 6)
	}
	if v < 0 {
		return 0
	}
	return 255
}
