// Package jpeg decodes JPEG files to the same pixels as libjpeg-turbo with its default
// settings, which is what PIL (and so torchvision) uses: the accurate integer "islow" IDCT,
// "fancy" triangular chroma upsampling, and libjpeg's fixed-point colour conversion. Go's
// image/jpeg uses a different IDCT and nearest-neighbour chroma, which moves pixels by a few
// levels: enough to change a network's output probabilities in the third decimal.
//
// Supported: baseline, extended sequential and progressive Huffman-coded 8-bit JPEGs with 1
// (gray), 3 (YCbCr or RGB) or 4 (CMYK or YCCK) components, any integral sampling factors,
// and restart intervals. The results are what PIL's Image.open gives for these files:
//
//   - 1 component: *image.Gray (PIL mode "L");
//   - 3 components: *image.NRGBA, opaque (PIL mode "RGB");
//   - 4 components: *image.CMYK holding PIL's "CMYK" values, which are libjpeg's output
//     inverted (PIL assumes Adobe's inverted-CMYK convention for every 4-component JPEG).
//
// Arithmetic coding, 12- and 16-bit samples, lossless and hierarchical JPEGs are refused
// with an error that wraps ErrUnsupported, so a caller can fall back to another decoder.
//
// Bad input gives an error, never a panic. A file that ends inside a segment or inside the
// coded data of a scan is an error (ErrTruncated), as in PIL; a file that ends between
// segments once every component has been coded is decoded from what it has (a progressive
// JPEG missing its last scans comes out blurrier, one missing only its EOI marker comes out
// whole). Damaged coded data is recovered from the way libjpeg recovers, so PIL's pixels
// still come out: a code matching no Huffman code decodes as symbol 0, data cut short by a
// marker reads as zero bits and leaves the rest of its restart interval flat grey, and lost
// or misnumbered restart markers are resynchronised by libjpeg's rules.
//
// One libjpeg feature is left out: block smoothing, which libjpeg applies to a progressive
// image whose low-frequency coefficients are not all complete (a file cut short between
// scans). Such images decode here without it, a few levels off PIL (at most 5 on the one
// file measured: a progressive photo cut after 4 of its 10 scans, EOI appended). Complete
// progressive files, the ones encoders write, are unaffected.
package jpeg

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
)

// MaxPixels is the largest image (width*height) the decoder will allocate for, whatever
// the caller's own limits: about 540 MB of RGBA output. Callers that want a smaller bound
// check DecodeConfig first.
const MaxPixels = 1 << 27

// maxScans bounds the scans of one file. Each scan may walk the whole image, so without a
// bound a small hostile file of thousands of empty scans takes minutes; real progressive
// files use about ten (libjpeg-turbo's tools suggest a limit of 500 for the same reason).
const maxScans = 500

var (
	// ErrUnsupported marks valid JPEG variants this decoder does not handle.
	ErrUnsupported = errors.New("jpeg: unsupported")
	// ErrFormat marks data that is not a well-formed JPEG.
	ErrFormat = errors.New("jpeg: invalid")
	// ErrTruncated marks a file that ends inside a segment or inside coded data.
	ErrTruncated = errors.New("jpeg: truncated file")
	// ErrTooLarge marks images over MaxPixels.
	ErrTooLarge = errors.New("jpeg: image too large")
)

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
}

// Decode reads a JPEG image from r.
func Decode(r io.Reader) (image.Image, error) {
	d := &decoder{in: newInput(r)}
	if err := d.run(false); err != nil {
		return nil, err
	}
	return d.output()
}

// DecodeConfig reads the dimensions and colour model of a JPEG image without decoding it.
// The colour model is that of the image Decode returns: color.GrayModel, color.NRGBAModel
// or color.CMYKModel.
func DecodeConfig(r io.Reader) (image.Config, error) {
	d := &decoder{in: newInput(r)}
	if err := d.run(true); err != nil {
		return image.Config{}, err
	}
	var m color.Model
	switch len(d.comps) {
	case 1:
		m = color.GrayModel
	case 3:
		m = color.NRGBAModel
	default:
		m = color.CMYKModel
	}
	return image.Config{ColorModel: m, Width: d.width, Height: d.height}, nil
}

// JPEG marker codes (ITU T.81 table B.1).
const (
	mSOF0 = 0xC0 // baseline
	mSOF1 = 0xC1 // extended sequential, Huffman
	mSOF2 = 0xC2 // progressive, Huffman
	mSOF3 = 0xC3 // lossless, Huffman
	mDHT  = 0xC4
	mJPG  = 0xC8
	mDAC  = 0xCC
	mRST0 = 0xD0
	mRST7 = 0xD7
	mSOI  = 0xD8
	mEOI  = 0xD9
	mSOS  = 0xDA
	mDQT  = 0xDB
	mDNL  = 0xDC
	mDRI  = 0xDD
	mDHP  = 0xDE
	mEXP  = 0xDF
	mAPP0 = 0xE0
	mAP14 = 0xEE
	mAP15 = 0xEF
	mJPG0 = 0xF0
	mJPGD = 0xFD
	mCOM  = 0xFE
	mTEM  = 0x01
)

// component is one colour channel: its header fields, its decoded samples, and for
// progressive files its coefficients.
type component struct {
	id      byte
	h, v    int // sampling factors
	tq      int // quantization table selector
	qt      [64]int32
	latched bool // qt holds the table in force when the component's first scan began

	bw, bh int // blocks across and down, padded to whole MCUs
	dw, dh int // samples that belong to the image ("downsampled_width/height" in libjpeg)

	coefs  []int16 // progressive: bw*bh blocks of 64, natural order
	hasAC  []bool  // progressive: whether each block has a nonzero AC coefficient yet
	plane  []byte  // bw*8 x bh*8 samples
	dcPred int
	dcTab  *huffTable
	acTab  *huffTable
	seen   bool // appeared in a scan
}

type decoder struct {
	in   *input
	bits bitReader

	width, height int
	sofSeen       bool
	progressive   bool
	comps         []component
	hmax, vmax    int
	mcusX, mcusY  int
	allocated     bool

	quant      [4][64]int32 // natural order
	quantSet   [4]bool
	dcTables   [4]huffTable
	acTables   [4]huffTable
	dcSet      [4]bool
	acSet      [4]bool
	restart    int
	jfif       bool
	adobe      bool
	adobeXform byte
	scans      int
	eobrun     int
}

// run reads segments until the end of the image, or only up to the frame header when
// configOnly is set.
func (d *decoder) run(configOnly bool) error {
	var soi [2]byte
	if err := d.in.readFull(soi[:]); err != nil {
		return d.truncated(err, "reading SOI")
	}
	if soi[0] != 0xFF || soi[1] != mSOI {
		return invalid("missing SOI marker (not a JPEG file)")
	}
	for {
		marker, err := d.nextMarker()
		if err != nil {
			if err == io.EOF && !configOnly && d.complete() {
				return nil // no EOI, but every component has been coded: keep what we have
			}
			return d.truncated(err, "looking for a marker")
		}
		switch {
		case marker == mSOF0 || marker == mSOF1 || marker == mSOF2:
			if err := d.readSOF(marker); err != nil {
				return err
			}
			if configOnly {
				return nil
			}
		case marker == mSOF3 || (marker >= 0xC5 && marker <= 0xC7) || (marker >= 0xC9 && marker <= 0xCB) || (marker >= 0xCD && marker <= 0xCF):
			return unsupported("%s (marker 0x%02X)", sofName(marker), marker)
		case marker == mDHT:
			if err := d.readDHT(); err != nil {
				return err
			}
		case marker == mDQT:
			if err := d.readDQT(); err != nil {
				return err
			}
		case marker == mDRI:
			if err := d.readDRI(); err != nil {
				return err
			}
		case marker == mSOS:
			if configOnly {
				return invalid("scan before the frame header")
			}
			if err := d.readScan(); err != nil {
				return err
			}
		case marker == mEOI:
			if configOnly || !d.sofSeen {
				return invalid("image ends before its frame header")
			}
			if !d.complete() {
				return invalid("image ends before every component has been coded")
			}
			return nil
		case marker == mSOI:
			return invalid("second SOI marker")
		case marker == mAPP0 || marker == mAP14:
			if err := d.readApp(marker); err != nil {
				return err
			}
		case (marker > mAPP0 && marker <= mAP15) || marker == mCOM || marker == mDNL || marker == mDAC ||
			marker == mDHP || marker == mEXP || marker == mJPG || (marker >= mJPG0 && marker <= mJPGD):
			// DAC only matters to arithmetic coding, which an arithmetic SOF refuses;
			// DNL only matters to a zero height, which the SOF refuses.
			if err := d.skipSegment(); err != nil {
				return err
			}
		case (marker >= mRST0 && marker <= mRST7) || marker == mTEM:
			// Parameterless markers out of place: libjpeg ignores them too.
		default:
			return invalid("unknown marker 0x%02X", marker)
		}
	}
}

func sofName(m byte) string {
	switch m {
	case mSOF3:
		return "lossless JPEG"
	case 0xC5, 0xC6, 0xC7:
		return "hierarchical JPEG"
	default:
		return "arithmetic-coded JPEG"
	}
}

// truncated turns a read error into the decoder's error.
func (d *decoder) truncated(err error, where string) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w (%s)", ErrTruncated, where)
	}
	return fmt.Errorf("jpeg: %s: %w", where, err)
}

// complete reports whether every component has appeared in some scan.
func (d *decoder) complete() bool {
	if !d.sofSeen || !d.allocated {
		return false
	}
	for i := range d.comps {
		if !d.comps[i].seen {
			return false
		}
	}
	return true
}

// nextMarker finds the next marker, skipping stray bytes and fill bytes the way libjpeg
// does. A marker already met inside coded data is returned first.
func (d *decoder) nextMarker() (byte, error) {
	if m := d.bits.marker; m != 0 {
		d.bits.marker = 0
		return m, nil
	}
	for {
		b, err := d.in.readByte()
		if err != nil {
			return 0, err
		}
		if b != 0xFF {
			continue
		}
		for b == 0xFF {
			if b, err = d.in.readByte(); err != nil {
				return 0, err
			}
		}
		if b != 0 {
			return b, nil
		}
		// 0xFF00 is stuffed coded data, not a marker: keep looking.
	}
}

// segment reads a marker segment's length and returns its payload.
func (d *decoder) segment(name string) ([]byte, error) {
	var l [2]byte
	if err := d.in.readFull(l[:]); err != nil {
		return nil, d.truncated(err, "reading "+name)
	}
	n := int(l[0])<<8 | int(l[1])
	if n < 2 {
		return nil, invalid("%s segment length %d", name, n)
	}
	p := d.in.scratch(n - 2)
	if err := d.in.readFull(p); err != nil {
		return nil, d.truncated(err, "reading "+name)
	}
	return p, nil
}

func (d *decoder) skipSegment() error {
	var l [2]byte
	if err := d.in.readFull(l[:]); err != nil {
		return d.truncated(err, "reading a marker segment")
	}
	n := int(l[0])<<8 | int(l[1])
	if n < 2 {
		return invalid("segment length %d", n)
	}
	if err := d.in.skip(n - 2); err != nil {
		return d.truncated(err, "skipping a marker segment")
	}
	return nil
}

// readApp reads APP0 and APP14, whose JFIF and Adobe signatures tell libjpeg the colour
// space of 3- and 4-component images.
func (d *decoder) readApp(marker byte) error {
	p, err := d.segment("APP segment")
	if err != nil {
		return err
	}
	if marker == mAPP0 && len(p) >= 14 && string(p[:5]) == "JFIF\x00" {
		d.jfif = true
	}
	if marker == mAP14 && len(p) >= 12 && string(p[:5]) == "Adobe" {
		d.adobe = true
		d.adobeXform = p[11]
	}
	return nil
}

func (d *decoder) readSOF(marker byte) error {
	if d.sofSeen {
		return invalid("second frame header")
	}
	p, err := d.segment("frame header")
	if err != nil {
		return err
	}
	if len(p) < 6 {
		return invalid("frame header of %d bytes", len(p))
	}
	if p[0] != 8 {
		return unsupported("%d-bit samples", p[0])
	}
	d.height = int(p[1])<<8 | int(p[2])
	d.width = int(p[3])<<8 | int(p[4])
	n := int(p[5])
	if d.height == 0 {
		return unsupported("height defined by a DNL marker")
	}
	if d.width == 0 {
		return invalid("image width 0")
	}
	if n != 1 && n != 3 && n != 4 {
		return unsupported("%d components (only 1, 3 and 4 are images PIL reads)", n)
	}
	if len(p) != 6+3*n {
		return invalid("frame header of %d bytes for %d components", len(p), n)
	}
	if int64(d.width)*int64(d.height) > MaxPixels {
		return fmt.Errorf("%w: %dx%d, limit %d pixels", ErrTooLarge, d.width, d.height, MaxPixels)
	}
	d.progressive = marker == mSOF2
	d.comps = make([]component, n)
	d.hmax, d.vmax = 1, 1
	for i := range d.comps {
		c := &d.comps[i]
		q := p[6+3*i:]
		c.id, c.h, c.v, c.tq = q[0], int(q[1]>>4), int(q[1]&15), int(q[2])
		if c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 {
			return invalid("component %d sampling factors %dx%d", i, c.h, c.v)
		}
		if c.tq > 3 {
			return invalid("component %d quantization table %d", i, c.tq)
		}
		for j := 0; j < i; j++ {
			if d.comps[j].id == c.id {
				return invalid("two components with id %d", c.id)
			}
		}
		d.hmax, d.vmax = max(d.hmax, c.h), max(d.vmax, c.v)
	}
	d.mcusX = ceilDiv(d.width, 8*d.hmax)
	d.mcusY = ceilDiv(d.height, 8*d.vmax)
	for i := range d.comps {
		c := &d.comps[i]
		c.bw, c.bh = d.mcusX*c.h, d.mcusY*c.v
		c.dw = ceilDiv(d.width*c.h, d.hmax)
		c.dh = ceilDiv(d.height*c.v, d.vmax)
	}
	d.sofSeen = true
	return nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func (d *decoder) readDQT() error {
	p, err := d.segment("quantization tables")
	if err != nil {
		return err
	}
	for len(p) > 0 {
		pq, tq := p[0]>>4, int(p[0]&15)
		p = p[1:]
		if tq > 3 {
			return invalid("quantization table %d", tq)
		}
		switch pq {
		case 0:
			if len(p) < 64 {
				return invalid("short quantization table")
			}
			for k := 0; k < 64; k++ {
				d.quant[tq][zigzag[k]] = int32(p[k])
			}
			p = p[64:]
		case 1:
			if len(p) < 128 {
				return invalid("short quantization table")
			}
			for k := 0; k < 64; k++ {
				d.quant[tq][zigzag[k]] = int32(p[2*k])<<8 | int32(p[2*k+1])
			}
			p = p[128:]
		default:
			return invalid("quantization table precision %d", pq)
		}
		d.quantSet[tq] = true
	}
	return nil
}

func (d *decoder) readDHT() error {
	p, err := d.segment("Huffman tables")
	if err != nil {
		return err
	}
	for len(p) > 0 {
		if len(p) < 17 {
			return invalid("short Huffman table")
		}
		tc, th := p[0]>>4, int(p[0]&15)
		if tc > 1 || th > 3 {
			return invalid("Huffman table class %d id %d", tc, th)
		}
		var counts [16]int
		total := 0
		for i := range counts {
			counts[i] = int(p[1+i])
			total += counts[i]
		}
		p = p[17:]
		if total > 256 || total > len(p) {
			return invalid("Huffman table with %d symbols", total)
		}
		t := &d.dcTables[th]
		if tc == 1 {
			t = &d.acTables[th]
		}
		if err := t.build(counts, p[:total]); err != nil {
			return err
		}
		p = p[total:]
		if tc == 0 {
			d.dcSet[th] = true
		} else {
			d.acSet[th] = true
		}
	}
	return nil
}

func (d *decoder) readDRI() error {
	p, err := d.segment("restart interval")
	if err != nil {
		return err
	}
	if len(p) != 2 {
		return invalid("restart interval segment of %d bytes", len(p))
	}
	d.restart = int(p[0])<<8 | int(p[1])
	return nil
}

// zigzag maps the k-th coefficient in coded order to its natural (row-major) position.
// The 16 extra entries catch run lengths that overshoot the block in corrupt data, as
// libjpeg's table does, so they land on the last coefficient instead of out of bounds.
var zigzag = [64 + 16]int{
	0, 1, 8, 16, 9, 2, 3, 10,
	17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34,
	27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36,
	29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46,
	53, 60, 61, 54, 47, 55, 62, 63,
	63, 63, 63, 63, 63, 63, 63, 63,
	63, 63, 63, 63, 63, 63, 63, 63,
}
