//go:build js && wasm

// Command worker is the AlexLens engine in a Web Worker: it loads weights (streamed fetch
// with byte progress, Cache Storage keyed by content hash, sha256 verified), classifies
// image files and webcam frames, and renders activation maps and first-layer kernels.
// worker.js starts it; the page talks to it with protocol messages:
//
//	page -> worker: {json: Request, bytes?: Uint8Array}
//	worker -> page: {json: Response}
package main

import (
	"encoding/json"
	"fmt"
	"syscall/js"
	"time"

	"github.com/alexlens/alexlens/wasm/cpukernel"
	"github.com/alexlens/alexlens/wasm/jsutil"
	"github.com/alexlens/alexlens/wasm/protocol"
	"github.com/alexlens/alexlens/wasm/session"
)

// maxImageBytes bounds an uploaded file before it is copied into Go memory; the decoder has
// its own pixel limit beyond this.
const maxImageBytes = 64 << 20

type job struct {
	req   *protocol.Request
	bytes js.Value
	err   error
	id    int
}

func main() {
	// The generated wasm SIMD kernels (wasm/cpukernel) when the browser runs them; the Go
	// kernels otherwise. The engine's answers say which (KernelName).
	cpu, err := cpukernel.Backend()
	if err != nil {
		js.Global().Get("console").Call("log", "alexlens engine: using the Go kernels: "+err.Error())
	}
	self := js.Global()
	s := session.New(codecs(), cpu)
	s.SetFingerprintCache(idbFingerprints{})
	s.SetRunners(newRunner)
	jobs := make(chan job, 16)
	onMessage := js.FuncOf(func(_ js.Value, args []js.Value) any {
		data := args[0].Get("data")
		j := job{bytes: data.Get("bytes")}
		text := data.Get("json")
		if text.Type() != js.TypeString {
			j.err = fmt.Errorf("message without a json field")
		} else {
			j.req, j.err = protocol.DecodeRequest([]byte(text.String()))
			if j.err != nil {
				// Recover the ID if the JSON parses at all, so the page can match the error.
				var idOnly struct{ ID int }
				if json.Unmarshal([]byte(text.String()), &idOnly) == nil {
					j.id = idOnly.ID
				}
			}
		}
		if j.req != nil && j.req.Op == protocol.OpCancel {
			cancelRequest(j.req) // at once, not behind the request it stops
			return nil
		}
		select {
		case jobs <- j:
		default:
			id := j.id
			if j.req != nil {
				id = j.req.ID
			}
			post(protocol.Response{ID: id, Kind: protocol.KindError, Error: "the engine is busy: too many requests queued"})
		}
		return nil
	})
	self.Set("onmessage", onMessage)
	post(protocol.Response{ID: protocol.IDStarted, Kind: protocol.KindDone})

	// One request at a time: the engine is single-threaded in a worker anyway, and results
	// then come back in the order asked.
	for j := range jobs {
		if j.err != nil {
			post(protocol.Response{ID: j.id, Kind: protocol.KindError, Error: j.err.Error()})
			continue
		}
		handle(s, j.req, j.bytes)
	}
}

func handle(s *session.Session, req *protocol.Request, bytes js.Value) {
	progress := func(p protocol.Progress) {
		post(protocol.Response{ID: req.ID, Kind: protocol.KindProgress, Progress: &p})
	}
	resp, err := serve(s, req, bytes, progress)
	if err != nil {
		post(protocol.Response{ID: req.ID, Kind: protocol.KindError, Error: err.Error()})
		return
	}
	resp.ID, resp.Kind = req.ID, protocol.KindDone
	postAnswer(req, *resp)
}

func serve(s *session.Session, req *protocol.Request, bytes js.Value, progress func(protocol.Progress)) (resp *protocol.Response, err error) {
	// A panic in the engine must not kill the worker: report it like any other error.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error: %v", r)
		}
	}()
	switch req.Op {
	case protocol.OpLoad:
		start := time.Now()
		if req.Manifest != "" {
			if err := chooseFromManifest(req); err != nil {
				return nil, err
			}
		}
		// Held until the file is verified and stored: a second tab loading the same weights
		// waits, then reads them from Cache Storage instead of downloading them again.
		defer lockWeights(req.SHA256, progress)()
		data, sum, fromCache, err := loadWeights(req.URL, req.SHA256, req.Size, progress)
		if err != nil {
			return nil, err
		}
		progress(protocol.Progress{Stage: protocol.StageDecode})
		info, err := s.Load(data, session.LoadOptions{
			Hash: sum, Want: req.SHA256, Precision: req.Precision, Start: start,
			Run: session.RunOptions{Compute: req.Compute, Threads: req.Threads},
		})
		if err != nil {
			if fromCache {
				forget(req.URL, req.SHA256) // a bad cached copy is dropped so a reload refetches
			}
			return nil, err
		}
		if !fromCache {
			info.CacheNote = remember(req.URL, req.SHA256, data)
		}
		info.FromCache = fromCache
		return &protocol.Response{Model: info, Kernels: s.Kernels()}, nil
	case protocol.OpClassify, protocol.OpFrame, protocol.OpRerun:
		if err := setEdits(s, req); err != nil {
			return nil, err
		}
		if err := s.UseHead(req.Head); err != nil {
			return nil, err
		}
		var c *protocol.Classification
		var err error
		if req.Op == protocol.OpRerun {
			c, err = s.Rerun(progress)
		} else {
			var data []byte
			if data, err = payload(bytes); err != nil {
				return nil, err
			}
			if req.Op == protocol.OpClassify {
				c, err = s.ClassifyImage(data, progress)
			} else {
				c, err = s.ClassifyFrame(data, req.Width, req.Height, progress)
			}
		}
		if err != nil {
			return nil, err
		}
		if !req.Embedding {
			c.Embedding = nil // 4,096 numbers of JSON a pass that nobody asked for
		}
		maps, err := s.Maps(req.Maps, req.Threshold)
		if err != nil {
			return nil, err
		}
		return &protocol.Response{Result: c, Maps: maps}, nil
	case protocol.OpMaps:
		maps, err := s.Maps(req.Maps, req.Threshold)
		if err != nil {
			return nil, err
		}
		return &protocol.Response{Maps: maps}, nil
	}
	if protocol.IsLook(req.Op) {
		return serveLook(s, req, bytes, progress)
	}
	if protocol.IsTeach(req.Op) {
		return serveTeach(s, req, bytes)
	}
	return nil, fmt.Errorf("unknown operation %q", req.Op)
}

func payload(v js.Value) ([]byte, error) {
	if v.IsUndefined() || v.IsNull() {
		return nil, fmt.Errorf("no image bytes sent")
	}
	n := v.Get("byteLength")
	if n.Type() != js.TypeNumber {
		return nil, fmt.Errorf("image bytes must be a Uint8Array or ArrayBuffer")
	}
	if n.Int() > maxImageBytes {
		return nil, fmt.Errorf("file of %.1f MB is too large (at most %d MB)", float64(n.Int())/(1<<20), maxImageBytes>>20)
	}
	if n.Int() == 0 {
		return nil, fmt.Errorf("the file is empty")
	}
	return jsutil.Bytes(v), nil
}

func post(r protocol.Response) { postWith(r, nil) }

// postAnswer posts r, an answer to req or its progress, with its pixels beside the JSON
// when req asks for that (Request.PixelBytes) and r has some.
func postAnswer(req *protocol.Request, r protocol.Response) {
	if req.PixelBytes {
		if b := r.DetachPixels(); len(b) > 0 {
			postWith(r, b)
			return
		}
	}
	post(r)
}

// postWith posts r with bytes beside its JSON (transferred, not copied), when there are any.
func postWith(r protocol.Response, bytes []byte) {
	b, err := json.Marshal(r)
	if err != nil {
		b, _ = json.Marshal(protocol.Response{ID: r.ID, Kind: protocol.KindError, Error: "cannot encode response: " + err.Error()})
		bytes = nil
	}
	msg := js.Global().Get("Object").New()
	msg.Set("json", string(b))
	if bytes == nil {
		js.Global().Call("postMessage", msg)
		return
	}
	arr := js.Global().Get("Uint8Array").New(len(bytes))
	js.CopyBytesToJS(arr, bytes)
	msg.Set("bytes", arr)
	js.Global().Call("postMessage", msg, []any{arr.Get("buffer")})
}
