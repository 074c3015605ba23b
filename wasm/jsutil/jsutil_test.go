//go:build js && wasm

package jsutil

import (
	"strings"
	"syscall/js"
	"testing"
	"time"
)

// TestAwaitWithin: a promise that settles in time gives its value or its rejection; one
// that never settles gives an error after the bound instead of blocking forever.
func TestAwaitWithin(t *testing.T) {
	promise := js.Global().Get("Promise")
	if v, err := AwaitWithin(promise.Call("resolve", 42), time.Second); err != nil || v.Int() != 42 {
		t.Errorf("resolved promise: %v, %v", v, err)
	}
	if _, err := AwaitWithin(promise.Call("reject", js.Global().Get("Error").New("nope")), time.Second); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("rejected promise: %v", err)
	}
	never := promise.New(js.FuncOf(func(js.Value, []js.Value) any { return nil }))
	start := time.Now()
	_, err := AwaitWithin(never, 50*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "no answer after 50ms") {
		t.Errorf("a promise that never settles: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("gave up after %v, bound 50ms", took)
	}
	if v, err := Await(promise.Call("resolve", "x")); err != nil || v.String() != "x" {
		t.Errorf("Await: %v, %v", v, err)
	}
}
