// Package engine runs the AlexLens networks: NCHW float32 tensors, the operator set, the
// network descriptions (AlexNet as in torchvision, the original BVLC AlexNet, SqueezeNet 1.1)
// and the backends that execute them. It knows nothing of files, HTTP or the browser, and
// builds for every GOOS/GOARCH, js/wasm included.
package engine

import (
	"fmt"
	"math"
	"sync"
)

// Tensor is a dense float32 tensor in row-major (NCHW for images) order.
type Tensor struct {
	Shape []int
	Data  []float32
}

// NewTensor allocates a zeroed tensor of the given shape.
func NewTensor(shape ...int) *Tensor {
	return &Tensor{Shape: append([]int(nil), shape...), Data: make([]float32, numel(shape))}
}

// numel is the number of elements of a shape; a negative dimension is a bug in the caller.
func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("engine: negative dimension in shape %v", shape))
		}
		n *= d
	}
	return n
}

// activationBuffers is a free list of the buffers of intermediate activations: Forward
// hands back a layer's input once the next layer has consumed it (and nobody kept it), and
// operators that write every element of their output take their buffers from here. A
// forward pass then allocates (and the runtime zeroes) almost nothing: in the browser that
// was about 2 ms of a 20 ms SqueezeNet pass, zeroing 18 MB of fresh tensors.
var activationBuffers struct {
	sync.Mutex
	free  map[int][][]float32 // by length
	bytes int
}

// maxPooledBytes bounds the free list; buffers beyond it are left to the collector.
const maxPooledBytes = 64 << 20

// newOutput is NewTensor for an operator that writes every element of its result: the
// contents are left over from an earlier pass until then.
func newOutput(shape ...int) *Tensor {
	n := numel(shape)
	a := &activationBuffers
	a.Lock()
	if l := a.free[n]; len(l) > 0 {
		d := l[len(l)-1]
		a.free[n] = l[:len(l)-1]
		a.bytes -= 4 * n
		a.Unlock()
		return &Tensor{Shape: append([]int(nil), shape...), Data: d}
	}
	a.Unlock()
	return NewTensor(shape...)
}

// newZeroed is NewTensor from the free list: for operators that accumulate into their
// result (the gradient pass's). Clearing a reused buffer costs what the runtime's zeroing
// of a fresh one does, without the garbage: in the browser every collection stops the page's
// engine worker.
func newZeroed(shape ...int) *Tensor {
	t := newOutput(shape...)
	clear(t.Data)
	return t
}

// takeBuffer is a scratch buffer of n floats from the free list, contents undefined; give
// it back with giveBuffer when done.
func takeBuffer(n int) []float32 { return newOutput(n).Data }

func giveBuffer(b []float32) { recycle(&Tensor{Data: b}) }

// recycle returns t's buffer to the free list; t must not be used afterwards.
func recycle(t *Tensor) {
	n := len(t.Data)
	if n == 0 {
		return
	}
	a := &activationBuffers
	a.Lock()
	defer a.Unlock()
	if a.bytes+4*n > maxPooledBytes {
		return
	}
	if a.free == nil {
		a.free = map[int][][]float32{}
	}
	a.free[n] = append(a.free[n], t.Data[:n:n])
	a.bytes += 4 * n
}

// FromData wraps data in a tensor of the given shape; the sizes must agree.
func FromData(data []float32, shape ...int) (*Tensor, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("engine: negative dimension in shape %v", shape)
		}
		n *= d
	}
	if n != len(data) {
		return nil, fmt.Errorf("engine: shape %v needs %d values, have %d", shape, n, len(data))
	}
	return &Tensor{Shape: append([]int(nil), shape...), Data: data}, nil
}

// Len is the number of elements.
func (t *Tensor) Len() int { return len(t.Data) }

// Release gives t's storage to the engine's free list, for the next pass to reuse: for a
// tensor the engine returned (a gradient) that the caller is done with. Neither t nor any
// view of its data may be used afterwards.
func (t *Tensor) Release() {
	recycle(t)
	t.Data = nil
}

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{Shape: append([]int(nil), t.Shape...), Data: append([]float32(nil), t.Data...)}
}

// dims4 returns N, C, H, W of a 4-D tensor, panicking with a clear message otherwise:
// a wrong rank here is a bug in a network description, not bad user input.
func (t *Tensor) dims4(op string) (n, c, h, w int) {
	if len(t.Shape) != 4 {
		panic(fmt.Sprintf("engine: %s wants an NCHW tensor, got shape %v", op, t.Shape))
	}
	return t.Shape[0], t.Shape[1], t.Shape[2], t.Shape[3]
}

// Row returns batch item i of a tensor as a flat slice.
func (t *Tensor) Row(i int) []float32 {
	per := len(t.Data) / t.Shape[0]
	return t.Data[i*per : (i+1)*per]
}

// RelL2 is the relative L2 error ||a-b|| / ||b||, the measure every cross-check uses.
func RelL2(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var num, den float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		num += d * d
		den += float64(b[i]) * float64(b[i])
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

// HasNaN reports whether any value is NaN or infinite.
func HasNaN(x []float32) bool {
	for _, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return true
		}
	}
	return false
}
