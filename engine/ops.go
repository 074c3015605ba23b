package engine

import (
	"fmt"
	"slices"
)

// ConvSpec describes a 2-D convolution. Pads are top, left, bottom, right so that ONNX's
// asymmetric cases fit; the networks only use symmetric ones.
type ConvSpec struct {
	In, Out                int // channels
	KH, KW                 int
	StrideH, StrideW       int
	PadT, PadL, PadB, PadR int
	DilH, DilW             int // 1 = none
	Groups                 int
	ReLU                   bool // fused ReLU on the output
}

// OutSize is the spatial output size for an h x w input.
func (c ConvSpec) OutSize(h, w int) (int, int) {
	oh := (h+c.PadT+c.PadB-c.DilH*(c.KH-1)-1)/c.StrideH + 1
	ow := (w+c.PadL+c.PadR-c.DilW*(c.KW-1)-1)/c.StrideW + 1
	return oh, ow
}

// PoolSpec describes max and average pooling. Ceil selects PyTorch's ceil_mode output size.
type PoolSpec struct {
	KH, KW                 int
	StrideH, StrideW       int
	PadT, PadL, PadB, PadR int
	Ceil                   bool
	CountIncludePad        bool // average pooling only
}

// OutSize is the spatial output size for an h x w input, with PyTorch's rule that in ceil
// mode the last window must start inside the input or its left padding.
func (p PoolSpec) OutSize(h, w int) (int, int) {
	return poolOut(h, p.KH, p.StrideH, p.PadT, p.PadB, p.Ceil), poolOut(w, p.KW, p.StrideW, p.PadL, p.PadR, p.Ceil)
}

func poolOut(n, k, s, p0, p1 int, ceil bool) int {
	span := n + p0 + p1 - k
	if span < 0 {
		return 0
	}
	o := span/s + 1
	if ceil && span%s != 0 {
		o++
		if (o-1)*s >= n+p0 {
			o--
		}
	}
	return o
}

// LRNSpec is local response normalization across channels, as in the AlexNet paper, Caffe,
// PyTorch and ONNX: y = x / (K + Alpha/Size * sum of x^2 over Size neighbouring channels)^Beta.
type LRNSpec struct {
	Size           int
	Alpha, Beta, K float32
}

// LinearSpec is a fully connected layer y = x W^T + b on the flattened input.
type LinearSpec struct {
	In, Out int
	ReLU    bool
}

// Weight is one parameter tensor of a convolution or linear layer, float32 or int8.
// An int8 weight is symmetric and quantized per output channel (the first dimension):
// w[o, ...] = I8[o, ...] * Scale[o].
type Weight struct {
	Shape []int
	F32   []float32 // nil when quantized
	I8    []int8
	Scale []float32
}

// Quantized reports whether the weight is stored as int8.
func (w *Weight) Quantized() bool { return w.F32 == nil }

// Rows is the size of the first (output channel) dimension; RowLen the rest.
func (w *Weight) Rows() int { return w.Shape[0] }
func (w *Weight) RowLen() int {
	n := 1
	for _, d := range w.Shape[1:] {
		n *= d
	}
	return n
}

// RowF32 returns output channel o as float32 values, dequantizing into buf when needed.
func (w *Weight) RowF32(o int, buf []float32) []float32 {
	n := w.RowLen()
	if !w.Quantized() {
		return w.F32[o*n : (o+1)*n]
	}
	buf = buf[:n]
	s := w.Scale[o]
	for i, q := range w.I8[o*n : (o+1)*n] {
		buf[i] = float32(q) * s
	}
	return buf
}

// Backend executes operators. Every backend computes the same results as Reference within
// the bounds its tests state; the network code does not know which one runs.
type Backend interface {
	Name() string
	Conv2D(x *Tensor, w *Weight, bias []float32, c ConvSpec) *Tensor
	Linear(x *Tensor, w *Weight, bias []float32, l LinearSpec) *Tensor
	MaxPool2D(x *Tensor, p PoolSpec) *Tensor
	AvgPool2D(x *Tensor, p PoolSpec) *Tensor
	AdaptiveAvgPool2D(x *Tensor, oh, ow int) *Tensor
	LRN(x *Tensor, l LRNSpec) *Tensor
	ReLU(x *Tensor) *Tensor
	Concat(xs ...*Tensor) *Tensor // along channels
	Softmax(x *Tensor) *Tensor    // along the last dimension
}

func checkConv(x *Tensor, w *Weight, bias []float32, c ConvSpec) {
	_, ch, _, _ := x.dims4("conv2d")
	if c.Groups < 1 || c.In%c.Groups != 0 || c.Out%c.Groups != 0 {
		panic(fmt.Sprintf("engine: conv2d groups %d do not divide channels %d -> %d", c.Groups, c.In, c.Out))
	}
	if ch != c.In {
		panic(fmt.Sprintf("engine: conv2d expects %d input channels, got %d", c.In, ch))
	}
	want := []int{c.Out, c.In / c.Groups, c.KH, c.KW}
	if !slices.Equal(w.Shape, want) {
		panic(fmt.Sprintf("engine: conv2d weight shape %v, want %v", w.Shape, want))
	}
	if bias != nil && len(bias) != c.Out {
		panic(fmt.Sprintf("engine: conv2d bias has %d values, want %d", len(bias), c.Out))
	}
}

// Flatten reshapes x to 2-D [prod(shape[:axis]), prod(shape[axis:])], sharing data.
func Flatten(x *Tensor, axis int) *Tensor {
	a, b := 1, 1
	for i, d := range x.Shape {
		if i < axis {
			a *= d
		} else {
			b *= d
		}
	}
	return &Tensor{Shape: []int{a, b}, Data: x.Data}
}
