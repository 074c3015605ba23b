//go:build js && wasm

// Command sharedtest is one part of a split forward pass in a Web Worker, for wasm/split's
// browser test (browser_test.go): the same fixture network and input in every worker, so
// that the test can compare the logits of one worker with those of several, exchanging
// through a SharedArrayBuffer or over MessageChannels. Messages (replies {error} on failure):
//
//	{op: "sharedBytes", arch, parts, capacity} -> {bytes, available}: the buffer size for a
//	    shared exchange (capacity 0: split.ShareCapacity's), and split.SharedAvailable()
//	{op: "init", arch, precision, part, parts, shared?, ports?, timeoutMs?} -> {exchange}
//	{op: "run", batch} -> {logits: Float32Array}
//	{op: "fail"} -> {}: give up the exchange (split.SharedExchange.Fail)
package main

import (
	"errors"
	"fmt"
	"math/rand"
	"syscall/js"
	"time"
	"unsafe"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/wasm/split"
	"github.com/alexlens/alexlens/weights"
)

type part struct {
	model       *engine.Model
	part, parts int
	x           split.Exchanger
	shared      *split.SharedExchange
}

func main() {
	reqs := make(chan js.Value, 4)
	js.Global().Set("onmessage", js.FuncOf(func(_ js.Value, args []js.Value) any {
		reqs <- args[0].Get("data")
		return nil
	}))
	js.Global().Call("postMessage", map[string]any{"ready": true})
	p := &part{}
	// Requests are handled here, not in the callback: a pass blocks (Atomics.wait).
	for d := range reqs {
		reply, err := p.handle(d)
		if err != nil {
			reply = map[string]any{"error": err.Error()}
		}
		js.Global().Call("postMessage", reply)
	}
}

func (p *part) handle(d js.Value) (reply map[string]any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	switch op := d.Get("op").String(); op {
	case "sharedBytes":
		a, err := engine.LookupArch(d.Get("arch").String())
		if err != nil {
			return nil, err
		}
		parts, capacity := d.Get("parts").Int(), d.Get("capacity").Int()
		if capacity == 0 {
			if capacity, err = split.ShareCapacity(a, parts); err != nil {
				return nil, err
			}
		}
		return map[string]any{"bytes": split.SharedBytes(parts, capacity), "available": split.SharedAvailable()}, nil
	case "init":
		a, err := engine.LookupArch(d.Get("arch").String())
		if err != nil {
			return nil, err
		}
		m := weights.Fixture(a, 7).WithPrecision(engine.Precision(d.Get("precision").String()))
		p.part, p.parts = d.Get("part").Int(), d.Get("parts").Int()
		p.x, p.shared = nil, nil
		kind := "none"
		if p.parts > 1 {
			if m, err = split.Slice(m, p.part, p.parts); err != nil {
				return nil, err
			}
			if sab := d.Get("shared"); sab.Truthy() {
				if p.shared, err = split.NewSharedExchange(p.part, p.parts, sab); err != nil {
					return nil, err
				}
				if t := d.Get("timeoutMs"); t.Truthy() {
					p.shared.SetTimeout(time.Duration(t.Int()) * time.Millisecond)
				}
				p.x, kind = p.shared, "shared"
			} else {
				ports := make([]js.Value, p.parts)
				for i := range ports {
					ports[i] = d.Get("ports").Index(i)
				}
				p.x, kind = split.NewPortExchange(p.part, ports), "ports"
			}
		}
		p.model = m
		return map[string]any{"exchange": kind}, nil
	case "run":
		if p.model == nil {
			return nil, errors.New("run before init")
		}
		a := p.model.Arch
		x := engine.NewTensor(d.Get("batch").Int(), 3, a.InputSize, a.InputSize)
		r := rand.New(rand.NewSource(5))
		for i := range x.Data {
			x.Data[i] = float32(r.NormFloat64())
		}
		opt := engine.ForwardOptions{Backend: engine.DefaultBackend(), Keep: func(string) bool { return false }}
		if p.parts > 1 {
			opt.Backend = &split.Backend{Inner: engine.DefaultBackend(), Part: p.part, Parts: p.parts, X: p.x}
		}
		res, err := p.model.Forward(x, opt)
		if err != nil {
			return nil, err
		}
		out := js.Global().Get("Float32Array").New(len(res.Logits.Data))
		js.CopyBytesToJS(js.Global().Get("Uint8Array").New(out.Get("buffer")),
			unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(res.Logits.Data))), 4*len(res.Logits.Data)))
		return map[string]any{"logits": out}, nil
	case "fail":
		if p.shared == nil {
			return nil, errors.New("fail without a shared exchange")
		}
		p.shared.Fail(errors.New("told to fail"))
		return map[string]any{}, nil
	default:
		return nil, fmt.Errorf("unknown op %q", op)
	}
}
