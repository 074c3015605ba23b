//go:build js && wasm

package webgpu

import (
	"fmt"
	"syscall/js"
	"time"

	"github.com/alexlens/alexlens/engine"
)

// gpuWeight is one layer's parameters on the GPU: weights (float32, or int8 packed four to a
// word with per-channel scales), biases (zeros when the layer has none).
type gpuWeight struct {
	w, bias, scale *buffer
}

// GPUModel is a model whose weights live on the GPU. Weights are uploaded once by Load; a
// forward pass keeps every activation on the GPU and reads back only what Want asks for.
type GPUModel struct {
	d       *Device
	m       *engine.Model
	weights map[string]*gpuWeight // by parameter prefix (features.0)
	// The compiled plan of the last input shape, with its buffers and bind groups; a new
	// shape replaces it. gradProg is the same for gradient passes (Gradient).
	prog, gradProg *program
	released       bool
}

// program is a plan bound to GPU buffers: one storage buffer per tensor, one uniform
// buffer and bind group per op.
type program struct {
	p        *plan
	key      string
	tensors  []*buffer
	uniforms []*buffer
	binds    []js.Value
	pipes    []js.Value
}

// Load uploads m's weights and compiles the kernels. Weights keep their precision: int8
// stays int8 (a quarter of float32's bytes on the GPU and in the upload).
func (d *Device) Load(m *engine.Model) (gm *GPUModel, err error) {
	if err := d.errLost(); err != nil {
		return nil, err
	}
	gm = &GPUModel{d: d, m: m, weights: map[string]*gpuWeight{}}
	defer func() {
		if err != nil {
			gm.Release()
			gm = nil
		}
	}()
	if err := d.Compile(); err != nil {
		return nil, err
	}
	d.pushScopes()
	for _, ps := range m.Arch.Params() {
		if len(ps.Shape) < 2 {
			continue
		}
		w := m.Params[ps.Name]
		if w == nil {
			if m.Partial != "" {
				break // weights for the first layers only
			}
			return nil, fmt.Errorf("webgpu: the model has no %s", ps.Name)
		}
		key := ps.Name[:len(ps.Name)-len(".weight")]
		gw := &gpuWeight{}
		gm.weights[key] = gw
		if gw.w, err = d.newBuffer(weightBytes(w), usageStorage|usageCopyDst, ps.Name); err != nil {
			d.popScopes()
			return nil, err
		}
		data := f32Bytes(w.F32)
		if w.Quantized() {
			data = packInt8(w)
			if gw.scale, err = d.upload(w.Scale, key+".scale"); err != nil {
				d.popScopes()
				return nil, err
			}
		}
		if err := gw.w.write(0, data); err != nil {
			d.popScopes()
			return nil, err
		}
		bias := make([]float32, w.Rows())
		if b := m.Params[key+".bias"]; b != nil {
			bias = b.F32
		}
		if gw.bias, err = d.upload(bias, key+".bias"); err != nil {
			d.popScopes()
			return nil, err
		}
	}
	if err := d.popScopes(); err != nil {
		return nil, err
	}
	return gm, nil
}

func (d *Device) upload(x []float32, what string) (*buffer, error) {
	b, err := d.newBuffer(int64(4*len(x)), usageStorage|usageCopyDst, what)
	if err != nil {
		return nil, err
	}
	if err := b.write(0, f32Bytes(x)); err != nil {
		b.release()
		return nil, err
	}
	return b, nil
}

// WeightBytes is the GPU memory the model's parameters take.
func (gm *GPUModel) WeightBytes() int64 {
	var n int64
	for _, w := range gm.weights {
		for _, b := range []*buffer{w.w, w.bias, w.scale} {
			if b != nil {
				n += b.size
			}
		}
	}
	return n
}

// Release frees every GPU buffer of the model. The model cannot be used afterwards.
func (gm *GPUModel) Release() {
	if gm == nil || gm.released {
		return
	}
	gm.released = true
	gm.dropProgram()
	for _, w := range gm.weights {
		w.w.release()
		w.bias.release()
		w.scale.release()
	}
	gm.weights = nil
}

func (gm *GPUModel) dropProgram() {
	if gm.prog != nil {
		gm.d.releaseProgram(gm.prog)
		gm.prog = nil
	}
	gm.dropGradProgram()
}

func (gm *GPUModel) dropGradProgram() {
	if gm.gradProg != nil {
		gm.d.releaseProgram(gm.gradProg)
		gm.gradProg = nil
	}
}

func (d *Device) releaseProgram(pr *program) {
	for _, b := range pr.tensors {
		b.release()
	}
	for _, b := range pr.uniforms {
		b.release()
	}
}

// bind allocates a plan's buffers and creates its bind groups. weights maps a parameter
// prefix to its buffers.
func (d *Device) bind(p *plan, weights map[string]*gpuWeight, extern map[int]*buffer) (_ *program, err error) {
	pr := &program{p: p}
	defer func() {
		if err != nil {
			d.releaseProgram(pr)
		}
	}()
	for i, t := range p.tensors {
		if b := extern[i]; b != nil {
			pr.tensors = append(pr.tensors, nil) // owned by the caller
			continue
		}
		b, err := d.newBuffer(int64(4*t.len()), usageStorage|usageCopyDst|usageCopySrc, fmt.Sprintf("tensor %v", t.shape))
		if err != nil {
			return nil, err
		}
		pr.tensors = append(pr.tensors, b)
	}
	tensor := func(i int) *buffer {
		if b := extern[i]; b != nil {
			return b
		}
		return pr.tensors[i]
	}
	for _, o := range p.ops {
		pipe, err := d.pipeline(o.kernel)
		if err != nil {
			return nil, err
		}
		u, err := d.newBuffer(int64(len(o.uniform)), usageUniform|usageCopyDst, o.kernel+" uniforms")
		if err != nil {
			return nil, err
		}
		pr.uniforms = append(pr.uniforms, u)
		if err := u.write(0, o.uniform); err != nil {
			return nil, err
		}
		entries := []any{
			entry(0, u), entry(1, tensor(o.in)), entry(5, tensor(o.out)),
		}
		uses := bindingsOf(o.kernel)
		if len(o.aux) != uses.aux {
			return nil, fmt.Errorf("webgpu: %s reads %d more tensors, the op names %d", o.kernel, uses.aux, len(o.aux))
		}
		for i, t := range o.aux {
			entries = append(entries, entry(6+i, tensor(t)))
		}
		if uses.weights {
			w := weights[o.param]
			if w == nil {
				return nil, fmt.Errorf("webgpu: no weights uploaded for %s", o.param)
			}
			entries = append(entries, entry(2, w.w))
			if uses.bias {
				entries = append(entries, entry(3, w.bias))
			}
			if uses.scale {
				if w.scale == nil {
					return nil, fmt.Errorf("webgpu: %s is not int8", o.param)
				}
				entries = append(entries, entry(4, w.scale))
			}
		}
		var bg js.Value
		if err := catch(func() {
			bg = d.dev.Call("createBindGroup", map[string]any{"layout": pipe.Call("getBindGroupLayout", 0), "entries": entries})
		}); err != nil {
			return nil, fmt.Errorf("webgpu: binding %s: %v", o.kernel, err)
		}
		pr.binds = append(pr.binds, bg)
		pr.pipes = append(pr.pipes, pipe)
	}
	return pr, nil
}

func entry(binding int, b *buffer) map[string]any {
	return map[string]any{"binding": binding, "resource": map[string]any{"buffer": b.v}}
}

// encode records ops [from, to) of a program into one compute pass.
func (d *Device) encode(enc js.Value, pr *program, from, to int) {
	pass := enc.Call("beginComputePass")
	for i := from; i < to; i++ {
		o := pr.p.ops[i]
		pass.Call("setPipeline", pr.pipes[i])
		pass.Call("setBindGroup", 0, pr.binds[i])
		pass.Call("dispatchWorkgroups", o.groups[0], o.groups[1], o.groups[2])
	}
	pass.Call("end")
}

// Want says what a forward pass reads back from the GPU; everything else stays there.
type Want struct {
	Probs       bool     // softmax of the logits, N x classes
	Logits      bool     // N x classes
	Activations []string // named activations (conv1, fire9, fc7...)
	StopAfter   string   // end the pass after this layer ("" = run to the end)
	// LayerTimes submits each layer on its own and waits for it, to time layers (for
	// benchmarks: it adds a round trip per layer that a normal pass does not have).
	LayerTimes bool
}

// Output is what a forward pass read back.
type Output struct {
	Logits, Probs *engine.Tensor
	Activations   map[string]*engine.Tensor
	Order         []string                 // the layers that ran, in order
	LayerTimes    map[string]time.Duration // only with Want.LayerTimes
}

// Forward runs the network on x (N x 3 x H x W) on the GPU. Errors wrapping ErrDeviceLost
// mean the device went away; the model must then be released and the pass redone on the CPU.
func (gm *GPUModel) Forward(x *engine.Tensor, want Want) (*Output, error) {
	if gm.released {
		return nil, fmt.Errorf("webgpu: model was released")
	}
	d := gm.d
	if err := d.errLost(); err != nil {
		return nil, err
	}
	if len(x.Shape) != 4 || x.Shape[1] != 3 || x.Shape[0] < 1 || x.Len() == 0 {
		return nil, fmt.Errorf("%s: input must be N x 3 x H x W, got %v", gm.m.Arch.Name, x.Shape)
	}
	if want.StopAfter != "" && gm.m.Arch.LayerIndex(want.StopAfter) < 0 {
		return nil, fmt.Errorf("%s has no layer %q (layers: %v)", gm.m.Arch.Name, want.StopAfter, gm.m.Arch.LayerNames())
	}
	if gm.m.Partial != "" && want.StopAfter != "" && gm.m.Arch.LayerIndex(want.StopAfter) > gm.m.Arch.LayerIndex(gm.m.Partial) {
		return nil, fmt.Errorf("%s: these weights cover layers up to %s only, cannot run to %s", gm.m.Arch.Name, gm.m.Partial, want.StopAfter)
	}
	key := fmt.Sprintf("%v/%s", x.Shape, want.StopAfter)
	if gm.prog == nil || gm.prog.key != key {
		gm.dropProgram()
		p, err := buildPlan(gm.m, x.Shape[0], x.Shape[2], x.Shape[3], want.StopAfter, d.limits)
		if err != nil {
			return nil, err
		}
		d.pushScopes()
		pr, err := d.bind(p, gm.weights, nil)
		if perr := d.popScopes(); err == nil {
			err = perr
		}
		if err != nil {
			return nil, err
		}
		pr.key = key
		gm.prog = pr
	}
	pr := gm.prog
	p := pr.p
	out := &Output{Activations: map[string]*engine.Tensor{}, Order: p.order}
	var srcs []*buffer
	var dsts [][]float32
	readback := func(t int) *engine.Tensor {
		y := engine.NewTensor(p.tensors[t].shape...)
		srcs = append(srcs, pr.tensors[t])
		dsts = append(dsts, y.Data)
		return y
	}
	for _, name := range want.Activations {
		t, ok := p.named[name]
		if !ok {
			return nil, fmt.Errorf("no activation %q in this pass (layers: %v)", name, p.order)
		}
		out.Activations[name] = readback(t)
	}
	if want.Logits && p.logits >= 0 {
		out.Logits = readback(p.logits)
		out.Logits.Shape = []int{x.Shape[0], out.Logits.Len() / x.Shape[0]}
	}
	if want.Probs && p.probs >= 0 {
		out.Probs = readback(p.probs)
	}

	d.pushScopes()
	if err := pr.tensors[p.input].write(0, f32Bytes(x.Data)); err != nil {
		d.popScopes()
		return nil, err
	}
	var runErr error
	if want.LayerTimes {
		runErr = gm.runTimed(pr, out)
	} else {
		enc := d.dev.Call("createCommandEncoder")
		d.encode(enc, pr, 0, len(p.ops))
		runErr = d.readFloats(enc, srcs, dsts)
	}
	if want.LayerTimes && runErr == nil {
		runErr = d.readFloats(d.dev.Call("createCommandEncoder"), srcs, dsts)
	}
	if err := d.popScopes(); runErr == nil {
		runErr = err
	}
	if runErr != nil {
		return nil, runErr
	}
	return out, nil
}

// runTimed submits one layer at a time and waits for each.
func (gm *GPUModel) runTimed(pr *program, out *Output) error {
	d := gm.d
	out.LayerTimes = map[string]time.Duration{}
	if err := d.waitIdle(); err != nil { // the input upload
		return err
	}
	from := 0
	start := time.Now()
	for i, o := range pr.p.ops {
		if o.layer == "" && i != len(pr.p.ops)-1 {
			continue
		}
		enc := d.dev.Call("createCommandEncoder")
		d.encode(enc, pr, from, i+1)
		d.queue.Call("submit", []any{enc.Call("finish")})
		if d.opt.AfterSubmit != nil {
			d.opt.AfterSubmit()
		}
		if err := d.waitIdle(); err != nil {
			return err
		}
		name := o.layer
		if name == "" {
			name = "softmax"
		}
		out.LayerTimes[name] = time.Since(start)
		start = time.Now()
		from = i + 1
	}
	return nil
}

// Gradient runs a gradient pass on the GPU (engine.GradDevice's contract): the forward pass
// to target keeps every activation on the GPU, target's activation alone is read back and
// handed to seed, which evaluates the objectives on the CPU, and the gradient it returns
// is uploaded and propagated back by the backward kernels to the input, or to the output
// of the layer named at; only that gradient (and at's output) is read back. The program is
// built once per input shape and layers, like Forward's. Errors wrapping ErrDeviceLost mean
// the device went away.
func (gm *GPUModel) Gradient(x *engine.Tensor, target string, preReLU bool, at string, seed func(act *engine.Tensor) *engine.Tensor) (atAct, grad *engine.Tensor, err error) {
	if gm.released {
		return nil, nil, fmt.Errorf("webgpu: model was released")
	}
	d := gm.d
	if err := d.errLost(); err != nil {
		return nil, nil, err
	}
	if len(x.Shape) != 4 || x.Shape[1] != 3 || x.Shape[0] < 1 || x.Len() == 0 {
		return nil, nil, fmt.Errorf("%s: input must be N x 3 x H x W, got %v", gm.m.Arch.Name, x.Shape)
	}
	key := fmt.Sprintf("%v/%s/%v/%s", x.Shape, target, preReLU, at)
	if gm.gradProg == nil || gm.gradProg.key != key {
		gm.dropGradProgram()
		p, err := buildGradPlan(gm.m, x.Shape[0], x.Shape[2], x.Shape[3], target, preReLU, at, d.limits)
		if err != nil {
			return nil, nil, err
		}
		d.pushScopes()
		pr, err := d.bind(p, gm.weights, nil)
		if perr := d.popScopes(); err == nil {
			err = perr
		}
		if err != nil {
			return nil, nil, err
		}
		pr.key = key
		gm.gradProg = pr
	}
	pr := gm.gradProg
	p := pr.p
	// run uploads in into tensor at, runs ops [from, to) and reads tensors back[i] into
	// out[i].
	run := func(at int, in []float32, from, to int, back []int, out []*engine.Tensor) error {
		var srcs []*buffer
		var dsts [][]float32
		for i, t := range back {
			srcs, dsts = append(srcs, pr.tensors[t]), append(dsts, out[i].Data)
		}
		d.pushScopes()
		err := pr.tensors[at].write(0, f32Bytes(in))
		if err == nil {
			enc := d.dev.Call("createCommandEncoder")
			d.encode(enc, pr, from, to)
			err = d.readFloats(enc, srcs, dsts)
		}
		if perr := d.popScopes(); err == nil {
			err = perr
		}
		return err
	}
	act := engine.NewTensor(p.tensors[p.act].shape...)
	if err := run(p.input, x.Data, 0, p.backwardFrom, []int{p.act}, []*engine.Tensor{act}); err != nil {
		return nil, nil, err
	}
	g := seed(act)
	if g == nil || g.Len() != act.Len() {
		return nil, nil, fmt.Errorf("webgpu: the objectives' gradient does not match %s's activation %v", target, act.Shape)
	}
	back, out := []int{p.dx}, []*engine.Tensor{engine.NewTensor(p.tensors[p.dx].shape...)}
	if p.atAct >= 0 {
		atAct = engine.NewTensor(p.tensors[p.atAct].shape...)
		back, out = append(back, p.atAct), append(out, atAct)
	}
	if err := run(p.seed, g.Data, p.backwardFrom, len(p.ops), back, out); err != nil {
		return nil, nil, err
	}
	return atAct, out[0], nil
}
