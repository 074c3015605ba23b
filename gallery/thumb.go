package gallery

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"

	"github.com/alexlens/alexlens/engine/preprocess"
)

// ThumbQuality is the JPEG quality of thumbnails: at 64 px about 2-3 KB each.
const ThumbQuality = 80

// Thumbnail makes a side x side JPEG of the image's centre square, each output pixel the
// average of the source pixels it covers (a box filter, so small thumbnails of large photos
// do not alias).
func Thumbnail(img image.Image, side int) ([]byte, error) {
	if side < 1 || side > MaxThumbSide {
		return nil, fmt.Errorf("gallery: thumbnail size %d out of range 1..%d", side, MaxThumbSide)
	}
	b := img.Bounds()
	s := min(b.Dx(), b.Dy())
	if s < 1 {
		return nil, fmt.Errorf("gallery: cannot make a thumbnail of an empty %dx%d image", b.Dx(), b.Dy())
	}
	x0, y0 := b.Min.X+(b.Dx()-s)/2, b.Min.Y+(b.Dy()-s)/2
	// Photos from preprocess.Decode are packed RGB: read their bytes rather than calling At
	// per pixel.
	rgb, _ := img.(*preprocess.RGB)
	out := image.NewRGBA(image.Rect(0, 0, side, side))
	for ty := 0; ty < side; ty++ {
		sy0, sy1 := y0+ty*s/side, y0+max((ty+1)*s/side, ty*s/side+1)
		for tx := 0; tx < side; tx++ {
			sx0, sx1 := x0+tx*s/side, x0+max((tx+1)*s/side, tx*s/side+1)
			var r, g, bl, n uint64
			for y := sy0; y < sy1; y++ {
				if rgb != nil {
					row := rgb.Pix[(y*rgb.W+sx0)*3 : (y*rgb.W+sx1)*3]
					for i := 0; i < len(row); i += 3 {
						r, g, bl, n = r+uint64(row[i])*0x101, g+uint64(row[i+1])*0x101, bl+uint64(row[i+2])*0x101, n+1
					}
					continue
				}
				for x := sx0; x < sx1; x++ {
					cr, cg, cb, _ := img.At(x, y).RGBA()
					r, g, bl, n = r+uint64(cr), g+uint64(cg), bl+uint64(cb), n+1
				}
			}
			out.SetRGBA(tx, ty, color.RGBA{uint8(r / n >> 8), uint8(g / n >> 8), uint8(bl / n >> 8), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, out, &jpeg.Options{Quality: ThumbQuality}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
