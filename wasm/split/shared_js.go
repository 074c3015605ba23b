//go:build js && wasm

package split

import (
	"errors"
	"fmt"
	"syscall/js"
	"time"
	"unsafe"
)

// SharedExchange is the Exchanger of Web Workers on a cross-origin isolated page: the
// parts exchange their shares through one SharedArrayBuffer (layout and the argument for
// its safety in shared.go) and wait for each other with Atomics.wait, which blocks the
// worker's thread. Unlike PortExchange no message crosses the event loop, so an exchange
// costs a copy in and a copy out per share plus the wake-up of a blocked thread.
//
// Atomics.wait is not allowed on a page's main thread: a SharedExchange belongs in a
// dedicated worker (AllGather returns the browser's error otherwise).
type SharedExchange struct {
	core sharedCore
}

// SharedAvailable reports whether this JS context can run a SharedExchange: the page is
// cross-origin isolated (COOP same-origin and COEP require-corp; without it browsers do not
// let SharedArrayBuffers be posted between workers) and has SharedArrayBuffer and Atomics.
func SharedAvailable() bool {
	g := js.Global()
	return g.Get("crossOriginIsolated").Equal(js.ValueOf(true)) &&
		g.Get("SharedArrayBuffer").Type() == js.TypeFunction &&
		g.Get("Atomics").Type() == js.TypeObject
}

// NewSharedBuffer allocates the SharedArrayBuffer of a shared exchange among parts parts
// with slots of capacity float32 values (ShareCapacity gives one that makes every exchange
// of a one-image pass a single round). The coordinator posts it to every part.
func NewSharedBuffer(parts, capacity int) (buf js.Value, err error) {
	if capacity < 1 {
		return js.Undefined(), fmt.Errorf("a shared exchange slot of %d values", capacity)
	}
	if _, err := SharedCapacity(parts, SharedBytes(parts, capacity)); err != nil {
		return js.Undefined(), err
	}
	if !SharedAvailable() {
		return js.Undefined(), errors.New("SharedArrayBuffer is not available (the page is not cross-origin isolated)")
	}
	defer func() {
		if p := recover(); p != nil { // a RangeError: out of memory
			err = fmt.Errorf("allocating the shared exchange buffer: %v", p)
		}
	}()
	return js.Global().Get("SharedArrayBuffer").New(SharedBytes(parts, capacity)), nil
}

// NewSharedExchange joins, as part part of parts, the shared exchange whose buffer is buf
// (made by NewSharedBuffer, or by the page as a zero-filled SharedArrayBuffer of
// SharedBytes bytes). Every part must join before the first exchange and use the buffer for
// no other exchange.
func NewSharedExchange(part, parts int, buf js.Value) (*SharedExchange, error) {
	if part < 0 || part >= parts {
		return nil, fmt.Errorf("part %d of %d does not exist", part, parts)
	}
	if sab := js.Global().Get("SharedArrayBuffer"); sab.Type() != js.TypeFunction || !buf.InstanceOf(sab) {
		return nil, errors.New("the shared exchange needs a SharedArrayBuffer")
	}
	capacity, err := SharedCapacity(parts, buf.Get("byteLength").Int())
	if err != nil {
		return nil, err
	}
	words := SharedWords(parts)
	m := &jsMem{
		atomics: js.Global().Get("Atomics"),
		ctl:     js.Global().Get("Int32Array").New(buf, 0, words),
	}
	x := &SharedExchange{core: sharedCore{part: part, parts: parts, capacity: capacity, mem: m, timeout: DefaultSharedTimeout}}
	u8 := js.Global().Get("Uint8Array")
	for s := 0; s < 2*parts; s++ {
		m.slots = append(m.slots, u8.New(buf, 4*words+s*capacity*4, capacity*4))
		m.headers = append(m.headers, u8.New(buf, 4*headerWord(parts, s, 0), 12))
	}
	return x, nil
}

// SetTimeout changes how long AllGather waits for another part's share (DefaultSharedTimeout).
func (x *SharedExchange) SetTimeout(d time.Duration) { x.core.timeout = d }

// Capacity is the slot size in float32 values: larger shares take several rounds.
func (x *SharedExchange) Capacity() int { return x.core.capacity }

func (x *SharedExchange) AllGather(seq int, mine []float32) ([][]float32, error) {
	return x.core.allGather(seq, mine)
}

// Fail gives up the exchange for every part: an AllGather in progress in any part (or the
// next one) returns an error at once. A part whose pass failed calls it so that the others
// do not wait out the timeout for its shares. An exchange that failed is not used again.
func (x *SharedExchange) Fail(error) { x.core.fail() }

// Release does nothing: the buffer is garbage collected with the last worker that holds it.
// It is here so that both exchangers can be released alike.
func (x *SharedExchange) Release() {}

// jsMem is a SharedArrayBuffer seen through an Int32Array (the control words, for Atomics)
// and Uint8Arrays over each data slot and each slot's header (for js.CopyBytesToJS and
// js.CopyBytesToGo).
type jsMem struct {
	atomics, ctl   js.Value
	slots, headers []js.Value
}

func (m *jsMem) load(i int) int32     { return int32(m.atomics.Call("load", m.ctl, i).Int()) }
func (m *jsMem) store(i int, v int32) { m.atomics.Call("store", m.ctl, i, v) }
func (m *jsMem) notify(i int)         { m.atomics.Call("notify", m.ctl, i) }

func (m *jsMem) wait(i int, v int32, d time.Duration) (err error) {
	defer func() {
		if p := recover(); p != nil { // a TypeError on a thread that may not block
			err = fmt.Errorf("Atomics.wait: %v", p)
		}
	}()
	m.atomics.Call("wait", m.ctl, i, v, float64(d)/float64(time.Millisecond))
	return nil
}

func (m *jsMem) put(s int, src []float32) {
	if len(src) > 0 {
		js.CopyBytesToJS(m.slots[s], float32Bytes(src))
	}
}

func (m *jsMem) get(s int, dst []float32) {
	if len(dst) > 0 {
		js.CopyBytesToGo(float32Bytes(dst), m.slots[s])
	}
}

func (m *jsMem) putHeader(s int, h *[3]int32) {
	js.CopyBytesToJS(m.headers[s], unsafe.Slice((*byte)(unsafe.Pointer(h)), 12))
}

func (m *jsMem) getHeader(s int, h *[3]int32) {
	js.CopyBytesToGo(unsafe.Slice((*byte)(unsafe.Pointer(h)), 12), m.headers[s])
}
