// Package handler is the HTTP behaviour of AlexLens's Cloudflare Worker over a Store
// instead of a directory. The HTTP rules themselves (security headers, path checks,
// encoding choice, caching, conditional and range requests, multipart included, errors,
// /healthz) are package server's own functions, so the Worker and the Go server answer
// alike; this package adds the Store, the index of precompressed siblings and ETags made
// at staging time, and directory index pages. The Worker's Store reads Workers static
// assets; tests use a directory. It has no syscall/js import, so the whole
// server/httpsuite conformance suite runs against it natively as well as under workerd.
package handler

import (
	"io"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/alexlens/alexlens/server"
)

// Entry describes one stored file or directory. Names are slash paths: "web/<path>" for
// the site, "weights/<name>" for the weights folder (which the site serves at /weights/).
type Entry struct {
	Dir     bool      `json:"dir,omitempty"`
	Size    int64     `json:"size"`
	ETag    string    `json:"etag,omitempty"` // quoted strong entity-tag
	ModTime time.Time `json:"mtime"`
	// Encodings lists the codings of current precompressed siblings (name + ".br" ...),
	// in the server's preference order.
	Encodings []string `json:"enc,omitempty"`
}

// Store is where the files live.
type Store interface {
	// Stat returns the entry for name, false when there is none.
	Stat(name string) (Entry, bool)
	// Read returns n bytes of name from off.
	Read(name string, off, n int64) ([]byte, error)
}

// Config mirrors the parts of server.Config a Worker needs.
type Config struct {
	Version string // reported by /healthz
	// NotIsolated leaves out COEP and CORP (server.Config.NotIsolated): the page is then not
	// cross-origin isolated and its engine runs on one thread.
	NotIsolated bool
	CSP         string // "" means server.DefaultCSP
}

type handler struct {
	store Store
	cfg   Config
}

// New returns the handler serving store.
func New(store Store, cfg Config) http.Handler {
	if cfg.CSP == "" {
		cfg.CSP = server.DefaultCSP
	}
	if cfg.Version == "" {
		cfg.Version = "(devel)"
	}
	return JoinSplitHeaders(&handler{store: store, cfg: cfg})
}

// JoinSplitHeaders undoes what github.com/syumai/workers does to request headers: it
// splits every value on commas, so If-None-Match lists, HTTP dates ("Wed, 21 Oct ...")
// and multi-range Range headers arrive as several values of which Header.Get sees only
// the first. The pieces are joined back with ", ", which is how such lists are written.
func JoinSplitHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, vs := range r.Header {
			if len(vs) > 1 {
				trimmed := make([]string, len(vs))
				for i, v := range vs {
					trimmed[i] = strings.TrimSpace(v)
				}
				r.Header[k] = []string{strings.Join(trimmed, ", ")}
			}
		}
		h.ServeHTTP(w, r)
	})
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	server.SetSecurityHeaders(w.Header(), h.cfg.CSP, !h.cfg.NotIsolated)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		server.Error(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	segs, status := server.SplitRequestPath(r)
	if status != 0 {
		server.Error(w, status, http.StatusText(status))
		return
	}
	switch {
	case len(segs) == 1 && segs[0] == "healthz":
		server.ServeHealth(w, r, h.cfg.Version)
	case segs[0] == "weights":
		if len(segs) == 1 {
			server.Error(w, http.StatusNotFound, "not found")
			return
		}
		h.serve(w, r, "weights", segs[1:])
	default:
		h.serve(w, r, "web", segs)
	}
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request, root string, segs []string) {
	rel := path.Join(segs...)
	name := root
	if rel != "" {
		name = root + "/" + rel
	}
	e, ok := h.store.Stat(name)
	if !ok {
		server.Error(w, http.StatusNotFound, "not found")
		return
	}
	if e.Dir {
		// Only directories with an index.html are served, as that file; "/dir" is
		// redirected to "/dir/" so the page's relative URLs work.
		idx := name + "/index.html"
		ie, ok := h.store.Stat(idx)
		if !ok || ie.Dir {
			server.Error(w, http.StatusNotFound, "not found")
			return
		}
		if last := segs[len(segs)-1]; last != "" {
			server.RedirectToDirectory(w, last)
			return
		}
		name, rel, e = idx, path.Join(rel, "index.html"), ie
	} else if segs[len(segs)-1] == "" {
		// "/index.html/": a file is not a directory.
		server.Error(w, http.StatusNotFound, "not found")
		return
	}
	h.serveFile(w, r, name, rel, e)
}

func (h *handler) serveFile(w http.ResponseWriter, r *http.Request, name, rel string, e Entry) {
	chosen, coding, ce := name, "", e
	if len(e.Encodings) > 0 {
		w.Header().Set("Vary", "Accept-Encoding")
		if c := server.RequestedEncoding(r, e.Encodings); c != "" {
			if se, ok := h.store.Stat(name + suffix(c)); ok && !se.Dir {
				chosen, coding, ce = name+suffix(c), c, se
			}
		}
	}
	server.ServeContent(w, r, server.Content{Name: rel, ETag: ce.ETag, ModTime: e.ModTime, Coding: coding, Size: ce.Size,
		Body: storeFile{h.store, chosen}})
}

// storeFile reads one stored file as an io.ReaderAt.
type storeFile struct {
	store Store
	name  string
}

func (f storeFile) ReadAt(p []byte, off int64) (int, error) {
	b, err := f.store.Read(f.name, off, int64(len(p)))
	n := copy(p, b)
	if err == nil && n < len(p) {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func suffix(coding string) string {
	if coding == "gzip" {
		return ".gz"
	}
	return "." + coding
}
