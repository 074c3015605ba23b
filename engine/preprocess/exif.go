package preprocess

import "encoding/binary"

// Cameras store a photo as the sensor saw it and record in EXIF how to turn it upright.
// Browsers and PIL's ImageOps.exif_transpose apply that; a classifier fed a sideways cat
// does worse, so Decode applies it too. Only the one tag is read, with every offset checked
// against the segment, so a hostile file can neither crash nor slow this reader.

const (
	maxJPEGSegments = 64     // APP segments come first; give up rather than walk a whole file
	orientationTag  = 0x0112 // EXIF/TIFF tag holding the orientation, a SHORT 1..8
	maxIFDEntries   = 1024
	maxChunks       = 4096 // PNG / RIFF chunks walked looking for EXIF
)

// jpegOrientation returns the EXIF orientation (1..8) of a JPEG, or 1 when there is none or
// it cannot be read: a broken EXIF block should not make an otherwise good photo fail.
func jpegOrientation(data []byte) int {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return 1
	}
	p := 2
	for seg := 0; seg < maxJPEGSegments && p+4 <= len(data); seg++ {
		if data[p] != 0xFF {
			return 1
		}
		marker := data[p+1]
		if marker == 0xFF { // fill byte before a marker
			p++
			continue
		}
		if marker == 0xDA || marker == 0xD9 { // image data or end: no more metadata
			return 1
		}
		n := int(binary.BigEndian.Uint16(data[p+2:]))
		if n < 2 || p+2+n > len(data) {
			return 1
		}
		body := data[p+4 : p+2+n]
		if marker == 0xE1 && len(body) >= 6 && string(body[:6]) == "Exif\x00\x00" {
			if o := tiffOrientation(body[6:]); o != 0 {
				return o
			}
		}
		p += 2 + n
	}
	return 1
}

// fileOrientation returns the EXIF orientation (1..8, 1 when absent or unreadable) of a file
// in any format that can carry one: JPEG APP1, PNG eXIf chunk, WebP EXIF chunk, or a TIFF's
// own first IFD, which is where PIL's exif_transpose finds it too.
func fileOrientation(format string, data []byte) int {
	o := 0
	switch format {
	case "jpeg":
		return jpegOrientation(data)
	case "tiff":
		o = tiffOrientation(data)
	case "png":
		o = tiffOrientation(pngChunk(data, "eXIf"))
	case "webp":
		o = tiffOrientation(trimExifHeader(riffChunk(data, "EXIF")))
	}
	if o == 0 {
		return 1
	}
	return o
}

// pngChunk returns the data of the first chunk of the given type, or nil.
func pngChunk(data []byte, typ string) []byte {
	p := 8
	for n := 0; n < maxChunks && p+12 <= len(data); n++ {
		size := int64(binary.BigEndian.Uint32(data[p:]))
		if size > int64(len(data)-p-12) {
			return nil
		}
		if string(data[p+4:p+8]) == typ {
			return data[p+8 : p+8+int(size)]
		}
		p += 12 + int(size)
	}
	return nil
}

// riffChunk returns the data of the first top-level chunk of a RIFF (WebP) file with the
// given FourCC, or nil.
func riffChunk(data []byte, typ string) []byte {
	p := 12
	for n := 0; n < maxChunks && p+8 <= len(data); n++ {
		size := int64(binary.LittleEndian.Uint32(data[p+4:]))
		if size > int64(len(data)-p-8) {
			return nil
		}
		if string(data[p:p+4]) == typ {
			return data[p+8 : p+8+int(size)]
		}
		p += 8 + int(size) + int(size&1) // chunks are padded to even sizes
	}
	return nil
}

// trimExifHeader drops the "Exif\0\0" prefix some writers put before the TIFF block.
func trimExifHeader(b []byte) []byte {
	if len(b) >= 6 && string(b[:6]) == "Exif\x00\x00" {
		return b[6:]
	}
	return b
}

// tiffOrientation reads the orientation tag from IFD0 of a TIFF-structured EXIF block;
// 0 means not found or malformed.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 0
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0
	}
	if bo.Uint16(t[2:]) != 42 {
		return 0
	}
	ifd := int64(bo.Uint32(t[4:]))
	if ifd < 8 || ifd+2 > int64(len(t)) {
		return 0
	}
	n := int(bo.Uint16(t[ifd:]))
	if n > maxIFDEntries {
		return 0
	}
	for i := 0; i < n; i++ {
		e := ifd + 2 + int64(i)*12
		if e+12 > int64(len(t)) {
			return 0
		}
		if bo.Uint16(t[e:]) != orientationTag {
			continue
		}
		typ, count := bo.Uint16(t[e+2:]), bo.Uint32(t[e+4:])
		if typ != 3 || count < 1 { // SHORT
			return 0
		}
		o := int(bo.Uint16(t[e+8:])) // a single SHORT sits in the value field itself
		if o < 1 || o > 8 {
			return 0
		}
		return o
	}
	return 0
}

// orient returns img turned upright according to an EXIF orientation, matching PIL's
// exif_transpose: 2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90 clockwise,
// 7 transverse, 8 rotate 90 counter-clockwise.
func orient(img *RGB, o int) *RGB {
	if o < 2 || o > 8 {
		return img
	}
	w, h := img.W, img.H
	ow, oh := w, h
	if o >= 5 {
		ow, oh = h, w
	}
	out := newRGB(ow, oh)
	// src maps an output pixel to the source pixel it shows.
	var src func(x, y int) (int, int)
	switch o {
	case 2:
		src = func(x, y int) (int, int) { return w - 1 - x, y }
	case 3:
		src = func(x, y int) (int, int) { return w - 1 - x, h - 1 - y }
	case 4:
		src = func(x, y int) (int, int) { return x, h - 1 - y }
	case 5:
		src = func(x, y int) (int, int) { return y, x }
	case 6:
		src = func(x, y int) (int, int) { return y, h - 1 - x }
	case 7:
		src = func(x, y int) (int, int) { return w - 1 - y, h - 1 - x }
	case 8:
		src = func(x, y int) (int, int) { return w - 1 - y, x }
	}
	i := 0
	for y := 0; y < oh; y++ {
		for x := 0; x < ow; x++ {
			sx, sy := src(x, y)
			j := (sy*w + sx) * 3
			copy(out.Pix[i:i+3], img.Pix[j:j+3])
			i += 3
		}
	}
	return out
}
