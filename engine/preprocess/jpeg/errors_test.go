package jpeg

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	stdjpeg "image/jpeg"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// goJPEG encodes a small picture with Go's encoder (baseline 4:2:0, or gray).
func goJPEG(t testing.TB, w, h int, gray bool) []byte {
	t.Helper()
	var m image.Image
	if gray {
		g := image.NewGray(image.Rect(0, 0, w, h))
		for i := range g.Pix {
			g.Pix[i] = uint8(i * 7)
		}
		m = g
	} else {
		c := image.NewNRGBA(image.Rect(0, 0, w, h))
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c.SetNRGBA(x, y, color.NRGBA{uint8(x * 9), uint8(y * 5), uint8(x*y + 40), 255})
			}
		}
		m = c
	}
	var b bytes.Buffer
	if err := stdjpeg.Encode(&b, m, &stdjpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// markerAt returns the offset of the first marker m in a JPEG's header segments.
func markerAt(t testing.TB, data []byte, m byte) int {
	t.Helper()
	for i := 2; i+4 <= len(data); {
		if data[i] != 0xFF {
			t.Fatalf("no marker at %d", i)
		}
		if data[i+1] == m {
			return i
		}
		if data[i+1] == mSOS {
			break
		}
		i += 2 + int(data[i+2])<<8 + int(data[i+3])
	}
	t.Fatalf("marker %02X not found", m)
	return -1
}

func patched(data []byte, at int, b ...byte) []byte {
	out := bytes.Clone(data)
	copy(out[at:], b)
	return out
}

func TestUnsupportedVariants(t *testing.T) {
	base := goJPEG(t, 40, 24, false)
	sof := markerAt(t, base, mSOF0)
	cases := map[string][]byte{
		"arithmetic":             patched(base, sof+1, 0xC9),
		"progressive arithmetic": patched(base, sof+1, 0xCA),
		"lossless":               patched(base, sof+1, mSOF3),
		"hierarchical":           patched(base, sof+1, 0xC5),
		"12-bit":                 patched(base, sof+4, 12),
		"DNL height":             patched(base, sof+5, 0, 0),
		// Luma 3x1 with chroma 2x1: chroma would need upsampling by 3/2.
		"fractional sampling": patched(patched(base, sof+11, 0x31), sof+14, 0x21),
		"2 components":        patched(base, sof+9, 2),
	}
	for name, data := range cases {
		_, err := Decode(bytes.NewReader(data))
		if !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: Decode error %v, want ErrUnsupported", name, err)
		}
	}
	// The frame header alone is enough to tell for DecodeConfig, except for sampling
	// ratios, which only matter once decoding starts (as in libjpeg).
	if _, err := DecodeConfig(bytes.NewReader(cases["12-bit"])); !errors.Is(err, ErrUnsupported) {
		t.Errorf("DecodeConfig of 12-bit: %v", err)
	}
	if cfg, err := DecodeConfig(bytes.NewReader(cases["fractional sampling"])); err != nil || cfg.Width != 40 {
		t.Errorf("DecodeConfig of fractional sampling: %v %v", cfg, err)
	}
}

// TestArithmeticFromCjpeg checks the refusal on a file from a real arithmetic encoder.
func TestArithmeticFromCjpeg(t *testing.T) {
	cjpeg, err := exec.LookPath("cjpeg")
	if err != nil {
		t.Skip("needs cjpeg (Debian libjpeg-turbo-progs, scripts/install-test-deps.sh)")
	}
	dir := t.TempDir()
	ppm := filepath.Join(dir, "in.ppm")
	src := []byte("P6\n16 8\n255\n")
	for i := 0; i < 16*8*3; i++ {
		src = append(src, byte(i*5))
	}
	if err := os.WriteFile(ppm, src, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, flags := range [][]string{{"-arithmetic"}, {"-arithmetic", "-progressive"}} {
		out := filepath.Join(dir, "out.jpg")
		if msg, err := exec.Command(cjpeg, append(flags, "-outfile", out, ppm)...).CombinedOutput(); err != nil {
			t.Fatalf("cjpeg %v: %v %s", flags, err, msg)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Decode(bytes.NewReader(data))
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "arithmetic") {
			t.Errorf("cjpeg %v: %v, want ErrUnsupported naming arithmetic coding", flags, err)
		}
	}
}

func TestTooLarge(t *testing.T) {
	base := goJPEG(t, 16, 16, false)
	sof := markerAt(t, base, mSOF0)
	huge := patched(base, sof+5, 0xFF, 0xFF, 0xFF, 0xFF) // 65535 x 65535
	for name, f := range map[string]func(io.Reader) error{
		"Decode":       func(r io.Reader) error { _, err := Decode(r); return err },
		"DecodeConfig": func(r io.Reader) error { _, err := DecodeConfig(r); return err },
	} {
		if err := f(bytes.NewReader(huge)); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: %v, want ErrTooLarge", name, err)
		}
	}
	var zeroWidth = patched(base, sof+7, 0, 0)
	if _, err := Decode(bytes.NewReader(zeroWidth)); !errors.Is(err, ErrFormat) {
		t.Errorf("zero width: %v, want ErrFormat", err)
	}
}

func TestNotJPEG(t *testing.T) {
	for name, data := range map[string][]byte{
		"empty":              nil,
		"one byte":           {0xFF},
		"png":                []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"),
		"soi only":           {0xFF, 0xD8},
		"eoi before frame":   {0xFF, 0xD8, 0xFF, 0xD9},
		"scan before frame":  {0xFF, 0xD8, 0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0},
		"unknown marker":     {0xFF, 0xD8, 0xFF, 0x02, 0, 2},
		"bad segment length": {0xFF, 0xD8, 0xFF, 0xE1, 0, 1},
	} {
		_, err := Decode(bytes.NewReader(data))
		if err == nil {
			t.Errorf("%s: decoded", name)
			continue
		}
		if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrTruncated) {
			t.Errorf("%s: %v, want ErrFormat or ErrTruncated", name, err)
		}
	}
}

// TestTruncated cuts a baseline and a progressive file at every length short of the EOI
// marker. A baseline file so cut is always ErrTruncated; a progressive one decodes only when
// cut between segments (before or inside a marker) after its first scans (what it
// has), else ErrTruncated. A file
// missing just its EOI marker decodes to the same pixels as the whole file.
func TestTruncated(t *testing.T) {
	for _, name := range []string{"base_37x21_444.jpg", "prog_37x21.jpg"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		whole, err := Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		progressive := strings.HasPrefix(name, "prog")
		partial := 0
		for n := 0; n < len(data)-2; n++ {
			_, err := Decode(bytes.NewReader(data[:n]))
			switch {
			case err == nil && (!progressive || (data[n] != 0xFF && data[n-1] != 0xFF)):
				t.Errorf("%s cut to %d bytes: decoded", name, n)
			case err == nil:
				partial++
			case !errors.Is(err, ErrTruncated):
				t.Errorf("%s cut to %d bytes: %v, want ErrTruncated", name, n, err)
			}
		}
		if progressive && partial == 0 {
			t.Errorf("%s: no cut between scans decoded", name)
		}
		img, err := Decode(bytes.NewReader(data[:len(data)-2]))
		if err != nil {
			t.Fatalf("%s without EOI: %v", name, err)
		}
		if !bytes.Equal(img.(*image.NRGBA).Pix, whole.(*image.NRGBA).Pix) {
			t.Errorf("%s without EOI decodes to other pixels", name)
		}
	}
}

// failingReader returns its data, then an error of its own.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

type stuckReader struct{}

func (stuckReader) Read(p []byte) (int, error) { return 0, nil }

func TestReaderErrors(t *testing.T) {
	data := goJPEG(t, 64, 64, false)
	boom := errors.New("disk on fire")
	for _, n := range []int{0, 10, 200, len(data) / 2} {
		_, err := Decode(&failingReader{data[:n], boom})
		if !errors.Is(err, boom) {
			t.Errorf("reader failing after %d bytes: %v, want the reader's error", n, err)
		}
	}
	if _, err := Decode(stuckReader{}); !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("reader making no progress: %v", err)
	}
}

// TestSequentialRescan: a sequential image codes each component once; a second scan of one
// is refused rather than decoded again over the whole image.
func TestSequentialRescan(t *testing.T) {
	data := goJPEG(t, 16, 16, true)
	sos := bytes.Index(data, []byte{0xFF, mSOS})
	eoi := len(data) - 2
	twice := append(bytes.Clone(data[:eoi]), data[sos:eoi]...)
	twice = append(twice, 0xFF, mEOI)
	if _, err := Decode(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(bytes.NewReader(twice)); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("scan repeated: %v, want ErrFormat", err)
	}
}
