package preprocess

import (
	"fmt"
	"image"
	"io"
	"math"
	"os"

	"github.com/alexlens/alexlens/engine"
)

// ResizeTo is the shorter side after resizing, before the centre crop: torchvision's
// Resize(256) for every network here (224 and 227 crops alike).
const ResizeTo = 256

// ImageNet channel statistics used by torchvision's Normalize.
var (
	Mean = [3]float32{0.485, 0.456, 0.406}
	Std  = [3]float32{0.229, 0.224, 0.225}
)

// ResizedSize is torchvision's Resize(short) output size for a w x h image: the shorter side
// becomes short and the longer one int(short*long/short), truncated, computed in float64 as
// Python's true division does.
func ResizedSize(w, h, short int) (rw, rh int) {
	s, l := w, h
	if h < w {
		s, l = h, w
	}
	long := int(float64(short*l) / float64(s))
	if w <= h {
		return short, long
	}
	return long, short
}

// cropOffset is torchvision's CenterCrop offset: int(round((size - crop) / 2)), where
// Python's round() sends halves to the even neighbour.
func cropOffset(size, crop int) int {
	return int(math.RoundToEven(float64(size-crop) / 2))
}

// Tensor preprocesses an image into a 1x3xcrop x crop tensor: resize the shorter side to 256
// (PIL bilinear), centre crop, scale to [0,1], normalize with the ImageNet mean and std.
// Images not from Decode are first converted with ToRGB. It panics if crop is outside
// 1..256 or the image is empty: both are caller bugs (FromRGBA checks and returns errors).
func Tensor(img image.Image, crop int) *engine.Tensor {
	if crop <= 0 || crop > ResizeTo {
		panic(fmt.Sprintf("preprocess: crop %d out of range 1..%d", crop, ResizeTo))
	}
	rgb := ToRGB(img)
	if rgb.W == 0 || rgb.H == 0 {
		panic("preprocess: Tensor of an empty image")
	}
	return rgbTensor(rgb.Pix, rgb.W, rgb.H, crop)
}

// rgbTensor is Tensor on packed RGB, without argument checks.
func rgbTensor(pix []byte, w, h, crop int) *engine.Tensor {
	rw, rh := ResizedSize(w, h, ResizeTo)
	top, left := cropOffset(rh, crop), cropOffset(rw, crop)
	// Resize only the centre window: the same pixels as resizing everything and cropping,
	// and a bounded cost however elongated the image is.
	small := resizeWindow(pix, w, h, rw, rh, image.Rect(left, top, left+crop, top+crop))
	t := engine.NewTensor(1, 3, crop, crop)
	plane := crop * crop
	for y := 0; y < crop; y++ {
		row := small[y*crop*3:]
		for x := 0; x < crop; x++ {
			for c := 0; c < 3; c++ {
				// The same float32 operations as ToTensor's div(255) then Normalize's
				// sub(mean).div(std), so equal pixels give equal bits.
				v := float32(row[3*x+c]) / 255
				t.Data[c*plane+y*crop+x] = (v - Mean[c]) / Std[c]
			}
		}
	}
	return t
}

// FromRGBA preprocesses straight (non-premultiplied) RGBA pixels, such as a canvas's
// ImageData, into a 1x3xcrop x crop tensor. Alpha is ignored, as PIL's convert("RGB") does.
func FromRGBA(pix []byte, w, h, crop int) (*engine.Tensor, error) {
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("preprocess: image size %dx%d must be positive", w, h)
	}
	if int64(w)*int64(h) > DefaultLimits.MaxPixels {
		return nil, fmt.Errorf("%w: %dx%d pixels, limit %d", ErrTooLarge, w, h, DefaultLimits.MaxPixels)
	}
	if len(pix) != w*h*4 {
		return nil, fmt.Errorf("preprocess: %dx%d RGBA needs %d bytes, have %d", w, h, w*h*4, len(pix))
	}
	if crop <= 0 || crop > ResizeTo {
		return nil, fmt.Errorf("preprocess: crop %d out of range 1..%d", crop, ResizeTo)
	}
	rgb := make([]byte, w*h*3)
	for i := 0; i < w*h; i++ {
		rgb[3*i], rgb[3*i+1], rgb[3*i+2] = pix[4*i], pix[4*i+1], pix[4*i+2]
	}
	return rgbTensor(rgb, w, h, crop), nil
}

// Load reads, decodes and preprocesses an image file with the default limits.
func Load(path string, crop int) (*engine.Tensor, error) {
	if crop <= 0 || crop > ResizeTo {
		return nil, fmt.Errorf("preprocess: crop %d out of range 1..%d", crop, ResizeTo)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Read at most one byte past the limit, so an oversized file is refused without being
	// read whole.
	data, err := io.ReadAll(io.LimitReader(f, DefaultLimits.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("preprocess: reading %s: %w", path, err)
	}
	img, err := Decode(data, DefaultLimits)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return Tensor(img, crop), nil
}

// Pixels undoes the normalization of item i of an N x 3 x H x W input: the resized, cropped
// pixels the network saw (the resize rounds to 8 bits, so rounding recovers them exactly).
func Pixels(x *engine.Tensor, i int) *RGB {
	h, w := x.Shape[2], x.Shape[3]
	plane := h * w
	out := newRGB(w, h)
	for c := range 3 {
		item := x.Data[(3*i+c)*plane : (3*i+c+1)*plane]
		for p, v := range item {
			u := (v*Std[c] + Mean[c]) * 255
			out.Pix[3*p+c] = uint8(max(0, min(255, math.Round(float64(u)))))
		}
	}
	return out
}
