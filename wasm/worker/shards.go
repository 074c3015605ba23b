//go:build js && wasm

package main

import (
	"errors"
	"fmt"
	"hash"
	"net/url"
	"path"
	"strings"
	"syscall/js"
	"time"

	"github.com/alexlens/alexlens/wasm/jsutil"
	"github.com/alexlens/alexlens/wasm/protocol"
	"github.com/alexlens/alexlens/weights/manifest"
)

// download fetches a weights file into Go memory, through sink (the hash) as it arrives:
// whole, or, where a static export (alexlens site) cut it into shards under the hosts' file
// size limit, piece by piece from the shard list in the folder's manifest.json. size is
// the length the manifest gave (0: unknown). The assembled file is checked against its
// sha256 by the session like any other download.
func download(key, sha string, size int64, sink hash.Hash, progress func(protocol.Progress)) ([]byte, error) {
	byteProgress := func(done, total int64) {
		progress(protocol.Progress{Stage: protocol.StageDownload, Done: done, Total: total})
	}
	shards, whole, base := shardsOf(key, sha)
	if shards == nil {
		return fetchResuming(key, size, sink, progress)
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

// resumeTries bounds how often one download is picked up again after a cut.
const resumeTries = 5

// fetchResuming downloads a whole file into Go memory through h. A connection cut midway
// is picked up where it stopped with a Range request, If-Range the first answer's ETag so
// that a file changed meanwhile comes back whole (then the bytes and h start over), up to
// resumeTries times with a growing pause; the progress notes say so.
func fetchResuming(url string, size int64, h hash.Hash, progress func(protocol.Progress)) ([]byte, error) {
	resp, err := jsutil.Fetch(url)
	if err != nil {
		return nil, err
	}
	validator := ""
	if v := resp.Get("headers").Call("get", "etag"); v.Type() == js.TypeString && !strings.HasPrefix(v.String(), "W/") {
		validator = v.String() // If-Range takes strong validators only
	}
	note := ""
	report := func(from int64) func(done, total int64) {
		return func(done, total int64) {
			if size > 0 {
				total = size
			}
			progress(protocol.Progress{Stage: protocol.StageDownload, Done: from + done, Total: total, Note: note})
		}
	}
	data, err := jsutil.ReadBody(resp, nil, size, maxWeightBytes, h, report(0))
	for try := 1; err != nil; try++ {
		var cut *jsutil.BrokenOff
		if !errors.As(err, &cut) || try > resumeTries {
			return nil, err
		}
		from := int64(len(data))
		note = fmt.Sprintf("the connection was cut at %d%%: resuming, try %d of %d", 100*from/max(size, from, 1), try, resumeTries)
		js.Global().Get("console").Call("info", "alexlens: "+note+" ("+err.Error()+")")
		progress(protocol.Progress{Stage: protocol.StageDownload, Done: from, Total: size, Note: note})
		time.Sleep(time.Duration(try) * 500 * time.Millisecond)
		resp, ferr := jsutil.FetchFrom(url, from, validator)
		if ferr != nil {
			err = &jsutil.BrokenOff{Done: from, Err: ferr} // still cut: wait and try again
			continue
		}
		if resp.Get("status").Int() == 200 || !rangeStartsAt(resp, from) {
			// The file changed (If-Range failed) or the host ignores Range: start over.
			data, from = data[:0], 0
			h.Reset()
		}
		rest := int64(0)
		if size > 0 {
			rest = size - from
		}
		data, err = jsutil.ReadBody(resp, data, rest, maxWeightBytes-from, h, report(from))
	}
	return data, nil
}

// rangeStartsAt reports whether a 206 answer's Content-Range starts at byte from.
func rangeStartsAt(resp js.Value, from int64) bool {
	v := resp.Get("headers").Call("get", "content-range")
	if v.Type() != js.TypeString {
		return false
	}
	var start, end, total int64
	_, err := fmt.Sscanf(v.String(), "bytes %d-%d/%d", &start, &end, &total)
	return err == nil && start == from
}
