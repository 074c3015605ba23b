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
	"time"

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
// cacheWait bounds every Cache Storage call: the cache only saves a later download, and a
// browser whose cache never answers must not
// hold the weights the visitor is waiting for.
const cacheWait = 30 * time.Second

// cached awaits a Cache Storage promise, at most cacheWait.
func cached(p js.Value) (js.Value, error) { return jsutil.AwaitWithin(p, cacheWait) }

func openCache() (js.Value, bool) {
	caches := js.Global().Get("caches")
	if caches.IsUndefined() || caches.IsNull() {
		return js.Value{}, false
	}
	c, err := cached(caches.Call("open", cacheName))
	if err != nil {
		return js.Value{}, false
	}
	return c, true
}

// loadWeights returns the file's bytes in Go memory and their SHA-256 (hex): from Cache
// Storage when a copy with the same hash is there (readCached), else downloaded with byte
// progress (size: the manifest's length, 0 when unknown), streaming from the browser into
// Go memory and through the hash as they arrive. Either way the whole file is held once,
// never in JS and Go at the same time. Only files with a known sha256 are cached.
func loadWeights(raw, sha string, size int64, progress func(protocol.Progress)) (data []byte, sum string, fromCache bool, err error) {
	key, err := cacheKey(raw, sha)
	if err != nil {
		return nil, "", false, err
	}
	if sha != "" {
		if c, ok := openCache(); ok {
			data, err := readCached(c, key, progress)
			if err == nil {
				return data, strings.ToLower(sha), true, nil
			}
			if err != errNotCached {
				// Unreadable, incomplete or changed on disk: dropped, downloaded again
				// below and cached anew.
				js.Global().Get("console").Call("warn", fmt.Sprintf("alexlens: dropping the cached weights: %v", err))
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
// twice. Every part's headers give the number of parts, the file's length and the part's
// own SHA-256, so that a read checks each part with the browser's native hash (Go's in
// wasm does ~90 MB/s: 2.7 s for AlexNet's 244 MB) instead of hashing the whole file again;
// the parts were written from a file that matched the manifest's hash. Part 0 is written
// last, so a reader that finds it finds the others too.
const (
	cachePart    = 16 << 20
	partsHeader  = "x-alexlens-parts"
	lengthHeader = "x-alexlens-length"
	hashHeader   = "x-alexlens-sha256"
)

var errNotCached = errors.New("not cached")

// partHash is the SHA-256 (hex) of one part, held both in JS (inJS) and in Go (b): the
// browser's native digest, or Go's where there is none (an insecure origin).
func partHash(inJS js.Value, b []byte) string {
	if sum, ok := jsutil.SHA256(inJS); ok {
		return sum
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// readCached reads a file's parts from the cache into Go memory, each checked against the
// hash its headers give.
func readCached(c js.Value, key string, progress func(protocol.Progress)) ([]byte, error) {
	head, err := cached(c.Call("match", cachekey.Part(key, 0)))
	if err != nil || head.IsUndefined() {
		return nil, errNotCached
	}
	header := func(r js.Value, name string) string {
		if v := r.Get("headers").Call("get", name); v.Type() == js.TypeString {
			return v.String()
		}
		return ""
	}
	parts, _ := strconv.ParseInt(header(head, partsHeader), 10, 64)
	length, err := strconv.ParseInt(header(head, lengthHeader), 10, 64)
	if err != nil || length < 1 || length > maxWeightBytes || parts != (length+cachePart-1)/cachePart {
		return nil, fmt.Errorf("entry headers say %d parts of a %d-byte file", parts, length)
	}
	data := make([]byte, length)
	for i := range int(parts) {
		r := head
		if i > 0 {
			if r, err = cached(c.Call("match", cachekey.Part(key, i))); err != nil || r.IsUndefined() {
				return nil, fmt.Errorf("part %d of %d is missing", i+1, parts)
			}
		}
		lo, hi := int64(i)*cachePart, min(length, int64(i+1)*cachePart)
		buf, err := cached(r.Call("arrayBuffer"))
		if err != nil {
			return nil, fmt.Errorf("part %d of %d: %v", i+1, parts, err)
		}
		piece := js.Global().Get("Uint8Array").New(buf)
		if n := int64(piece.Get("byteLength").Int()); n != hi-lo {
			return nil, fmt.Errorf("part %d of %d has %d bytes, expected %d", i+1, parts, n, hi-lo)
		}
		js.CopyBytesToGo(data[lo:hi], piece)
		if sum, want := partHash(piece, data[lo:hi]), header(r, hashHeader); !strings.EqualFold(sum, want) {
			return nil, fmt.Errorf("part %d of %d does not match its sha256 (%.12s, stored %.12s)", i+1, parts, sum, want)
		}
		progress(protocol.Progress{Stage: protocol.StageCache, Done: hi, Total: length})
	}
	return data, nil
}

// remember stores a verified file under its content-hashed key (in parts, above) and drops
// every other entry of the same file (same family: the name without its content hash),
// older versions and whole-file entries of earlier releases alike. Failures only cost a
// download next time: a write refused (storage full, over quota) drops this file's new
// parts, keeps every other entry, and returns a note for the page to show.
func remember(raw, sha string, data []byte) (note string) {
	if sha == "" {
		return ""
	}
	key, err := cacheKey(raw, sha)
	if err != nil {
		return ""
	}
	c, ok := openCache()
	if !ok {
		return ""
	}
	parts := (len(data) + cachePart - 1) / cachePart
	for i := parts - 1; i >= 0; i-- {
		piece := data[i*cachePart : min(len(data), (i+1)*cachePart)]
		body := js.Global().Get("Uint8Array").New(len(piece))
		js.CopyBytesToJS(body, piece)
		headers := js.Global().Get("Object").New()
		headers.Set(hashHeader, partHash(body, piece))
		headers.Set("content-type", "application/octet-stream")
		headers.Set("content-length", strconv.Itoa(len(piece)))
		headers.Set(partsHeader, strconv.Itoa(parts))
		headers.Set(lengthHeader, strconv.Itoa(len(data)))
		opts := js.Global().Get("Object").New()
		opts.Set("headers", headers)
		resp := js.Global().Get("Response").New(body, opts)
		if _, err := cached(c.Call("put", cachekey.Part(key, i), resp)); err != nil {
			js.Global().Get("console").Call("warn", "alexlens: cannot cache weights: "+err.Error())
			forget(raw, sha)
			return fmt.Sprintf("not kept in the browser's cache (%v), so the next visit downloads them again; weights kept before are still there", err)
		}
	}
	keys, err := cached(c.Call("keys"))
	if err != nil {
		return ""
	}
	family := cachekey.Family(key)
	for i := 0; i < keys.Length(); i++ {
		old := keys.Index(i).Get("url").String()
		if whole, isPart := cachekey.Whole(old); cachekey.Family(old) == family && !(isPart && whole == key) {
			cached(c.Call("delete", keys.Index(i)))
		}
	}
	return ""
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
	keys, err := cached(c.Call("keys"))
	if err != nil {
		return
	}
	for i := 0; i < keys.Length(); i++ {
		if whole, _ := cachekey.Whole(keys.Index(i).Get("url").String()); whole == key {
			cached(c.Call("delete", keys.Index(i)))
		}
	}
}

// lockWait bounds how long a tab waits for another tab loading the same weights before it
// downloads them itself.
const lockWait = 3 * time.Minute

// lockWeights takes a Web Lock named after the file's hash and returns its release. Where
// another tab holds it (loading the same file), the progress says so while this one waits,
// up to lockWait. Without Web Locks, or for a file of unknown hash, it returns at once.
func lockWeights(sha string, progress func(protocol.Progress)) (release func()) {
	locks := js.Global().Get("navigator").Get("locks")
	if sha == "" || locks.IsUndefined() || locks.IsNull() {
		return func() {}
	}
	name := "alexlens-weights-" + strings.ToLower(sha)
	type grant struct {
		held   bool
		unlock js.Value // resolves the promise the lock is held by
		exec   js.Func  // that promise's executor
	}
	granted := make(chan grant, 1)
	var hold js.Func
	hold = js.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) == 0 || args[0].IsNull() { // ifAvailable, and another tab has it
			granted <- grant{}
			return nil
		}
		var unlock js.Value
		exec := js.FuncOf(func(_ js.Value, a []js.Value) any {
			unlock = a[0]
			return nil
		})
		p := js.Global().Get("Promise").New(exec)
		granted <- grant{held: true, unlock: unlock, exec: exec}
		return p
	})
	request := func(opts map[string]any) (grant, error) {
		if _, err := jsutil.Await(js.Global().Get("Promise").Call("resolve", locks.Call("request", name, opts, hold))); err != nil {
			return grant{}, err
		}
		return grant{}, nil
	}
	// The lock's promise settles only when the lock is let go, so the grant comes through
	// the channel; request runs in the background.
	try := func(opts map[string]any) (grant, error) {
		errs := make(chan error, 1)
		go func() { _, err := request(opts); errs <- err }()
		select {
		case g := <-granted:
			return g, nil
		case err := <-errs:
			select {
			case g := <-granted:
				return g, nil
			default:
				return grant{}, err
			}
		}
	}
	g, err := try(map[string]any{"ifAvailable": true})
	if err == nil && !g.held {
		progress(protocol.Progress{Stage: protocol.StageDownload, Note: "another tab is loading the same weights: waiting to read them from the browser cache"})
		// Not forever: a tab stuck on a slow download must not stall this one. An aborted
		// request is never granted, so hold can be released below.
		ctl := js.Global().Get("AbortController").New()
		timer := time.AfterFunc(lockWait, func() { ctl.Call("abort") })
		g, err = try(map[string]any{"signal": ctl.Get("signal")})
		timer.Stop()
		if err != nil {
			js.Global().Get("console").Call("info", "alexlens: stopped waiting for another tab's download: "+err.Error())
		}
	}
	if err != nil || !g.held {
		hold.Release()
		return func() {}
	}
	return func() {
		g.unlock.Invoke()
		hold.Release()
		g.exec.Release()
	}
}
