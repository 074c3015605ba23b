//go:build js && wasm

// Package jsutil holds the few syscall/js helpers the worker and the UI share: awaiting a
// Promise from a goroutine and moving bytes across the boundary.
package jsutil

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"syscall/js"
	"time"
)

// Await blocks the calling goroutine until p settles. It must never run on the goroutine of
// a JS callback (that would deadlock the event loop): call it from a goroutine of its own.
func Await(p js.Value) (js.Value, error) { return AwaitWithin(p, 0) }

// AwaitWithin is Await that gives up after d (d <= 0: never) with an error that says so,
// for optional work such as caching, where a browser that never settles the promise must
// not hold up what the visitor asked for. The promise itself runs on.
func AwaitWithin(p js.Value, d time.Duration) (js.Value, error) {
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
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case r := <-ch:
			onOK.Release()
			onErr.Release()
			return r.v, r.err
		case <-t.C:
			// The callbacks stay: the promise may still settle and call them (into ch,
			// which has room for that one answer).
			return js.Undefined(), fmt.Errorf("no answer after %v", d)
		}
	}
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

// FetchBytes GETs url with the browser's fetch and returns the body (ReadBody, no size
// known beforehand).
func FetchBytes(url string, limit int64, progress func(done, total int64)) ([]byte, error) {
	resp, err := Fetch(url)
	if err != nil {
		return nil, err
	}
	return ReadBody(resp, nil, 0, limit, nil, progress)
}

// Fetch GETs url with the browser's fetch and returns the Response when its status is OK.
func Fetch(url string) (js.Value, error) {
	resp, err := Await(js.Global().Call("fetch", url))
	if err != nil {
		return js.Value{}, err
	}
	if !resp.Get("ok").Bool() {
		return js.Value{}, fmt.Errorf("HTTP %d %s", resp.Get("status").Int(), resp.Get("statusText").String())
	}
	return resp, nil
}

// ReadBody reads a fetch Response's body (a download, or a Cache Storage entry) into Go
// memory as a stream, appending it to dst: each chunk is copied in, written to sink (a
// hash; nil: none) and dropped, so that the bytes are never held twice, in JS and in Go.
// progress follows this body's bytes (total is 0 when nothing says how many will come).
//
// size is the body's length as the caller knows it (0: unknown; the Content-Length then
// sizes the buffer when the body is not encoded). A body longer than size or limit is
// refused while it is read. A body that breaks off (the connection cut, or short of size)
// returns what arrived with a *BrokenOff error, so that a caller can resume with Range.
func ReadBody(resp js.Value, dst []byte, size, limit int64, sink io.Writer, progress func(done, total int64)) ([]byte, error) {
	if size > limit {
		return nil, fmt.Errorf("%d MB is larger than the %d MB allowed", size>>20, limit>>20)
	}
	total := size
	if total == 0 {
		if n := resp.Get("headers").Call("get", "content-length"); n.Type() == js.TypeString {
			if v, err := strconv.ParseInt(n.String(), 10, 64); err == nil && v > 0 {
				if v > limit {
					return nil, fmt.Errorf("%d MB is larger than the %d MB allowed", v>>20, limit>>20)
				}
				// An encoded body's length is not the bytes it decodes to: a hint only.
				if enc := resp.Get("headers").Call("get", "content-encoding"); enc.Type() != js.TypeString || enc.String() == "identity" {
					total = v
				}
			}
		}
	}
	start := len(dst)
	if free := int64(cap(dst) - len(dst)); free < total {
		dst = append(make([]byte, 0, int64(len(dst))+total), dst...)
	}
	got := func() int64 { return int64(len(dst) - start) }
	body := resp.Get("body")
	if body.IsNull() || body.IsUndefined() { // no streams: the whole body at once
		buf, err := Await(resp.Call("arrayBuffer"))
		if err != nil {
			return nil, err
		}
		b := Bytes(buf)
		if int64(len(b)) > limit || (size > 0 && int64(len(b)) != size) {
			return nil, fmt.Errorf("the body has %d bytes, expected %d (at most %d MB)", len(b), size, limit>>20)
		}
		if sink != nil {
			sink.Write(b)
		}
		return append(dst, b...), nil
	}
	reader := body.Call("getReader")
	for {
		r, err := Await(reader.Call("read"))
		if err != nil {
			// What arrived stays in the result, for a caller that resumes with Range.
			return dst, &BrokenOff{Done: got(), Err: err}
		}
		if r.Get("done").Bool() {
			break
		}
		chunk := r.Get("value")
		n := chunk.Get("byteLength").Int()
		if got()+int64(n) > limit || (size > 0 && got()+int64(n) > size) {
			reader.Call("cancel")
			if size > 0 {
				return nil, fmt.Errorf("more than the %d bytes expected", size)
			}
			return nil, fmt.Errorf("larger than the %d MB allowed", limit>>20)
		}
		dst = append(dst, make([]byte, n)...)
		js.CopyBytesToGo(dst[len(dst)-n:], chunk)
		if sink != nil {
			sink.Write(dst[len(dst)-n:])
		}
		if progress != nil {
			progress(got(), total)
		}
	}
	if size > 0 && got() != size {
		return dst, &BrokenOff{Done: got(), Err: fmt.Errorf("the body ended after %d of %d bytes", got(), size)}
	}
	return dst, nil
}

// BrokenOff is ReadBody's error when a body stops before its end (the connection was cut):
// the Done bytes that arrived are in the result.
type BrokenOff struct {
	Done int64
	Err  error
}

func (b *BrokenOff) Error() string {
	return fmt.Sprintf("download broke off after %d bytes: %v", b.Done, b.Err)
}

// FetchFrom GETs url from byte from on (a Range request), with If-Range: validator so that
// a changed file comes back whole (status 200) rather than as a mix of two versions. It
// returns the Response when its status is 200 or 206.
func FetchFrom(url string, from int64, validator string) (js.Value, error) {
	headers := js.Global().Get("Object").New()
	headers.Set("Range", fmt.Sprintf("bytes=%d-", from))
	if validator != "" {
		headers.Set("If-Range", validator)
	}
	opts := js.Global().Get("Object").New()
	opts.Set("headers", headers)
	opts.Set("cache", "no-store") // a partial answer must not come from or go into the HTTP cache
	resp, err := Await(js.Global().Call("fetch", url, opts))
	if err != nil {
		return js.Value{}, err
	}
	if s := resp.Get("status").Int(); s != 200 && s != 206 {
		return js.Value{}, fmt.Errorf("HTTP %d %s", s, resp.Get("statusText").String())
	}
	return resp, nil
}

// FetchJS is FetchBytes keeping the body in JS memory (a Uint8Array): for a page that
// hands the bytes on to a worker.
func FetchJS(url string, limit int64, progress func(done, total int64)) (js.Value, error) {
	resp, err := Fetch(url)
	if err != nil {
		return js.Value{}, err
	}
	var total int64
	if n := resp.Get("headers").Call("get", "content-length"); n.Type() == js.TypeString {
		total, _ = strconv.ParseInt(n.String(), 10, 64)
	}
	if total > limit {
		return js.Value{}, fmt.Errorf("%d MB is larger than the %d MB allowed", total>>20, limit>>20)
	}
	u8 := js.Global().Get("Uint8Array")
	body := resp.Get("body")
	if body.IsNull() || body.IsUndefined() {
		buf, err := Await(resp.Call("arrayBuffer"))
		if err != nil {
			return js.Value{}, err
		}
		return u8.New(buf), nil
	}
	reader := body.Call("getReader")
	// With a known length the chunks go straight into one buffer; otherwise they are kept
	// and joined at the end.
	var whole js.Value
	if total > 0 {
		whole = u8.New(total)
	}
	chunks := js.Global().Get("Array").New()
	var done int64
	for {
		r, err := Await(reader.Call("read"))
		if err != nil {
			return js.Value{}, fmt.Errorf("download broke off: %v", err)
		}
		if r.Get("done").Bool() {
			break
		}
		chunk := r.Get("value")
		n := int64(chunk.Get("byteLength").Int())
		if done+n > limit || (total > 0 && done+n > total) {
			reader.Call("cancel")
			return js.Value{}, fmt.Errorf("more bytes than announced or allowed (%d MB)", limit>>20)
		}
		if total > 0 {
			whole.Call("set", chunk, done)
		} else {
			chunks.Call("push", chunk)
		}
		done += n
		if progress != nil {
			progress(done, total)
		}
	}
	if total > 0 {
		if done != total {
			return js.Value{}, fmt.Errorf("download ended after %d of %d bytes", done, total)
		}
		return whole, nil
	}
	whole = u8.New(done)
	var off int64
	for i := 0; i < chunks.Length(); i++ {
		c := chunks.Index(i)
		whole.Call("set", c, off)
		off += int64(c.Get("byteLength").Int())
	}
	return whole, nil
}

// SHA256 hashes a Uint8Array on its own (unshared) memory with the browser's native
// crypto.subtle (hex), or reports false where it cannot (an insecure origin has no
// crypto.subtle; a view of shared memory is refused).
func SHA256(data js.Value) (string, bool) {
	crypto := js.Global().Get("crypto")
	if crypto.IsUndefined() || crypto.Get("subtle").IsUndefined() {
		return "", false
	}
	digest, err := Await(crypto.Get("subtle").Call("digest", "SHA-256", data))
	if err != nil {
		return "", false
	}
	sum := Bytes(digest)
	const hexdigits = "0123456789abcdef"
	out := make([]byte, 2*len(sum))
	for i, b := range sum {
		out[2*i], out[2*i+1] = hexdigits[b>>4], hexdigits[b&15]
	}
	return string(out), true
}
