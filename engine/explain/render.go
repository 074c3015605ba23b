package explain

import (
	"image"

	"github.com/alexlens/alexlens/engine/preprocess"
	"github.com/alexlens/alexlens/internal/colormap"
)

// Drawing a map over the photo: the CLI's -o and the app's overlay use the same pixels.

// Upsample resizes the map to h x w bilinearly, each value at the centre of its cell
// (PyTorch's interpolate with align_corners=False), edges clamped.
func (m *Map) Upsample(h, w int) []float32 {
	out := make([]float32, h*w)
	sy, sx := float64(m.Rows)/float64(h), float64(m.Cols)/float64(w)
	for y := range h {
		fy := max((float64(y)+0.5)*sy-0.5, 0)
		y0 := min(int(fy), m.Rows-1)
		y1 := min(y0+1, m.Rows-1)
		ty := float32(fy - float64(y0))
		for x := range w {
			fx := max((float64(x)+0.5)*sx-0.5, 0)
			x0 := min(int(fx), m.Cols-1)
			x1 := min(x0+1, m.Cols-1)
			tx := float32(fx - float64(x0))
			top := m.Values[y0*m.Cols+x0]*(1-tx) + m.Values[y0*m.Cols+x1]*tx
			bot := m.Values[y1*m.Cols+x0]*(1-tx) + m.Values[y1*m.Cols+x1]*tx
			out[y*w+x] = top*(1-ty) + bot*ty
		}
	}
	return out
}

// Unit scales values to 0..1 by the largest positive one; negative values (evidence
// against the class, for integrated gradients and occlusion) show as 0.
func Unit(values []float32) []float32 {
	var top float32
	for _, v := range values {
		top = max(top, v)
	}
	out := make([]float32, len(values))
	if top <= 0 {
		return out
	}
	for i, v := range values {
		out[i] = max(v, 0) / top
	}
	return out
}

// Heat is the map upsampled to w x h and coloured with the app's ramp; each pixel's alpha is
// opacity (0..1) times its strength, so weak attribution leaves the photo visible.
func (m *Map) Heat(w, h int, opacity float64) *image.NRGBA {
	u := Unit(m.Upsample(h, w))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i, v := range u {
		c := colormap.Ramp[int(v*255+0.5)]
		a := opacity * (0.25 + 0.75*float64(v)) // faint everywhere, so the ramp's dark end shows
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = c[0], c[1], c[2], uint8(255*a+0.5)
	}
	return img
}

// Overlay draws the map over the photo (the pixels the network saw) at the given opacity.
func (m *Map) Overlay(photo *preprocess.RGB, opacity float64) *image.RGBA {
	heat := m.Heat(photo.W, photo.H, opacity)
	out := image.NewRGBA(image.Rect(0, 0, photo.W, photo.H))
	for i := range photo.W * photo.H {
		a := float64(heat.Pix[4*i+3]) / 255
		for c := range 3 {
			v := float64(photo.Pix[3*i+c])*(1-a) + float64(heat.Pix[4*i+c])*a
			out.Pix[4*i+c] = uint8(v + 0.5)
		}
		out.Pix[4*i+3] = 255
	}
	return out
}
