//go:build js && wasm

package webgpu

import (
	"fmt"
	"time"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/wasm/protocol"
)

// Runner runs a model on the backend a page asked for, falling back to the CPU: when
// WebGPU is missing, refuses a device, a kernel does not compile, or the device is lost in
// the middle of a pass, the pass is finished on the CPU and the Runner stays there. The
// caller sees engine.Results either way; Compute and Reason say what ran and why.
type Runner struct {
	model *engine.Model
	cpu   engine.Backend
	dev   *Device
	gm    *GPUModel
	// Compute is what the next pass runs on: webgpu or cpu.
	Compute protocol.Compute
	// Reason says why the CPU runs when WebGPU was asked for (or available), "" otherwise.
	Reason string
	// LeftBuffers is the number of GPU buffers the device still held after the model was
	// released on the way to the CPU: anything but 0 is a leak.
	LeftBuffers int
}

// NewRunner opens a device and loads m onto it for mode (auto, "" as auto, or webgpu; cpu
// opens nothing). The CPU is the fallback of both; auto also takes the CPU when the only
// adapter is a software one (SwiftShader runs SqueezeNet in seconds where the CPU path
// takes milliseconds), webgpu uses it anyway.
func NewRunner(m *engine.Model, mode protocol.Compute, cpu engine.Backend, opt Options) *Runner {
	if cpu == nil {
		cpu = engine.DefaultBackend()
	}
	r := &Runner{model: m, cpu: cpu, Compute: protocol.ComputeCPU}
	mode, err := protocol.ParseCompute(string(mode))
	if err != nil {
		r.Reason = err.Error()
		return r
	}
	if mode == protocol.ComputeCPU {
		return r
	}
	dev, err := Open(opt)
	if err != nil {
		r.Reason = err.Error()
		return r
	}
	if mode != protocol.ComputeWebGPU && dev.Fallback() {
		r.Reason = fmt.Sprintf("the only WebGPU adapter is a software fallback (%s), slower than the CPU; backend=webgpu forces it", dev.Info())
		dev.Close()
		return r
	}
	gm, err := dev.Load(m)
	if err != nil {
		r.LeftBuffers, _ = dev.LiveBuffers()
		dev.Close()
		r.Reason = "WebGPU could not load the model: " + err.Error()
		return r
	}
	r.dev, r.gm, r.Compute = dev, gm, protocol.ComputeWebGPU
	return r
}

// Device is the open WebGPU device, nil on the CPU path.
func (r *Runner) Device() *Device { return r.dev }

// Close releases the GPU model and device.
func (r *Runner) Close() {
	if r.gm != nil {
		r.gm.Release()
		r.gm = nil
	}
	if r.dev != nil {
		r.LeftBuffers, _ = r.dev.LiveBuffers()
		r.dev.Close()
		r.dev = nil
	}
}

// fallBack drops the GPU for good after err.
func (r *Runner) fallBack(err error) {
	r.Reason = "WebGPU failed, finished on the CPU: " + err.Error()
	r.Close()
	r.Compute = protocol.ComputeCPU
}

// Forward runs x with the engine's options: Keep picks the activations read back from the
// GPU (nil: all named ones), StopAfter ends the pass early. OnLayer is called for every
// layer once the pass is done (the GPU pass is one submission, so there are no per-layer
// times; the whole pass's time is given to the last layer).
func (r *Runner) Forward(x *engine.Tensor, opt engine.ForwardOptions) (*engine.Result, error) {
	if r.gm != nil {
		res, err := r.forwardGPU(x, opt)
		if err == nil {
			return res, nil
		}
		if isInputError(r.model, x, opt) {
			return nil, err
		}
		r.fallBack(err)
	}
	opt.Backend = r.cpu
	return r.model.Forward(x, opt)
}

// isInputError reports whether the CPU path refuses the same request: then a GPU error was
// about the input, not the GPU, and falling back would not help.
func isInputError(m *engine.Model, x *engine.Tensor, opt engine.ForwardOptions) bool {
	if len(x.Shape) != 4 || x.Shape[1] != 3 || x.Shape[0] < 1 {
		return true
	}
	if _, err := m.Arch.Shapes(x.Shape[2], x.Shape[3]); err != nil {
		return true
	}
	return opt.StopAfter != "" && m.Arch.LayerIndex(opt.StopAfter) < 0
}

func (r *Runner) forwardGPU(x *engine.Tensor, opt engine.ForwardOptions) (*engine.Result, error) {
	start := time.Now()
	want := Want{Logits: true, StopAfter: opt.StopAfter}
	names := r.model.Arch.LayerNames()
	stop := opt.StopAfter
	if stop == "" {
		stop = r.model.Partial
	}
	for _, n := range names {
		if opt.Keep == nil || opt.Keep(n) {
			want.Activations = append(want.Activations, n)
		}
		if n == stop {
			break
		}
	}
	out, err := r.gm.Forward(x, want)
	if err != nil {
		return nil, err
	}
	took := time.Since(start)
	res := &engine.Result{Logits: out.Logits, Activations: out.Activations, Order: out.Order, LayerTimes: map[string]time.Duration{}}
	for i, n := range out.Order {
		var t time.Duration
		if i == len(out.Order)-1 {
			t = took
		}
		res.LayerTimes[n] = t
		if opt.OnLayer != nil {
			opt.OnLayer(n, i, len(names), t)
		}
	}
	return res, nil
}

// Gradient is engine.GradDevice: the gradient pass on the GPU. On the CPU path it returns
// an error at once and the engine computes the gradient itself; a GPU failure leaves the
// GPU for good, as in Forward, and is returned for the engine to do the same.
func (r *Runner) Gradient(x *engine.Tensor, target string, preReLU bool, at string, seed func(act *engine.Tensor) *engine.Tensor) (atAct, grad *engine.Tensor, err error) {
	if r.gm == nil {
		return nil, nil, fmt.Errorf("webgpu: the model runs on the CPU (%s)", r.Reason)
	}
	atAct, grad, err = r.gm.Gradient(x, target, preReLU, at, seed)
	if err != nil {
		r.fallBack(err)
	}
	return atAct, grad, err
}
