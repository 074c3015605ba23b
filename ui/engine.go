//go:build js && wasm

package main

import (
	"encoding/json"
	"sync"
	"syscall/js"

	"github.com/alexlens/alexlens/wasm/protocol"
)

// Engine is the page's handle on the engine worker. Callbacks run on their own goroutine,
// never inside the JS message handler, so they may take the Vugu EventEnv lock.
type Engine struct {
	worker js.Value

	mu      sync.Mutex
	next    int
	started bool
	queued  []func() // sends waiting for the worker's "started" message
	waiting map[int]func(protocol.Response)
	onMsg   js.Func
}

// StartEngine launches the worker script.
func StartEngine(script string) *Engine {
	e := &Engine{waiting: map[int]func(protocol.Response){}}
	e.worker = js.Global().Get("Worker").New(script)
	e.onMsg = js.FuncOf(func(_ js.Value, args []js.Value) any {
		text := args[0].Get("data").Get("json")
		if text.Type() != js.TypeString {
			return nil
		}
		var r protocol.Response
		if err := json.Unmarshal([]byte(text.String()), &r); err != nil {
			return nil
		}
		go e.dispatch(r)
		return nil
	})
	e.worker.Set("onmessage", e.onMsg)
	onErr := js.FuncOf(func(_ js.Value, args []js.Value) any {
		msg := "the engine worker failed to start"
		if m := args[0].Get("message"); m.Type() == js.TypeString {
			msg += ": " + m.String()
		}
		go e.failAll(msg)
		return nil
	})
	e.worker.Set("onerror", onErr)
	return e
}

func (e *Engine) dispatch(r protocol.Response) {
	if r.ID < 0 { // the worker could not start at all
		e.failAll(r.Error)
		return
	}
	e.mu.Lock()
	if r.ID == 0 { // the worker is up: send what was queued
		e.started = true
		q := e.queued
		e.queued = nil
		e.mu.Unlock()
		for _, f := range q {
			f()
		}
		return
	}
	cb := e.waiting[r.ID]
	if r.Kind != protocol.KindProgress {
		delete(e.waiting, r.ID)
	}
	e.mu.Unlock()
	if cb != nil {
		cb(r)
	}
}

func (e *Engine) failAll(msg string) {
	e.mu.Lock()
	w := e.waiting
	e.waiting = map[int]func(protocol.Response){}
	e.mu.Unlock()
	for id, cb := range w {
		cb(protocol.Response{ID: id, Kind: protocol.KindError, Error: msg})
	}
}

// Send posts a request with an optional byte payload (transferred, not copied). cb gets
// every progress message and then the final done or error response.
func (e *Engine) Send(req protocol.Request, payload js.Value, cb func(protocol.Response)) {
	e.mu.Lock()
	e.next++
	req.ID = e.next
	e.waiting[req.ID] = cb
	send := func() {
		b, _ := json.Marshal(req)
		msg := js.Global().Get("Object").New()
		msg.Set("json", string(b))
		transfer := js.Global().Get("Array").New()
		if !payload.IsUndefined() && !payload.IsNull() {
			msg.Set("bytes", payload)
			if buf := payload.Get("buffer"); !buf.IsUndefined() {
				transfer.Call("push", buf)
			}
		}
		e.worker.Call("postMessage", msg, transfer)
	}
	if !e.started {
		e.queued = append(e.queued, send)
		e.mu.Unlock()
		return
	}
	e.mu.Unlock()
	send()
}
