package preprocess

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/alexlens/alexlens/internal/testenv"
)

// Preprocessing one real photo: decode + PIL-exact resize of the crop window + normalize.
// Run with: go test -run '^$' -bench . ./engine/preprocess
func BenchmarkPhoto(b *testing.B) {
	for _, name := range []string{"chelsea.png", "rocket.jpg", "astronaut.png"} {
		data, err := os.ReadFile(filepath.Join(testenv.PhotosDir, name))
		if err != nil {
			b.Skipf("skimage photos not installed: %v", err)
		}
		b.Run(name+"/decode+tensor", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				img, err := Decode(data, Limits{})
				if err != nil {
					b.Fatal(err)
				}
				Tensor(img, 224)
			}
		})
		img, err := Decode(data, Limits{})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name+"/tensor", func(b *testing.B) {
			for b.Loop() {
				Tensor(img, 224)
			}
		})
		rgb := img.(*RGB)
		rw, rh := ResizedSize(rgb.W, rgb.H, ResizeTo)
		b.Run(name+"/full-resize", func(b *testing.B) {
			for b.Loop() {
				resizeRGB(rgb.Pix, rgb.W, rgb.H, rw, rh)
			}
		})
	}
}

// FromRGBA is the browser's path: canvas pixels of a 640x480 webcam frame.
func BenchmarkFromRGBA640x480(b *testing.B) {
	pix := gradient(640, 480).Pix
	for b.Loop() {
		if _, err := FromRGBA(pix, 640, 480, 224); err != nil {
			b.Fatal(err)
		}
	}
}
