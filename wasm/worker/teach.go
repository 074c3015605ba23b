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
	case protocol.OpTeachAddItems:
		if look == nil {
			look = session.NewLook(s)
		}
		for _, i := range r.Items {
			x, img, name, ierr := look.ItemInput(i)
			if ierr == nil {
				res.Info, ierr = t.AddInput(r.Class, x, img, name)
			}
			if ierr != nil {
				if res.Info != nil { // the items before it are kept: say so
					ierr = fmt.Errorf("%w (the items before it were added)", ierr)
				}
				err = ierr
				break
			}
			if ctx.Err() != nil {
				break
			}
			yield()
		}
	case protocol.OpTeachHead:
		var data []byte
		if data, err = payload(bytes); err == nil {
			res.Head, err = s.LoadHead(data)
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
	case protocol.OpTeachSave:
		res.File, err = t.Save()
	case protocol.OpTeachOpen:
		var data []byte
		if data, err = payload(bytes); err == nil {
			res.Info, err = t.Open(data)
		}
	case protocol.OpTeachRestore:
		res.Info, err = restoreProject(s, t)
	}
	if err != nil {
		if req.Op == protocol.OpTeachAddItems && res.Info != nil {
			storeProject(s, t) // the items added before the error stay, in the store too
		}
		return nil, err
	}
	switch req.Op {
	case protocol.OpTeachReset, protocol.OpTeachClass, protocol.OpTeachAdd, protocol.OpTeachAddItems, protocol.OpTeachRemove, protocol.OpTeachTrain, protocol.OpTeachOpen:
		res.Info.Unstored = storeProject(s, t)
	case protocol.OpTeachRestore:
		if storageRefused != nil {
			res.Info.Unstored = unstored(storageRefused)
		}
	}
	return &protocol.Response{Teach: res}, nil
}

// The Teach view's project is kept in IndexedDB under the weights' fingerprint after every
// change, and reopened when the view opens (OpTeachRestore): a reader's classes and photos
// outlive the tab until they remove them.

// restoreProject reopens the stored project of the loaded weights, unless the worker already
// holds classes for them (its memory is as new as the store, or newer).
func restoreProject(s *session.Session, t *session.Teacher) (*protocol.TeachInfo, error) {
	info, err := t.Current()
	if err != nil || len(info.Classes) > 0 || storageRefused != nil {
		return info, err
	}
	key, err := s.Fingerprint()
	if err != nil {
		return nil, err
	}
	data, err := idbGet(storeProjects, key)
	if err != nil {
		storageRefused = err
		return info, nil
	}
	if data == nil {
		return info, nil
	}
	opened, err := t.Open(data)
	if err != nil {
		// Set aside, not lost: the next change stores the new project in its place.
		aside := key + " unreadable"
		if perr := idbPut(storeProjects, aside, data); perr != nil {
			storageRefused = perr // storing over it would lose it
		}
		return nil, fmt.Errorf("the project this browser kept for these weights is unreadable (%v); it is set aside in IndexedDB as %q", err, aside)
	}
	return opened, nil
}

// storeProject keeps the project in IndexedDB; it returns why it could not ("" when kept).
// The change itself stands either way.
func storeProject(s *session.Session, t *session.Teacher) string {
	if storageRefused != nil {
		return unstored(storageRefused)
	}
	key, err := s.Fingerprint()
	if err != nil {
		return "the project is not kept in this browser: " + err.Error()
	}
	data, err := t.Save()
	if err != nil {
		return "the project is not kept in this browser: " + err.Error()
	}
	if err := idbPut(storeProjects, key, data); err != nil {
		return "this browser did not keep the project (" + err.Error() + "): save it to a file to keep it"
	}
	return ""
}

func unstored(err error) string {
	return "this browser keeps no data for the page (" + err.Error() + "): the classes and photos live in this tab only; save the project to a file to keep them"
}
