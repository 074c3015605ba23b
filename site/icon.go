package site

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
)

// Icon draws the app icon at size x size pixels: a 4x4 grid of Gabor-like stripes and colour
// blobs on the app's purple, the kind of kernels AlexNet's first layer learns. Drawn rather
// than stored so every size is sharp and the repository holds no binary art.
func Icon(size int) ([]byte, error) {
	if size < 16 || size > 1024 {
		return nil, fmt.Errorf("icon size %d outside 16..1024", size)
	}
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	bg := color.NRGBA{0x5b, 0x3f, 0xd6, 0xff}
	// Maskable icons keep their content in the middle 80%: the grid sits inside it.
	margin := float64(size) * 0.16
	cell := (float64(size) - 2*margin) / 4
	gap := cell * 0.08
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			img.SetNRGBA(x, y, bg)
			gx := (float64(x) - margin) / cell
			gy := (float64(y) - margin) / cell
			if gx < 0 || gy < 0 || gx >= 4 || gy >= 4 {
				continue
			}
			i, j := int(gx), int(gy)
			u := (gx-float64(i))*cell - cell/2
			v := (gy-float64(j))*cell - cell/2
			if math.Abs(u) > cell/2-gap || math.Abs(v) > cell/2-gap {
				continue
			}
			img.SetNRGBA(x, y, kernelPixel(i+4*j, u/cell, v/cell))
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// kernelPixel is kernel k's colour at (u, v) in -0.5..0.5: oriented stripes for most
// kernels, colour blobs for a few, as in the paper's figure 3.
func kernelPixel(k int, u, v float64) color.NRGBA {
	theta := float64(k) * math.Pi / 5
	freq := 2.0 + float64(k%3)
	r := u*math.Cos(theta) + v*math.Sin(theta)
	env := math.Exp(-(u*u + v*v) * 6)
	s := math.Cos(2*math.Pi*freq*r) * env
	if k%5 == 4 { // colour blob
		c := [3]float64{0.5 + 0.5*math.Cos(float64(k)), 0.5 + 0.5*math.Sin(float64(k)), 0.5}
		return color.NRGBA{uint8(128 + 120*env*(c[0]-0.5)*2), uint8(128 + 120*env*(c[1]-0.5)*2), uint8(128 + 120*env*(c[2]-0.5)*2), 0xff}
	}
	g := uint8(128 + 127*s)
	return color.NRGBA{g, g, g, 0xff}
}
