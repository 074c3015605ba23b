//go:build js && wasm

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"syscall/js"

	"github.com/alexlens/alexlens/wasm/cachekey"
	"github.com/alexlens/alexlens/wasm/jsutil"
	"github.com/alexlens/alexlens/wasm/protocol"
)

// cacheName is the Cache Storage bucket for weight files. Entries are keyed by a URL that
// carries the file's sha256, so a changed file is a new key and a cached entry never goes stale.
const cacheName = "alexlens-weights-v1"

// maxWeightBytes bounds a weights download (the largest real file, AlexNet f32, is ~244 MB).
const maxWeightBytes = 512 << 20

// cacheKey is the content-hashed URL of a weights file (see package cachekey).
func cacheKey(raw, sha string) (string, error) {
	return cachekey.Key(js.Global().Get("location").Get("href").String(), raw, sha)
}

// openCache returns the weights cache, or false where Cache Storage is unavailable (an
// insecure origin, a private window): loading then simply always downloads.
func openCache() (js.Value, bool) {
	caches := js.Global().Get("caches")
	if caches.IsUndefined() || caches.IsNull() {
		return js.Value{}, false
	}
	c, err := jsutil.Await(caches.Call("open", cacheName))
	if err != nil {
		return js.Value{}, false
	}
	return c, true
}

// loadWeights returns the file's bytes in Go memory and their SHA-256 (hex): from Cache
// Storage when a copy with the same hash is there, else downloaded with byte progress
// (size: the manifest's length, 0 when unknown). The bytes stream from the browser into Go
// memory and through the hash as they arrive, so the file is held once, never in JS and Go
// at the same time. Only files with a known sha256 are cached.
func loadWeights(raw, sha string, size int64, progress func(protocol.Progress)) (data []byte, sum string, fromCache bool, err error) {
	key, err := cacheKey(raw, sha)
	if err != nil {
		return nil, "", false, err
	}
	if sha != "" {
		if c, ok := openCache(); ok {
			if hit, err := jsutil.Await(c.Call("match", key)); err == nil && !hit.IsUndefined() {
				h := sha256.New()
				data, err := jsutil.ReadBody(hit, size, maxWeightBytes, h, func(done, total int64) {
					progress(protocol.Progress{Stage: protocol.StageCache, Done: done, Total: total})
				})
				if sum := hex.EncodeToString(h.Sum(nil)); err == nil && strings.EqualFold(sum, sha) {
					return data, sum, true, nil
				}
				// Unreadable or changed on disk: dropped, downloaded again below and cached anew.
				forget(raw, sha)
			}
		}
	}
	h := sha256.New()
	data, err = download(key, sha, size, h, progress) // whole, or assembled from shards (shards.go)
	if err != nil {
		return nil, "", false, fmt.Errorf("cannot download weights %s: %v", raw, err)
	}
	return data, hex.EncodeToString(h.Sum(nil)), false, nil
}

// remember stores a verified file under its content-hashed key and drops older versions of
// the same file (same family: the name without its content hash). Failures only cost a
// download next time. The Response's body is a stream that copies the file out of Go
// memory a piece at a time as the cache writes it, so no second whole copy is made.
func remember(raw, sha string, data []byte) {
	if sha == "" {
		return
	}
	key, err := cacheKey(raw, sha)
	if err != nil {
		return
	}
	c, ok := openCache()
	if !ok {
		return
	}
	opts := js.Global().Get("Object").New()
	headers := js.Global().Get("Object").New()
	headers.Set("content-type", "application/octet-stream")
	opts.Set("headers", headers)
	headers.Set("content-length", strconv.Itoa(len(data)))
	body, release := streamOf(data)
	defer release()
	resp := js.Global().Get("Response").New(body, opts)
	if _, err := jsutil.Await(c.Call("put", key, resp)); err != nil {
		js.Global().Get("console").Call("warn", "alexlens: cannot cache weights: "+err.Error())
		return
	}
	keys, err := jsutil.Await(c.Call("keys"))
	if err != nil {
		return
	}
	family := cachekey.Family(key)
	for i := 0; i < keys.Length(); i++ {
		old := keys.Index(i).Get("url").String()
		if old != key && cachekey.Family(old) == family {
			jsutil.Await(c.Call("delete", keys.Index(i)))
		}
	}
}

// streamChunk is how much of a file one pull of streamOf copies out of Go memory.
const streamChunk = 1 << 20

// streamOf is a ReadableStream of data's bytes, copied out of Go memory a chunk at a time
// as the reader pulls; release frees the callback once the reader is done.
func streamOf(data []byte) (stream js.Value, release func()) {
	off := 0
	pull := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ctl := args[0]
		if off >= len(data) {
			ctl.Call("close")
			return nil
		}
		n := min(streamChunk, len(data)-off)
		chunk := js.Global().Get("Uint8Array").New(n)
		js.CopyBytesToJS(chunk, data[off:off+n])
		off += n
		ctl.Call("enqueue", chunk)
		return nil
	})
	src := js.Global().Get("Object").New()
	src.Set("pull", pull)
	return js.Global().Get("ReadableStream").New(src), pull.Release
}

// forget drops a cached file that failed to verify or decode.
func forget(raw, sha string) {
	key, err := cacheKey(raw, sha)
	if err != nil {
		return
	}
	if c, ok := openCache(); ok {
		jsutil.Await(c.Call("delete", key))
	}
}
