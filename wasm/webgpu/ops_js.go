//go:build js && wasm

package webgpu

import (
	"fmt"

	"github.com/alexlens/alexlens/engine"
)

// The operator API: each call uploads its inputs, runs one kernel and reads the result
// back, with the same kernels the networks run. It exists for the operator-by-operator
// tests against the CPU path and for callers that need a single operator; networks go
// through GPUModel, which keeps activations on the GPU.

// runOp builds a one-op plan with build, runs it on x and returns the output tensor.
func (d *Device) runOp(x []*engine.Tensor, params map[string]*engine.Weight, build func(b *planBuilder, in []int) (int, error)) (y *engine.Tensor, err error) {
	if err := d.errLost(); err != nil {
		return nil, err
	}
	p := &plan{named: map[string]int{}, logits: -1, probs: -1}
	b := &planBuilder{p: p, lim: d.limits, params: params}
	var ins []int
	for _, t := range x {
		i, err := b.tensor(t.Shape...)
		if err != nil {
			return nil, err
		}
		ins = append(ins, i)
	}
	out, err := build(b, ins)
	if err != nil {
		return nil, err
	}
	weights := map[string]*gpuWeight{}
	defer func() {
		for _, w := range weights {
			w.w.release()
			w.bias.release()
			w.scale.release()
		}
	}()
	d.pushScopes()
	for name, w := range params {
		if len(w.Shape) < 2 {
			continue
		}
		key := name[:len(name)-len(".weight")]
		gw := &gpuWeight{}
		weights[key] = gw
		data := f32Bytes(w.F32)
		if w.Quantized() {
			data = packInt8(w)
			if gw.scale, err = d.upload(w.Scale, key+".scale"); err != nil {
				d.popScopes()
				return nil, err
			}
		}
		if gw.w, err = d.newBuffer(int64(len(data)), usageStorage|usageCopyDst, name); err != nil {
			d.popScopes()
			return nil, err
		}
		if err := gw.w.write(0, data); err != nil {
			d.popScopes()
			return nil, err
		}
		bias := make([]float32, w.Rows())
		if bb := params[key+".bias"]; bb != nil {
			bias = bb.F32
		}
		if gw.bias, err = d.upload(bias, key+".bias"); err != nil {
			d.popScopes()
			return nil, err
		}
	}
	pr, err := d.bind(p, weights, nil)
	if err != nil {
		d.popScopes()
		return nil, err
	}
	defer d.releaseProgram(pr)
	for i, t := range x {
		if err := pr.tensors[ins[i]].write(0, f32Bytes(t.Data)); err != nil {
			d.popScopes()
			return nil, err
		}
	}
	y = engine.NewTensor(p.tensors[out].shape...)
	enc := d.dev.Call("createCommandEncoder")
	d.encode(enc, pr, 0, len(p.ops))
	runErr := d.readFloats(enc, []*buffer{pr.tensors[out]}, [][]float32{y.Data})
	if err := d.popScopes(); runErr == nil {
		runErr = err
	}
	if runErr != nil {
		return nil, runErr
	}
	return y, nil
}

func convParams(w *engine.Weight, bias []float32) map[string]*engine.Weight {
	ps := map[string]*engine.Weight{"op.weight": w}
	if bias != nil {
		ps["op.bias"] = &engine.Weight{Shape: []int{len(bias)}, F32: bias}
	}
	return ps
}

func need4(x *engine.Tensor, op string) error {
	if len(x.Shape) != 4 || x.Len() == 0 {
		return fmt.Errorf("webgpu: %s wants a non-empty NCHW tensor, got shape %v", op, x.Shape)
	}
	return nil
}

// Conv2D is a convolution with the engine's semantics (groups, padding, stride,
// dilation, fused ReLU); w may be float32 or int8.
func (d *Device) Conv2D(x *engine.Tensor, w *engine.Weight, bias []float32, c engine.ConvSpec) (*engine.Tensor, error) {
	if err := need4(x, "conv2d"); err != nil {
		return nil, err
	}
	if bias != nil && len(bias) != c.Out {
		return nil, fmt.Errorf("webgpu: conv2d bias has %d values, want %d", len(bias), c.Out)
	}
	return d.runOp([]*engine.Tensor{x}, convParams(w, bias), func(b *planBuilder, in []int) (int, error) {
		s := x.Shape
		oh, ow := c.OutSize(s[2], s[3])
		if oh < 1 || ow < 1 {
			return 0, fmt.Errorf("webgpu: conv2d output of a %dx%d input would be empty", s[2], s[3])
		}
		y, err := b.tensor(s[0], c.Out, oh, ow)
		if err != nil {
			return 0, err
		}
		return y, b.conv(in[0], y, 0, "op", c)
	})
}

// Linear is a fully connected layer on the flattened input: matrix-vector at batch 1,
// tiled GEMM for batches.
func (d *Device) Linear(x *engine.Tensor, w *engine.Weight, bias []float32, l engine.LinearSpec) (*engine.Tensor, error) {
	if len(x.Shape) < 1 || x.Shape[0] < 1 {
		return nil, fmt.Errorf("webgpu: linear wants a batch, got shape %v", x.Shape)
	}
	if bias != nil && len(bias) != l.Out {
		return nil, fmt.Errorf("webgpu: linear bias has %d values, want %d", len(bias), l.Out)
	}
	return d.runOp([]*engine.Tensor{x}, convParams(w, bias), func(b *planBuilder, in []int) (int, error) {
		y, err := b.tensor(x.Shape[0], l.Out)
		if err != nil {
			return 0, err
		}
		return y, b.linear(in[0], y, "op", l)
	})
}

func (d *Device) pool(x *engine.Tensor, p engine.PoolSpec, isMax bool) (*engine.Tensor, error) {
	if err := need4(x, "pool2d"); err != nil {
		return nil, err
	}
	if p.KH < 1 || p.KW < 1 || p.StrideH < 1 || p.StrideW < 1 {
		return nil, fmt.Errorf("webgpu: pool2d needs positive kernel and stride, got %+v", p)
	}
	return d.runOp([]*engine.Tensor{x}, nil, func(b *planBuilder, in []int) (int, error) {
		oh, ow := p.OutSize(x.Shape[2], x.Shape[3])
		if oh < 1 || ow < 1 {
			return 0, fmt.Errorf("webgpu: pool2d output of a %dx%d input would be empty", x.Shape[2], x.Shape[3])
		}
		y, err := b.tensor(x.Shape[0], x.Shape[1], oh, ow)
		if err != nil {
			return 0, err
		}
		return y, b.pool(in[0], y, p, isMax)
	})
}

// MaxPool2D is max pooling with PyTorch's ceil mode and padding rules.
func (d *Device) MaxPool2D(x *engine.Tensor, p engine.PoolSpec) (*engine.Tensor, error) {
	return d.pool(x, p, true)
}

// AvgPool2D is average pooling.
func (d *Device) AvgPool2D(x *engine.Tensor, p engine.PoolSpec) (*engine.Tensor, error) {
	return d.pool(x, p, false)
}

// AdaptiveAvgPool2D is PyTorch's adaptive average pool (global when oh = ow = 1).
func (d *Device) AdaptiveAvgPool2D(x *engine.Tensor, oh, ow int) (*engine.Tensor, error) {
	if err := need4(x, "adaptive_avg_pool2d"); err != nil {
		return nil, err
	}
	if oh < 1 || ow < 1 {
		return nil, fmt.Errorf("webgpu: adaptive_avg_pool2d output %dx%d must be positive", oh, ow)
	}
	return d.runOp([]*engine.Tensor{x}, nil, func(b *planBuilder, in []int) (int, error) {
		y, err := b.tensor(x.Shape[0], x.Shape[1], oh, ow)
		if err != nil {
			return 0, err
		}
		return y, b.adaptiveAvg(in[0], y)
	})
}

// LRN is local response normalization across channels.
func (d *Device) LRN(x *engine.Tensor, l engine.LRNSpec) (*engine.Tensor, error) {
	if err := need4(x, "lrn"); err != nil {
		return nil, err
	}
	if l.Size < 1 {
		return nil, fmt.Errorf("webgpu: lrn size %d must be positive", l.Size)
	}
	return d.runOp([]*engine.Tensor{x}, nil, func(b *planBuilder, in []int) (int, error) {
		y, err := b.tensor(x.Shape...)
		if err != nil {
			return 0, err
		}
		return y, b.lrn(in[0], y, l)
	})
}

// ReLU is max(x, 0) elementwise.
func (d *Device) ReLU(x *engine.Tensor) (*engine.Tensor, error) {
	if x.Len() == 0 {
		return nil, fmt.Errorf("webgpu: relu of an empty tensor")
	}
	return d.runOp([]*engine.Tensor{x}, nil, func(b *planBuilder, in []int) (int, error) {
		y, err := b.tensor(x.Shape...)
		if err != nil {
			return 0, err
		}
		return y, b.relu(in[0], y)
	})
}

// Concat joins NCHW tensors along channels.
func (d *Device) Concat(xs ...*engine.Tensor) (*engine.Tensor, error) {
	if len(xs) == 0 {
		return nil, fmt.Errorf("webgpu: concat of nothing")
	}
	c := 0
	for _, t := range xs {
		if err := need4(t, "concat"); err != nil {
			return nil, err
		}
		if t.Shape[0] != xs[0].Shape[0] || t.Shape[2] != xs[0].Shape[2] || t.Shape[3] != xs[0].Shape[3] {
			return nil, fmt.Errorf("webgpu: concat of mismatched shapes %v and %v", xs[0].Shape, t.Shape)
		}
		c += t.Shape[1]
	}
	return d.runOp(xs, nil, func(b *planBuilder, in []int) (int, error) {
		s := xs[0].Shape
		y, err := b.tensor(s[0], c, s[2], s[3])
		if err != nil {
			return 0, err
		}
		off := 0
		for i, t := range xs {
			if err := b.concatInto(in[i], y, off); err != nil {
				return 0, err
			}
			off += t.Shape[1]
		}
		return y, nil
	})
}

// Softmax is a softmax along the last dimension.
func (d *Device) Softmax(x *engine.Tensor) (*engine.Tensor, error) {
	if len(x.Shape) == 0 || x.Len() == 0 {
		return nil, fmt.Errorf("webgpu: softmax of an empty tensor")
	}
	return d.runOp([]*engine.Tensor{x}, nil, func(b *planBuilder, in []int) (int, error) {
		y, err := b.tensor(x.Shape...)
		if err != nil {
			return 0, err
		}
		return y, b.softmax(in[0], y, 0)
	})
}
