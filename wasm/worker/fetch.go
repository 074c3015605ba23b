//go:build js && wasm

package main

import (
	"fmt"
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

// loadWeights returns the file's bytes (in JS memory) from Cache Storage when a copy with
// the same hash is there, else downloads it with byte progress. Only files with a known
// sha256 are cached.
func loadWeights(raw, sha string, progress func(protocol.Progress)) (data js.Value, fromCache bool, err error) {
	key, err := cacheKey(raw, sha)
	if err != nil {
		return js.Value{}, false, err
	}
	if sha != "" {
		if c, ok := openCache(); ok {
			if hit, err := jsutil.Await(c.Call("match", key)); err == nil && !hit.IsUndefined() {
				buf, err := jsutil.Await(hit.Call("arrayBuffer"))
				if err == nil {
					data := js.Global().Get("Uint8Array").New(buf)
					n := int64(data.Get("byteLength").Int())
					progress(protocol.Progress{Stage: protocol.StageCache, Done: n, Total: n})
					return data, true, nil
				}
			}
		}
	}
	data, err = download(key, sha, progress) // whole, or assembled from shards (shards.go)
	if err != nil {
		return js.Value{}, false, fmt.Errorf("cannot download weights %s: %v", raw, err)
	}
	return data, false, nil
}

// remember stores a verified file under its content-hashed key and drops older versions of
// the same file (same family: the name without its content hash). Failures only cost a download next time.
func remember(raw, sha string, data js.Value) {
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
	resp := js.Global().Get("Response").New(data, opts)
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
