package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// encodings are the precompressed siblings looked for, in the server's preference
// order: brotli is smaller than gzip for wasm and JS.
var encodings = []struct{ coding, suffix string }{
	{"br", ".br"},
	{"gzip", ".gz"},
}

// serveFrom serves the file named by segs under dir. The directory is opened as an
// os.Root, so the kernel-level lookup refuses symlinks (and anything else) that would
// lead outside it.
func (h *handler) serveFrom(w http.ResponseWriter, r *http.Request, dir string, segs []string, isWeb bool) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		httpError(w, http.StatusInternalServerError, "content directory unavailable")
		return
	}
	defer root.Close()

	rel := path.Join(segs...)
	if rel == "" {
		rel = "."
	}
	fi, err := root.Stat(rel)
	if err != nil {
		httpError(w, http.StatusNotFound, "not found")
		return
	}
	if fi.IsDir() {
		// Only directories with an index.html are served, as that file; there are no
		// listings. "/dir" is redirected to "/dir/" so the page's relative URLs work.
		idx := path.Join(rel, "index.html")
		ifi, err := root.Stat(idx)
		if err != nil || !ifi.Mode().IsRegular() {
			httpError(w, http.StatusNotFound, "not found")
			return
		}
		if segs[len(segs)-1] != "" {
			// A relative Location ("name/") cannot be turned into a redirect elsewhere.
			w.Header().Set("Location", segs[len(segs)-1]+"/")
			httpError(w, http.StatusMovedPermanently, "moved permanently")
			return
		}
		rel, fi = idx, ifi
	}
	if !fi.Mode().IsRegular() {
		// Devices and FIFOs could block or never end.
		httpError(w, http.StatusNotFound, "not found")
		return
	}
	h.serveRegular(w, r, root, dir, rel, fi)
}

// variant is one stored representation of a resource: the file itself or a
// precompressed sibling.
type variant struct {
	coding string // "" for identity
	rel    string
}

func (h *handler) serveRegular(w http.ResponseWriter, r *http.Request, root *os.Root, dir, rel string, fi os.FileInfo) {
	hd := w.Header()
	// Precompressed siblings count only when at least as new as the file, so a stale
	// .br left behind by an old build is never served for new content.
	var offered []string
	var siblings []variant
	for _, e := range encodings {
		sfi, err := root.Stat(rel + e.suffix)
		if err == nil && sfi.Mode().IsRegular() && !sfi.ModTime().Before(fi.ModTime()) {
			offered = append(offered, e.coding)
			siblings = append(siblings, variant{e.coding, rel + e.suffix})
		}
	}
	chosen := variant{rel: rel}
	if len(offered) > 0 {
		hd.Set("Vary", "Accept-Encoding")
		// Ranges address bytes of the identity file only: a client resuming a download
		// must get the same bytes whatever its Accept-Encoding says.
		if r.Header.Get("Range") == "" {
			ae, present := r.Header["Accept-Encoding"]
			coding := NegotiateEncoding(strings.Join(ae, ","), present, offered)
			for _, s := range siblings {
				if s.coding == coding {
					chosen = s
				}
			}
		}
	}

	f, err := root.Open(chosen.rel)
	if err != nil && chosen.coding != "" {
		// The sibling vanished between Stat and Open: fall back to identity.
		chosen = variant{rel: rel}
		f, err = root.Open(rel)
	}
	if err != nil {
		httpError(w, http.StatusNotFound, "not found")
		return
	}
	defer f.Close()
	sfi, err := f.Stat()
	if err != nil || !sfi.Mode().IsRegular() {
		httpError(w, http.StatusNotFound, "not found")
		return
	}
	size := sfi.Size()
	etag, err := h.etags.get(dir+"\x00"+chosen.rel, f, sfi)
	if err != nil {
		httpError(w, http.StatusInternalServerError, "read error")
		return
	}
	modTime := fi.ModTime()
	if modTime.Unix() <= 0 {
		modTime = time.Time{} // unknown; do not claim 1970
	}

	hd.Set("ETag", etag)
	hd.Set("Cache-Control", CacheControl(rel))
	pre, honourRange := evaluatePreconditions(r, etag, modTime)
	switch pre {
	case notModified:
		// RFC 9110 §15.4.5: a 304 carries the validators and caching fields, not the
		// representation's metadata.
		w.WriteHeader(http.StatusNotModified)
		return
	case failed:
		httpError(w, http.StatusPreconditionFailed, "precondition failed")
		return
	}
	if !modTime.IsZero() {
		hd.Set("Last-Modified", modTime.UTC().Format(http.TimeFormat))
	}
	hd.Set("Accept-Ranges", "bytes")
	ctype := ContentType(rel)
	if chosen.coding != "" {
		hd.Set("Content-Encoding", chosen.coding)
	}

	var ranges []ByteRange
	if rh := r.Header.Get("Range"); rh != "" && honourRange && r.Method == http.MethodGet && chosen.coding == "" {
		ranges, err = ParseRange(rh, size)
		switch {
		case errors.Is(err, ErrRangeUnsatisfiable):
			if size > 0 {
				clearForError(hd)
				hd.Set("Content-Range", fmt.Sprintf("bytes */%d", size)) // the current length
				writeError(w, http.StatusRequestedRangeNotSatisfiable, "range not satisfiable")
				return
			}
			// Some clients send a Range with every request; an empty file is simply
			// empty rather than an error.
			ranges = nil
		case err != nil:
			ranges = nil // ignored header: send everything
		}
	}

	out := &stallWriter{w: w, rc: http.NewResponseController(w), stall: h.cfg.WriteStallTimeout}
	switch len(ranges) {
	case 0:
		hd.Set("Content-Type", ctype)
		hd.Set("Content-Length", strconv.FormatInt(size, 10))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			copySection(out, f, 0, size)
		}
	case 1:
		ra := ranges[0]
		hd.Set("Content-Type", ctype)
		hd.Set("Content-Range", ra.ContentRange(size))
		hd.Set("Content-Length", strconv.FormatInt(ra.Length, 10))
		w.WriteHeader(http.StatusPartialContent)
		copySection(out, f, ra.Start, ra.Length)
	default:
		writeMultipart(w, out, f, ctype, size, ranges)
	}
}

// writeMultipart sends a multipart/byteranges 206 (RFC 9110 §14.6) with an exact
// Content-Length, computed from the part headers before any byte is sent.
func writeMultipart(w http.ResponseWriter, out io.Writer, f *os.File, ctype string, size int64, ranges []ByteRange) {
	var b [16]byte
	rand.Read(b[:])
	boundary := hex.EncodeToString(b[:])
	heads := make([]string, len(ranges))
	total := int64(0)
	for i, ra := range ranges {
		heads[i] = "--" + boundary + "\r\nContent-Type: " + ctype + "\r\nContent-Range: " + ra.ContentRange(size) + "\r\n\r\n"
		total += int64(len(heads[i])) + ra.Length + 2
	}
	tail := "--" + boundary + "--\r\n"
	total += int64(len(tail))
	hd := w.Header()
	hd.Set("Content-Type", "multipart/byteranges; boundary="+boundary)
	hd.Set("Content-Length", strconv.FormatInt(total, 10))
	w.WriteHeader(http.StatusPartialContent)
	for i, ra := range ranges {
		io.WriteString(out, heads[i])
		copySection(out, f, ra.Start, ra.Length)
		io.WriteString(out, "\r\n")
	}
	io.WriteString(out, tail)
}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// copySection sends n bytes of f from off. If the file cannot supply them (it shrank
// under us) or the client went away, the response cannot match its Content-Length, so
// the connection is aborted rather than left waiting for bytes that will never come.
func copySection(w io.Writer, f *os.File, off, n int64) {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	written, err := io.CopyBuffer(w, io.NewSectionReader(f, off, n), *bp)
	if err == nil && written < n {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		panic(http.ErrAbortHandler)
	}
}

// stallWriter renews the connection's write deadline before each write, so a response
// may take as long as it needs in total (a 240 MB weight file on a slow link) while a
// client that stops reading is dropped after stall.
type stallWriter struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	stall time.Duration
}

func (s *stallWriter) Write(p []byte) (int, error) {
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.stall))
	return s.w.Write(p)
}
