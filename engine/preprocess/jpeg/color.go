package jpeg

import (
	"image"
)

// output turns the decoded planes into the image PIL would hand back.
func (d *decoder) output() (image.Image, error) {
	if d.progressive {
		d.inverseTransform()
	}
	w, h := d.width, d.height
	rows := make([]rowSource, len(d.comps))
	for i := range d.comps {
		rows[i] = newRowSource(&d.comps[i], d.hmax, d.vmax, w)
	}
	switch len(d.comps) {
	case 1:
		m := image.NewGray(image.Rect(0, 0, w, h))
		for y := 0; y < h; y++ {
			copy(m.Pix[y*m.Stride:y*m.Stride+w], rows[0].row(y))
		}
		return m, nil
	case 3:
		m := image.NewNRGBA(image.Rect(0, 0, w, h))
		ycc := d.colorSpace3() == spaceYCbCr
		for y := 0; y < h; y++ {
			out := m.Pix[y*m.Stride : y*m.Stride+4*w]
			a, b, c := rows[0].row(y), rows[1].row(y), rows[2].row(y)
			if ycc {
				yccToRGBA(out, a, b, c)
			} else {
				for x := 0; x < w; x++ {
					out[4*x], out[4*x+1], out[4*x+2], out[4*x+3] = a[x], b[x], c[x], 255
				}
			}
		}
		return m, nil
	default:
		m := image.NewCMYK(image.Rect(0, 0, w, h))
		ycck := d.colorSpace4() == spaceYCCK
		for y := 0; y < h; y++ {
			out := m.Pix[y*m.Stride : y*m.Stride+4*w]
			a, b, c, k := rows[0].row(y), rows[1].row(y), rows[2].row(y), rows[3].row(y)
			if ycck {
				// libjpeg turns YCCK into CMYK as 255 minus the RGB of the YCC part; PIL
				// then inverts all four channels, which leaves that RGB as C, M, Y.
				yccToRGBA(out, a, b, c)
				for x := 0; x < w; x++ {
					out[4*x+3] = 255 - k[x]
				}
			} else {
				for x := 0; x < w; x++ {
					out[4*x], out[4*x+1], out[4*x+2], out[4*x+3] = 255-a[x], 255-b[x], 255-c[x], 255-k[x]
				}
			}
		}
		return m, nil
	}
}

// inverseTransform turns a progressive image's coefficients into samples.
func (d *decoder) inverseTransform() {
	for i := range d.comps {
		c := &d.comps[i]
		stride := c.bw * 8
		c.plane = make([]byte, c.bw*c.bh*64)
		for by := 0; by < c.bh; by++ {
			for bx := 0; bx < c.bw; bx++ {
				b := (*[64]int16)(c.coefs[(by*c.bw+bx)*64:])
				idct(b, &c.qt, c.plane[by*8*stride+bx*8:], stride)
			}
		}
		c.coefs, c.hasAC = nil, nil
	}
}

type colorSpace int

const (
	spaceYCbCr colorSpace = iota
	spaceRGB
	spaceCMYK
	spaceYCCK
)

// colorSpace3 is libjpeg's guess for a 3-component file: JFIF means YCbCr; otherwise an
// Adobe marker's transform flag decides; otherwise component ids 'R','G','B' mean RGB.
func (d *decoder) colorSpace3() colorSpace {
	switch {
	case d.jfif:
		return spaceYCbCr
	case d.adobe:
		if d.adobeXform == 0 {
			return spaceRGB
		}
		return spaceYCbCr
	case d.comps[0].id == 'R' && d.comps[1].id == 'G' && d.comps[2].id == 'B':
		return spaceRGB
	}
	return spaceYCbCr
}

// colorSpace4 is libjpeg's guess for a 4-component file: YCCK only when an Adobe marker
// says so (any transform but 0).
func (d *decoder) colorSpace4() colorSpace {
	if d.adobe && d.adobeXform != 0 {
		return spaceYCCK
	}
	return spaceCMYK
}

// libjpeg's YCbCr->RGB tables (JFIF's equations in 16-bit fixed point, rounding folded
// into the table entries): R = Y + crR[Cr], B = Y + cbB[Cb], and
// G = Y + (cbG[Cb] + crG[Cr]) >> 16.
var ycc struct {
	crR, cbB [256]int32
	crG, cbG [256]int32
}

func init() {
	fix := func(x float64) int32 { return int32(x*(1<<16) + 0.5) }
	for i := range 256 {
		x := int32(i - 128)
		ycc.crR[i] = (fix(1.40200)*x + 1<<15) >> 16
		ycc.cbB[i] = (fix(1.77200)*x + 1<<15) >> 16
		ycc.crG[i] = -fix(0.71414) * x
		ycc.cbG[i] = -fix(0.34414)*x + 1<<15
	}
}

func clamp255(v int32) byte {
	if uint32(v) > 255 {
		if v < 0 {
			return 0
		}
		return 255
	}
	return byte(v)
}

// yccToRGBA converts one row into 4-byte pixels with opaque alpha.
func yccToRGBA(out, ys, cbs, crs []byte) {
	n := len(out) / 4
	ys, cbs, crs = ys[:n], cbs[:n], crs[:n]
	for x := range ys {
		y, cb, cr := int32(ys[x]), cbs[x], crs[x]
		o := out[4*x : 4*x+4 : 4*x+4]
		o[0] = clamp255(y + ycc.crR[cr])
		o[1] = clamp255(y + (ycc.cbG[cb]+ycc.crG[cr])>>16)
		o[2] = clamp255(y + ycc.cbB[cb])
		o[3] = 255
	}
}

// upsampling is how a component's samples are brought to the full image grid: the choice
// libjpeg makes with its default do_fancy_upsampling.
type upsampling int

const (
	upFull      upsampling = iota // same resolution as the image
	upH2V1Fancy                   // half width: 3:1 triangle between horizontal neighbours
	upH1V2Fancy                   // half height: 3:1 triangle between vertical neighbours
	upH2V2Fancy                   // half both: the two triangles combined
	upReplicate                   // other integral ratios: each sample repeated
)

// rowSource produces full-resolution rows of one component.
type rowSource struct {
	c      *component
	mode   upsampling
	rh, rv int // replication factors
	w      int
	stride int
	buf    []byte
	colsum []int32
}

func newRowSource(c *component, hmax, vmax, w int) rowSource {
	rs := rowSource{c: c, rh: hmax / c.h, rv: vmax / c.v, w: w, stride: c.bw * 8}
	switch {
	case rs.rh == 1 && rs.rv == 1:
		rs.mode = upFull
	case rs.rh == 2 && rs.rv == 1 && c.dw > 2:
		rs.mode = upH2V1Fancy
	case rs.rh == 1 && rs.rv == 2:
		rs.mode = upH1V2Fancy
	case rs.rh == 2 && rs.rv == 2 && c.dw > 2:
		rs.mode = upH2V2Fancy
	default:
		rs.mode = upReplicate
	}
	if rs.mode != upFull {
		rs.buf = make([]byte, w+rs.rh)
	}
	if rs.mode == upH2V2Fancy {
		rs.colsum = make([]int32, c.dw)
	}
	return rs
}

// planeRow returns sample row r of the component, clamped to the rows that belong to the
// image (libjpeg replicates the first and last rows as context for vertical upsampling).
func (s *rowSource) planeRow(r int) []byte {
	r = max(0, min(r, s.c.dh-1))
	return s.c.plane[r*s.stride : r*s.stride+s.c.dw]
}

// farRow is the second row a half-height output row y blends with: the one above for the
// upper of the two output rows a sample row covers, the one below for the lower.
func farRow(y int) int {
	if y%2 == 0 {
		return y/2 - 1
	}
	return y/2 + 1
}

// row returns output row y of the component, w samples long.
func (s *rowSource) row(y int) []byte {
	switch s.mode {
	case upFull:
		return s.planeRow(y)[:s.w]
	case upH2V1Fancy:
		h2v1Fancy(s.buf, s.planeRow(y))
	case upH1V2Fancy:
		near, far := s.planeRow(y/2), s.planeRow(farRow(y))
		// Rounding alternates with the output row so that errors do not drift one way.
		bias := int32(1)
		if y%2 == 1 {
			bias = 2
		}
		for x := range s.buf[:s.w] {
			s.buf[x] = byte((3*int32(near[x]) + int32(far[x]) + bias) >> 2)
		}
	case upH2V2Fancy:
		near, far := s.planeRow(y/2), s.planeRow(farRow(y))
		for j := range s.colsum {
			s.colsum[j] = 3*int32(near[j]) + int32(far[j])
		}
		h2v2Fancy(s.buf, s.colsum)
	default:
		src := s.planeRow(y / s.rv)
		for x := range s.buf[:s.w] {
			s.buf[x] = src[x/s.rh]
		}
	}
	return s.buf[:s.w]
}

// h2v1Fancy doubles a row: each output sample is 3/4 of its own input sample plus 1/4 of
// the nearer neighbour, with rounding alternating between the two outputs of an input
// sample. The edge samples have no outer neighbour and are copied. len(in) > 2.
func h2v1Fancy(out, in []byte) {
	n := len(in)
	out[0] = in[0]
	out[1] = byte((3*int32(in[0]) + int32(in[1]) + 2) >> 2)
	for j := 1; j < n-1; j++ {
		v := 3 * int32(in[j])
		out[2*j] = byte((v + int32(in[j-1]) + 1) >> 2)
		out[2*j+1] = byte((v + int32(in[j+1]) + 2) >> 2)
	}
	last := 3 * int32(in[n-1])
	out[2*n-2] = byte((last + int32(in[n-2]) + 1) >> 2)
	out[2*n-1] = in[n-1]
}

// h2v2Fancy doubles a row of column sums (3*near + far, the vertical step) horizontally
// the same way, dividing by 16 overall with rounding that alternates between 8 and 7.
func h2v2Fancy(out []byte, cs []int32) {
	n := len(cs)
	out[0] = byte((4*cs[0] + 8) >> 4)
	out[1] = byte((3*cs[0] + cs[1] + 7) >> 4)
	for j := 1; j < n-1; j++ {
		v := 3 * cs[j]
		out[2*j] = byte((v + cs[j-1] + 8) >> 4)
		out[2*j+1] = byte((v + cs[j+1] + 7) >> 4)
	}
	last := 3 * cs[n-1]
	out[2*n-2] = byte((last + cs[n-2] + 8) >> 4)
	out[2*n-1] = byte((4*cs[n-1] + 7) >> 4)
}
