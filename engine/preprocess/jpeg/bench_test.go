package jpeg

import (
	"bytes"
	"image"
	"image/draw"
	stdjpeg "image/jpeg"
	"os"
	"testing"
)

const rocketPath = "/usr/lib/python3/dist-packages/skimage/data/rocket.jpg"

// BenchmarkRocket compares this decoder (to RGBA, colour converted) with image/jpeg on
// skimage's rocket.jpg (427x640, 4:4:4 baseline), both alone (image/jpeg stops at YCbCr)
// and followed by Go's conversion to RGBA.
func BenchmarkRocket(b *testing.B) {
	data, err := os.ReadFile(rocketPath)
	if err != nil {
		b.Skip("needs skimage's rocket.jpg (Debian python3-skimage)")
	}
	b.Run("alexlens", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := Decode(bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("image-jpeg", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := stdjpeg.Decode(bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("image-jpeg+rgba", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			m, err := stdjpeg.Decode(bytes.NewReader(data))
			if err != nil {
				b.Fatal(err)
			}
			rgba := image.NewRGBA(m.Bounds())
			draw.Draw(rgba, rgba.Rect, m, image.Point{}, draw.Src)
		}
	})
}

// BenchmarkProgressive decodes a progressive 4:2:0 JPEG made from rocket.jpg by Go's
// encoder... Go's encoder writes baseline only, so the file here is the 37x21 fixture,
// which measures per-file overhead rather than throughput.
func BenchmarkSmallProgressive(b *testing.B) {
	data, err := os.ReadFile("testdata/prog_37x21.jpg")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Decode(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
