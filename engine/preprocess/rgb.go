package preprocess

import (
	"image"
	"image/color"
)

// RGB is an 8-bit RGB image packed 3 bytes per pixel, rows without padding: the form every
// step after decoding works on (PIL's "RGB" mode). It implements image.Image.
type RGB struct {
	Pix  []byte
	W, H int
}

func (m *RGB) ColorModel() color.Model { return color.RGBAModel }
func (m *RGB) Bounds() image.Rectangle { return image.Rect(0, 0, m.W, m.H) }
func (m *RGB) At(x, y int) color.Color {
	if x < 0 || y < 0 || x >= m.W || y >= m.H {
		return color.RGBA{}
	}
	i := (y*m.W + x) * 3
	return color.RGBA{m.Pix[i], m.Pix[i+1], m.Pix[i+2], 255}
}

func newRGB(w, h int) *RGB { return &RGB{Pix: make([]byte, w*h*3), W: w, H: h} }

// ToRGB converts any image to packed RGB the way PIL's convert("RGB") treats the image PIL
// would have decoded from the same file:
//   - alpha is dropped, not composited (straight colour values are kept);
//   - gray is replicated; 16-bit samples keep their high byte (PIL's reading of 16-bit RGB;
//     for 16-bit gray PIL clips to 255 instead, which whitens the photo, so we deliberately
//     differ there);
//   - CMYK uses PIL's integer formula;
//   - YCbCr (JPEG) is upsampled and converted the way libjpeg does by default.
//
// WebP's YCbCr needs libwebp's variant; Decode picks it, ToRGB cannot tell the source.
func ToRGB(img image.Image) *RGB {
	switch m := img.(type) {
	case *RGB:
		return m
	case *image.YCbCr:
		return jpegYCbCrToRGB(m)
	case *image.Gray:
		return grayToRGB(m)
	case *image.NRGBA:
		return nrgbaToRGB(m)
	case *image.RGBA:
		return rgbaToRGB(m)
	case *image.Paletted:
		return palettedToRGB(m)
	case *image.CMYK:
		return cmykToRGB(m)
	}
	return genericToRGB(img)
}

func grayToRGB(m *image.Gray) *RGB {
	b := m.Rect
	out := newRGB(b.Dx(), b.Dy())
	for y := 0; y < b.Dy(); y++ {
		row := m.Pix[y*m.Stride : y*m.Stride+b.Dx()]
		o := out.Pix[y*b.Dx()*3:]
		for x, v := range row {
			o[3*x], o[3*x+1], o[3*x+2] = v, v, v
		}
	}
	return out
}

func nrgbaToRGB(m *image.NRGBA) *RGB {
	b := m.Rect
	out := newRGB(b.Dx(), b.Dy())
	for y := 0; y < b.Dy(); y++ {
		row := m.Pix[y*m.Stride : y*m.Stride+b.Dx()*4]
		o := out.Pix[y*b.Dx()*3:]
		for x := 0; x < b.Dx(); x++ {
			o[3*x], o[3*x+1], o[3*x+2] = row[4*x], row[4*x+1], row[4*x+2]
		}
	}
	return out
}

// rgbaToRGB handles premultiplied RGBA, which Go's PNG decoder returns for opaque truecolor
// files: opaque pixels are copied, translucent ones un-premultiplied as genericToRGB does.
func rgbaToRGB(m *image.RGBA) *RGB {
	b := m.Rect
	out := newRGB(b.Dx(), b.Dy())
	for y := 0; y < b.Dy(); y++ {
		row := m.Pix[y*m.Stride : y*m.Stride+b.Dx()*4]
		o := out.Pix[y*b.Dx()*3:]
		for x := 0; x < b.Dx(); x++ {
			p := row[4*x : 4*x+4]
			if p[3] == 255 {
				o[3*x], o[3*x+1], o[3*x+2] = p[0], p[1], p[2]
				continue
			}
			c := color.NRGBA64Model.Convert(color.RGBA{p[0], p[1], p[2], p[3]}).(color.NRGBA64)
			o[3*x], o[3*x+1], o[3*x+2] = byte(c.R>>8), byte(c.G>>8), byte(c.B>>8)
		}
	}
	return out
}

func palettedToRGB(m *image.Paletted) *RGB {
	var lut [256][3]byte
	for i, c := range m.Palette {
		if i >= 256 {
			break
		}
		// A straight-alpha entry keeps its colour even when fully transparent (PIL shows
		// it); converting through a colour model would turn it black.
		switch n := c.(type) {
		case color.NRGBA:
			lut[i] = [3]byte{n.R, n.G, n.B}
		default:
			n64 := color.NRGBA64Model.Convert(c).(color.NRGBA64)
			lut[i] = [3]byte{byte(n64.R >> 8), byte(n64.G >> 8), byte(n64.B >> 8)}
		}
	}
	b := m.Rect
	out := newRGB(b.Dx(), b.Dy())
	for y := 0; y < b.Dy(); y++ {
		row := m.Pix[y*m.Stride : y*m.Stride+b.Dx()]
		o := out.Pix[y*b.Dx()*3:]
		for x, idx := range row {
			c := lut[idx] // an index past the palette reads black, like PIL's zero-filled palette
			o[3*x], o[3*x+1], o[3*x+2] = c[0], c[1], c[2]
		}
	}
	return out
}

// cmykToRGB applies PIL's conversion: each channel is (255-K) minus ink*(255-K)/255, with
// the division done as PIL's rounded "multiply then divide by 255" trick.
func cmykToRGB(m *image.CMYK) *RGB {
	b := m.Rect
	out := newRGB(b.Dx(), b.Dy())
	for y := 0; y < b.Dy(); y++ {
		row := m.Pix[y*m.Stride : y*m.Stride+b.Dx()*4]
		o := out.Pix[y*b.Dx()*3:]
		for x := 0; x < b.Dx(); x++ {
			nk := 255 - int(row[4*x+3])
			for c := 0; c < 3; c++ {
				o[3*x+c] = clamp8(nk - mulDiv255(int(row[4*x+c]), nk))
			}
		}
	}
	return out
}

// mulDiv255 is a*b/255 rounded, computed without a division.
func mulDiv255(a, b int) int {
	t := a*b + 128
	return ((t >> 8) + t) >> 8
}

func clamp8(v int) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// genericToRGB covers every other image type through Go's colour models: straight
// (non-premultiplied) 16-bit colour, high byte kept.
func genericToRGB(img image.Image) *RGB {
	b := img.Bounds()
	out := newRGB(b.Dx(), b.Dy())
	i := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBA64Model.Convert(img.At(x, y)).(color.NRGBA64)
			out.Pix[i], out.Pix[i+1], out.Pix[i+2] = byte(c.R>>8), byte(c.G>>8), byte(c.B>>8)
			i += 3
		}
	}
	return out
}
