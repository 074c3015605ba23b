//go:build js && wasm

package main

import (
	"errors"
	"fmt"
	"syscall/js"
	"time"

	"github.com/alexlens/alexlens/wasm/jsutil"
)

// storageRefused is set when IndexedDB failed (a private window refuses it): galleries and
// projects then live in memory for the rest of the session and are neither read nor
// written, so a passing failure can never end in an empty one written over the stored one.
var storageRefused error

// IndexedDB: database "alexlens", one object store per kind of thing the worker keeps
// between visits, bytes under a key.
const (
	idbName    = "alexlens"
	idbVersion = 2 // 1 had galleries only
	// storeGalleries: the .alxg gallery of each weights fingerprint (look.go).
	storeGalleries = "galleries"
	// storeProjects: the Teach view's .alxt project of each weights fingerprint (teach.go).
	storeProjects = "projects"
	// storeFingerprints: the weights fingerprint (64 hex digits) of each weights file's
	// SHA-256 (fingerprints.go).
	storeFingerprints = "fingerprints"
)

// idbWait waits for an IDBRequest or IDBTransaction: okEvent is "success" or "complete".
func idbWait(target js.Value, okEvent string) error {
	ch := make(chan error, 1)
	send := func(err error) { // error then abort both come on a failed transaction
		select {
		case ch <- err:
		default:
		}
	}
	ok := js.FuncOf(func(js.Value, []js.Value) any { send(nil); return nil })
	fail := js.FuncOf(func(js.Value, []js.Value) any {
		msg := "IndexedDB request failed"
		if e := target.Get("error"); e.Truthy() {
			msg = jsutil.ErrorText(e)
		}
		send(errors.New(msg))
		return nil
	})
	target.Set("on"+okEvent, ok)
	target.Set("onerror", fail)
	if okEvent == "complete" {
		target.Set("onabort", fail)
	}
	var err error
	select {
	case err = <-ch:
	case <-time.After(idbTimeout):
		// Bounded like Cache Storage (fetch.go): a database held open by another tab
		// ("blocked") or a browser that never answers must not hold the worker forever.
		err = fmt.Errorf("IndexedDB did not answer in %v", idbTimeout)
	}
	for _, h := range []string{"on" + okEvent, "onerror", "onabort"} {
		target.Set(h, js.Null()) // before the release: a late event must not call a released func
	}
	ok.Release()
	fail.Release()
	return err
}

// idbTimeout bounds one IndexedDB request.
const idbTimeout = 30 * time.Second

func idbOpen() (js.Value, error) {
	f := js.Global().Get("indexedDB")
	if !f.Truthy() {
		return js.Value{}, errors.New("this browser has no IndexedDB (a private window?)")
	}
	req := f.Call("open", idbName, idbVersion)
	upgrade := js.FuncOf(func(js.Value, []js.Value) any {
		db := req.Get("result")
		for _, store := range []string{storeGalleries, storeProjects, storeFingerprints} {
			if !db.Get("objectStoreNames").Call("contains", store).Bool() {
				db.Call("createObjectStore", store)
			}
		}
		return nil
	})
	defer upgrade.Release()
	req.Set("onupgradeneeded", upgrade)
	defer req.Set("onupgradeneeded", js.Null()) // first: a late upgrade after a timeout calls nothing released
	if err := idbWait(req, "success"); err != nil {
		return js.Value{}, err
	}
	return req.Get("result"), nil
}

func idbGet(store, key string) ([]byte, error) {
	db, err := idbOpen()
	if err != nil {
		return nil, err
	}
	defer db.Call("close")
	req := db.Call("transaction", store, "readonly").Call("objectStore", store).Call("get", key)
	if err := idbWait(req, "success"); err != nil {
		return nil, err
	}
	v := req.Get("result")
	if v.IsUndefined() || v.IsNull() {
		return nil, nil
	}
	return jsutil.Bytes(v), nil
}

func idbPut(store, key string, data []byte) error {
	db, err := idbOpen()
	if err != nil {
		return err
	}
	defer db.Call("close")
	tx := db.Call("transaction", store, "readwrite")
	tx.Call("objectStore", store).Call("put", jsutil.Uint8Array(data), key)
	return idbWait(tx, "complete")
}

func idbDelete(store, key string) error {
	db, err := idbOpen()
	if err != nil {
		return err
	}
	defer db.Call("close")
	tx := db.Call("transaction", store, "readwrite")
	tx.Call("objectStore", store).Call("delete", key)
	return idbWait(tx, "complete")
}
