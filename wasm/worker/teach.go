//go:build js && wasm

package main

import (
	"context"
	"fmt"
	"syscall/js"
	"time"

	"github.com/alexlens/alexlens/wasm/protocol"
	"github.com/alexlens/alexlens/wasm/session"
)

// serveTeach runs the Teach view's operations (wasm/protocol/teach.go): cancellable like the
// look-inside ones, each training epoch in a progress message.
func serveTeach(s *session.Session, req *protocol.Request, bytes js.Value) (*protocol.Response, error) {
	t, r := s.Teacher(), *req.Teach
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	running.id, running.cancel = req.ID, cancel
	defer func() { running.id, running.cancel = 0, nil }()
	yield := yielder()
	res := &protocol.TeachResult{}
	var err error
	switch req.Op {
	case protocol.OpTeachReset:
		res.Info, err = t.Reset(r.Layer)
	case protocol.OpTeachClass:
		res.Info, err = t.Class(r.Name, r.Remove, r.Class)
	case protocol.OpTeachAdd:
		var data []byte
		if data, err = payload(bytes); err != nil {
			return nil, fmt.Errorf("%s: %w", r.Name, err)
		}
		if res.Info, err = t.Add(r.Class, data, r.Name); err != nil {
			return nil, fmt.Errorf("%s: %w", r.Name, err)
		}
	case protocol.OpTeachRemove:
		res.Info, err = t.Remove(r.Photo)
	case protocol.OpTeachTrain:
		// An epoch takes milliseconds; a message re-renders the page, which shares the
		// cores with this worker: the curve is drawn from one message in 100 ms (and whole
		// from the report at the end).
		var last time.Time
		res.Report, err = t.Train(ctx, r, func(e protocol.TeachEpoch) {
			if time.Since(last) >= 100*time.Millisecond {
				last = time.Now()
				post(protocol.Response{ID: req.ID, Kind: protocol.KindProgress, Teach: &protocol.TeachResult{Epoch: &e}})
			}
			yield()
		})
		if err == nil {
			res.Info = t.Info()
		}
	case protocol.OpTeachExport:
		res.File, err = t.Export(r.Format)
	}
	if err != nil {
		return nil, err
	}
	return &protocol.Response{Teach: res}, nil
}
