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

// FuzzOrientation exercises the EXIF orientation readers (JPEG APP1, PNG eXIf, WebP EXIF,
// TIFF IFD0) directly, since Decode reaches them only for files that decode.
func FuzzOrientation(f *testing.F) {
	f.Add(exifJPEG(f, binary.LittleEndian, 6))
	f.Add(exifJPEG(f, binary.BigEndian, 3))
	f.Add([]byte("II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00\x00\x00"))
	f.Add([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x08eXIfMM\x00*\x00\x00\x00\x08"))
	f.Add([]byte("RIFF\x1a\x00\x00\x00WEBPEXIF\x0e\x00\x00\x00Exif\x00\x00II*\x00\x08\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, format := range []string{"jpeg", "png", "webp", "tiff"} {
			if o := fileOrientation(format, data); o < 1 || o > 8 {
				t.Fatalf("%s: orientation %d", format, o)
			}
		}
	})
}
