//go:build js && wasm

package webgpu

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall/js"
	"unsafe"

	"github.com/alexlens/alexlens/wasm/jsutil"
)

// ErrUnavailable wraps every reason WebGPU cannot be used at all (no navigator.gpu, no
// adapter, requestDevice failed); ErrDeviceLost a device that went away during use. Both
// mean "run on the CPU instead".
var (
	ErrUnavailable = errors.New("WebGPU is not available")
	ErrDeviceLost  = errors.New("the WebGPU device was lost")
)

// Options tune Open. The zero value is what the app uses; the test hooks exist so tests
// can trigger each fallback for real.
type Options struct {
	// RequiredFeatures are passed to requestDevice; an unsupported one makes it fail
	// (the "requestDevice failed" fallback test).
	RequiredFeatures []string
	// ShaderPatch, when set, rewrites each kernel's WGSL before compiling (the "shader
	// compile error" fallback test).
	ShaderPatch func(kernel, wgsl string) string
	// AfterSubmit, when set, runs right after a forward pass's work is submitted and
	// before its results are read (the "device lost mid-run" test destroys the device here).
	AfterSubmit func()
}

// Device is an open WebGPU device with its compiled kernels and a count of the buffers it
// holds. It is not safe for concurrent use (the worker runs one request at a time).
type Device struct {
	opt     Options
	adapter js.Value
	dev     js.Value
	queue   js.Value
	limits  Limits
	info    string
	// fallback: the adapter is a software or fallback one (SwiftShader, lavapipe), which
	// runs compute far slower than the CPU path.
	fallback bool

	pipelines map[string]js.Value
	live      map[*buffer]struct{}
	liveBytes int64

	lost       atomic.Bool
	lostMu     sync.Mutex
	lostReason string
	onLost     js.Func
	closed     bool
}

// Open asks the browser for a WebGPU adapter and device. Its errors wrap ErrUnavailable.
// It blocks on JS promises: call it from a goroutine, never from a JS callback.
func Open(opt Options) (*Device, error) {
	gpu := js.Global().Get("navigator")
	if !gpu.IsUndefined() && !gpu.IsNull() {
		gpu = gpu.Get("gpu")
	}
	if gpu.IsUndefined() || gpu.IsNull() {
		return nil, fmt.Errorf("%w: this browser has no navigator.gpu", ErrUnavailable)
	}
	adapter, err := jsutil.Await(gpu.Call("requestAdapter", map[string]any{"powerPreference": "high-performance"}))
	if err != nil {
		return nil, fmt.Errorf("%w: requestAdapter failed: %v", ErrUnavailable, err)
	}
	if adapter.IsNull() || adapter.IsUndefined() {
		return nil, fmt.Errorf("%w: the browser offers no WebGPU adapter (requestAdapter returned null)", ErrUnavailable)
	}
	al := adapter.Get("limits")
	// Ask for the adapter's own buffer limits: the defaults (128 MiB per binding) are too
	// small for AlexNet's fc6 weights in float32 (151 MB).
	lim := Limits{
		MaxWorkgroupsPerDimension: al.Get("maxComputeWorkgroupsPerDimension").Int(),
		MaxStorageBufferBinding:   int64(al.Get("maxStorageBufferBindingSize").Float()),
		MaxBufferSize:             int64(al.Get("maxBufferSize").Float()),
	}
	features := make([]any, len(opt.RequiredFeatures))
	for i, f := range opt.RequiredFeatures {
		features[i] = f
	}
	desc := map[string]any{
		"requiredFeatures": features,
		"requiredLimits": map[string]any{
			"maxStorageBufferBindingSize": float64(lim.MaxStorageBufferBinding),
			"maxBufferSize":               float64(lim.MaxBufferSize),
		},
	}
	dev, err := awaitCall(adapter, "requestDevice", desc)
	if err != nil {
		return nil, fmt.Errorf("%w: requestDevice failed: %v", ErrUnavailable, err)
	}
	d := &Device{opt: opt, adapter: adapter, dev: dev, queue: dev.Get("queue"), limits: lim,
		pipelines: map[string]js.Value{}, live: map[*buffer]struct{}{}}
	if info := adapter.Get("info"); !info.IsUndefined() {
		d.info = fmt.Sprintf("%s %s", info.Get("vendor").String(), info.Get("architecture").String())
		d.fallback = info.Get("isFallbackAdapter").Truthy()
	}
	// Browsers before GPUAdapterInfo.isFallbackAdapter put the flag on the adapter.
	d.fallback = d.fallback || adapter.Get("isFallbackAdapter").Truthy()
	d.onLost = js.FuncOf(func(_ js.Value, args []js.Value) any {
		msg := "lost"
		if len(args) > 0 {
			msg = fmt.Sprintf("%s (%s)", args[0].Get("message").String(), args[0].Get("reason").String())
		}
		d.lostMu.Lock()
		d.lostReason = msg
		d.lostMu.Unlock()
		d.lost.Store(true)
		d.onLost.Release() // the promise settles once
		return nil
	})
	dev.Get("lost").Call("then", d.onLost)
	return d, nil
}

// awaitCall calls a method that returns a promise, turning a synchronous throw (a
// TypeError for a bad descriptor) into an error too.
func awaitCall(v js.Value, method string, args ...any) (r js.Value, err error) {
	defer func() {
		if e := recover(); e != nil {
			err = fmt.Errorf("%v", e)
		}
	}()
	return jsutil.Await(v.Call(method, args...))
}

// Info names the adapter (vendor and architecture).
func (d *Device) Info() string { return d.info }

// Fallback reports whether the adapter is a software or fallback one
// (GPUAdapterInfo.isFallbackAdapter): SwiftShader in headless Chromium, for instance.
func (d *Device) Fallback() bool { return d.fallback }

// Limits are the limits the device was opened with.
func (d *Device) Limits() Limits { return d.limits }

// Lost reports whether the device was lost, and why.
func (d *Device) Lost() (bool, string) {
	d.lostMu.Lock()
	defer d.lostMu.Unlock()
	return d.lost.Load(), d.lostReason
}

// Destroy destroys the device as a driver reset would (for tests of the lost-device path).
func (d *Device) Destroy() { d.dev.Call("destroy") }

// LiveBuffers is the number and total size of GPU buffers this device holds now.
func (d *Device) LiveBuffers() (count int, bytes int64) { return len(d.live), d.liveBytes }

// Close releases every buffer still held and destroys the device.
func (d *Device) Close() {
	if d.closed {
		return
	}
	d.closed = true
	for b := range d.live {
		b.release()
	}
	d.dev.Call("destroy") // settles device.lost, whose callback then releases itself
}

func (d *Device) errLost() error {
	if lost, why := d.Lost(); lost {
		return fmt.Errorf("%w: %s", ErrDeviceLost, why)
	}
	return nil
}

// buffer is one GPU buffer, counted by its device until released.
type buffer struct {
	d    *Device
	v    js.Value
	size int64
}

const (
	usageMapRead  = 0x0001
	usageCopySrc  = 0x0004
	usageCopyDst  = 0x0008
	usageUniform  = 0x0040
	usageStorage  = 0x0080
	mapModeRead   = 0x0001
	uploadChunk   = 8 << 20
	minBufferSize = 16
)

func (d *Device) newBuffer(size int64, usage int, what string) (*buffer, error) {
	if d.closed {
		return nil, errors.New("webgpu: device is closed")
	}
	if err := d.errLost(); err != nil {
		return nil, err
	}
	size = max((size+3)/4*4, minBufferSize)
	if size > d.limits.MaxBufferSize || (usage&usageStorage != 0 && size > d.limits.MaxStorageBufferBinding) {
		return nil, fmt.Errorf("webgpu: %s needs %d MB, more than this GPU allows in one buffer (%d MB)",
			what, size>>20, min(d.limits.MaxBufferSize, d.limits.MaxStorageBufferBinding)>>20)
	}
	var v js.Value
	err := catch(func() {
		v = d.dev.Call("createBuffer", map[string]any{"size": float64(size), "usage": usage, "label": what})
	})
	if err != nil {
		return nil, fmt.Errorf("webgpu: creating a buffer for %s: %v", what, err)
	}
	b := &buffer{d: d, v: v, size: size}
	d.live[b] = struct{}{}
	d.liveBytes += size
	return b, nil
}

func (b *buffer) release() {
	if b == nil {
		return
	}
	if _, ok := b.d.live[b]; !ok {
		return
	}
	delete(b.d.live, b)
	b.d.liveBytes -= b.size
	catch(func() { b.v.Call("destroy") })
}

// catch runs f, turning a JS exception (a Go panic carrying a js.Error) into an error.
func catch(f func()) (err error) {
	defer func() {
		if e := recover(); e != nil {
			err = fmt.Errorf("%v", e)
		}
	}()
	f()
	return nil
}

// write copies bytes into the buffer at offset, in chunks through one staging array so a
// 150 MB weight never needs a second full-size copy in JS memory.
func (b *buffer) write(offset int64, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	chunk := min(len(data), uploadChunk)
	staging := js.Global().Get("Uint8Array").New(chunk)
	for off := 0; off < len(data); off += chunk {
		n := min(chunk, len(data)-off)
		src := staging
		if n < chunk {
			src = staging.Call("subarray", 0, n)
		}
		js.CopyBytesToJS(src, data[off:off+n])
		if err := catch(func() { b.d.queue.Call("writeBuffer", b.v, float64(offset+int64(off)), src) }); err != nil {
			return fmt.Errorf("webgpu: upload: %v", err)
		}
	}
	return nil
}

// f32Bytes views float32s as their little-endian bytes (wasm is little-endian) without a copy.
func f32Bytes(x []float32) []byte {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 4*len(x))
}

// pipeline compiles a kernel once. createComputePipelineAsync rejects on a WGSL error, so a
// shader that does not compile here is an error, never a silent wrong result.
func (d *Device) pipeline(kernel string) (js.Value, error) {
	if p, ok := d.pipelines[kernel]; ok {
		return p, nil
	}
	src, err := Shader(kernel)
	if err != nil {
		return js.Value{}, err
	}
	if d.opt.ShaderPatch != nil {
		src = d.opt.ShaderPatch(kernel, src)
	}
	var mod js.Value
	if err := catch(func() {
		mod = d.dev.Call("createShaderModule", map[string]any{"code": src, "label": kernel})
	}); err != nil {
		return js.Value{}, fmt.Errorf("webgpu: kernel %s: %v", kernel, err)
	}
	p, err := awaitCall(d.dev, "createComputePipelineAsync", map[string]any{
		"label": kernel, "layout": "auto", "compute": map[string]any{"module": mod, "entryPoint": "main"},
	})
	if err != nil {
		msg := err.Error()
		if info, ierr := jsutil.Await(mod.Call("getCompilationInfo")); ierr == nil {
			msgs := info.Get("messages")
			for i := 0; i < msgs.Length() && i < 3; i++ {
				m := msgs.Index(i)
				msg += fmt.Sprintf("; line %d: %s", m.Get("lineNum").Int(), m.Get("message").String())
			}
		}
		if lerr := d.errLost(); lerr != nil {
			return js.Value{}, lerr
		}
		return js.Value{}, fmt.Errorf("webgpu: kernel %s does not compile: %s", kernel, msg)
	}
	d.pipelines[kernel] = p
	return p, nil
}

// Compile compiles every kernel now, so a compile error shows up at load time.
func (d *Device) Compile() error {
	for _, k := range KernelNames() {
		if _, err := d.pipeline(k); err != nil {
			return err
		}
	}
	return nil
}

// scopes brackets GPU work with validation and out-of-memory error scopes, so a mistake
// the browser reports asynchronously becomes this call's error.
func (d *Device) pushScopes() {
	d.dev.Call("pushErrorScope", "validation")
	d.dev.Call("pushErrorScope", "out-of-memory")
}

func (d *Device) popScopes() error {
	var first error
	for _, kind := range []string{"out-of-memory", "validation"} {
		e, err := jsutil.Await(d.dev.Call("popErrorScope"))
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		if !e.IsNull() && !e.IsUndefined() && first == nil {
			first = fmt.Errorf("webgpu %s error: %s", kind, e.Get("message").String())
		}
	}
	if lerr := d.errLost(); lerr != nil {
		return lerr
	}
	return first
}

// readFloats copies GPU buffers into Go float32 slices: one copy into mappable staging
// buffers in a single submission, then one map of each.
func (d *Device) readFloats(enc js.Value, srcs []*buffer, dsts [][]float32) error {
	stagings := make([]*buffer, len(srcs))
	defer func() {
		for _, s := range stagings {
			s.release()
		}
	}()
	for i, src := range srcs {
		s, err := d.newBuffer(int64(4*len(dsts[i])), usageMapRead|usageCopyDst, "readback")
		if err != nil {
			return err
		}
		stagings[i] = s
		enc.Call("copyBufferToBuffer", src.v, 0, s.v, 0, float64(4*len(dsts[i])))
	}
	if err := catch(func() { d.queue.Call("submit", []any{enc.Call("finish")}) }); err != nil {
		return fmt.Errorf("webgpu: submit: %v", err)
	}
	if d.opt.AfterSubmit != nil {
		d.opt.AfterSubmit()
	}
	for i, s := range stagings {
		if len(dsts[i]) == 0 {
			continue
		}
		if _, err := awaitCall(s.v, "mapAsync", mapModeRead, 0, float64(4*len(dsts[i]))); err != nil {
			if lerr := d.errLost(); lerr != nil {
				return lerr
			}
			return fmt.Errorf("webgpu: reading results: %v", err)
		}
		ab := s.v.Call("getMappedRange", 0, float64(4*len(dsts[i])))
		js.CopyBytesToGo(f32Bytes(dsts[i]), js.Global().Get("Uint8Array").New(ab))
		s.v.Call("unmap")
	}
	return d.errLost()
}

// waitIdle waits until the queue has finished all submitted work.
func (d *Device) waitIdle() error {
	if _, err := awaitCall(d.queue, "onSubmittedWorkDone"); err != nil {
		return err
	}
	return d.errLost()
}
