//go:build js && wasm

package split

import (
	"fmt"
	"syscall/js"
	"unsafe"
)

// PortExchange is the Exchanger of a Web Worker: one MessagePort to each other part's
// worker (a full mesh of MessageChannels that the page sets up and transfers). A share
// travels as {seq, from, data: ArrayBuffer}, the buffer transferred rather than copied.
type PortExchange struct {
	part  int
	ports []js.Value // ports[p] leads to part p; ports[part] is unused
	inbox chan portMessage
	early map[int]map[int][]float32 // shares of later exchanges that arrived first: seq -> from -> data
	funcs []js.Func
}

type portMessage struct {
	seq, from int
	data      []float32
	err       error
}

// NewPortExchange listens on ports (ports[part] is ignored and may be undefined). Release
// stops listening.
func NewPortExchange(part int, ports []js.Value) *PortExchange {
	x := &PortExchange{part: part, ports: ports, inbox: make(chan portMessage, 4*len(ports)+4), early: map[int]map[int][]float32{}}
	for p, port := range ports {
		if p == part {
			continue
		}
		f := js.FuncOf(func(_ js.Value, args []js.Value) any {
			x.deliver(args[0].Get("data"))
			return nil
		})
		x.funcs = append(x.funcs, f)
		port.Set("onmessage", f)
		port.Call("start")
	}
	return x
}

// deliver copies one share into Go memory. It runs inside a JS callback, so it must not
// block: the inbox holds several exchanges' worth of messages, and a part cannot run more
// than one exchange ahead of the slowest (it waits for everyone's share of each layer).
func (x *PortExchange) deliver(d js.Value) {
	m := portMessage{seq: d.Get("seq").Int(), from: d.Get("from").Int()}
	buf := d.Get("data")
	n := buf.Get("byteLength").Int()
	if n%4 != 0 {
		m.err = fmt.Errorf("part %d sent %d bytes, not whole float32 values", m.from, n)
	} else {
		m.data = make([]float32, n/4)
		js.CopyBytesToGo(float32Bytes(m.data), js.Global().Get("Uint8Array").New(buf))
	}
	select {
	case x.inbox <- m:
	default:
		// Cannot happen with parts that follow the protocol; dropping would hang the pass,
		// so the next AllGather reports it instead.
		go func() {
			x.inbox <- portMessage{err: fmt.Errorf("exchange inbox overflow (part %d, exchange %d)", m.from, m.seq)}
		}()
	}
}

func (x *PortExchange) AllGather(seq int, mine []float32) ([][]float32, error) {
	for p, port := range x.ports {
		if p == x.part {
			continue
		}
		u8 := js.Global().Get("Uint8Array").New(4 * len(mine))
		js.CopyBytesToJS(u8, float32Bytes(mine))
		buf := u8.Get("buffer")
		msg := js.Global().Get("Object").New()
		msg.Set("seq", seq)
		msg.Set("from", x.part)
		msg.Set("data", buf)
		port.Call("postMessage", msg, []any{buf})
	}
	out := make([][]float32, len(x.ports))
	out[x.part] = mine
	got := 1
	for from, data := range x.early[seq] {
		out[from] = data
		got++
	}
	delete(x.early, seq)
	for got < len(x.ports) {
		m := <-x.inbox
		switch {
		case m.err != nil:
			return nil, m.err
		case m.seq == seq:
			out[m.from] = m.data
			got++
		case m.seq > seq:
			if x.early[m.seq] == nil {
				x.early[m.seq] = map[int][]float32{}
			}
			x.early[m.seq][m.from] = m.data
		default:
			// A stale share of an abandoned pass (one part failed half-way): drop it.
		}
	}
	return out, nil
}

// Fail makes the AllGather in progress (or the next one) return err: a part that stopped
// (its worker failed, or a pass ran too long) would otherwise leave the others waiting for
// its share forever. An exchange that failed is not used again.
func (x *PortExchange) Fail(err error) {
	go func() { x.inbox <- portMessage{err: err} }()
}

// Release stops listening on the ports.
func (x *PortExchange) Release() {
	for p, port := range x.ports {
		if p != x.part {
			port.Set("onmessage", js.Null())
		}
	}
	for _, f := range x.funcs {
		f.Release()
	}
}

// float32Bytes views float32 values as their bytes (little-endian on wasm), without copying.
func float32Bytes(f []float32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(f))), 4*len(f))
}
