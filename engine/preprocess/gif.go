package preprocess

import "image"

// GIF needs two corrections to look like PIL's first frame:
//   - the first frame may cover only part of the logical screen; PIL returns the whole
//     screen, the rest filled with the frame's transparent index (or index 0 without one);
//   - Go's decoder blanks the palette entry of the transparent index to (0,0,0,0), while
//     PIL's convert("RGB") shows that entry's stored colour. So the palette is read from
//     the file here.

// gifFirstPalette returns the colour table the first frame uses (its local table, else the
// global one) as RGB triples, or nil if the file's structure cannot be walked. Every read is
// bounds-checked; the walk stops at the first image descriptor.
func gifFirstPalette(data []byte) []byte {
	if len(data) < 13 {
		return nil
	}
	var palette []byte
	p := 13
	if flags := data[10]; flags&0x80 != 0 {
		n := 3 << (1 + flags&7)
		if p+n > len(data) {
			return nil
		}
		palette, p = data[p:p+n], p+n
	}
	for p < len(data) {
		switch data[p] {
		case 0x21: // extension: label, then sub-blocks until a zero length
			p += 2
			for p < len(data) && data[p] != 0 {
				p += 1 + int(data[p])
			}
			p++
		case 0x2C: // image descriptor: position, size, flags, then maybe a local table
			if p+10 > len(data) {
				return nil
			}
			if flags := data[p+9]; flags&0x80 != 0 {
				n := 3 << (1 + flags&7)
				if p+10+n > len(data) {
					return nil
				}
				return data[p+10 : p+10+n]
			}
			return palette
		default:
			return nil
		}
	}
	return nil
}

// gifToRGB renders the first frame m (as Go decoded it) onto the w x h logical screen the
// way PIL does, using the palette stored in the file.
func gifToRGB(m *image.Paletted, data []byte, w, h int) *RGB {
	pal := gifFirstPalette(data)
	if pal == nil {
		return palettedToRGB(m)
	}
	// The transparent index is the palette entry Go blanked; fully transparent black may
	// also be a real stored colour, in which case the stored colour is what we show anyway.
	fill := uint8(0)
	for i, c := range m.Palette {
		if _, _, _, a := c.RGBA(); a == 0 && i < 256 {
			fill = uint8(i)
			break
		}
	}
	screen := image.Rect(0, 0, w, h)
	frame := m.Rect.Intersect(screen)
	out := newRGB(w, h)
	colour := func(idx uint8) (byte, byte, byte) {
		if int(idx)*3+2 < len(pal) {
			return pal[3*int(idx)], pal[3*int(idx)+1], pal[3*int(idx)+2]
		}
		return 0, 0, 0 // past the table: PIL's palette is zero-filled
	}
	fr, fg, fb := colour(fill)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r, g, b := fr, fg, fb
			if (image.Point{x, y}).In(frame) {
				r, g, b = colour(m.ColorIndexAt(x, y))
			}
			o := out.Pix[(y*w+x)*3:]
			o[0], o[1], o[2] = r, g, b
		}
	}
	return out
}
