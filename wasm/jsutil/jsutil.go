//go:build js && wasm

// Package jsutil holds the few syscall/js helpers the worker and the UI share: awaiting a
// Promise from a goroutine and moving bytes across the boundary.
package jsutil

import (
	"errors"
	"syscall/js"
)

// Await blocks the calling goroutine until p settles. It must never run on the goroutine of
// a JS callback (that would deadlock the event loop): call it from a goroutine of its own.
func Await(p js.Value) (js.Value, error) {
	type settled struct {
		v   js.Value
		err error
	}
	ch := make(chan settled, 1)
	var onOK, onErr js.Func
	onOK = js.FuncOf(func(_ js.Value, args []js.Value) any {
		v := js.Undefined()
		if len(args) > 0 {
			v = args[0]
		}
		ch <- settled{v: v}
		return nil
	})
	onErr = js.FuncOf(func(_ js.Value, args []js.Value) any {
		msg := "promise rejected"
		if len(args) > 0 {
			msg = ErrorText(args[0])
		}
		ch <- settled{err: errors.New(msg)}
		return nil
	})
	p.Call("then", onOK, onErr)
	r := <-ch
	onOK.Release()
	onErr.Release()
	return r.v, r.err
}

// ErrorText is the readable message of a thrown JS value.
func ErrorText(v js.Value) string {
	if v.Type() == js.TypeObject {
		if m := v.Get("message"); m.Type() == js.TypeString {
			name := v.Get("name")
			if name.Type() == js.TypeString && name.String() != "Error" {
				return name.String() + ": " + m.String()
			}
			return m.String()
		}
	}
	return v.Call("toString").String()
}

// Bytes copies a Uint8Array (or an ArrayBuffer) into Go memory.
func Bytes(v js.Value) []byte {
	if v.IsUndefined() || v.IsNull() {
		return nil
	}
	if v.InstanceOf(js.Global().Get("ArrayBuffer")) {
		v = js.Global().Get("Uint8Array").New(v)
	}
	b := make([]byte, v.Get("byteLength").Int())
	js.CopyBytesToGo(b, v)
	return b
}

// Uint8Array copies b into a new JS Uint8Array.
func Uint8Array(b []byte) js.Value {
	a := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(a, b)
	return a
}
