package preprocess

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

// gradient is a small test picture whose every pixel differs from its neighbours.
func gradient(w, h int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.SetNRGBA(x, y, color.NRGBA{uint8(x * 7), uint8(y * 13), uint8(x*y + 3), 255})
		}
	}
	return m
}

func encoded(t testing.TB, format string, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	var err error
	switch format {
	case "png":
		err = png.Encode(&b, m)
	case "jpeg":
		err = jpeg.Encode(&b, m, &jpeg.Options{Quality: 90})
	case "gif":
		err = gif.Encode(&b, m, nil)
	case "bmp":
		err = bmp.Encode(&b, m)
	case "tiff":
		err = tiff.Encode(&b, m, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDecodeFormats(t *testing.T) {
	src := gradient(23, 17)
	for _, f := range []string{"png", "jpeg", "gif", "bmp", "tiff"} {
		img, err := Decode(encoded(t, f, src), Limits{})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if b := img.Bounds(); b.Dx() != 23 || b.Dy() != 17 {
			t.Errorf("%s: decoded %v, want 23x17", f, b)
		}
		if f == "png" || f == "bmp" || f == "tiff" { // lossless: the pixels come back
			got := img.(*RGB)
			for i := 0; i < 23*17; i++ {
				if got.Pix[3*i] != src.Pix[4*i] || got.Pix[3*i+1] != src.Pix[4*i+1] || got.Pix[3*i+2] != src.Pix[4*i+2] {
					t.Fatalf("%s: pixel %d is %v, want %v", f, i, got.Pix[3*i:3*i+3], src.Pix[4*i:4*i+3])
				}
			}
		}
	}
}

func TestDecodeBadInput(t *testing.T) {
	good := encoded(t, "png", gradient(40, 30))
	jpg := encoded(t, "jpeg", gradient(40, 30))
	corruptJPEG := append([]byte(nil), jpg...)
	for i := len(jpg) / 2; i < len(jpg)-2; i++ {
		corruptJPEG[i] = byte(i * 31)
	}
	cases := []struct {
		name string
		data []byte
		lim  Limits
		want string
	}{
		{"empty", nil, Limits{}, "empty image file"},
		{"unknown", []byte("hello, this is not an image at all"), Limits{}, "unknown image format"},
		{"truncated png", good[:len(good)/2], Limits{}, "decoding png"},
		{"png header only", good[:20], Limits{}, "reading png header"},
		{"corrupt jpeg", corruptJPEG, Limits{}, "jpeg"},
		{"jpeg SOI only", []byte{0xFF, 0xD8}, Limits{}, "reading jpeg header"},
		{"over byte limit", good, Limits{MaxBytes: 100}, "file is"},
		{"over pixel limit", good, Limits{MaxPixels: 40*30 - 1}, "declares 40x30"},
	}
	for _, c := range cases {
		img, err := Decode(c.data, c.lim)
		if err == nil {
			t.Errorf("%s: no error (got %v)", c.name, img.Bounds())
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", c.name, err, c.want)
		}
	}
	if _, err := Decode(nil, Limits{}); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty: %v is not ErrEmpty", err)
	}
	if _, err := Decode([]byte("xyz"), Limits{}); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("unknown: %v is not ErrUnknownFormat", err)
	}
}

// bombs are small files whose headers declare a 20000x20000 (or, for WebP's 14-bit sizes,
// 16384x16384) image: decoding them would allocate over a gigabyte.
func bombs(t *testing.T) map[string][]byte {
	tiny := gradient(1, 1)
	out := map[string][]byte{}

	p := encoded(t, "png", tiny) // IHDR data at 16..28, its CRC at 29
	binary.BigEndian.PutUint32(p[16:], 20000)
	binary.BigEndian.PutUint32(p[20:], 20000)
	binary.BigEndian.PutUint32(p[29:], crc32.ChecksumIEEE(p[12:29]))
	out["png"] = p

	g := encoded(t, "gif", tiny) // logical screen size at 6..9
	binary.LittleEndian.PutUint16(g[6:], 20000)
	binary.LittleEndian.PutUint16(g[8:], 20000)
	out["gif"] = g

	b := encoded(t, "bmp", tiny) // BITMAPINFOHEADER width, height at 18, 22
	binary.LittleEndian.PutUint32(b[18:], 20000)
	binary.LittleEndian.PutUint32(b[22:], 20000)
	out["bmp"] = b

	j := encoded(t, "jpeg", tiny) // SOF0: FFC0, length, precision, height, width
	sof := bytes.Index(j, []byte{0xFF, 0xC0})
	binary.BigEndian.PutUint16(j[sof+5:], 20000)
	binary.BigEndian.PutUint16(j[sof+7:], 20000)
	out["jpeg"] = j

	// A hand-made 8-bit grayscale TIFF: header, then one IFD of 8 entries.
	tf := []byte("II*\x00\x08\x00\x00\x00")
	entries := [][3]uint32{{256, 4, 20000}, {257, 4, 20000}, {258, 3, 8}, {259, 3, 1}, {262, 3, 1}, {273, 4, 8}, {278, 4, 20000}, {279, 4, 1}}
	tf = binary.LittleEndian.AppendUint16(tf, uint16(len(entries)))
	for _, e := range entries {
		tf = binary.LittleEndian.AppendUint16(tf, uint16(e[0]))
		tf = binary.LittleEndian.AppendUint16(tf, uint16(e[1]))
		tf = binary.LittleEndian.AppendUint32(tf, 1)
		tf = binary.LittleEndian.AppendUint32(tf, e[2])
	}
	out["tiff"] = binary.LittleEndian.AppendUint32(tf, 0)

	// WebP lossless: VP8L signature byte then 14-bit width-1 and height-1.
	bits := uint32(16383) | uint32(16383)<<14
	vp8l := append([]byte{0x2f}, binary.LittleEndian.AppendUint32(nil, bits)...)
	w := append([]byte("RIFF\x00\x00\x00\x00WEBPVP8L"), binary.LittleEndian.AppendUint32(nil, uint32(len(vp8l)))...)
	w = append(w, vp8l...)
	binary.LittleEndian.PutUint32(w[4:], uint32(len(w)-8))
	out["webp"] = w
	return out
}

func TestDecompressionBombRefused(t *testing.T) {
	for name, data := range bombs(t) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		_, err := Decode(data, Limits{})
		elapsed := time.Since(start)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s bomb (%d bytes): error %v, want ErrTooLarge", name, len(data), err)
			continue
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
			t.Errorf("%s bomb: allocated %d bytes before refusing", name, alloc)
		}
		if elapsed > time.Second {
			t.Errorf("%s bomb: took %v to refuse", name, elapsed)
		}
		t.Logf("%s bomb: %v in %v", name, err, elapsed)
	}
}

func TestTinyImageUpscales(t *testing.T) {
	img, err := Decode(encoded(t, "png", gradient(1, 1)), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	x := Tensor(img, 227)
	if got := x.Shape; len(got) != 4 || got[0] != 1 || got[1] != 3 || got[2] != 227 || got[3] != 227 {
		t.Fatalf("shape %v", got)
	}
	// One pixel (0, 0, 3) upscaled is that colour everywhere.
	plane := 227 * 227
	for c, v := range []float32{0, 0, 3} {
		want := (v/255 - Mean[c]) / Std[c]
		for _, got := range x.Data[c*plane : (c+1)*plane] {
			if got != want {
				t.Fatalf("channel %d: %v, want %v", c, got, want)
			}
		}
	}
}

func TestResizedSizeAndCrop(t *testing.T) {
	for _, c := range []struct{ w, h, rw, rh int }{
		{451, 300, 384, 256}, {300, 451, 256, 384}, {512, 512, 256, 256}, {1, 1, 256, 256},
		{640, 480, 341, 256}, {3, 1000, 256, 85333}, {1000, 3, 85333, 256},
	} {
		if rw, rh := ResizedSize(c.w, c.h, 256); rw != c.rw || rh != c.rh {
			t.Errorf("ResizedSize(%d, %d) = %dx%d, want %dx%d", c.w, c.h, rw, rh, c.rw, c.rh)
		}
	}
	// Python's round() sends halves to even: (341-224)/2 = 58.5 -> 58, (256-227)/2 = 14.5 -> 14.
	for _, c := range []struct{ size, crop, want int }{{341, 224, 58}, {256, 227, 14}, {343, 224, 60}, {256, 224, 16}, {385, 227, 79}} {
		if got := cropOffset(c.size, c.crop); got != c.want {
			t.Errorf("cropOffset(%d, %d) = %d, want %d", c.size, c.crop, got, c.want)
		}
	}
}

// Elongated images resize to a huge long side; only the centre crop is computed, so this
// must neither allocate gigabytes nor take long.
func TestElongatedImageStaysBounded(t *testing.T) {
	img := &RGB{Pix: make([]byte, 2*20000*3), W: 2, H: 20000}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	x := Tensor(img, 224)
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("allocated %d bytes for a 2x20000 image", alloc)
	}
	if math.IsNaN(float64(x.Data[0])) {
		t.Error("NaN")
	}
}

func TestFromRGBAMatchesTensor(t *testing.T) {
	src := gradient(300, 200)
	for i := 3; i < len(src.Pix); i += 4 {
		src.Pix[i] = uint8(i) // alpha must be ignored
	}
	got, err := FromRGBA(src.Pix, 300, 200, 224)
	if err != nil {
		t.Fatal(err)
	}
	want := Tensor(src, 224)
	for i := range want.Data {
		if got.Data[i] != want.Data[i] {
			t.Fatalf("value %d: %v, want %v", i, got.Data[i], want.Data[i])
		}
	}
	for _, c := range []struct {
		pix        []byte
		w, h, crop int
	}{
		{src.Pix, 0, 200, 224}, {src.Pix, 300, 201, 224}, {src.Pix[:10], 300, 200, 224},
		{src.Pix, 300, 200, 0}, {src.Pix, 300, 200, 257}, {nil, 1 << 20, 1 << 20, 224},
	} {
		if _, err := FromRGBA(c.pix, c.w, c.h, c.crop); err == nil {
			t.Errorf("FromRGBA(%d bytes, %d, %d, %d): no error", len(c.pix), c.w, c.h, c.crop)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "g.png")
	data := encoded(t, "png", gradient(50, 60))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path, 224)
	if err != nil {
		t.Fatal(err)
	}
	img, _ := Decode(data, Limits{})
	want := Tensor(img, 224)
	for i := range want.Data {
		if got.Data[i] != want.Data[i] {
			t.Fatalf("value %d differs", i)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing.png"), 224); err == nil {
		t.Error("missing file: no error")
	}
	if err := os.WriteFile(path, []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, 224); err == nil || !strings.Contains(err.Error(), "g.png") {
		t.Errorf("bad file: error %v should name the file", err)
	}
}

// exifJPEG returns a JPEG whose APP1 segment holds a TIFF block with the orientation tag.
func exifJPEG(t testing.TB, order binary.AppendByteOrder, o uint16) []byte {
	var tf []byte
	if order == binary.LittleEndian {
		tf = []byte("II")
	} else {
		tf = []byte("MM")
	}
	tf = order.AppendUint16(tf, 42)
	tf = order.AppendUint32(tf, 8)
	tf = order.AppendUint16(tf, 2)
	for _, e := range [][2]uint16{{0x010F, 2}, {orientationTag, 3}} { // Make (ASCII), Orientation
		tf = order.AppendUint16(tf, e[0])
		tf = order.AppendUint16(tf, e[1])
		tf = order.AppendUint32(tf, 1)
		tf = order.AppendUint16(tf, o)
		tf = order.AppendUint16(tf, 0)
	}
	tf = order.AppendUint32(tf, 0)
	body := append([]byte("Exif\x00\x00"), tf...)
	seg := append([]byte{0xFF, 0xE1}, binary.BigEndian.AppendUint16(nil, uint16(len(body)+2))...)
	seg = append(seg, body...)
	jpg := encoded(t, "jpeg", gradient(6, 4))
	return append(append([]byte{0xFF, 0xD8}, seg...), jpg[2:]...)
}

func TestJPEGOrientation(t *testing.T) {
	for _, order := range []binary.AppendByteOrder{binary.LittleEndian, binary.BigEndian} {
		for o := uint16(1); o <= 8; o++ {
			data := exifJPEG(t, order, o)
			if got := jpegOrientation(data); got != int(o) {
				t.Errorf("%v orientation %d read as %d", order, o, got)
			}
			img, err := Decode(data, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			w, h := 6, 4
			if o >= 5 {
				w, h = 4, 6
			}
			if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
				t.Errorf("orientation %d: decoded %v, want %dx%d", o, b, w, h)
			}
		}
	}
	// Malformed blocks fall back to "upright" instead of failing the photo.
	good := exifJPEG(t, binary.LittleEndian, 6)
	for name, mutate := range map[string]func([]byte){
		"bad value":       func(b []byte) { b[bytes.Index(b, []byte{0x12, 0x01})+8] = 9 },
		"bad byte order":  func(b []byte) { copy(b[bytes.Index(b, []byte("II")):], "XX") },
		"IFD offset past": func(b []byte) { b[bytes.Index(b, []byte("II"))+4] = 0xF0 },
		"segment too long": func(b []byte) {
			binary.BigEndian.PutUint16(b[4:], 0xFFF0)
		},
		"entry count huge": func(b []byte) { b[bytes.Index(b, []byte("II"))+9] = 0x7F },
	} {
		b := append([]byte(nil), good...)
		mutate(b)
		if got := jpegOrientation(b); got != 1 {
			t.Errorf("%s: orientation %d, want 1", name, got)
		}
	}
}

// orient must agree with PIL's exif_transpose; that is checked on photos against PIL in
// TestMatchesTorchvision (exif1..8.jpg). Here: the eight transforms are distinct and each
// 90-degree one is the inverse of its opposite.
func TestOrientDistinct(t *testing.T) {
	src := ToRGB(gradient(3, 2))
	seen := map[string]int{}
	for o := 1; o <= 8; o++ {
		k := string(orient(src, o).Pix)
		if prev, ok := seen[k]; ok {
			t.Errorf("orientations %d and %d give the same image", prev, o)
		}
		seen[k] = o
	}
	if back := orient(orient(src, 6), 8); !bytes.Equal(back.Pix, src.Pix) {
		t.Error("rotating 90 clockwise then counter-clockwise does not give the original")
	}
}

// Every fast path in ToRGB must give what the generic colour-model path gives (except
// YCbCr, which follows libjpeg on purpose, and CMYK, which follows PIL).
func TestToRGBFastPathsAgreeWithGeneric(t *testing.T) {
	src := gradient(13, 11)
	rgba := image.NewRGBA(src.Rect)
	gray := image.NewGray(src.Rect)
	pal := image.NewPaletted(src.Rect, color.Palette{color.RGBA{1, 2, 3, 255}, color.NRGBA{200, 100, 50, 128}, color.Gray{77}, color.NRGBA{9, 8, 7, 255}})
	for y := 0; y < 11; y++ {
		for x := 0; x < 13; x++ {
			c := src.NRGBAAt(x, y)
			c.A = uint8(255 - (x*y)%3*100) // some translucent pixels
			rgba.Set(x, y, c)
			gray.SetGray(x, y, color.Gray{c.R})
			pal.SetColorIndex(x, y, uint8((x+y)%4))
		}
	}
	nrgba := image.NewNRGBA(src.Rect)
	copy(nrgba.Pix, src.Pix)
	for _, m := range []image.Image{rgba, gray, pal, nrgba} {
		fast, slow := ToRGB(m), genericToRGB(m)
		if !bytes.Equal(fast.Pix, slow.Pix) {
			t.Errorf("%T: fast path differs from the generic conversion", m)
		}
	}
}
