package preprocess

import (
	"encoding/binary"
	"os"
	"testing"
)

// fuzzLimits keep each fuzz input cheap: a few hundred thousand pixels at most.
var fuzzLimits = Limits{MaxPixels: 1 << 18, MaxBytes: 1 << 20}

// FuzzDecode feeds arbitrary bytes through Decode and, when they decode, through Tensor:
// any panic in this package, any result over the limits, or a non-finite value is a bug.
func FuzzDecode(f *testing.F) {
	src := gradient(9, 7)
	for _, format := range []string{"png", "jpeg", "gif", "bmp", "tiff"} {
		f.Add(encoded(f, format, src))
	}
	for _, name := range []string{"testdata/tiny.webp", "testdata/tiny-lossless.webp"} {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	ex := exifJPEG(f, binary.BigEndian, 6)
	f.Add(ex)
	f.Add([]byte{})
	f.Add([]byte("RIFF\x10\x00\x00\x00WEBPVP8 "))
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Decode(data, fuzzLimits)
		if err != nil {
			if img != nil {
				t.Fatalf("error %v with an image", err)
			}
			return
		}
		b := img.Bounds()
		if b.Dx() <= 0 || b.Dy() <= 0 || int64(b.Dx())*int64(b.Dy()) > fuzzLimits.MaxPixels {
			t.Fatalf("decoded %v despite limits", b)
		}
		x := Tensor(img, 16)
		for _, v := range x.Data {
			if v != v || v > 3 || v < -3 { // (0-0.485)/0.229 .. (1-0.406)/0.225 lies in [-2.2, 2.7]
				t.Fatalf("value %v out of range", v)
			}
		}
	})
}
