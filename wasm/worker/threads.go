//go:build js && wasm

package main

// Several engine workers for one forward pass (?threads=N). Go's wasm has no threads, so
// the worker the page talks to (part 0) starts N-1 helper workers from its own script
// (worker.js?part=P, the same engine in helper mode), connects every pair of parts with a
// MessageChannel and sends each helper the verified weights file. Each helper keeps only
// its share of every layer's rows (split.Slice); part 0 keeps the whole model, since the
// kernel grid, galleries and feature visualization read it, and runs its share on a view
// of it (split.View). A pass sends the input tensor to the helpers, and every part computes
// its output channels of each layer and exchanges them with the others (wasm/split).
//
// On a cross-origin isolated page (the server's Config.CrossOriginIsolated; off by default,
// so that the app can be embedded) the parts exchange through one SharedArrayBuffer that
// part 0 allocates and posts to the helpers (split.SharedExchange: no event-loop turn per
// layer); otherwise over the MessageChannel mesh (split.PortExchange).
//
// When anything goes wrong with the helpers (a start or load failure, an error in a pass,
// no answer in time) they are stopped and this and later passes run on part 0 alone, so
// the page still gets its result; the result then says one worker ran.
//
// Helper messages are plain objects (no protocol JSON: only this file speaks them):
//
//	helper -> part 0: {op: "ready"} once listening; {op: "loaded"}; {op: "done"}; {error}
//	part 0 -> helper: {op: "peers", part, parts, ports, shared?: SharedArrayBuffer};
//	                  {op: "load", weights: Uint8Array, precision};
//	                  {op: "run", input: Float32Array, shape: [n, c, h, w]}

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"syscall/js"
	"time"
	"unsafe"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/wasm/cpukernel"
	"github.com/alexlens/alexlens/wasm/jsutil"
	"github.com/alexlens/alexlens/wasm/session"
	"github.com/alexlens/alexlens/wasm/split"
)

const (
	// helperLoadTimeout bounds starting the helpers and decoding the weights in each (the
	// largest file, AlexNet f32, takes seconds); past it, passes run on part 0 alone.
	helperLoadTimeout = 2 * time.Minute
	// passTimeout bounds one split pass: far more than any pass takes, so that a helper
	// that stopped answering cannot leave the page waiting forever.
	passTimeout = 2 * time.Minute
)

// loading is what the request being loaded asks of the runner factory (set by serve around
// the session's load: the factory's signature has no room for it).
var loading struct {
	threads   int      // the request's threads (0: choose)
	weights   js.Value // the verified file, in JS memory, for the helpers
	precision string
}

// isHelper reports whether this instance was started as a helper part (worker.js?part=P).
func isHelper() bool {
	q, _ := url.ParseQuery(strings.TrimPrefix(js.Global().Get("location").Get("search").String(), "?"))
	return q.Has("part")
}

// cores is navigator.hardwareConcurrency (1 when the browser does not say).
func cores() int {
	n := js.Global().Get("navigator").Get("hardwareConcurrency")
	if n.Type() != js.TypeNumber {
		return 1
	}
	return n.Int()
}

// newRunner is the session's runner factory: WebGPU when asked for and available, else the
// CPU on as many workers as asked for (or as suits the network and the visitor's cores).
func newRunner(m *engine.Model, mode string, cpu engine.Backend) session.Runner {
	r := newGPURunner(m, mode, cpu)
	compute, note := r.Compute()
	if compute != "cpu" {
		return r
	}
	if cpukernel.Shared() {
		if p := newPoolRunner(r, loading.threads); p != nil {
			return p
		}
		return r
	}
	n := loading.threads
	if n == 0 {
		n = split.PartsFor(m.Arch.Name, cores())
		if engine.KernelName() == cpukernel.Name {
			// With the generated kernels one worker is faster than several exchanging
			// activations (TestThreadsNumbers, 2 cores: AlexNet f32 48.6 ms on one worker,
			// 56.7 on two; SqueezeNet 23.5 and 54.2), so extra workers only when asked for.
			n = 1
		}
	}
	n = min(n, split.MaxParts)
	if n <= 1 {
		return r
	}
	r.Close()
	return newSplitRunner(m, cpu, n, note)
}

// exchange is what the runner and the helpers need of split's exchangers.
type exchange interface {
	split.Exchanger
	Fail(error)
	Release()
}

// newExchange is part 0's exchanger: shared memory when the page allows it, else the ports
// (also when allocating the buffer fails: the ports always work). shared is the buffer to
// post to the helpers, undefined when the ports are used.
func newExchange(m *engine.Model, n int, ports []js.Value) (x exchange, shared js.Value) {
	if split.SharedAvailable() {
		sx, buf, err := func() (*split.SharedExchange, js.Value, error) {
			capacity, err := split.ShareCapacity(m.Arch, n)
			if err != nil {
				return nil, js.Undefined(), err
			}
			buf, err := split.NewSharedBuffer(n, capacity)
			if err != nil {
				return nil, js.Undefined(), err
			}
			sx, err := split.NewSharedExchange(0, n, buf)
			return sx, buf, err
		}()
		if err == nil {
			js.Global().Get("console").Call("info", fmt.Sprintf("alexlens: %d engine workers exchange layer outputs through shared memory", n))
			return sx, buf
		}
		js.Global().Get("console").Call("warn", "alexlens: exchanging over MessageChannels: "+err.Error())
	}
	js.Global().Get("console").Call("info", fmt.Sprintf("alexlens: %d engine workers exchange layer outputs over MessageChannels", n))
	return split.NewPortExchange(0, ports), js.Undefined()
}

type helperReply struct {
	part int
	op   string
	err  error
}

// splitRunner runs passes on part 0 and its helpers.
type splitRunner struct {
	whole, view *engine.Model
	cpu         engine.Backend
	parts       int
	note        string // why the CPU runs (WebGPU unavailable), as the GPU runner said

	helpers []js.Value
	funcs   []js.Func
	x       exchange
	replies chan helperReply
	file    js.Value // the weights file until every helper has been sent it
	sent    int
	loaded  bool
	failed  error // set once the helpers are given up: passes then run on part 0 alone
	ran     int   // workers that ran the last pass
}

func newSplitRunner(m *engine.Model, cpu engine.Backend, n int, note string) *splitRunner {
	r := &splitRunner{whole: m, cpu: cpu, parts: n, note: note, ran: n, replies: make(chan helperReply, 4*n)}
	view, err := split.View(m, 0, n)
	if err != nil {
		r.give(err)
		return r
	}
	r.view = view
	// A full mesh: ports[i][j] leads from part i to part j.
	ports := make([][]any, n)
	for i := range ports {
		ports[i] = make([]any, n)
		for j := range ports[i] {
			ports[i][j] = js.Null()
		}
	}
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			ch := js.Global().Get("MessageChannel").New()
			ports[i][j], ports[j][i] = ch.Get("port1"), ch.Get("port2")
		}
	}
	mine := make([]js.Value, n)
	for j := range mine {
		mine[j] = ports[0][j].(js.Value)
	}
	var shared js.Value
	r.x, shared = newExchange(m, n, mine)

	r.file = loading.weights
	precision := loading.precision
	script := js.Global().Get("location").Get("href").String()
	script, _, _ = strings.Cut(script, "#")
	sep := "?"
	if strings.Contains(script, "?") {
		sep = "&"
	}
	for p := 1; p < n; p++ {
		w := js.Global().Get("Worker").New(fmt.Sprintf("%s%spart=%d", script, sep, p))
		r.helpers = append(r.helpers, w)
		onMsg := js.FuncOf(func(_ js.Value, args []js.Value) any {
			d := args[0].Get("data")
			rep := helperReply{part: p}
			switch {
			case d.Get("json").Type() == js.TypeString: // worker.js could not start the engine
				rep.err = fmt.Errorf("worker %d did not start: %s", p+1, d.Get("json").String())
			case d.Get("error").Type() == js.TypeString:
				rep.err = fmt.Errorf("worker %d: %s", p+1, d.Get("error").String())
			default:
				rep.op = d.Get("op").String()
			}
			if rep.op == "ready" {
				// Only now is the helper listening: messages sent earlier would be lost.
				theirs := js.Global().Get("Array").New()
				for _, port := range ports[p] {
					if !port.(js.Value).IsNull() {
						theirs.Call("push", port)
					}
				}
				w.Call("postMessage", map[string]any{"op": "peers", "part": p, "parts": n, "ports": ports[p], "shared": shared}, theirs)
				w.Call("postMessage", map[string]any{"op": "load", "weights": r.file, "precision": precision})
				if r.sent++; r.sent == len(r.helpers) {
					r.file = js.Undefined() // copied to every helper: part 0 need not hold it
				}
				return nil
			}
			if rep.op == "peers" {
				return nil // connected; "loaded" follows
			}
			if rep.err != nil {
				r.x.Fail(rep.err) // a pass in progress must not wait for this part's shares
			}
			select {
			case r.replies <- rep:
			default: // only a misbehaving helper sends more than it is asked for
			}
			return nil
		})
		onErr := js.FuncOf(func(_ js.Value, args []js.Value) any {
			err := fmt.Errorf("worker %d failed: %s", p+1, args[0].Get("message").String())
			r.x.Fail(err)
			select {
			case r.replies <- helperReply{part: p, err: err}:
			default:
			}
			return nil
		})
		r.funcs = append(r.funcs, onMsg, onErr)
		w.Set("onmessage", onMsg)
		w.Set("onerror", onErr)
	}
	return r
}

// await collects one reply of kind op from every helper.
func (r *splitRunner) await(op string, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for got := 0; got < len(r.helpers); {
		select {
		case rep := <-r.replies:
			if rep.err != nil {
				return rep.err
			}
			if rep.op != op {
				return fmt.Errorf("worker %d answered %q, expected %q", rep.part+1, rep.op, op)
			}
			got++
		case <-deadline.C:
			return fmt.Errorf("the helper workers did not answer %q within %v", op, timeout)
		}
	}
	return nil
}

func (r *splitRunner) Forward(x *engine.Tensor, opt engine.ForwardOptions) (*engine.Result, error) {
	if r.failed == nil && !r.loaded {
		if err := r.await("loaded", helperLoadTimeout); err != nil {
			r.give(err)
		} else {
			r.loaded = true
		}
	}
	if r.failed == nil {
		res, err := r.splitPass(x, opt)
		if err == nil {
			r.ran = r.parts
			return res, nil
		}
		r.give(err)
	}
	r.ran = 1
	opt.Backend = r.cpu
	return r.whole.Forward(x, opt)
}

// splitPass runs one pass on all parts.
func (r *splitRunner) splitPass(x *engine.Tensor, opt engine.ForwardOptions) (res *engine.Result, err error) {
	shape := make([]any, len(x.Shape))
	for i, d := range x.Shape {
		shape[i] = d
	}
	for _, w := range r.helpers {
		in := js.Global().Get("Float32Array").New(len(x.Data))
		js.CopyBytesToJS(js.Global().Get("Uint8Array").New(in.Get("buffer")), float32Bytes(x.Data))
		w.Call("postMessage", map[string]any{"op": "run", "input": in, "shape": shape}, []any{in.Get("buffer")})
	}
	watchdog := time.AfterFunc(passTimeout, func() {
		r.x.Fail(fmt.Errorf("a split pass took longer than %v", passTimeout))
	})
	defer watchdog.Stop()
	opt.Backend = &split.Backend{Inner: r.cpu, Part: 0, Parts: r.parts, X: r.x}
	res, err = forwardCatching(r.view, x, opt)
	if err != nil {
		return nil, err
	}
	if err := r.await("done", passTimeout); err != nil {
		return nil, err
	}
	return res, nil
}

// forwardCatching turns a panic in a pass (split.Backend panics when an exchange fails) into
// an error.
func forwardCatching(m *engine.Model, x *engine.Tensor, opt engine.ForwardOptions) (res *engine.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	return m.Forward(x, opt)
}

// give stops the helpers for good: passes run on part 0 alone from now on.
func (r *splitRunner) give(err error) {
	if r.failed != nil {
		return
	}
	r.failed = err
	js.Global().Get("console").Call("warn", fmt.Sprintf("alexlens: running on one worker instead of %d: %v", r.parts, err))
	r.stop()
}

func (r *splitRunner) stop() {
	for _, w := range r.helpers {
		w.Call("terminate")
	}
	r.helpers = nil
	r.file = js.Undefined()
	if r.x != nil {
		r.x.Release()
	}
	for _, f := range r.funcs {
		f.Release()
	}
	r.funcs = nil
}

func (r *splitRunner) Compute() (string, string) { return "cpu", r.note }
func (r *splitRunner) Threads() int              { return r.ran }
func (r *splitRunner) Close()                    { r.stop() }

// helperMain is a helper part's whole life: it holds its share of the weights and runs its
// share of each pass that part 0 starts.
func helperMain() {
	reqs := make(chan js.Value, 8)
	js.Global().Set("onmessage", js.FuncOf(func(_ js.Value, args []js.Value) any {
		select {
		case reqs <- args[0].Get("data"):
		default: // part 0 sends one request at a time; more is a bug, reported, not queued
			js.Global().Call("postMessage", map[string]any{"error": "too many requests queued"})
		}
		return nil
	}))
	js.Global().Call("postMessage", map[string]any{"op": "ready"})
	h := &helper{}
	for d := range reqs {
		op, err := h.handle(d)
		if err != nil {
			if h.x != nil {
				// Part 0 and the other helpers may be blocked waiting for this part's shares
				// (Atomics.wait does not let them see the error message): wake them.
				h.x.Fail(err)
			}
			js.Global().Call("postMessage", map[string]any{"error": err.Error()})
			continue
		}
		js.Global().Call("postMessage", map[string]any{"op": op})
	}
}

type helper struct {
	part, parts int
	x           exchange
	model       *engine.Model
}

func (h *helper) handle(d js.Value) (reply string, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error: %v", p)
		}
	}()
	switch op := d.Get("op").String(); op {
	case "peers":
		h.part, h.parts = d.Get("part").Int(), d.Get("parts").Int()
		if h.parts < 2 || h.parts > split.MaxParts || h.part < 1 || h.part >= h.parts {
			return "", fmt.Errorf("part %d of %d does not exist", h.part, h.parts)
		}
		if sab := d.Get("shared"); sab.Truthy() {
			x, err := split.NewSharedExchange(h.part, h.parts, sab)
			if err != nil {
				return "", err // h.x stays nil, not a nil *SharedExchange that Fail would dereference
			}
			h.x = x
			return "peers", nil
		}
		ports := make([]js.Value, h.parts)
		for i := range ports {
			ports[i] = d.Get("ports").Index(i)
		}
		h.x = split.NewPortExchange(h.part, ports)
		return "peers", nil
	case "load":
		if h.x == nil {
			return "", errors.New("weights before peers")
		}
		// Part 0 has checked this very file (its sha256, or every tensor's): no need again.
		m, err := codecs().DecodeWeights(jsutil.Bytes(d.Get("weights")), true)
		if err != nil {
			return "", err
		}
		switch p := d.Get("precision").String(); p {
		case string(engine.F32), string(engine.Int8):
			partial := m.Partial
			m = m.WithPrecision(engine.Precision(p))
			m.Partial = partial
		}
		if h.model, err = split.Slice(m, h.part, h.parts); err != nil {
			return "", err
		}
		return "loaded", nil
	case "run":
		if h.model == nil {
			return "", errors.New("a pass before the weights")
		}
		sh := d.Get("shape")
		if sh.Length() != 4 {
			return "", fmt.Errorf("input of %d dimensions, want 4", sh.Length())
		}
		x := engine.NewTensor(sh.Index(0).Int(), sh.Index(1).Int(), sh.Index(2).Int(), sh.Index(3).Int())
		in := d.Get("input")
		if in.Get("length").Int() != len(x.Data) {
			return "", fmt.Errorf("input has %d values, its shape says %d", in.Get("length").Int(), len(x.Data))
		}
		js.CopyBytesToGo(float32Bytes(x.Data), js.Global().Get("Uint8Array").New(in.Get("buffer"), in.Get("byteOffset"), in.Get("byteLength")))
		b := &split.Backend{Inner: engine.DefaultBackend(), Part: h.part, Parts: h.parts, X: h.x}
		if _, err := h.model.Forward(x, engine.ForwardOptions{Backend: b, Keep: func(string) bool { return false }}); err != nil {
			return "", err
		}
		return "done", nil
	default:
		return "", fmt.Errorf("unknown op %q", op)
	}
}

// float32Bytes views float32 values as their bytes (little-endian on wasm), without copying.
func float32Bytes(f []float32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(f))), 4*len(f))
}
