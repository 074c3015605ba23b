package jpeg

import (
	"bytes"
	"image"
	"image/draw"
	stdjpeg "image/jpeg"
	"os"
	"path/filepath"
	"testing"

	"github.com/alexlens/alexlens/internal/testenv"
)

// BenchmarkRocket compares this decoder (to RGBA, colour converted) with image/jpeg on
// skimage's rocket.jpg (427x640, 4:4:4 baseline) and on the same photo re-encoded 4:2:0 by
// Go's encoder (where chroma upsampling matters): image/jpeg alone (it stops at YCbCr)
// and followed by Go's conversion to RGBA.
func BenchmarkRocket(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(testenv.PhotosDir, "rocket.jpg"))
	if err != nil {
		b.Skip("needs skimage's rocket.jpg (Debian python3-skimage)")
	}
	m, err := stdjpeg.Decode(bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	var re bytes.Buffer
	if err := stdjpeg.Encode(&re, m, &stdjpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	for _, file := range []struct {
		name string
		data []byte
	}{{"444", data}, {"420", re.Bytes()}} {
		data := file.data
		b.Run(file.name+"/alexlens", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Decode(bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(file.name+"/image-jpeg", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := stdjpeg.Decode(bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(file.name+"/image-jpeg+rgba", func(b *testing.B) {
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
}

// BenchmarkSmallProgressive decodes the 37x21 progressive fixture: per-file overhead
// rather than throughput.
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

// BenchmarkEmptyScans decodes a hostile 5 KB file: a 2000x2000 progressive frame followed
// by 498 scans with no coded data. Its cost should be the allocation and final transform
// of the image, not 498 passes over it.
func BenchmarkEmptyScans(b *testing.B) {
	data, err := os.ReadFile("testdata/prog_37x21.jpg")
	if err != nil {
		b.Fatal(err)
	}
	sof := markerAt(b, data, mSOF2)
	big := patched(data, sof+5, 2000>>8, 2000&255, 2000>>8, 2000&255)
	file := bytes.Clone(big[:bytes.Index(big, []byte{0xFF, mSOS})])
	file = append(file, 0xFF, mSOS, 0, 12, 3, 1, 0, 2, 0x11, 3, 0x11, 0, 0, 0) // DC, all components
	for range 498 {
		file = append(file, 0xFF, mSOS, 0, 8, 1, 1, 0, 1, 63, 0) // AC of component 1
	}
	file = append(file, 0xFF, mEOI)
	for b.Loop() {
		if _, err := Decode(bytes.NewReader(file)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRefineScans decodes another hostile file of a few KB: a 2000x2000 progressive
// frame whose 498 AC refinement scans each cover every block with two end-of-band runs
// (4 bytes of coded data). Blocks without nonzero coefficients must cost O(1) per scan.
func BenchmarkRefineScans(b *testing.B) {
	data, err := os.ReadFile("testdata/prog_37x21.jpg")
	if err != nil {
		b.Fatal(err)
	}
	sof := markerAt(b, data, mSOF2)
	big := patched(data, sof+5, 2000>>8, 2000&255, 2000>>8, 2000&255)
	file := bytes.Clone(big[:bytes.Index(big, []byte{0xFF, mSOS})])
	// AC table 3: one 1-bit code, symbol 0xE0 (an end-of-band run of 2^14 + 14 more bits).
	file = append(file, 0xFF, mDHT, 0, 20, 0x13, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xE0)
	file = append(file, 0xFF, mSOS, 0, 12, 3, 1, 0, 2, 0x11, 3, 0x11, 0, 0, 0) // DC, no data
	for range 498 {
		// AC 1..63 of component 1, refining bit 0; runs of 32767 blocks, twice.
		file = append(file, 0xFF, mSOS, 0, 8, 1, 1, 0x03, 1, 63, 0x10, 0x7F, 0xFE, 0xFF, 0x00, 0xFF, 0x00)
	}
	file = append(file, 0xFF, mEOI)
	for b.Loop() {
		if _, err := Decode(bytes.NewReader(file)); err != nil {
			b.Fatal(err)
		}
	}
}
