package jpeg

import (
	"bytes"
	"image"
	"os"
	"path/filepath"
	"testing"
)

// fuzzMaxPixels keeps each input cheap: Decode allocates for the declared size.
const fuzzMaxPixels = 1 << 16

// FuzzDecode feeds arbitrary bytes to DecodeConfig and Decode. Any panic is a bug, and so
// is a decoded image whose size or colour model differs from what DecodeConfig said.
func FuzzDecode(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.jpg")
	for _, name := range seeds {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add(goJPEG(f, 19, 11, false))
	f.Add(goJPEG(f, 9, 17, true))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := DecodeConfig(bytes.NewReader(data))
		if err != nil {
			if _, err2 := Decode(bytes.NewReader(data)); err2 == nil {
				t.Fatalf("DecodeConfig failed (%v) but Decode succeeded", err)
			}
			return
		}
		if cfg.Width <= 0 || cfg.Height <= 0 {
			t.Fatalf("config %dx%d", cfg.Width, cfg.Height)
		}
		if cfg.Width*cfg.Height > fuzzMaxPixels {
			return
		}
		img, err := Decode(bytes.NewReader(data))
		if err != nil {
			if img != nil {
				t.Fatal("an image with an error")
			}
			return
		}
		if img.Bounds() != image.Rect(0, 0, cfg.Width, cfg.Height) {
			t.Fatalf("decoded %v, config said %dx%d", img.Bounds(), cfg.Width, cfg.Height)
		}
		if img.ColorModel() != cfg.ColorModel {
			t.Fatalf("decoded colour model differs from the config's")
		}
	})
}
