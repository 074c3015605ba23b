// Package preprocess turns image bytes into the normalized input tensor a network expects,
// reproducing torchvision's ImageNet evaluation transform on a PIL image:
//
//	Image.open(f).convert("RGB") -> Resize(256) -> CenterCrop(crop) -> ToTensor()
//	-> Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
//
// The resize is PIL's antialiased bilinear reproduced step for step (see resample.go), so a
// photo decoded to the same pixels gives the same tensor bit for bit.
package preprocess

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	pjpeg "github.com/alexlens/alexlens/engine/preprocess/jpeg"
	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"
)

// Limits bound what Decode accepts, checked before any pixel is decoded so that a small file
// declaring a huge image (a decompression bomb) is refused without allocating it.
type Limits struct {
	MaxPixels int64 // width*height; 0 means DefaultLimits.MaxPixels
	MaxBytes  int64 // encoded file size; 0 means DefaultLimits.MaxBytes
}

// DefaultLimits suit photos from phones and cameras.
var DefaultLimits = Limits{MaxPixels: 50_000_000, MaxBytes: 64 << 20}

func (l Limits) withDefaults() Limits {
	if l.MaxPixels <= 0 {
		l.MaxPixels = DefaultLimits.MaxPixels
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultLimits.MaxBytes
	}
	return l
}

// format is one supported container: how to recognise it and how to decode it.
type format struct {
	name   string
	match  func([]byte) bool
	config func(io.Reader) (image.Config, error)
	decode func(io.Reader) (image.Image, error)
}

var formats = []format{
	{"jpeg", prefix("\xFF\xD8"), jpegConfig, jpegDecode},
	{"png", prefix("\x89PNG\r\n\x1a\n"), png.DecodeConfig, png.Decode},
	{"gif", func(b []byte) bool {
		return bytes.HasPrefix(b, []byte("GIF87a")) || bytes.HasPrefix(b, []byte("GIF89a"))
	}, gif.DecodeConfig, gif.Decode},
	{"webp", func(b []byte) bool { return len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP" }, webp.DecodeConfig, webp.Decode},
	{"bmp", prefix("BM"), bmp.DecodeConfig, bmp.Decode},
	{"tiff", func(b []byte) bool {
		return bytes.HasPrefix(b, []byte("II*\x00")) || bytes.HasPrefix(b, []byte("MM\x00*"))
	}, tiff.DecodeConfig, tiff.Decode},
}

// jpegDecode uses the libjpeg-exact decoder (engine/preprocess/jpeg), so JPEG pixels are
// PIL's; for the rare kinds it refuses (arithmetic coding, 12-bit) Go's image/jpeg is close.
func jpegDecode(r io.Reader) (image.Image, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	m, err := pjpeg.Decode(bytes.NewReader(data))
	if errors.Is(err, pjpeg.ErrUnsupported) {
		return jpeg.Decode(bytes.NewReader(data))
	}
	return m, err
}

func jpegConfig(r io.Reader) (image.Config, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return image.Config{}, err
	}
	c, err := pjpeg.DecodeConfig(bytes.NewReader(data))
	if errors.Is(err, pjpeg.ErrUnsupported) {
		return jpeg.DecodeConfig(bytes.NewReader(data))
	}
	if errors.Is(err, pjpeg.ErrTooLarge) { // its own cap, above ours: still our kind of error
		err = fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	return c, err
}

func prefix(p string) func([]byte) bool {
	return func(b []byte) bool { return bytes.HasPrefix(b, []byte(p)) }
}

// Errors callers may want to tell apart.
var (
	ErrEmpty         = errors.New("preprocess: empty image file")
	ErrUnknownFormat = errors.New("preprocess: unknown image format (supported: JPEG, PNG, GIF, WebP, BMP, TIFF)")
	ErrTooLarge      = errors.New("preprocess: image too large")
)

// Decode decodes a JPEG, PNG, GIF (first frame), WebP, BMP or TIFF file into RGB, the way
// PIL's Image.open(...).convert("RGB") would, then turns it upright per its EXIF orientation
// (JPEG, PNG, WebP, TIFF) as PIL's ImageOps.exif_transpose does. The result is an *RGB. Bad input gives an error, never a panic.
func Decode(data []byte, lim Limits) (image.Image, error) {
	lim = lim.withDefaults()
	if len(data) == 0 {
		return nil, ErrEmpty
	}
	if int64(len(data)) > lim.MaxBytes {
		return nil, fmt.Errorf("%w: file is %d bytes, limit %d", ErrTooLarge, len(data), lim.MaxBytes)
	}
	var f *format
	for i := range formats {
		if formats[i].match(data) {
			f = &formats[i]
			break
		}
	}
	if f == nil {
		return nil, ErrUnknownFormat
	}
	cfg, err := guard(f.name, func() (image.Config, error) { return f.config(bytes.NewReader(data)) })
	if err != nil {
		return nil, fmt.Errorf("preprocess: reading %s header: %w", f.name, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("preprocess: %s image has no pixels (%dx%d)", f.name, cfg.Width, cfg.Height)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > lim.MaxPixels {
		return nil, fmt.Errorf("%w: %s declares %dx%d = %d pixels, limit %d", ErrTooLarge, f.name, cfg.Width, cfg.Height, px, lim.MaxPixels)
	}
	raw, err := guard(f.name, func() (image.Image, error) { return f.decode(bytes.NewReader(data)) })
	if err != nil {
		return nil, fmt.Errorf("preprocess: decoding %s: %w", f.name, err)
	}
	b := raw.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 || int64(b.Dx())*int64(b.Dy()) > lim.MaxPixels {
		return nil, fmt.Errorf("preprocess: %s decoded to an unusable %dx%d image", f.name, b.Dx(), b.Dy())
	}
	var rgb *RGB
	switch m := raw.(type) {
	case *image.Paletted:
		if f.name == "gif" {
			rgb = gifToRGB(m, data, cfg.Width, cfg.Height)
		} else {
			rgb = palettedToRGB(m)
		}
	case *image.YCbCr:
		if f.name == "webp" {
			rgb = webpYCbCrToRGB(m)
		} else {
			rgb = jpegYCbCrToRGB(m)
		}
	case *image.NYCbCrA:
		if f.name == "webp" {
			rgb = webpYCbCrToRGB(&m.YCbCr)
		} else {
			rgb = jpegYCbCrToRGB(&m.YCbCr)
		}
	default:
		rgb = ToRGB(raw)
	}
	return orient(rgb, fileOrientation(f.name, data)), nil
}

// guard runs a third-party decoder, turning a panic into an error: not every decoder is
// hardened against hostile input, and one bad file must not take down a server or the
// browser tab. Only the decoders are guarded, so a bug in this package still shows up as a
// panic (and fuzzing finds it).
func guard[T any](name string, decode func() (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			var zero T
			v, err = zero, fmt.Errorf("corrupt %s image (decoder failed: %v)", name, r)
		}
	}()
	return decode()
}
