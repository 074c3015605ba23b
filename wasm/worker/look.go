//go:build js && wasm

package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall/js"
	"time"

	"github.com/alexlens/alexlens/wasm/jsutil"
	"github.com/alexlens/alexlens/wasm/protocol"
	"github.com/alexlens/alexlens/wasm/session"
)

// The look-inside operations (wasm/protocol/look.go): the gallery lives in the worker, next
// to the model, and is kept in the worker's IndexedDB under the weights' fingerprint, so each
// network and set of weights has its own gallery and a reload finds it again.

var (
	look *session.Look
	// running is the request that may be cancelled now (0: none) and how.
	running struct {
		id     int
		cancel context.CancelFunc
	}
)

// cancelRequest runs in the message handler itself, while a long request is between steps.
func cancelRequest(req *protocol.Request) {
	target := 0
	if req.Look != nil {
		target = req.Look.Target
	}
	if running.id != 0 && running.id == target {
		running.cancel()
	}
	post(protocol.Response{ID: req.ID, Kind: protocol.KindDone})
}

// yielder lets the JS event loop run about every 50 ms of a long computation, so a cancel
// message (and progress already posted) gets through: Go's wasm scheduler returns to JS only
// when every goroutine sleeps.
func yielder() func() {
	last := time.Now()
	return func() {
		if time.Since(last) > 50*time.Millisecond {
			eventLoopTurn()
			last = time.Now()
		}
	}
}

// turn is eventLoopTurn's channel: a message on port wakes done.
var turn struct {
	once sync.Once
	port js.Value
	done chan struct{}
}

// eventLoopTurn returns to the JS event loop for one turn: it posts itself a MessageChannel
// message and sleeps until it arrives, so the tasks queued before it (a cancel message) run
// first. A timer (time.Sleep) would do the same, but browsers clamp nested timers to 4 ms,
// which was 7% of a feature visualization's time.
func eventLoopTurn() {
	turn.once.Do(func() {
		ch := js.Global().Get("MessageChannel").New()
		turn.done = make(chan struct{}, 1)
		ch.Get("port1").Set("onmessage", js.FuncOf(func(js.Value, []js.Value) any {
			turn.done <- struct{}{}
			return nil
		}))
		turn.port = ch.Get("port2")
	})
	turn.port.Call("postMessage", nil)
	<-turn.done
}

// setEdits gives the session the request's interventions, with the gallery directions
// among them resolved to vectors (the gallery lives here, beside the session).
func setEdits(s *session.Session, req *protocol.Request) error {
	if look == nil {
		look = session.NewLook(s)
	}
	if session.NamesDirections(req.Edits) && !look.Opened() {
		// A shared link's direction names images of the gallery this browser keeps.
		if _, err := openStored(); err != nil {
			return err
		}
	}
	edits, err := look.ResolveEdits(req.Edits)
	if err != nil {
		return err
	}
	return s.SetEdits(edits)
}

func serveLook(s *session.Session, req *protocol.Request, bytes js.Value, progress func(protocol.Progress)) (*protocol.Response, error) {
	if look == nil {
		look = session.NewLook(s)
	}
	l := protocol.LookRequest{}
	if req.Look != nil {
		l = *req.Look
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	running.id, running.cancel = req.ID, cancel
	defer func() { running.id, running.cancel = 0, nil }()
	yield := yielder()
	report := func(p protocol.Progress) {
		progress(p)
		yield()
	}
	start := time.Now()
	res := &protocol.LookResult{}
	var err error
	switch req.Op {
	case protocol.OpGalleryOpen:
		res.Gallery, err = openStored()
	case protocol.OpGalleryLoad:
		var data []byte
		if data, err = galleryPayload(bytes); err != nil {
			return nil, err
		}
		if res.Added, err = look.Load(data, l.Append); err != nil {
			return nil, fmt.Errorf("cannot use this gallery file: %w (the gallery you had is unchanged)", err)
		}
		if res.Gallery, err = look.Info(!l.Append); err != nil {
			return nil, err
		}
		err = saveGallery(res.Gallery)
	case protocol.OpGalleryAdd:
		var data []byte
		if data, err = payload(bytes); err != nil {
			return nil, fmt.Errorf("%s: %w", l.Name, err)
		}
		var it *protocol.GalleryItem
		if it, err = look.Add(data, l.Name); err != nil {
			return nil, fmt.Errorf("%s: %w", l.Name, err)
		}
		res.Added = []protocol.GalleryItem{*it}
		res.Gallery, err = look.Info(false)
	case protocol.OpGallerySave:
		if res.Gallery, err = look.Info(false); err == nil {
			err = saveGallery(res.Gallery)
		}
	case protocol.OpGalleryClear:
		if err = look.Clear(); err == nil {
			var key string
			if key, err = look.Fingerprint(); err == nil && storageRefused == nil {
				err = idbDelete(storeGalleries, key)
			}
			res.Gallery, _ = look.Info(true)
		}
	case protocol.OpNeighbors:
		res.Neighbors, err = look.Neighbors(l.Item, l.K, l.Metric)
	case protocol.OpWalk:
		res.Walk, err = look.Walk(l.Item, l.From, l.To, l.Steps, l.K, l.Metric)
	case protocol.OpAtlas:
		res.Atlas, err = look.Atlas(ctx, l, report)
	case protocol.OpAtlasIcons:
		res.Icons, err = look.AtlasIcons(ctx, l, func(done, total int, icons []protocol.AtlasIcon) {
			if len(icons) == 0 { // a step within a batch: only let a cancel in
				yield()
				return
			}
			p := protocol.Progress{Stage: protocol.StageLook, Layer: "icons", Done: int64(done), Total: int64(total)}
			post(protocol.Response{ID: req.ID, Kind: protocol.KindProgress, Progress: &p, Look: &protocol.LookResult{Icons: icons}})
			yield()
		})
	case protocol.OpAtlasPoster:
		res.Poster, err = look.AtlasPoster(l)
	case protocol.OpAtlasFile:
		res.File, err = look.AtlasFile(l)
	case protocol.OpAtlasShow:
		var data []byte
		if data, err = galleryPayload(bytes); err == nil {
			if res.Shown, err = session.ShowAtlas(data); err != nil {
				err = fmt.Errorf("cannot show this atlas file: %w", err)
			}
		}
	case protocol.OpUnits:
		res.Patches, err = look.Units(ctx, l.Layer, l.Channel, l.K, l.Patch, report)
	case protocol.OpExplain, protocol.OpKnockOut:
		if err = setEdits(s, req); err != nil {
			return nil, err
		}
		if req.Op == protocol.OpKnockOut {
			res.KnockOut, err = s.KnockOut(ctx, *req.Explain)
			break
		}
		res.Explain, err = s.Explain(ctx, *req.Explain, func(done, total int) {
			report(protocol.Progress{Stage: protocol.StageLook, Done: int64(done), Total: int64(total), Layer: "pass"})
		})
	case protocol.OpFeatureVis:
		// A message re-renders the page, which shares the cores with this worker: a step
		// without a preview frame is posted only when none was in the last 100 ms.
		var posted time.Time
		res.FeatureVis, err = look.FeatureVis(ctx, l, func(f protocol.FeatureVisImg) {
			if f.RGBA != nil || time.Since(posted) >= 100*time.Millisecond {
				posted = time.Now()
				p := protocol.Progress{Stage: protocol.StageLook, Layer: "step", Done: int64(f.Step), Total: int64(f.Steps)}
				postAnswer(req, protocol.Response{ID: req.ID, Kind: protocol.KindProgress, Progress: &p, Look: &protocol.LookResult{FeatureVis: &f}})
			}
			yield()
		})
	default:
		return nil, fmt.Errorf("unknown operation %q", req.Op)
	}
	if err != nil {
		return nil, err
	}
	if res.Gallery != nil && storageRefused != nil {
		res.Gallery.Unstored = "this browser keeps no data for the page (" + storageRefused.Error() + "): the gallery lives in this tab only"
	}
	res.Millis = float64(time.Since(start).Microseconds()) / 1000
	return &protocol.Response{Look: res}, nil
}

// maxGalleryBytes bounds a gallery file sent to the worker (the format's own limits are
// larger; a browser tab is not).
const maxGalleryBytes = 1 << 30

func galleryPayload(v js.Value) ([]byte, error) {
	if v.IsUndefined() || v.IsNull() {
		return nil, errors.New("no gallery file sent")
	}
	n := v.Get("byteLength")
	if n.Type() != js.TypeNumber {
		return nil, errors.New("gallery bytes must be a Uint8Array or ArrayBuffer")
	}
	if n.Int() > maxGalleryBytes {
		return nil, fmt.Errorf("gallery file of %.0f MB is too large (at most %d MB)", float64(n.Int())/(1<<20), maxGalleryBytes>>20)
	}
	return jsutil.Bytes(v), nil
}

// openStored makes the stored gallery of the loaded weights the current one.
func openStored() (*protocol.GalleryInfo, error) {
	key, err := look.Fingerprint()
	if err != nil {
		return nil, err
	}
	var data []byte
	if storageRefused == nil {
		if data, err = idbGet(storeGalleries, key); err != nil {
			storageRefused, data = err, nil
		}
	}
	stored := false
	if data != nil {
		if _, err := look.Load(data, false); err != nil {
			return nil, fmt.Errorf("the stored gallery is unreadable (%w); it is left in place", err)
		}
		stored = true
	} else if err := look.Clear(); err != nil {
		return nil, err
	}
	info, err := look.Info(true)
	if err != nil {
		return nil, err
	}
	info.Stored, info.Bytes = stored, len(data)
	return info, nil
}

func saveGallery(info *protocol.GalleryInfo) error {
	key, err := look.Fingerprint()
	if err != nil {
		return err
	}
	data, err := look.Export()
	if err != nil {
		return err
	}
	if storageRefused != nil {
		return nil // in this tab only; serveLook says why
	}
	if err := idbPut(storeGalleries, key, data); err != nil {
		return fmt.Errorf("cannot store the gallery in this browser: %w", err)
	}
	info.Stored, info.Bytes = true, len(data)
	return nil
}
