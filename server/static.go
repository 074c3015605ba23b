package server

import (
	"net/http"
	"os"
	"path"
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

	f, err := root.Open(chosen.rel)
	if err != nil && chosen.coding != "" {
		// The sibling vanished between Stat and Open: fall back to identity.
		chosen = variant{rel: rel}
		f, err = root.Open(rel)
	}
	if err != nil {
		Error(w, http.StatusNotFound, "not found")
		return
	}
	defer f.Close()
	sfi, err := f.Stat()
	if err != nil || !sfi.Mode().IsRegular() {
		Error(w, http.StatusNotFound, "not found")
		return
	}
	etag, err := h.etags.get(dir+"\x00"+chosen.rel, f, sfi)
	if err != nil {
		Error(w, http.StatusInternalServerError, "read error")
		return
	}
	out := &stallWriter{ResponseWriter: w, rc: http.NewResponseController(w), stall: h.cfg.WriteStallTimeout}
	ServeContent(out, r, Content{Name: rel, ETag: etag, ModTime: fi.ModTime(), Coding: chosen.coding, Size: sfi.Size(), Body: f})
}

// stallWriter renews the connection's write deadline before each write, so a response
// may take as long as it needs in total (a 240 MB weight file on a slow link) while a
// client that stops reading is dropped after stall.
// It hides the ResponseWriter's ReadFrom, so bodies are copied in buffer-sized writes.
type stallWriter struct {
	http.ResponseWriter
	rc    *http.ResponseController
	stall time.Duration
}

func (s *stallWriter) Write(p []byte) (int, error) {
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.stall))
	return s.ResponseWriter.Write(p)
}
