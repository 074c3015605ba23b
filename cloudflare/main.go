//go:build js && wasm

// Command worker serves the AlexLens site on Cloudflare Workers: the same files, caching,
// Range and 304 behaviour as `alexlens serve` (package cloudflare/handler, checked with
// server/httpsuite), read from Workers static assets staged by `alexlens site
// --cloudflare-assets` (web/, weights/ and index.json; every file under 25 MiB, weights
// sharded). Build and run: `make cloudflare`, docs/PUBLISH.md.
package main

import (
	"fmt"
	"net/http"
	"net/url"
	"syscall/js"

	"github.com/syumai/workers"
	"github.com/syumai/workers/cloudflare"

	"github.com/alexlens/alexlens/cloudflare/handler"
	"github.com/alexlens/alexlens/wasm/jsutil"
)

// assetOrigin is any origin: the ASSETS binding looks only at the path.
const assetOrigin = "https://assets.invalid/"

// assets is a handler.Store over the Workers static assets binding.
type assets struct {
	binding js.Value
	idx     handler.Index
	last    string // the file read last, kept for the next range of the same file
	lastB   []byte
}

func (a *assets) Stat(name string) (handler.Entry, bool) {
	e, ok := a.idx[name]
	return e, ok
}

func (a *assets) Read(name string, off, n int64) ([]byte, error) {
	if a.last != name {
		b, err := a.fetch(name)
		if err != nil {
			return nil, err
		}
		a.last, a.lastB = name, b
	}
	if off < 0 || n < 0 || off+n > int64(len(a.lastB)) {
		return nil, fmt.Errorf("%s: %d bytes at %d are past its end (%d)", name, n, off, len(a.lastB))
	}
	return a.lastB[off : off+n], nil
}

// fetch reads a whole asset (at most 25 MiB, the static assets limit).
func (a *assets) fetch(name string) ([]byte, error) {
	u := assetOrigin + (&url.URL{Path: name}).EscapedPath()
	resp, err := jsutil.Await(a.binding.Call("fetch", u))
	if err != nil {
		return nil, err
	}
	if !resp.Get("ok").Bool() {
		return nil, fmt.Errorf("asset %s: HTTP %d", name, resp.Get("status").Int())
	}
	buf, err := jsutil.Await(resp.Call("arrayBuffer"))
	if err != nil {
		return nil, err
	}
	return jsutil.Bytes(buf), nil
}

func main() {
	// github.com/syumai/workers runs the Go instance (worker.mjs, Ready); requests are
	// converted here rather than by its handler glue, which splits header values on
	// commas, sends a FixedLengthStream without bytes for HEAD, and lets the runtime
	// compress bodies that are already compressed.
	js.Global().Get("context").Get("binding").Set("handleRequest", js.FuncOf(handleRequest))
	workers.Ready()
	select {}
}

// site is the handler for one request: a fresh Go instance serves each request, so the
// index is read per request (a few KB from the same assets).
func site() (http.Handler, error) {
	a := &assets{binding: cloudflare.GetBinding("ASSETS")}
	if a.binding.IsUndefined() {
		return nil, fmt.Errorf("the Worker has no ASSETS binding (see cloudflare/wrangler.toml)")
	}
	b, err := a.fetch(handler.IndexName)
	if err == nil {
		a.idx, err = handler.ParseIndex(b)
	}
	if err != nil {
		return nil, fmt.Errorf("the site's index is unavailable: %v", err)
	}
	cfg := handler.Config{Version: cloudflare.Getenv("ALEXLENS_VERSION"), NotIsolated: cloudflare.Getenv("ALEXLENS_ISOLATED") == "0"}
	return handler.New(a, cfg), nil
}

// handleRequest turns a JS Request into an http.Request, serves it and returns a Promise
// of the JS Response.
func handleRequest(_ js.Value, args []js.Value) any {
	jsReq := args[0]
	return js.Global().Get("Promise").New(js.FuncOf(func(_ js.Value, p []js.Value) any {
		resolve, reject := p[0], p[1]
		go func() {
			resp, err := serve(jsReq)
			if err != nil {
				reject.Invoke(js.Global().Get("Error").New(err.Error()))
				return
			}
			resolve.Invoke(resp)
		}()
		return nil
	}))
}

func serve(jsReq js.Value) (js.Value, error) {
	req, err := http.NewRequest(jsReq.Get("method").String(), jsReq.Get("url").String(), nil)
	if err != nil {
		return js.Value{}, err
	}
	req.RequestURI = req.URL.RequestURI()
	cb := js.FuncOf(func(_ js.Value, kv []js.Value) any {
		req.Header.Add(kv[1].String(), kv[0].String()) // forEach(value, key)
		return nil
	})
	jsReq.Get("headers").Call("forEach", cb)
	cb.Release()
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	h, err := site()
	if err != nil {
		rec.header.Set("Content-Type", "text/plain; charset=utf-8")
		rec.status = http.StatusInternalServerError
		rec.body = []byte(err.Error() + "\n")
	} else if !serveRecovering(h, rec, req) {
		return js.Value{}, fmt.Errorf("response aborted")
	}
	return rec.toJS(req.Method), nil
}

// serveRecovering runs h; false when it aborted the response (http.ErrAbortHandler).
func serveRecovering(h http.Handler, w http.ResponseWriter, r *http.Request) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			ok = false
		}
	}()
	h.ServeHTTP(w, r)
	return true
}

// recorder keeps a whole response: bodies are at most one asset (25 MiB).
type recorder struct {
	header http.Header
	status int
	wrote  bool
	body   []byte
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	r.body = append(r.body, b...)
	return len(b), nil
}

// toJS builds the Response. A body that is already encoded (a precompressed sibling) is
// sent as it is (encodeBody "manual"); HEAD, 304 and 204 have no body but keep their
// headers.
func (r *recorder) toJS(method string) js.Value {
	headers := js.Global().Get("Headers").New()
	for k, vs := range r.header {
		for _, v := range vs {
			headers.Call("append", k, v)
		}
	}
	init := js.Global().Get("Object").New()
	init.Set("status", r.status)
	init.Set("headers", headers)
	if r.header.Get("Content-Encoding") != "" {
		init.Set("encodeBody", "manual")
	}
	body := js.Null()
	if method != http.MethodHead && r.status != http.StatusNotModified && r.status != http.StatusNoContent {
		body = jsutil.Uint8Array(r.body)
	}
	return js.Global().Get("Response").New(body, init)
}
