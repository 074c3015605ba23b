package httpsuite

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Run checks the host at baseURL (scheme://host:port, no trailing path) against fx.
func Run(t *testing.T, baseURL string, fx Files) {
	t.Helper()
	s := &suite{
		base: strings.TrimSuffix(baseURL, "/"),
		fx:   fx,
		// No transparent decompression: the suite checks encodings itself.
		client: &http.Client{
			Timeout:       30 * time.Second,
			Transport:     &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	t.Run("Health", s.health)
	t.Run("Files", s.files)
	t.Run("Head", s.head)
	t.Run("SecurityHeaders", s.securityHeaders)
	t.Run("Methods", s.methods)
	t.Run("Conditional", s.conditional)
	t.Run("Range", s.ranges)
	t.Run("Encodings", s.encodings)
	t.Run("Directories", s.directories)
	t.Run("Hidden", s.hidden)
	t.Run("Symlinks", s.symlinks)
	t.Run("Traversal", s.traversal)
	t.Run("ConcurrentLoad", s.concurrentLoad)
}

type suite struct {
	base   string
	fx     Files
	client *http.Client
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request with the given headers ("Name: value" pairs).
func (s *suite) do(method, path string, hdr ...string) (*response, error) {
	req, err := http.NewRequest(method, s.base+path, nil)
	if err != nil {
		return nil, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading body: %w", method, path, err)
	}
	return &response{res.StatusCode, res.Header, body}, nil
}

func (s *suite) mustDo(t *testing.T, method, path string, hdr ...string) *response {
	t.Helper()
	r, err := s.do(method, path, hdr...)
	if err != nil {
		t.Fatalf("%s %s %q: %v", method, path, hdr, err)
	}
	return r
}

func mediaType(v string) string {
	mt, _, err := mime.ParseMediaType(v)
	if err != nil {
		return "(bad: " + v + ")"
	}
	return mt
}

// isStrongETag reports whether v is a quoted entity-tag without W/.
func isStrongETag(v string) bool {
	return len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' && !strings.Contains(v[1:len(v)-1], `"`)
}

func (s *suite) health(t *testing.T) {
	r := s.mustDo(t, "GET", "/healthz")
	if r.status != 200 {
		t.Fatalf("GET /healthz: status %d", r.status)
	}
	var v struct{ Status, Version string }
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("GET /healthz: body %q is not JSON: %v", r.body, err)
	}
	if v.Status != "ok" {
		t.Errorf("GET /healthz: status field %q, want ok", v.Status)
	}
	if mediaType(r.header.Get("Content-Type")) != "application/json" {
		t.Errorf("GET /healthz: Content-Type %q", r.header.Get("Content-Type"))
	}
}

// checkFile checks a 200 identity response for f.
func (s *suite) checkFile(t *testing.T, f File, r *response, what string) {
	t.Helper()
	if r.status != 200 {
		t.Errorf("%s: status %d, want 200", what, r.status)
		return
	}
	if ce := r.header.Get("Content-Encoding"); ce != "" {
		t.Errorf("%s: Content-Encoding %q without Accept-Encoding", what, ce)
	}
	if !bytes.Equal(r.body, f.Body) {
		t.Errorf("%s: body differs (%d bytes, want %d)", what, len(r.body), len(f.Body))
	}
	if got := mediaType(r.header.Get("Content-Type")); got != f.ContentType {
		t.Errorf("%s: Content-Type %q, want %s", what, r.header.Get("Content-Type"), f.ContentType)
	}
	if got := r.header.Get("Content-Length"); got != strconv.Itoa(len(f.Body)) {
		t.Errorf("%s: Content-Length %q, want %d", what, got, len(f.Body))
	}
	if et := r.header.Get("ETag"); !isStrongETag(et) {
		t.Errorf("%s: ETag %q is not a strong entity-tag", what, et)
	}
	if _, err := http.ParseTime(r.header.Get("Last-Modified")); err != nil {
		t.Errorf("%s: Last-Modified %q: %v", what, r.header.Get("Last-Modified"), err)
	}
	s.checkCache(t, f, r.header, what)
}

func (s *suite) checkCache(t *testing.T, f File, h http.Header, what string) {
	t.Helper()
	cc := h.Get("Cache-Control")
	if f.Immutable {
		if cc != "public, max-age=31536000, immutable" {
			t.Errorf("%s: Cache-Control %q, want the immutable policy for a content-hashed name", what, cc)
		}
	} else if cc != "no-cache" {
		t.Errorf("%s: Cache-Control %q, want no-cache for an unhashed name", what, cc)
	}
}

func (s *suite) files(t *testing.T) {
	for _, f := range s.fx.Files {
		s.checkFile(t, f, s.mustDo(t, "GET", f.URL), "GET "+f.URL)
	}
	s.checkFile(t, s.fx.Index, s.mustDo(t, "GET", "/"), "GET /")
	r := s.mustDo(t, "GET", "/no-such-file.js")
	if r.status != 404 {
		t.Errorf("GET /no-such-file.js: status %d, want 404", r.status)
	}
	// The same ETag on every request: it comes from the content, not the clock.
	a, b := s.mustDo(t, "GET", s.fx.Large.URL), s.mustDo(t, "GET", s.fx.Large.URL)
	if a.header.Get("ETag") != b.header.Get("ETag") {
		t.Errorf("ETag changed between requests: %q then %q", a.header.Get("ETag"), b.header.Get("ETag"))
	}
	// Different content, different ETag.
	if s.mustDo(t, "GET", "/main.js").header.Get("ETag") == a.header.Get("ETag") {
		t.Errorf("two different files share an ETag")
	}
}

func (s *suite) head(t *testing.T) {
	for _, f := range []File{s.fx.Index, s.fx.Large} {
		g := s.mustDo(t, "GET", f.URL)
		h := s.mustDo(t, "HEAD", f.URL)
		if h.status != 200 || len(h.body) != 0 {
			t.Errorf("HEAD %s: status %d with %d body bytes", f.URL, h.status, len(h.body))
		}
		for _, k := range []string{"Content-Type", "Content-Length", "ETag", "Last-Modified", "Cache-Control"} {
			if g.header.Get(k) != h.header.Get(k) {
				t.Errorf("HEAD %s: %s %q, GET sends %q", f.URL, k, h.header.Get(k), g.header.Get(k))
			}
		}
	}
}

var cspDirectives = []string{
	"default-src 'self'",
	"script-src 'self' 'wasm-unsafe-eval'",
	"worker-src 'self' blob:",
	"img-src 'self' data: blob:",
	"media-src 'self' blob: mediastream:",
	"connect-src 'self'",
	"style-src 'self' 'unsafe-inline'",
}

func (s *suite) securityHeaders(t *testing.T) {
	cases := []struct{ method, path string }{
		{"GET", "/"}, {"GET", s.fx.Large.URL}, {"GET", "/no-such-file"}, {"POST", "/"}, {"GET", "/healthz"},
	}
	for _, c := range cases {
		r := s.mustDo(t, c.method, c.path)
		what := c.method + " " + c.path
		csp := r.header.Get("Content-Security-Policy")
		directives := map[string]bool{}
		for d := range strings.SplitSeq(csp, ";") {
			directives[strings.Join(strings.Fields(d), " ")] = true
		}
		for _, d := range cspDirectives {
			if !directives[d] {
				t.Errorf("%s: Content-Security-Policy %q lacks %q", what, csp, d)
			}
		}
		want := map[string]string{
			"X-Content-Type-Options":     "nosniff",
			"Cross-Origin-Opener-Policy": "same-origin",
		}
		if !s.fx.NotIsolated {
			want["Cross-Origin-Embedder-Policy"] = "require-corp"
			want["Cross-Origin-Resource-Policy"] = "cross-origin"
		}
		for k, v := range want {
			if got := r.header.Get(k); got != v {
				t.Errorf("%s: %s %q, want %q", what, k, got, v)
			}
		}
		if s.fx.NotIsolated && r.header.Get("Cross-Origin-Embedder-Policy") != "" {
			t.Errorf("%s: Cross-Origin-Embedder-Policy %q sent although isolation is off",
				what, r.header.Get("Cross-Origin-Embedder-Policy"))
		}
		if r.header.Get("Referrer-Policy") == "" {
			t.Errorf("%s: no Referrer-Policy", what)
		}
		if pp := r.header.Get("Permissions-Policy"); !strings.Contains(pp, "camera=(self)") {
			t.Errorf("%s: Permissions-Policy %q does not allow camera=(self)", what, pp)
		}
	}
}

func (s *suite) methods(t *testing.T) {
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "BREW"} {
		for _, p := range []string{"/", s.fx.Large.URL} {
			r := s.mustDo(t, m, p)
			if m == "BREW" && s.fx.UnknownMethods501 && r.status == http.StatusNotImplemented {
				continue
			}
			if r.status != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: status %d, want 405", m, p, r.status)
				continue
			}
			allow := strings.Split(strings.ReplaceAll(r.header.Get("Allow"), " ", ""), ",")
			if !slices.Contains(allow, "GET") || !slices.Contains(allow, "HEAD") {
				t.Errorf("%s %s: Allow %q, want GET and HEAD", m, p, r.header.Get("Allow"))
			}
		}
	}
}

func (s *suite) conditional(t *testing.T) {
	for _, f := range []File{s.fx.Index, s.fx.Large} {
		first := s.mustDo(t, "GET", f.URL)
		etag, lm := first.header.Get("ETag"), first.header.Get("Last-Modified")
		lmTime, _ := http.ParseTime(lm)
		notModified := [][]string{
			{"If-None-Match", etag},
			{"If-None-Match", `"other", ` + etag},
			{"If-None-Match", `"other",` + etag + `, "more"`},
			{"If-None-Match", "W/" + etag}, // weak comparison for If-None-Match
			{"If-None-Match", "*"},
			{"If-Modified-Since", lm},
			{"If-Modified-Since", lmTime.Add(time.Hour).Format(http.TimeFormat)},
		}
		for _, h := range notModified {
			r := s.mustDo(t, "GET", f.URL, h...)
			what := fmt.Sprintf("GET %s with %s: %s", f.URL, h[0], h[1])
			if r.status != 304 {
				t.Errorf("%s: status %d, want 304", what, r.status)
				continue
			}
			if len(r.body) != 0 {
				t.Errorf("%s: 304 with %d body bytes", what, len(r.body))
			}
			if r.header.Get("ETag") != etag {
				t.Errorf("%s: 304 ETag %q, want %q", what, r.header.Get("ETag"), etag)
			}
			s.checkCache(t, f, r.header, what)
		}
		// HEAD revalidates the same way.
		if r := s.mustDo(t, "HEAD", f.URL, "If-None-Match", etag); r.status != 304 {
			t.Errorf("HEAD %s If-None-Match current: status %d, want 304", f.URL, r.status)
		}
		full := [][]string{
			{"If-None-Match", `"not-the-etag"`},
			{"If-None-Match", strings.TrimSuffix(etag, `"`) + `x"`},
			{"If-Modified-Since", lmTime.Add(-time.Hour).Format(http.TimeFormat)},
			{"If-Modified-Since", "not a date"},
			// If-None-Match takes precedence over If-Modified-Since (RFC 9110 §13.2.2).
			{"If-None-Match", `"stale"`, "If-Modified-Since", lmTime.Add(time.Hour).Format(http.TimeFormat)},
			{"If-Match", etag},
		}
		for _, h := range full {
			r := s.mustDo(t, "GET", f.URL, h...)
			if r.status != 200 || !bytes.Equal(r.body, f.Body) {
				t.Errorf("GET %s with %q: status %d (%d bytes), want the full 200", f.URL, h, r.status, len(r.body))
			}
		}
		for _, h := range [][]string{
			{"If-Match", `"not-the-etag"`},
			{"If-Match", "W/" + etag}, // If-Match uses strong comparison
			{"If-Unmodified-Since", lmTime.Add(-time.Hour).Format(http.TimeFormat)},
		} {
			if r := s.mustDo(t, "GET", f.URL, h...); r.status != http.StatusPreconditionFailed {
				t.Errorf("GET %s with %q: status %d, want 412", f.URL, h, r.status)
			}
		}
	}
}

func (s *suite) ranges(t *testing.T) {
	f := s.fx.Large
	body, size := f.Body, len(f.Body)
	full := s.mustDo(t, "GET", f.URL)
	etag, lm := full.header.Get("ETag"), full.header.Get("Last-Modified")
	if full.header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("GET %s: Accept-Ranges %q, want bytes", f.URL, full.header.Get("Accept-Ranges"))
	}
	single := []struct {
		spec       string
		start, end int // inclusive
	}{
		{"bytes=0-99", 0, 99},
		{"bytes=100-", 100, size - 1},
		{"bytes=-500", size - 500, size - 1},
		{"bytes=1000-1000", 1000, 1000},
		{"bytes=" + strconv.Itoa(size-10) + "-" + strconv.Itoa(size+1000), size - 10, size - 1},
		{"bytes=-" + strconv.Itoa(size*2), 0, size - 1},
		{"bytes=5-9, " + strconv.Itoa(size+5) + "-", 5, 9}, // the unsatisfiable one is dropped
	}
	for _, c := range single {
		for _, extra := range [][]string{nil, {"If-Range", etag}, {"If-Range", lm}} {
			hdr := append([]string{"Range", c.spec}, extra...)
			r := s.mustDo(t, "GET", f.URL, hdr...)
			what := fmt.Sprintf("GET %s %q", f.URL, hdr)
			if r.status != 206 {
				t.Errorf("%s: status %d, want 206", what, r.status)
				continue
			}
			want := fmt.Sprintf("bytes %d-%d/%d", c.start, c.end, size)
			if got := r.header.Get("Content-Range"); got != want {
				t.Errorf("%s: Content-Range %q, want %q", what, got, want)
			}
			if !bytes.Equal(r.body, body[c.start:c.end+1]) {
				t.Errorf("%s: wrong bytes (%d received)", what, len(r.body))
			}
			if r.header.Get("Content-Length") != strconv.Itoa(c.end-c.start+1) {
				t.Errorf("%s: Content-Length %q", what, r.header.Get("Content-Length"))
			}
			if r.header.Get("ETag") != etag {
				t.Errorf("%s: ETag %q, want %q", what, r.header.Get("ETag"), etag)
			}
		}
	}

	// Multiple ranges: multipart/byteranges with the right parts.
	multi := s.mustDo(t, "GET", f.URL, "Range", "bytes=0-9, 2000-2099, -16")
	if multi.status != 206 {
		t.Fatalf("multi-range: status %d, want 206", multi.status)
	}
	if multi.header.Get("Content-Length") != strconv.Itoa(len(multi.body)) {
		t.Errorf("multi-range: Content-Length %q, received %d bytes", multi.header.Get("Content-Length"), len(multi.body))
	}
	mt, params, err := mime.ParseMediaType(multi.header.Get("Content-Type"))
	if err != nil || mt != "multipart/byteranges" || params["boundary"] == "" {
		t.Fatalf("multi-range: Content-Type %q", multi.header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(multi.body), params["boundary"])
	wantParts := [][2]int{{0, 9}, {2000, 2099}, {size - 16, size - 1}}
	for i := 0; ; i++ {
		p, err := mr.NextPart()
		if err == io.EOF {
			if i != len(wantParts) {
				t.Errorf("multi-range: %d parts, want %d", i, len(wantParts))
			}
			break
		}
		if err != nil {
			t.Fatalf("multi-range part %d: %v", i, err)
		}
		if i >= len(wantParts) {
			t.Fatalf("multi-range: more than %d parts", len(wantParts))
		}
		w := wantParts[i]
		got, _ := io.ReadAll(p)
		if cr := p.Header.Get("Content-Range"); cr != fmt.Sprintf("bytes %d-%d/%d", w[0], w[1], size) {
			t.Errorf("multi-range part %d: Content-Range %q", i, cr)
		}
		if mediaType(p.Header.Get("Content-Type")) != f.ContentType {
			t.Errorf("multi-range part %d: Content-Type %q", i, p.Header.Get("Content-Type"))
		}
		if !bytes.Equal(got, body[w[0]:w[1]+1]) {
			t.Errorf("multi-range part %d: wrong bytes", i)
		}
	}

	// Unsatisfiable: 416 with the current length.
	for _, spec := range []string{"bytes=" + strconv.Itoa(size) + "-", "bytes=" + strconv.Itoa(size+100) + "-" + strconv.Itoa(size+200), "bytes=-0"} {
		r := s.mustDo(t, "GET", f.URL, "Range", spec)
		if r.status != 416 {
			t.Errorf("Range %s: status %d, want 416", spec, r.status)
		}
		if got, want := r.header.Get("Content-Range"), fmt.Sprintf("bytes */%d", size); got != want {
			t.Errorf("Range %s: Content-Range %q, want %q", spec, got, want)
		}
	}

	// A stale or weak validator in If-Range, another unit, or nonsense: the full file.
	for _, hdr := range [][]string{
		{"Range", "bytes=0-99", "If-Range", `"stale"`},
		{"Range", "bytes=0-99", "If-Range", "W/" + etag},
		{"Range", "bytes=0-99", "If-Range", "Mon, 02 Jan 2006 15:04:05 GMT"},
		{"Range", "items=0-99"},
	} {
		r := s.mustDo(t, "GET", f.URL, hdr...)
		if r.status != 200 || !bytes.Equal(r.body, body) {
			t.Errorf("GET %s %q: status %d (%d bytes), want the full 200", f.URL, hdr, r.status, len(r.body))
		}
	}
	for _, spec := range []string{"bytes=abc", "bytes=5-2", "bytes=--1", "bytes=1-2-3"} {
		r := s.mustDo(t, "GET", f.URL, "Range", spec)
		if r.status == 200 && !bytes.Equal(r.body, body) || r.status != 200 && r.status != 416 {
			t.Errorf("malformed Range %q: status %d (%d bytes), want the full 200 or 416", spec, r.status, len(r.body))
		}
	}

	// A compressible asset asked for with a range comes from the identity bytes only.
	for _, cf := range s.fx.Files {
		if len(cf.Encodings) == 0 {
			continue
		}
		r := s.mustDo(t, "GET", cf.URL, "Range", "bytes=10-29", "Accept-Encoding", "br, gzip")
		if r.status != 206 || r.header.Get("Content-Encoding") != "" || !bytes.Equal(r.body, cf.Body[10:30]) {
			t.Errorf("GET %s Range with Accept-Encoding: status %d, Content-Encoding %q, %d bytes: want 206 of identity bytes 10-29",
				cf.URL, r.status, r.header.Get("Content-Encoding"), len(r.body))
		}
	}
}

func (s *suite) encodings(t *testing.T) {
	cases := []struct {
		accept string
		want   func(available []string) string // "" identity; "-" means any accepted one
	}{
		{"br, gzip", first("br", "gzip")},
		{"gzip, deflate, br, zstd", first("br", "gzip")},
		{"gzip", first("gzip")},
		{"x-gzip", first("gzip")},
		{"GZIP", first("gzip")},
		{"br;q=0.5, gzip;q=1", first("gzip", "br")},
		{"br;q=0, gzip", first("gzip")},
		{"*", first("br", "gzip")},
		{"*;q=0.5, br;q=0", first("gzip")},
		{"identity", first()},
		{"br;q=0, gzip;q=0", first()},
		{"br;q=0.5, identity;q=1", first()},
		{"", first()},
		{"deflate", first()},
		{"br;q=garbage, gzip", first("gzip")},
	}
	for _, f := range s.fx.Files {
		var identityETag string
		if r := s.mustDo(t, "GET", f.URL); r.status == 200 {
			identityETag = r.header.Get("ETag")
		}
		for _, c := range cases {
			r := s.mustDo(t, "GET", f.URL, "Accept-Encoding", c.accept)
			what := fmt.Sprintf("GET %s Accept-Encoding %q", f.URL, c.accept)
			if r.status != 200 {
				t.Errorf("%s: status %d", what, r.status)
				continue
			}
			ce := r.header.Get("Content-Encoding")
			if s.fx.StrictPrecompressed {
				if want := c.want(f.Encodings); ce != want {
					t.Errorf("%s: Content-Encoding %q, want %q (siblings %v)", what, ce, want, f.Encodings)
				}
			} else if ce != "" && !acceptable(c.accept, ce) {
				t.Errorf("%s: Content-Encoding %q was not accepted", what, ce)
			}
			dec, err := decode(ce, r.body)
			if err != nil {
				t.Errorf("%s: decoding %q: %v", what, ce, err)
			} else if !bytes.Equal(dec, f.Body) {
				t.Errorf("%s: decoded body differs from the file", what)
			}
			if cl := r.header.Get("Content-Length"); cl != strconv.Itoa(len(r.body)) {
				t.Errorf("%s: Content-Length %q, received %d bytes", what, cl, len(r.body))
			}
			if len(f.Encodings) > 0 || ce != "" {
				if !varyHas(r.header, "Accept-Encoding") {
					t.Errorf("%s: Vary %q lacks Accept-Encoding", what, r.header.Values("Vary"))
				}
			}
			if ce != "" {
				if et := r.header.Get("ETag"); et == identityETag || !isStrongETag(et) && !strings.HasPrefix(et, "W/") {
					t.Errorf("%s: ETag %q of the %s representation must differ from identity's %q", what, et, ce, identityETag)
				}
				// Revalidating the compressed representation.
				r2 := s.mustDo(t, "GET", f.URL, "Accept-Encoding", c.accept, "If-None-Match", r.header.Get("ETag"))
				if r2.status != 304 || !varyHas(r2.header, "Accept-Encoding") {
					t.Errorf("%s: revalidation status %d, Vary %q; want 304 with Vary", what, r2.status, r2.header.Values("Vary"))
				}
			}
		}
	}
}

// first returns a chooser: the first of prefs that the file has a sibling for.
func first(prefs ...string) func([]string) string {
	return func(available []string) string {
		for _, p := range prefs {
			if slices.Contains(available, p) {
				return p
			}
		}
		return ""
	}
}

func acceptable(accept, coding string) bool {
	for e := range strings.SplitSeq(accept, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(e), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "x-gzip" {
			name = "gzip"
		}
		if (name == coding || name == "*") && !strings.Contains(strings.ReplaceAll(params, " ", ""), "q=0") {
			return true
		}
	}
	return false
}

func varyHas(h http.Header, field string) bool {
	for _, v := range h.Values("Vary") {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), field) || strings.TrimSpace(f) == "*" {
				return true
			}
		}
	}
	return false
}

func (s *suite) directories(t *testing.T) {
	r := s.mustDo(t, "GET", s.fx.DirWithIndex)
	if r.status != 200 || !bytes.Equal(r.body, s.fx.DirIndexBody) {
		t.Errorf("GET %s: status %d, want its index.html", s.fx.DirWithIndex, r.status)
	}
	noSlash := strings.TrimSuffix(s.fx.DirWithIndex, "/")
	r = s.mustDo(t, "GET", noSlash)
	switch r.status {
	case 301, 302, 307, 308:
		loc, err := url.Parse(r.header.Get("Location"))
		if err != nil {
			t.Errorf("GET %s: bad Location %q", noSlash, r.header.Get("Location"))
			break
		}
		if got := (&url.URL{Path: noSlash}).ResolveReference(loc); got.Path != s.fx.DirWithIndex || got.Host != "" {
			t.Errorf("GET %s: redirect to %q, want %s on this host", noSlash, r.header.Get("Location"), s.fx.DirWithIndex)
		}
	case 200:
		if !bytes.Equal(r.body, s.fx.DirIndexBody) {
			t.Errorf("GET %s: 200 with the wrong body", noSlash)
		}
	default:
		t.Errorf("GET %s: status %d, want a redirect to %s", noSlash, r.status, s.fx.DirWithIndex)
	}
	for _, p := range []string{s.fx.DirWithoutIndex, strings.TrimSuffix(s.fx.DirWithoutIndex, "/"), "/weights/"} {
		r := s.mustDo(t, "GET", p)
		if r.status != 404 {
			t.Errorf("GET %s (a directory without index.html): status %d, want 404", p, r.status)
		}
		if bytes.Contains(r.body, []byte(s.fx.ListingCanary)) {
			t.Errorf("GET %s: the response lists the directory", p)
		}
	}
}

func (s *suite) hidden(t *testing.T) {
	for _, p := range s.fx.Hidden {
		r := s.mustDo(t, "GET", p)
		if r.status != 404 && r.status != 403 {
			t.Errorf("GET %s (hidden): status %d, want 404", p, r.status)
		}
		s.noSecret(t, "GET "+p, r.body)
	}
}

func (s *suite) noSecret(t *testing.T, what string, body []byte) {
	t.Helper()
	if len(s.fx.Secret) > 0 && bytes.Contains(body, bytes.TrimSpace(s.fx.Secret)) {
		t.Errorf("%s: the response contains the secret file's content", what)
	}
}

func (s *suite) symlinks(t *testing.T) {
	for _, p := range s.fx.SymlinksOut {
		r := s.mustDo(t, "GET", p)
		if r.status != 404 && r.status != 403 {
			t.Errorf("GET %s (symlink out of the root): status %d, want 404", p, r.status)
		}
		s.noSecret(t, "GET "+p, r.body)
	}
	if f := s.fx.SymlinkIn; f != nil {
		r := s.mustDo(t, "GET", f.URL)
		if r.status != 200 || !bytes.Equal(r.body, f.Body) {
			t.Errorf("GET %s (symlink inside the root): status %d, want the target's bytes", f.URL, r.status)
		}
	}
}

// traversalTargets are request-targets sent byte for byte over TCP, so no client library
// cleans them first.
func (s *suite) traversalTargets() []string {
	n := s.fx.SecretName
	return []string{
		"/../" + n,
		"/../../" + n,
		"/%2e%2e/" + n,
		"/%2E%2E/" + n,
		"/.%2e/" + n,
		"/..%2f" + n,
		"/..%2F" + n,
		"/..%5c" + n,
		"/..\\" + n,
		"/sub/../../" + n,
		"/sub/%2e%2e/%2e%2e/" + n,
		"/weights/../../" + n,
		"/weights/..%2f..%2f" + n,
		"/weights/%2e%2e/" + n,
		"/leakdir/../../" + n,
		"//" + n,
		"/./../" + n,
		"/" + n + "%00.html",
		"/%00/../" + n,
		"/%c0%ae%c0%ae/" + n, // overlong UTF-8 dots
		"/..;/" + n,
		"/.../" + n,
	}
}

func (s *suite) traversal(t *testing.T) {
	u, err := url.Parse(s.base)
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range s.traversalTargets() {
		status, body, err := rawGet(u, target)
		if err != nil {
			t.Errorf("raw GET %s: %v", target, err)
			continue
		}
		if status >= 200 && status < 300 {
			t.Errorf("raw GET %s: status %d, want a refusal", target, status)
		}
		s.noSecret(t, "raw GET "+target, body)
	}
}

// rawGet sends "GET target HTTP/1.1" on a fresh connection and reads one response.
func rawGet(u *url.URL, target string) (int, []byte, error) {
	host := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			host += ":443"
		} else {
			host += ":80"
		}
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	var c net.Conn
	var err error
	if u.Scheme == "https" {
		c, err = tls.DialWithDialer(&d, "tcp", host, &tls.Config{ServerName: u.Hostname()})
	} else {
		c, err = d.Dial("tcp", host)
	}
	if err != nil {
		return 0, nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, u.Host); err != nil {
		return 0, nil, err
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, body, err
}

// concurrentLoad sends a bounded mix of requests from many goroutines and checks every
// answer: 200 requests, 32 at a time, within a minute.
func (s *suite) concurrentLoad(t *testing.T) {
	const total, workers = 200, 32
	f := s.fx.Large
	etag := s.mustDo(t, "HEAD", f.URL).header.Get("ETag")
	var compressible File
	for _, cf := range s.fx.Files {
		if slices.Contains(cf.Encodings, "br") {
			compressible = cf
		}
	}
	check := func(i int) error {
		switch i % 4 {
		case 0:
			r, err := s.do("GET", f.URL)
			if err != nil {
				return err
			}
			if r.status != 200 || !bytes.Equal(r.body, f.Body) {
				return fmt.Errorf("full GET: status %d, %d bytes", r.status, len(r.body))
			}
		case 1:
			start := (i * 7919) % (len(f.Body) - 4096)
			r, err := s.do("GET", f.URL, "Range", fmt.Sprintf("bytes=%d-%d", start, start+4095))
			if err != nil {
				return err
			}
			if r.status != 206 || !bytes.Equal(r.body, f.Body[start:start+4096]) {
				return fmt.Errorf("range GET at %d: status %d, %d bytes", start, r.status, len(r.body))
			}
		case 2:
			r, err := s.do("GET", f.URL, "If-None-Match", etag)
			if err != nil {
				return err
			}
			if r.status != 304 {
				return fmt.Errorf("revalidation: status %d", r.status)
			}
		case 3:
			if compressible.URL == "" {
				return nil
			}
			r, err := s.do("GET", compressible.URL, "Accept-Encoding", "br, gzip")
			if err != nil {
				return err
			}
			dec, err := decode(r.header.Get("Content-Encoding"), r.body)
			if r.status != 200 || err != nil || !bytes.Equal(dec, compressible.Body) {
				return fmt.Errorf("compressed GET: status %d, decode error %v", r.status, err)
			}
		}
		return nil
	}
	start := time.Now()
	jobs := make(chan int)
	errs := make(chan error, total)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				if err := check(i); err != nil {
					errs <- fmt.Errorf("request %d: %w", i, err)
				}
			}
		})
	}
	deadline := time.After(60 * time.Second)
feed:
	for i := range total {
		select {
		case jobs <- i:
		case <-deadline:
			t.Errorf("concurrent load: only %d of %d requests started within 60s", i, total)
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 5 {
			t.Error(err)
		}
	}
	if n > 0 {
		t.Errorf("concurrent load: %d of %d requests failed", n, total)
	}
	t.Logf("concurrent load: %d requests from %d goroutines in %v", total, workers, time.Since(start).Round(time.Millisecond))
}
