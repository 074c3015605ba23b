//go:build js && wasm

package main

import (
	"encoding/json"
	"fmt"
	"sync"
	"syscall/js"

	"github.com/alexlens/alexlens/wasm/jsutil"
	"github.com/alexlens/alexlens/wasm/protocol"
)

// Engine is the page's handle on the engine worker. Callbacks run on their own goroutine,
// never inside the JS message handler, so they may take the Vugu EventEnv lock.
//
// An engine worker that stops after it started (Go's runtime exits on a fatal error, out of
// memory above all) or fails is replaced by a fresh one: the requests in flight get the
// error, later ones go to the new worker, and OnRestart tells the page, which loads its
// weights again. After maxRestarts the engine stays down and says so.
type Engine struct {
	script string
	worker js.Value

	mu       sync.Mutex
	next     int
	started  bool
	queued   []func() // sends waiting for the worker's "started" message
	waiting  map[int]func(protocol.Response)
	restarts int
	down     string // why the engine stays down ("" while it runs)
	gen      int    // counts workers started: messages of an earlier one are ignored

	// OnRestart, when set, runs (on its own goroutine) after a stopped worker was replaced,
	// with the reason it stopped; the requests in flight have had their errors by then.
	OnRestart func(reason string)
}

// maxRestarts bounds the engine workers started after the first, so that an engine that
// stops at once (a browser that cannot run it) is not restarted forever.
const maxRestarts = 3

// StartEngine launches the worker script.
func StartEngine(script string) *Engine {
	e := &Engine{script: script, waiting: map[int]func(protocol.Response){}}
	e.spawn()
	return e
}

// spawn starts a worker whose messages and errors are handled as its generation's: a
// stopped worker's late messages (its IDStopped after its error, say) must not restart
// its successor.
func (e *Engine) spawn() {
	e.mu.Lock()
	e.gen++
	gen := e.gen
	e.mu.Unlock()
	// The handlers are never released: a stopped worker's messages may still be queued,
	// and a call to a released function would stop the page (at most maxRestarts+1 pairs).
	onMsg := js.FuncOf(func(_ js.Value, args []js.Value) any {
		text := args[0].Get("data").Get("json")
		if text.Type() != js.TypeString {
			return nil
		}
		var r protocol.Response
		if err := json.Unmarshal([]byte(text.String()), &r); err != nil {
			return nil
		}
		// Pixels asked for as bytes (Request.PixelBytes) come beside the JSON.
		if b := args[0].Get("data").Get("bytes"); b.Type() == js.TypeObject {
			if err := r.AttachPixels(jsutil.Bytes(b)); err != nil {
				r = protocol.Response{ID: r.ID, Kind: protocol.KindError, Error: "the engine's answer is damaged: " + err.Error()}
			}
		}
		go e.dispatch(r, gen)
		return nil
	})
	onErr := js.FuncOf(func(_ js.Value, args []js.Value) any {
		msg := "the engine worker failed"
		if m := args[0].Get("message"); m.Type() == js.TypeString {
			msg += ": " + m.String()
		}
		e.mu.Lock()
		started := e.started
		e.mu.Unlock()
		if started {
			go e.restart(msg, gen)
		} else {
			go e.failAll(msg)
		}
		return nil
	})
	w := js.Global().Get("Worker").New(e.script)
	w.Set("onmessage", onMsg)
	w.Set("onerror", onErr)
	e.mu.Lock()
	e.worker, e.started = w, false
	e.mu.Unlock()
}

// restart answers the requests in flight with why worker gen stopped and starts another.
func (e *Engine) restart(reason string, gen int) {
	e.mu.Lock()
	if e.down != "" || gen != e.gen {
		e.mu.Unlock()
		return
	}
	old := e.worker
	e.restarts++
	if e.restarts > maxRestarts {
		e.down = fmt.Sprintf("%s; the engine stopped %d times and was not started again: reload the page", reason, e.restarts)
	}
	down := e.down
	e.mu.Unlock()
	old.Call("terminate")
	if down == "" {
		// The new worker first, so that what the callbacks below send waits for it.
		js.Global().Get("console").Call("warn", "alexlens: restarting the engine worker: "+reason)
		e.spawn()
	}
	e.failAll(reason)
	if down != "" {
		return
	}
	if e.OnRestart != nil {
		go e.OnRestart(reason)
	}
}

func (e *Engine) dispatch(r protocol.Response, gen int) {
	switch r.ID {
	case protocol.IDStartFailed: // the worker could not start at all
		e.failAll(r.Error)
		return
	case protocol.IDStopped:
		e.restart(r.Error, gen)
		return
	}
	e.mu.Lock()
	if gen != e.gen { // a stopped worker's answer: its requests have had their errors
		e.mu.Unlock()
		return
	}
	if r.ID == protocol.IDStarted { // the worker is up: send what was queued
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
	if e.down != "" {
		e.queued = nil
	}
	e.mu.Unlock()
	for id, cb := range w {
		cb(protocol.Response{ID: id, Kind: protocol.KindError, Error: msg})
	}
}

// Send posts a request with an optional byte payload (transferred, not copied). cb gets
// every progress message and then the final done or error response.
func (e *Engine) Send(req protocol.Request, payload js.Value, cb func(protocol.Response)) {
	e.mu.Lock()
	if e.down != "" {
		down := e.down
		e.mu.Unlock()
		go cb(protocol.Response{ID: req.ID, Kind: protocol.KindError, Error: down})
		return
	}
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
		e.mu.Lock()
		w := e.worker
		e.mu.Unlock()
		w.Call("postMessage", msg, transfer)
	}
	if !e.started {
		e.queued = append(e.queued, send)
		e.mu.Unlock()
		return
	}
	e.mu.Unlock()
	send()
}
