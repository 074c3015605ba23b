//go:build js && wasm

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
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
			data, sum, err := readCached(c, key, progress)
			if err == nil && strings.EqualFold(sum, sha) {
				return data, sum, true, nil
			}
			if err != errNotCached {
				// Unreadable, incomplete or changed on disk: dropped, downloaded again
				// below and cached anew.
				js.Global().Get("console").Call("warn", fmt.Sprintf("alexlens: dropping the cached weights (%v, sha256 %.12s)", err, sum))
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

// A file is stored in Cache Storage as entries of cachePart bytes (cachekey.Part), each
// written on its own: WebKit reads a body whole before it writes it (a 244 MB file cost
// ~860 MB at the peak written as one entry), so no engine ever holds more than one part
// twice. Every part's headers give the number of parts and the file's length. Part 0 is
// written last, so a reader that finds it finds the others too.
const (
	cachePart    = 16 << 20
	partsHeader  = "x-alexlens-parts"
	lengthHeader = "x-alexlens-length"
)

var errNotCached = errors.New("not cached")

// readCached reads a file's parts from the cache into Go memory, hashing as it goes.
func readCached(c js.Value, key string, progress func(protocol.Progress)) (data []byte, sum string, err error) {
	head, err := jsutil.Await(c.Call("match", cachekey.Part(key, 0)))
	if err != nil || head.IsUndefined() {
		return nil, "", errNotCached
	}
	header := func(r js.Value, name string) int64 {
		v := r.Get("headers").Call("get", name)
		if v.Type() != js.TypeString {
			return -1
		}
		n, err := strconv.ParseInt(v.String(), 10, 64)
		if err != nil {
			return -1
		}
		return n
	}
	parts, length := header(head, partsHeader), header(head, lengthHeader)
	if length < 0 || length > maxWeightBytes || parts != (length+cachePart-1)/cachePart {
		return nil, "", fmt.Errorf("entry headers say %d parts of a %d-byte file", parts, length)
	}
	h := sha256.New()
	data = make([]byte, 0, length)
	for i := range int(parts) {
		r := head
		if i > 0 {
			if r, err = jsutil.Await(c.Call("match", cachekey.Part(key, i))); err != nil || r.IsUndefined() {
				return nil, "", fmt.Errorf("part %d of %d is missing", i+1, parts)
			}
		}
		done, n := int64(len(data)), min(cachePart, length-int64(len(data)))
		data, err = jsutil.ReadBody(r, data, n, n, h, func(d, _ int64) {
			progress(protocol.Progress{Stage: protocol.StageCache, Done: done + d, Total: length})
		})
		if err != nil {
			return nil, "", fmt.Errorf("part %d of %d: %v", i+1, parts, err)
		}
	}
	return data, hex.EncodeToString(h.Sum(nil)), nil
}

// remember stores a verified file under its content-hashed key (in parts, above) and drops
// every other entry of the same file (same family: the name without its content hash),
// older versions and whole-file entries of earlier releases alike. Failures only cost a
// download next time.
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
	parts := (len(data) + cachePart - 1) / cachePart
	for i := parts - 1; i >= 0; i-- {
		piece := data[i*cachePart : min(len(data), (i+1)*cachePart)]
		body := js.Global().Get("Uint8Array").New(len(piece))
		js.CopyBytesToJS(body, piece)
		headers := js.Global().Get("Object").New()
		headers.Set("content-type", "application/octet-stream")
		headers.Set("content-length", strconv.Itoa(len(piece)))
		headers.Set(partsHeader, strconv.Itoa(parts))
		headers.Set(lengthHeader, strconv.Itoa(len(data)))
		opts := js.Global().Get("Object").New()
		opts.Set("headers", headers)
		resp := js.Global().Get("Response").New(body, opts)
		if _, err := jsutil.Await(c.Call("put", cachekey.Part(key, i), resp)); err != nil {
			js.Global().Get("console").Call("warn", "alexlens: cannot cache weights: "+err.Error())
			forget(raw, sha)
			return
		}
	}
	keys, err := jsutil.Await(c.Call("keys"))
	if err != nil {
		return
	}
	family := cachekey.Family(key)
	for i := 0; i < keys.Length(); i++ {
		old := keys.Index(i).Get("url").String()
		if whole, isPart := cachekey.Whole(old); cachekey.Family(old) == family && !(isPart && whole == key) {
			jsutil.Await(c.Call("delete", keys.Index(i)))
		}
	}
}

// forget drops every entry of a cached file (one that failed to verify or decode, or a
// write cut short).
func forget(raw, sha string) {
	key, err := cacheKey(raw, sha)
	if err != nil {
		return
	}
	c, ok := openCache()
	if !ok {
		return
	}
	keys, err := jsutil.Await(c.Call("keys"))
	if err != nil {
		return
	}
	for i := 0; i < keys.Length(); i++ {
		if whole, _ := cachekey.Whole(keys.Index(i).Get("url").String()); whole == key {
			jsutil.Await(c.Call("delete", keys.Index(i)))
		}
	}
}
