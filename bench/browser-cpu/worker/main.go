//go:build js && wasm

// Command worker is AlexLens's engine as the browser CPU benchmark runs it: one Go wasm
// instance in a Web Worker (page/alexlens-worker.js starts it). It answers three messages:
//
//	{op: "threads", n} -> {threads}: run the kernels on n threads (wasm/cpukernel's pool;
//	                          needs the shared-memory build, alexlens-shared.wasm)
//	{op: "load", name, weights: ArrayBuffer, precision: "f32"|"int8"} -> {kernel}
//	{op: "run", input: Float32Array, warmup, runs} -> {times, layers, top5, logits}
//	{op: "peak"} -> {gflops}: the micro-kernel alone on an L1-resident panel
//
// Weights are the same .pth state_dicts the peers' ONNX and tfjs files were exported from.
package main

import (
	"fmt"
	"syscall/js"
	"time"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/wasm/cpukernel"
	"github.com/alexlens/alexlens/wasm/jsutil"
	"github.com/alexlens/alexlens/weights"
)

// state is what the worker holds between messages.
type state struct {
	cpu   engine.FastCPU // on the generated kernels when they installed
	model *engine.Model
	input *engine.Tensor // set once by "input", so that passes time the network only
}

func main() {
	// The generated wasm kernels, unless the page kept them out (?kernel=go) or the browser
	// cannot run them; the reply's kernel name says which ran.
	cpu, err := cpukernel.Backend()
	if err != nil {
		js.Global().Get("console").Call("log", "alexlens: Go kernels: "+err.Error())
	}
	reqs := make(chan js.Value, 4)
	js.Global().Set("onmessage", js.FuncOf(func(_ js.Value, args []js.Value) any {
		reqs <- args[0].Get("data")
		return nil
	}))
	js.Global().Call("postMessage", map[string]any{"ready": true, "kernel": cpu.KernelName()})
	st := &state{cpu: cpu}
	// Requests are handled in this goroutine, never inside the JS callback: a forward pass
	// takes long, and the callback must return for the event loop to run.
	for data := range reqs {
		reply, err := handle(st, data)
		if err != nil {
			reply = map[string]any{"error": err.Error()}
		}
		js.Global().Call("postMessage", reply)
	}
}

func handle(st *state, data js.Value) (reply map[string]any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error: %v", r)
		}
	}()
	switch op := data.Get("op").String(); op {
	case "threads":
		// One Go worker, its kernels split across kernel workers on its shared memory.
		if err := cpukernel.SetThreads(data.Get("n").Int()); err != nil {
			return nil, err
		}
		return map[string]any{"threads": cpukernel.Threads()}, nil
	case "load":
		m, err := weights.LoadBytes(jsutil.Bytes(js.Global().Get("Uint8Array").New(data.Get("weights"))), data.Get("name").String())
		if err != nil {
			return nil, err
		}
		if p := data.Get("precision").String(); p == string(engine.Int8) {
			m = m.WithPrecision(engine.Int8)
		}
		st.model = m
		return map[string]any{"kernel": st.cpu.KernelName()}, nil
	case "input":
		m := st.model
		if m == nil {
			return nil, fmt.Errorf("no model loaded")
		}
		x := engine.NewTensor(1, 3, m.Arch.InputSize, m.Arch.InputSize)
		in := data.Get("input")
		if in.Get("length").Int() != len(x.Data) {
			return nil, fmt.Errorf("input has %d values, want %d", in.Get("length").Int(), len(x.Data))
		}
		js.CopyBytesToGo(float32Bytes(x.Data), js.Global().Get("Uint8Array").New(in.Get("buffer"), in.Get("byteOffset"), in.Get("byteLength")))
		st.input = x
		return map[string]any{}, nil
	case "run":
		m, x := st.model, st.input
		if m == nil || x == nil {
			return nil, fmt.Errorf("no model or no input loaded")
		}
		opt := engine.ForwardOptions{Backend: st.cpu, Keep: func(string) bool { return false }}
		warmup, runs := data.Get("warmup").Int(), data.Get("runs").Int()
		var times []any
		layers := map[string]any{}
		var res *engine.Result
		for i := 0; i < warmup+runs; i++ {
			start := time.Now()
			res, err = m.Forward(x, opt)
			if err != nil {
				return nil, err
			}
			if i < warmup {
				continue
			}
			times = append(times, ms(time.Since(start)))
			for name, d := range res.LayerTimes {
				l, _ := layers[name].([]any)
				layers[name] = append(l, ms(d))
			}
		}
		var top5 []any
		for _, c := range engine.TopK(res.Logits.Data, 5) {
			top5 = append(top5, c.Index)
		}
		logits := js.Global().Get("Float32Array").New(len(res.Logits.Data))
		js.CopyBytesToJS(js.Global().Get("Uint8Array").New(logits.Get("buffer")), float32Bytes(res.Logits.Data))
		order := make([]any, len(m.Arch.LayerNames()))
		for i, n := range m.Arch.LayerNames() {
			order[i] = n
		}
		return map[string]any{"times": times, "layers": layers, "order": order, "top5": top5, "logits": logits}, nil
	case "peak":
		gflops := cpukernel.PeakGFLOPS(300 * time.Millisecond) // the module's tile, when installed
		if gflops == 0 {
			gflops = engine.KernelPeakGFLOPS(300 * time.Millisecond)
		}
		return map[string]any{"gflops": gflops, "kernel": st.cpu.KernelName()}, nil
	default:
		return nil, fmt.Errorf("unknown op %q", op)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
