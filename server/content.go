package server

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// This file is the HTTP behaviour every host of the site shares: the Go server here and
// the Cloudflare Worker (cloudflare/handler) call these functions, so their answers agree
// by construction, and server/httpsuite checks both.

// SecurityHeaders lists, in order, the headers every response carries: the CSP, no
// sniffing, no referrer, a same-origin opener policy, the permissions policy and, unless
// isolation is off, the embedder and resource policies that make the app's page cross-origin
// isolated. Isolation is what gives the page SharedArrayBuffer, and so the engine's kernel
// workers on its shared memory: threads by default. COEP is require-corp, not credentialless:
// WebKit knows only require-corp, and everything the app loads is its own or fetched with
// CORS, so nothing needs credentialless's leniency. CORP cross-origin lets other sites' pages,
// isolated ones too, load the embed script and frames. A page embedding the app (a blog
// post's iframe) need not be isolated itself: the frame then runs on one thread. The Go
// server, the Worker and the static site's _headers all send these.
func SecurityHeaders(csp string, isolated bool) [][2]string {
	hs := [][2]string{
		{"Content-Security-Policy", csp},
		{"X-Content-Type-Options", "nosniff"},
		{"Referrer-Policy", "no-referrer"},
		{"Cross-Origin-Opener-Policy", "same-origin"},
		{"Permissions-Policy", PermissionsPolicy},
	}
	if isolated {
		hs = append(hs, [2]string{"Cross-Origin-Embedder-Policy", "require-corp"}, [2]string{"Cross-Origin-Resource-Policy", "cross-origin"})
	}
	return hs
}

// SetSecurityHeaders sets SecurityHeaders on a response.
func SetSecurityHeaders(hd http.Header, csp string, isolated bool) {
	for _, h := range SecurityHeaders(csp, isolated) {
		hd.Set(h[0], h[1])
	}
}

// SplitRequestPath returns the request path as clean segments, or an error status.
// Anything that could name a file outside a root, or a hidden file, is refused here,
// before any lookup: "." and ".." segments (also when sent percent-encoded), encoded
// slashes and backslashes, backslashes, NUL and other control characters, empty
// segments, and dotfiles. A trailing slash gives a final empty segment. A request built
// by hand (no RequestURI, as in the Worker's glue) is judged by its escaped path.
func SplitRequestPath(r *http.Request) ([]string, int) {
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
		last := i == len(segs)-1
		if s == "" && !last {
			return nil, http.StatusNotFound
		}
		if strings.HasPrefix(s, ".") {
			return nil, http.StatusNotFound
		}
	}
	return segs, 0
}

// RedirectToDirectory answers a request for a directory named without its trailing slash
// ("/sub") with a 301 to "./sub/": relative, so it stays on this host, and escaped, so a
// folder named like a URL ("https:evil.example") cannot become an absolute redirect.
func RedirectToDirectory(w http.ResponseWriter, last string) {
	w.Header().Set("Location", "./"+url.PathEscape(last)+"/")
	Error(w, http.StatusMovedPermanently, "moved permanently")
}

// ServeHealth answers /healthz: {"status":"ok","version":...}, never cached.
func ServeHealth(w http.ResponseWriter, r *http.Request, version string) {
	body, _ := json.Marshal(struct {
		Status  string `json:"status"`
		Version string `json:"version"`
	}{"ok", version})
	body = append(body, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", cacheNever)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// Error sends a short plain-text error, dropping any representation headers set for the
// file that was going to be served, and makes it uncacheable.
func Error(w http.ResponseWriter, code int, msg string) {
	clearForError(w.Header())
	writeError(w, code, msg)
}

// clearForError removes the headers that describe a file's representation, and makes
// the error uncacheable.
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

// RequestedEncoding is the precompressed coding, among offered (most preferred first),
// to send for r; "" for the identity bytes. A ranged request always gets identity: a
// client resuming a download must get the same bytes whatever its Accept-Encoding says.
// The caller sets Vary: Accept-Encoding whenever anything is offered.
func RequestedEncoding(r *http.Request, offered []string) string {
	if len(offered) == 0 || r.Header.Get("Range") != "" {
		return ""
	}
	ae, present := r.Header["Accept-Encoding"]
	return NegotiateEncoding(strings.Join(ae, ","), present, offered)
}

// Content is one stored representation of a resource, ready to be sent.
type Content struct {
	// Name is the resource's path under its root (the identity file's, also when a
	// precompressed sibling is sent): it picks Content-Type and Cache-Control.
	Name string
	// ETag is the quoted strong entity-tag of Body's bytes.
	ETag string
	// ModTime is the resource's modification time; zero or not after 1970 means unknown
	// (no Last-Modified, date conditions ignored).
	ModTime time.Time
	// Coding is the content coding of Body, "" for identity.
	Coding string
	// Size is how many bytes Body holds.
	Size int64
	// Body supplies the bytes. If it cannot supply what was promised, the response is
	// aborted (http.ErrAbortHandler) rather than sent short.
	Body io.ReaderAt
}

// ServeContent answers a GET or HEAD with c: the validators and caching headers, the
// conditional headers in RFC 9110 §13.2.2's order (304, 412, If-Range), single and
// multipart ranges of identity bytes (416 when none is satisfiable), and the body. Every
// body byte goes through w.Write, so a writer that renews deadlines sees them all.
func ServeContent(w http.ResponseWriter, r *http.Request, c Content) {
	hd := w.Header()
	modTime := c.ModTime
	if modTime.Unix() <= 0 {
		modTime = time.Time{} // unknown; do not claim 1970
	}
	hd.Set("ETag", c.ETag)
	hd.Set("Cache-Control", CacheControl(c.Name))
	pre, honourRange := evaluatePreconditions(r, c.ETag, modTime)
	switch pre {
	case notModified:
		// RFC 9110 §15.4.5: a 304 carries the validators and caching fields, not the
		// representation's metadata.
		w.WriteHeader(http.StatusNotModified)
		return
	case failed:
		Error(w, http.StatusPreconditionFailed, "precondition failed")
		return
	}
	if !modTime.IsZero() {
		hd.Set("Last-Modified", modTime.UTC().Format(http.TimeFormat))
	}
	hd.Set("Accept-Ranges", "bytes")
	ctype := ContentType(c.Name)
	if c.Coding != "" {
		hd.Set("Content-Encoding", c.Coding)
	}

	size := c.Size
	var ranges []ByteRange
	if rh := r.Header.Get("Range"); rh != "" && honourRange && r.Method == http.MethodGet && c.Coding == "" {
		var err error
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

	switch len(ranges) {
	case 0:
		hd.Set("Content-Type", ctype)
		hd.Set("Content-Length", strconv.FormatInt(size, 10))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			copySection(w, c.Body, 0, size)
		}
	case 1:
		ra := ranges[0]
		hd.Set("Content-Type", ctype)
		hd.Set("Content-Range", ra.ContentRange(size))
		hd.Set("Content-Length", strconv.FormatInt(ra.Length, 10))
		w.WriteHeader(http.StatusPartialContent)
		copySection(w, c.Body, ra.Start, ra.Length)
	default:
		writeMultipart(w, c.Body, ctype, size, ranges)
	}
}

// writeMultipart sends a multipart/byteranges 206 (RFC 9110 §14.6) with an exact
// Content-Length, computed from the part headers before any byte is sent.
func writeMultipart(w http.ResponseWriter, body io.ReaderAt, ctype string, size int64, ranges []ByteRange) {
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
		io.WriteString(w, heads[i])
		copySection(w, body, ra.Start, ra.Length)
		io.WriteString(w, "\r\n")
	}
	io.WriteString(w, tail)
}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// copySection sends n bytes of body from off. If the body cannot supply them (a file
// shrank under us) or the client went away, the response cannot match its
// Content-Length, so it is aborted rather than left waiting for bytes that never come.
func copySection(w io.Writer, body io.ReaderAt, off, n int64) {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	written, err := io.CopyBuffer(w, io.NewSectionReader(body, off, n), *bp)
	if err == nil && written < n {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		panic(http.ErrAbortHandler)
	}
}
