package server

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path"
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
		Error(w, http.StatusInternalServerError, "content directory unavailable")
		return
	}
	defer root.Close()

	rel := path.Join(segs...)
	if rel == "" {
		rel = "."
	}
	fi, err := root.Stat(rel)
	if err != nil {
		Error(w, http.StatusNotFound, "not found")
		return
	}
	if fi.IsDir() {
		// Only directories with an index.html are served, as that file; there are no
		// listings. "/dir" is redirected to "/dir/" so the page's relative URLs work.
		idx := path.Join(rel, "index.html")
		ifi, err := root.Stat(idx)
		if err != nil || !ifi.Mode().IsRegular() {
			Error(w, http.StatusNotFound, "not found")
			return
		}
		if last := segs[len(segs)-1]; last != "" {
			RedirectToDirectory(w, last)
			return
		}
		rel, fi = idx, ifi
	} else if segs[len(segs)-1] == "" {
		// "/index.html/": a file is not a directory.
		Error(w, http.StatusNotFound, "not found")
		return
	}
	if !fi.Mode().IsRegular() {
		// Devices and FIFOs could block or never end.
		Error(w, http.StatusNotFound, "not found")
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
		coding := RequestedEncoding(r, offered)
		for _, s := range siblings {
			if s.coding == coding {
				chosen = s
			}
		}
	}

	f, sfi, sums, status := h.openChecked(root, dir, rel, chosen)
	if status != 0 && chosen.coding != "" {
		// The sibling vanished, does not decode or does not match: the identity bytes.
		chosen = variant{rel: rel}
		f, sfi, sums, status = h.openChecked(root, dir, rel, chosen)
	}
	switch status {
	case 0:
	case http.StatusNotFound:
		Error(w, status, "not found")
		return
	case http.StatusConflict:
		// A content-hashed name is a promise about the bytes: a file that breaks it
		// (truncated, overwritten, half-copied) is never sent, least of all with a
		// year-long cache lifetime.
		Error(w, http.StatusInternalServerError, "this file does not match the content hash in its name")
		return
	default:
		Error(w, status, "read error")
		return
	}
	defer f.Close()
	if r.Method == http.MethodGet && sfi.Size() > largeFile {
		select {
		case h.downloads <- struct{}{}:
			defer func() { <-h.downloads }()
		default:
			w.Header().Set("Retry-After", retryAfter)
			Error(w, http.StatusServiceUnavailable, "too many downloads at once: retry in a few seconds")
			return
		}
	}
	out := newStallWriter(w, r, h.cfg.WriteStallTimeout)
	defer out.stop()
	body := &unchangedFile{f: f, id: identity(sfi)}
	ServeContent(out, r, Content{Name: rel, ETag: etagFromHex(sums.Stored), ModTime: fi.ModTime(), Coding: chosen.coding, Size: sfi.Size(), Body: body})
}

// openChecked opens one variant of rel and hashes it (once per file identity). The status
// is 0 when it may be sent; 404 when it is gone; 409 when its bytes break the content hash
// in rel's name (logged); 500 when it cannot be read.
func (h *handler) openChecked(root *os.Root, dir, rel string, v variant) (*os.File, os.FileInfo, contentSums, int) {
	f, err := root.Open(v.rel)
	if err != nil {
		return nil, nil, contentSums{}, http.StatusNotFound
	}
	sfi, err := f.Stat()
	if err != nil || !sfi.Mode().IsRegular() {
		f.Close()
		return nil, nil, contentSums{}, http.StatusNotFound
	}
	sums, err := h.etags.get(dir+"\x00"+v.rel, f, sfi, v.coding)
	if err != nil {
		h.logf("serving %s: %v", v.rel, err)
		f.Close()
		return nil, nil, contentSums{}, http.StatusInternalServerError
	}
	if want := NameHash(rel); want != "" && !strings.HasPrefix(sums.Decoded, want) {
		h.logf("refusing %s: its content hashes to %.12s, its name promises %s (truncated or overwritten?)", v.rel, sums.Decoded, want)
		f.Close()
		return nil, nil, contentSums{}, http.StatusConflict
	}
	return f, sfi, sums, 0
}

// unchangedFile reads a file that must not change while it is sent: after every read it
// checks the file is still the one that was hashed (fileID), and fails the read otherwise.
// ServeContent then aborts the response before its last bytes, so a file overwritten during
// a download never arrives as a complete response mixing old and new bytes.
type unchangedFile struct {
	f  *os.File
	id fileID
}

func (u *unchangedFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := u.f.ReadAt(p, off)
	if fi, serr := u.f.Stat(); serr != nil || identity(fi) != u.id {
		return 0, fmt.Errorf("%s changed while it was being sent", u.f.Name())
	}
	return n, err
}

// stallWriter is the progress deadline of a response: a download may take as long as it
// needs in total (a 240 MB weight file on a slow link) as long as bytes keep moving, while a
// client that stops reading is dropped after stall.
//
// Where the connection's send queue can be read (Linux, Run's connections), progress is
// bytes the client acknowledged: a watchdog checks them every stall/4 and cuts the
// connection after stall without any. A write deadline cannot measure that: the kernel
// buffers megabytes and wakes a blocked writer only once half of them have drained, so a
// steady 200 KB/s reader could block one write for many seconds. Elsewhere the write
// deadline is renewed before each write, as the best approximation.
// It hides the ResponseWriter's ReadFrom, so bodies are copied in buffer-sized writes.
type stallWriter struct {
	http.ResponseWriter
	rc    *http.ResponseController
	stall time.Duration

	conn    net.Conn // the connection, when Run's ConnContext made it known
	mu      sync.Mutex
	written int64
	done    chan struct{}
}

// connKey is the request context key of the net.Conn a request came on.
type connKey struct{}

// newStallWriter starts the watchdog when r's connection is known and its send queue can
// be read; stop must be called when the response ends.
func newStallWriter(w http.ResponseWriter, r *http.Request, stall time.Duration) *stallWriter {
	s := &stallWriter{ResponseWriter: w, rc: http.NewResponseController(w), stall: stall}
	if c, ok := r.Context().Value(connKey{}).(net.Conn); ok {
		if _, ok := unsentBytes(c); ok {
			s.conn, s.done = c, make(chan struct{})
			_ = s.rc.SetWriteDeadline(time.Time{}) // the watchdog decides
			go s.watch()
		}
	}
	return s
}

func (s *stallWriter) Write(p []byte) (int, error) {
	if s.conn == nil {
		_ = s.rc.SetWriteDeadline(time.Now().Add(s.stall))
		return s.ResponseWriter.Write(p)
	}
	n, err := s.ResponseWriter.Write(p)
	s.mu.Lock()
	s.written += int64(n)
	s.mu.Unlock()
	return n, err
}

// watch cuts the connection when no byte has been acknowledged for stall while some are
// waiting: the blocked write then fails and the response is aborted.
func (s *stallWriter) watch() {
	tick := time.NewTicker(s.stall / 4)
	defer tick.Stop()
	lastAcked, lastMove := int64(-1), time.Now()
	for {
		select {
		case <-s.done:
			return
		case now := <-tick.C:
			unsent, ok := unsentBytes(s.conn)
			if !ok {
				return
			}
			s.mu.Lock()
			acked := s.written - int64(unsent)
			s.mu.Unlock()
			switch {
			case acked != lastAcked || unsent == 0:
				lastAcked, lastMove = acked, now
			case now.Sub(lastMove) >= s.stall:
				_ = s.conn.SetWriteDeadline(now) // fails the write in progress
				return
			}
		}
	}
}

// stop ends the watchdog and puts back a deadline for what Go's server still writes.
func (s *stallWriter) stop() {
	if s.done != nil {
		close(s.done)
		_ = s.rc.SetWriteDeadline(time.Now().Add(s.stall))
	}
}
