package explain

import (
	"image"
	"slices"

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

// Scale is what a map's values are divided by to show them on 0..1: a coarse map's
// (Grad-CAM's, occlusion's) largest value; a pixel-level map's 99th percentile, since a
// handful of extreme pixels would otherwise leave the rest of the gradient invisible (the
// usual convention for saliency maps). 0 when nothing is positive. Negative values (evidence
// against the class, for integrated gradients and occlusion) show as 0.
func Scale(values []float32) float32 {
	top := slices.Max(append([]float32{0}, values...))
	if len(values) > 4096 {
		sorted := slices.Clone(values)
		slices.Sort(sorted)
		top = sorted[len(sorted)*99/100]
	}
	return max(top, 0)
}

// Heat is the map upsampled to w x h and coloured with the app's ramp (dark where the map
// is 0, bright where it peaks), every pixel at the given opacity (0..1): the dark end dims
// what the network ignored, so what it used stands out.
func (m *Map) Heat(w, h int, opacity float64) *image.NRGBA {
	top := Scale(m.Values) // of the map itself: upsampling adds no new extremes
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	a := uint8(255*opacity + 0.5)
	for i, v := range m.Upsample(h, w) {
		u := float32(0)
		if top > 0 {
			u = min(max(v, 0)/top, 1)
		}
		c := colormap.Ramp[int(u*255+0.5)]
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = c[0], c[1], c[2], a
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
