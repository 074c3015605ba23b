//go:build js && wasm

package main

import (
	"fmt"
	"io"
	"net/url"
	"path"
	"syscall/js"

	"github.com/alexlens/alexlens/wasm/jsutil"
	"github.com/alexlens/alexlens/wasm/protocol"
	"github.com/alexlens/alexlens/weights/manifest"
)

// download fetches a weights file into Go memory, through sink (the hash) as it arrives:
// whole, or, where a static export (alexlens site) cut it into shards under the hosts' file
// size limit, piece by piece from the shard list in the folder's manifest.json. size is
// the length the manifest gave (0: unknown). The assembled file is checked against its
// sha256 by the session like any other download.
func download(key, sha string, size int64, sink io.Writer, progress func(protocol.Progress)) ([]byte, error) {
	byteProgress := func(done, total int64) {
		progress(protocol.Progress{Stage: protocol.StageDownload, Done: done, Total: total})
	}
	shards, whole, base := shardsOf(key, sha)
	if shards == nil {
		resp, err := jsutil.Fetch(key)
		if err != nil {
			return nil, err
		}
		return jsutil.ReadBody(resp, nil, size, maxWeightBytes, sink, byteProgress)
	}
	if whole > maxWeightBytes {
		return nil, fmt.Errorf("%d MB is larger than the %d MB allowed", whole>>20, maxWeightBytes>>20)
	}
	out := make([]byte, 0, whole)
	for i, s := range shards {
		u, err := base.Parse(s.File)
		if err != nil {
			return nil, err
		}
		resp, err := jsutil.Fetch(u.String())
		if err != nil {
			return nil, fmt.Errorf("shard %d of %d (%s): %v", i+1, len(shards), s.File, err)
		}
		done := s.Offset
		// In order and contiguous (manifest.CheckShards): each shard goes on the end.
		out, err = jsutil.ReadBody(resp, out, s.Length, s.Length, sink, func(n, _ int64) { byteProgress(done+n, whole) })
		if err != nil {
			return nil, fmt.Errorf("shard %d of %d (%s): %v", i+1, len(shards), s.File, err)
		}
	}
	return out, nil
}

// shardsOf looks the file up in the manifest.json beside it. Any failure means "no shards":
// the whole file is then fetched, and a host without it answers with a clear HTTP error.
func shardsOf(key, sha string) ([]manifest.Shard, int64, *url.URL) {
	u, err := url.Parse(key)
	if err != nil {
		return nil, 0, nil
	}
	file := path.Base(u.Path)
	base := *u
	base.RawQuery, base.Fragment = "", ""
	m, err := base.Parse(manifest.Name)
	if err != nil {
		return nil, 0, nil
	}
	data, err := jsutil.FetchBytes(m.String(), manifest.MaxBytes, nil)
	if err != nil {
		return nil, 0, nil
	}
	man, err := manifest.Parse(data)
	if err != nil {
		js.Global().Get("console").Call("warn", "alexlens: ignoring the manifest beside the weights: "+err.Error())
		return nil, 0, nil
	}
	shards, size, err := man.Shards(file, sha)
	if err != nil {
		js.Global().Get("console").Call("warn", "alexlens: ignoring the manifest's shard list: "+err.Error())
		return nil, 0, nil
	}
	return shards, size, &base
}

// chooseFromManifest fills a load request that names a manifest (the embeds' way) with the
// file that manifest.Choose picks for its network and precision, as the app's own weights
// choice does.
func chooseFromManifest(req *protocol.Request) error {
	base, err := url.Parse(js.Global().Get("location").Get("href").String())
	if err != nil {
		return err
	}
	mu, err := base.Parse(req.Manifest)
	if err != nil {
		return fmt.Errorf("bad manifest URL %q: %v", req.Manifest, err)
	}
	data, err := jsutil.FetchBytes(mu.String(), manifest.MaxBytes, nil)
	if err != nil {
		return fmt.Errorf("cannot read %s: %v", mu, err)
	}
	m, err := manifest.Parse(data)
	if err != nil {
		return err
	}
	e, err := m.Choose(req.Arch, req.Precision, false)
	if err != nil {
		return err
	}
	file, err := mu.Parse(e.File)
	if err != nil {
		return err
	}
	req.URL, req.SHA256, req.Size = file.String(), e.SHA256, e.Bytes
	return nil
}
