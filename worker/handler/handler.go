// Package handler is the HTTP behaviour of AlexLens's Cloudflare Worker: the same rules as
// the Go server (package server) — content types, immutable caching of content-hashed
// names, strong ETags (the same SHA-256-based tags), conditional and range requests
// (multipart included), precompressed siblings, no listings, no hidden files, the same
// security headers — over a Store instead of a directory. The Worker's Store reads Workers
// static assets; tests use a directory. It has no syscall/js import, so the whole server/httpsuite
// conformance suite runs against it natively as well as under workerd.
package handler

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"
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
	Version             string // reported by /healthz
	CrossOriginIsolated bool
	CSP                 string // "" means server.DefaultCSP
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

const (
	cacheNever = "no-store"
)

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", h.cfg.CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Permissions-Policy", server.PermissionsPolicy)
	if h.cfg.CrossOriginIsolated {
		hd.Set("Cross-Origin-Embedder-Policy", "require-corp")
		hd.Set("Cross-Origin-Resource-Policy", "cross-origin")
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		httpError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	segs, status := SplitPath(r)
	if status != 0 {
		httpError(w, status, http.StatusText(status))
		return
	}
	switch {
	case len(segs) == 1 && segs[0] == "healthz":
		h.health(w, r)
	case segs[0] == "weights":
		if len(segs) == 1 {
			httpError(w, http.StatusNotFound, "not found")
			return
		}
		h.serve(w, r, "weights", segs[1:])
	default:
		h.serve(w, r, "web", segs)
	}
}

// SplitPath returns the request path as clean segments, or an error status: "." and ".."
// segments (also percent-encoded), encoded slashes and backslashes, NUL and control
// characters, backslashes, empty inner segments and dotfiles are refused before any
// lookup. A trailing slash gives a final empty segment.
func SplitPath(r *http.Request) ([]string, int) {
	raw := r.RequestURI
	if raw == "" {
		raw = r.URL.EscapedPath()
	}
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	lower := strings.ToLower(raw)
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") || strings.Contains(lower, "%00") {
		return nil, http.StatusBadRequest
	}
	p := r.URL.Path
	if !strings.HasPrefix(p, "/") {
		return nil, http.StatusBadRequest
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return nil, http.StatusBadRequest
		}
	}
	segs := strings.Split(p[1:], "/")
	for i, s := range segs {
		if s == "" && i != len(segs)-1 {
			return nil, http.StatusNotFound
		}
		if strings.HasPrefix(s, ".") {
			return nil, http.StatusNotFound
		}
	}
	return segs, 0
}

func (h *handler) health(w http.ResponseWriter, r *http.Request) {
	body, _ := json.Marshal(struct {
		Status  string `json:"status"`
		Version string `json:"version"`
	}{"ok", h.cfg.Version})
	body = append(body, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", cacheNever)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
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
		httpError(w, http.StatusNotFound, "not found")
		return
	}
	if e.Dir {
		// Only directories with an index.html are served, as that file; "/dir" is
		// redirected to "/dir/" so the page's relative URLs work.
		idx := name + "/index.html"
		ie, ok := h.store.Stat(idx)
		if !ok || ie.Dir {
			httpError(w, http.StatusNotFound, "not found")
			return
		}
		if last := segs[len(segs)-1]; last != "" {
			w.Header().Set("Location", last+"/")
			httpError(w, http.StatusMovedPermanently, "moved permanently")
			return
		}
		name, rel, e = idx, path.Join(rel, "index.html"), ie
	}
	h.serveFile(w, r, name, rel, e)
}

func (h *handler) serveFile(w http.ResponseWriter, r *http.Request, name, rel string, e Entry) {
	hd := w.Header()
	chosen, coding, ce := name, "", e
	if len(e.Encodings) > 0 {
		hd.Set("Vary", "Accept-Encoding")
		// Ranges address the identity bytes only, whatever Accept-Encoding says.
		if r.Header.Get("Range") == "" {
			ae, present := r.Header["Accept-Encoding"]
			if c := server.NegotiateEncoding(strings.Join(ae, ","), present, e.Encodings); c != "" {
				if se, ok := h.store.Stat(name + suffix(c)); ok && !se.Dir {
					chosen, coding, ce = name+suffix(c), c, se
				}
			}
		}
	}
	hd.Set("ETag", ce.ETag)
	hd.Set("Cache-Control", server.CacheControl(rel))
	modTime := e.ModTime
	if modTime.Unix() <= 0 {
		modTime = time.Time{}
	}
	pre, honourRange := preconditions(r, ce.ETag, modTime)
	switch pre {
	case notModified:
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
	ctype := server.ContentType(rel)
	if coding != "" {
		hd.Set("Content-Encoding", coding)
	}
	size := ce.Size
	var ranges []server.ByteRange
	if rh := r.Header.Get("Range"); rh != "" && honourRange && r.Method == http.MethodGet && coding == "" {
		var err error
		ranges, err = server.ParseRange(rh, size)
		switch {
		case errors.Is(err, server.ErrRangeUnsatisfiable):
			if size > 0 {
				clearForError(hd)
				hd.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
				writeError(w, http.StatusRequestedRangeNotSatisfiable, "range not satisfiable")
				return
			}
			ranges = nil
		case err != nil:
			ranges = nil
		}
	}
	read := func(off, n int64) []byte {
		b, err := h.store.Read(chosen, off, n)
		if err != nil || int64(len(b)) != n {
			// The body cannot match its Content-Length: abort rather than send less.
			panic(http.ErrAbortHandler)
		}
		return b
	}
	switch len(ranges) {
	case 0:
		hd.Set("Content-Type", ctype)
		hd.Set("Content-Length", strconv.FormatInt(size, 10))
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusOK)
			return
		}
		body := read(0, size)
		w.WriteHeader(http.StatusOK)
		w.Write(body)
	case 1:
		ra := ranges[0]
		body := read(ra.Start, ra.Length)
		hd.Set("Content-Type", ctype)
		hd.Set("Content-Range", ra.ContentRange(size))
		hd.Set("Content-Length", strconv.FormatInt(ra.Length, 10))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(body)
	default:
		writeMultipart(w, ctype, size, ranges, read)
	}
}

func suffix(coding string) string {
	if coding == "gzip" {
		return ".gz"
	}
	return "." + coding
}

// writeMultipart sends a multipart/byteranges 206 with an exact Content-Length.
func writeMultipart(w http.ResponseWriter, ctype string, size int64, ranges []server.ByteRange, read func(off, n int64) []byte) {
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
	bodies := make([][]byte, len(ranges))
	for i, ra := range ranges {
		bodies[i] = read(ra.Start, ra.Length)
	}
	hd := w.Header()
	hd.Set("Content-Type", "multipart/byteranges; boundary="+boundary)
	hd.Set("Content-Length", strconv.FormatInt(total, 10))
	w.WriteHeader(http.StatusPartialContent)
	for i := range ranges {
		io.WriteString(w, heads[i])
		w.Write(bodies[i])
		io.WriteString(w, "\r\n")
	}
	io.WriteString(w, tail)
}

func httpError(w http.ResponseWriter, code int, msg string) {
	clearForError(w.Header())
	writeError(w, code, msg)
}

func clearForError(hd http.Header) {
	for _, k := range []string{"ETag", "Last-Modified", "Content-Encoding", "Content-Range", "Accept-Ranges", "Vary"} {
		hd.Del(k)
	}
	hd.Set("Cache-Control", cacheNever)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	hd := w.Header()
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("Content-Length", strconv.Itoa(len(msg)+1))
	w.WriteHeader(code)
	io.WriteString(w, msg+"\n")
}

type precondition int

const (
	proceed precondition = iota
	notModified
	failed
)

// preconditions applies RFC 9110 §13.2.2 in its order, as the Go server does, and says
// whether a Range header should be honoured (If-Range).
func preconditions(r *http.Request, etag string, modTime time.Time) (precondition, bool) {
	hd := r.Header
	if im := hd.Get("If-Match"); im != "" {
		if !server.ETagListMatches(im, etag, false) {
			return failed, false
		}
	} else if ius, ok := httpDate(hd.Get("If-Unmodified-Since")); ok && !modTime.IsZero() {
		if modTime.Truncate(time.Second).After(ius) {
			return failed, false
		}
	}
	if inm := hd.Get("If-None-Match"); inm != "" {
		if server.ETagListMatches(inm, etag, true) {
			return notModified, false
		}
	} else if ims, ok := httpDate(hd.Get("If-Modified-Since")); ok && !modTime.IsZero() {
		if !modTime.Truncate(time.Second).After(ims) {
			return notModified, false
		}
	}
	honour := true
	if ir := strings.Trim(hd.Get("If-Range"), " \t"); ir != "" {
		if strings.HasPrefix(ir, `"`) || strings.HasPrefix(ir, "W/") {
			// A strong comparison of exactly one entity-tag.
			honour = ir == etag && !strings.HasPrefix(ir, "W/")
		} else {
			d, ok := httpDate(ir)
			honour = ok && !modTime.IsZero() && modTime.Truncate(time.Second).Equal(d)
		}
	}
	return proceed, honour
}

func httpDate(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := http.ParseTime(s)
	return t, err == nil
}
