//go:build js && wasm

package main

import (
	"fmt"
	"net/url"
	"path"
	"syscall/js"

	"github.com/alexlens/alexlens/site/shard"
	"github.com/alexlens/alexlens/wasm/jsutil"
	"github.com/alexlens/alexlens/wasm/protocol"
)

// download fetches a weights file: whole, or, where a static export (alexlens site) cut it
// into shards under the hosts' file size limit, piece by piece from the shard list in the
// folder's manifest.json. The assembled file is checked against its sha256 by the
// session like any other download.
func download(key, sha string, progress func(protocol.Progress)) (js.Value, error) {
	byteProgress := func(done, total int64) {
		progress(protocol.Progress{Stage: protocol.StageDownload, Done: done, Total: total})
	}
	shards, size, base := shardsOf(key, sha)
	if shards == nil {
		return jsutil.FetchJS(key, maxWeightBytes, byteProgress)
	}
	if size > maxWeightBytes {
		return js.Value{}, fmt.Errorf("%d MB is larger than the %d MB allowed", size>>20, maxWeightBytes>>20)
	}
	out := js.Global().Get("Uint8Array").New(size)
	for i, s := range shards {
		u, err := base.Parse(s.File)
		if err != nil {
			return js.Value{}, err
		}
		done := s.Offset
		piece, err := jsutil.FetchJS(u.String(), s.Length, func(n, _ int64) { byteProgress(done+n, size) })
		if err != nil {
			return js.Value{}, fmt.Errorf("shard %d of %d (%s): %v", i+1, len(shards), s.File, err)
		}
		if n := int64(piece.Get("byteLength").Int()); n != s.Length {
			return js.Value{}, fmt.Errorf("shard %d of %d (%s) is %d bytes, the manifest says %d", i+1, len(shards), s.File, n, s.Length)
		}
		out.Call("set", piece, s.Offset)
	}
	return out, nil
}

// shardsOf looks the file up in the manifest.json beside it. Any failure means "no shards":
// the whole file is then fetched, and a host without it answers with a clear HTTP error.
func shardsOf(key, sha string) ([]shard.Shard, int64, *url.URL) {
	u, err := url.Parse(key)
	if err != nil {
		return nil, 0, nil
	}
	file := path.Base(u.Path)
	base := *u
	base.RawQuery, base.Fragment = "", ""
	m, err := base.Parse("manifest.json")
	if err != nil {
		return nil, 0, nil
	}
	data, err := jsutil.FetchBytes(m.String(), shard.MaxManifest, nil)
	if err != nil {
		return nil, 0, nil
	}
	shards, size, err := shard.Find(data, file, sha)
	if err != nil {
		js.Global().Get("console").Call("warn", "alexlens: ignoring the manifest's shard list: "+err.Error())
		return nil, 0, nil
	}
	return shards, size, &base
}
