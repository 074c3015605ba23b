package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/alexlens/alexlens/server/httpsuite"
)

func fixture(t testing.TB) httpsuite.Files {
	t.Helper()
	fx, err := httpsuite.WriteFixture(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return fx
}

// TestSuite runs the conformance suite against the handler over loopback HTTP.
func TestSuite(t *testing.T) {
	fx := fixture(t)
	h, err := New(Config{WebRoot: fx.WebRoot, WeightsDir: fx.WeightsDir})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	httpsuite.Run(t, srv.URL, fx)
}

func TestSuiteNotIsolated(t *testing.T) {
	fx := fixture(t)
	fx.NotIsolated = true
	h, err := New(Config{WebRoot: fx.WebRoot, WeightsDir: fx.WeightsDir, NotIsolated: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	httpsuite.Run(t, srv.URL, fx)
}

// logLines collects what Run prints and hands out its URL.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
	url chan string
}

var urlPattern = regexp.MustCompile(`http://\S+/`)

func newLogLines() *logLines { return &logLines{url: make(chan string, 1)} }

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if u := urlPattern.FindString(l.buf.String()); u != "" {
		select {
		case l.url <- strings.TrimSuffix(u, "/"):
		default:
		}
	}
	return len(p), nil
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startRun starts Run on a free loopback port and returns its base URL, a cancel
// function and a channel with Run's result.
func startRun(t *testing.T, cfg Config) (string, context.CancelFunc, <-chan error, *logLines) {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	logs := newLogLines()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, logs) }()
	select {
	case u := <-logs.url:
		return u, cancel, done, logs
	case err := <-done:
		cancel()
		t.Fatalf("Run returned before serving: %v (log: %s)", err, logs)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatalf("Run printed no URL within 10s (log: %s)", logs)
	}
	return "", nil, nil, nil
}

func waitRun(t *testing.T, done <-chan error, within time.Duration) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(within):
		t.Fatalf("Run did not return within %v of cancellation", within)
	}
}

// TestRunSuite runs the suite against the real server Run starts, with its timeouts.
func TestRunSuite(t *testing.T) {
	fx := fixture(t)
	base, cancel, done, logs := startRun(t, Config{WebRoot: fx.WebRoot, WeightsDir: fx.WeightsDir, Version: "v1.2.3-test"})
	httpsuite.Run(t, base, fx)

	res, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != `{"status":"ok","version":"v1.2.3-test"}`+"\n" || res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("/healthz: %q, Cache-Control %q", body, res.Header.Get("Cache-Control"))
	}
	cancel()
	waitRun(t, done, 10*time.Second)
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Errorf("the server still answers after Run returned")
	}
	if !strings.Contains(logs.String(), "shutting down") {
		t.Errorf("log lacks the shutdown line: %q", logs)
	}
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	if err := Run(context.Background(), Config{WebRoot: dir, Addr: "127.0.0.1:99999"}, nil); err == nil {
		t.Errorf("Run with an invalid port returned nil")
	}
	if err := Run(context.Background(), Config{}, nil); err == nil || !strings.Contains(err.Error(), "WebRoot") {
		t.Errorf("Run without WebRoot: %v", err)
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, []byte("x"), 0o644)
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{}, "WebRoot is empty"},
		{Config{WebRoot: filepath.Join(dir, "missing")}, "no such file"},
		{Config{WebRoot: file}, "not a directory"},
		{Config{WebRoot: dir, WeightsDir: file}, "not a directory"},
		{Config{WebRoot: dir, ContentSecurityPolicy: "default-src 'self'\r\nX-Evil: 1"}, "line break"},
		{Config{WebRoot: dir, WriteStallTimeout: -time.Second}, "negative"},
	}
	for _, c := range cases {
		if _, err := New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v): error %v, want one mentioning %q", c.cfg, err, c.want)
		}
	}
}

// writeRandom writes n random bytes to dir/name and returns them.
func writeRandom(t testing.TB, dir, name string, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// slowRead reads body with a pause after every chunk bytes, as a slow link would, and
// closes started after the first read.
func slowRead(body io.Reader, chunk int, pause time.Duration, started chan<- struct{}) ([]byte, error) {
	var out bytes.Buffer
	buf := make([]byte, 64<<10)
	since := 0
	for {
		n, err := body.Read(buf)
		out.Write(buf[:n])
		if started != nil {
			close(started)
			started = nil
		}
		if err == io.EOF {
			return out.Bytes(), nil
		}
		if err != nil {
			return out.Bytes(), err
		}
		if since += n; since >= chunk {
			since = 0
			time.Sleep(pause)
		}
	}
}

// TestGracefulShutdownCompletesDownload cancels Run while a slow 24 MiB download is in
// flight: the download must finish intact, Run must then return, and new connections
// must be refused meanwhile.
func TestGracefulShutdownCompletesDownload(t *testing.T) {
	web, weights := t.TempDir(), t.TempDir()
	want := writeRandom(t, weights, "big.alxw", 24<<20)
	base, cancel, done, _ := startRun(t, Config{WebRoot: web, WeightsDir: weights, ShutdownTimeout: 30 * time.Second})
	defer cancel()

	res, err := http.Get(base + "/weights/big.alxw")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	started := make(chan struct{})
	type result struct {
		body []byte
		err  error
	}
	got := make(chan result, 1)
	go func() {
		b, err := slowRead(res.Body, 512<<10, 20*time.Millisecond, started)
		got <- result{b, err}
	}()
	<-started
	cancel()
	// While the download runs, Run has not returned.
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) while a download was in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	r := <-got
	if r.err != nil || !bytes.Equal(r.body, want) {
		t.Fatalf("download during shutdown: %d of %d bytes, error %v", len(r.body), len(want), r.err)
	}
	waitRun(t, done, 10*time.Second)
}

// TestShutdownTimeoutClosesStalledDownload: a client that stops reading cannot hold
// shutdown beyond ShutdownTimeout; it sees its connection closed, not a hang.
func TestShutdownTimeoutClosesStalledDownload(t *testing.T) {
	web, weights := t.TempDir(), t.TempDir()
	want := writeRandom(t, weights, "big.alxw", 32<<20)
	base, cancel, done, logs := startRun(t, Config{WebRoot: web, WeightsDir: weights, ShutdownTimeout: 300 * time.Millisecond})
	defer cancel()
	res, err := http.Get(base + "/weights/big.alxw")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	head := make([]byte, 1024)
	if _, err := io.ReadFull(res.Body, head); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cancel()
	waitRun(t, done, 10*time.Second)
	t.Logf("Run returned %v after cancellation", time.Since(start).Round(time.Millisecond))
	rest, err := io.ReadAll(res.Body)
	if err == nil || len(head)+len(rest) >= len(want) {
		t.Errorf("stalled download: read %d of %d bytes, error %v; want a closed connection", len(head)+len(rest), len(want), err)
	}
	if !strings.Contains(logs.String(), "closing connections") {
		t.Errorf("log does not say connections were closed: %q", logs)
	}
}

// TestWriteStallDropsIdleReader: a client that stops reading is dropped after the stall
// timeout, and a keep-alive connection reused after a long response still works.
func TestWriteStallDropsIdleReader(t *testing.T) {
	web, weights := t.TempDir(), t.TempDir()
	want := writeRandom(t, weights, "big.alxw", 32<<20)
	writeRandom(t, weights, "small.bin", 100)
	h, err := New(Config{WebRoot: web, WeightsDir: weights, WriteStallTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	res, err := http.Get(srv.URL + "/weights/big.alxw")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // stop reading: the server's writes stall
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err == nil || len(b) >= len(want) {
		t.Errorf("stalled reader got %d of %d bytes, error %v; want the connection dropped", len(b), len(want), err)
	}

	// One connection: a large response read promptly, an idle pause longer than the
	// stall timeout, then a small request on the same connection.
	tr := &http.Transport{MaxConnsPerHost: 1, DisableCompression: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	for i, p := range []string{"/weights/big.alxw", "/weights/small.bin"} {
		if i == 1 {
			time.Sleep(700 * time.Millisecond)
		}
		res, err := c.Get(srv.URL + p)
		if err != nil {
			t.Fatalf("GET %s: %v", p, err)
		}
		n, err := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("GET %s on a reused connection: status %d, %d bytes, %v", p, res.StatusCode, n, err)
		}
	}
}

func get(t *testing.T, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

// TestStaleSiblingIgnored: a .br older than its file (left by an earlier build) is not
// served; once current again, it is.
func TestStaleSiblingIgnored(t *testing.T) {
	web := t.TempDir()
	js := []byte(strings.Repeat("console.log('new build');\n", 100))
	os.WriteFile(filepath.Join(web, "main.js"), js, 0o644)
	os.WriteFile(filepath.Join(web, "main.js.br"), []byte("stale brotli bytes"), 0o644)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(web, "main.js.br"), old, old)
	h, _ := New(Config{WebRoot: web})
	srv := httptest.NewServer(h)
	defer srv.Close()
	res, body := get(t, srv.URL+"/main.js", "Accept-Encoding", "br")
	if res.Header.Get("Content-Encoding") != "" || !bytes.Equal(body, js) {
		t.Errorf("stale sibling served: Content-Encoding %q", res.Header.Get("Content-Encoding"))
	}
	if err := Precompress(web); err != nil {
		t.Fatal(err)
	}
	res, _ = get(t, srv.URL+"/main.js", "Accept-Encoding", "br")
	if res.Header.Get("Content-Encoding") != "br" {
		t.Errorf("after Precompress: Content-Encoding %q, want br", res.Header.Get("Content-Encoding"))
	}
}

// TestETagFollowsContent: the cached hash is recomputed when the file changes, even
// at the same size.
func TestETagFollowsContent(t *testing.T) {
	web := t.TempDir()
	p := filepath.Join(web, "data.json")
	os.WriteFile(p, []byte(`{"v":1}`), 0o644)
	h, _ := New(Config{WebRoot: web})
	srv := httptest.NewServer(h)
	defer srv.Close()
	r1, _ := get(t, srv.URL+"/data.json")
	os.WriteFile(p, []byte(`{"v":2}`), 0o644)
	later := time.Now().Add(time.Minute)
	os.Chtimes(p, later, later)
	r2, b2 := get(t, srv.URL+"/data.json", "If-None-Match", r1.Header.Get("ETag"))
	if r2.StatusCode != 200 || string(b2) != `{"v":2}` || r2.Header.Get("ETag") == r1.Header.Get("ETag") {
		t.Errorf("after a change: status %d, body %q, ETag %q (was %q)", r2.StatusCode, b2, r2.Header.Get("ETag"), r1.Header.Get("ETag"))
	}
}

// TestETagFollowsReplacedFile: a file replaced by another (a rebuild renaming a new file
// into place) with the same size and modification time still gets a fresh hash.
func TestETagFollowsReplacedFile(t *testing.T) {
	web := t.TempDir()
	p := filepath.Join(web, "data.json")
	mtime := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	os.WriteFile(p, []byte(`{"v":1}`), 0o644)
	os.Chtimes(p, mtime, mtime)
	h, _ := New(Config{WebRoot: web})
	srv := httptest.NewServer(h)
	defer srv.Close()
	r1, _ := get(t, srv.URL+"/data.json")
	tmp := filepath.Join(web, "new.tmp")
	os.WriteFile(tmp, []byte(`{"v":2}`), 0o644)
	os.Chtimes(tmp, mtime, mtime)
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	r2, b2 := get(t, srv.URL+"/data.json", "If-None-Match", r1.Header.Get("ETag"))
	if r2.StatusCode != 200 || string(b2) != `{"v":2}` || r2.Header.Get("ETag") == r1.Header.Get("ETag") {
		t.Errorf("after a replacement: status %d, body %q, ETag %q (was %q)", r2.StatusCode, b2, r2.Header.Get("ETag"), r1.Header.Get("ETag"))
	}
}

// TestSpecialFilesNotServed: a FIFO in the web root must not block the handler.
func TestSpecialFilesNotServed(t *testing.T) {
	web := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(web, "pipe.js"), 0o644); err != nil {
		t.Skipf("cannot make a FIFO here: %v", err)
	}
	h, _ := New(Config{WebRoot: web})
	srv := httptest.NewServer(h)
	defer srv.Close()
	done := make(chan int, 1)
	go func() {
		res, _ := get(t, srv.URL+"/pipe.js")
		done <- res.StatusCode
	}()
	select {
	case code := <-done:
		if code != 404 {
			t.Errorf("FIFO: status %d, want 404", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("request for a FIFO hangs")
	}
}

func TestEmptyFileWithRange(t *testing.T) {
	web := t.TempDir()
	os.WriteFile(filepath.Join(web, "empty.txt"), nil, 0o644)
	h, _ := New(Config{WebRoot: web})
	srv := httptest.NewServer(h)
	defer srv.Close()
	res, body := get(t, srv.URL+"/empty.txt", "Range", "bytes=0-")
	if res.StatusCode != 200 || len(body) != 0 || res.Header.Get("Content-Length") != "0" {
		t.Errorf("empty file with Range: status %d, %d bytes, Content-Length %q", res.StatusCode, len(body), res.Header.Get("Content-Length"))
	}
}

// TestWriteStallAllowsSlowSteadyReader: a reader that keeps reading, slowly, takes far
// longer than the stall timeout in total and still gets every byte, because the write
// deadline is renewed per write.
func TestWriteStallAllowsSlowSteadyReader(t *testing.T) {
	web, weights := t.TempDir(), t.TempDir()
	want := writeRandom(t, weights, "big.alxw", 16<<20)
	const stall = time.Second
	h, err := New(Config{WebRoot: web, WeightsDir: weights, WriteStallTimeout: stall})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	res, err := http.Get(srv.URL + "/weights/big.alxw")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	start := time.Now()
	b, err := slowRead(res.Body, 1<<20, 100*time.Millisecond, nil)
	took := time.Since(start)
	if err != nil || !bytes.Equal(b, want) {
		t.Errorf("slow steady reader got %d of %d bytes in %v, error %v", len(b), len(want), took, err)
	}
	if took < stall {
		t.Errorf("the download took %v, less than the stall timeout %v: the test proves nothing", took, stall)
	}
}

func TestDirectoryRedirect(t *testing.T) {
	fx := fixture(t)
	h, _ := New(Config{WebRoot: fx.WebRoot})
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/sub?x=1", nil)
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "./sub/" {
		t.Errorf("GET /sub: status %d, Location %q; want 301 to the relative ./sub/", res.StatusCode, res.Header.Get("Location"))
	}
	// A folder named like a URL redirects on this host, not to it; a file is no folder.
	dir := filepath.Join(fx.WebRoot, "https:evil.example")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("<p>x</p>"), 0o644)
	req, _ = http.NewRequest("GET", srv.URL+"/https:evil.example", nil)
	res, err = http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	if got := req.URL.ResolveReference(loc); res.StatusCode != http.StatusMovedPermanently || got.Host != req.URL.Host || got.Path != "/https:evil.example/" {
		t.Errorf("GET /https:evil.example: status %d, Location %q resolves to %s; want a 301 to the folder on this host", res.StatusCode, res.Header.Get("Location"), got)
	}
	for _, p := range []string{"/index.html/", "/sub/index.html/"} {
		if res, _ := get(t, srv.URL+p); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404 (a file is not a folder)", p, res.StatusCode)
		}
	}
}

func TestWeightsDisabled(t *testing.T) {
	fx := fixture(t)
	h, _ := New(Config{WebRoot: fx.WebRoot})
	srv := httptest.NewServer(h)
	defer srv.Close()
	if res, _ := get(t, srv.URL+fx.Large.URL); res.StatusCode != 404 {
		t.Errorf("no WeightsDir: %s status %d, want 404", fx.Large.URL, res.StatusCode)
	}
}

// FuzzServePath sends arbitrary request-targets through the handler serving the fixture:
// never a 5xx, never a panic, never the secret outside the roots, never a dotfile.
func FuzzServePath(f *testing.F) {
	fx, err := httpsuite.WriteFixture(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	h, err := New(Config{WebRoot: fx.WebRoot, WeightsDir: fx.WeightsDir})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"/", "/index.html", "/../outside-secret.txt", "/%2e%2e/outside-secret.txt", "/leak.txt",
		"/weights/..%2f..%2foutside-secret.txt", "/sub/", "/sub", "/.env", "/leakdir/secret.txt", "/weights/leak.alxw",
		"/empty/", "/app.0123456789ab.wasm", "http://x/../outside-secret.txt", "/a\\..\\outside-secret.txt"} {
		f.Add(s, "bytes=0-10")
	}
	secret := bytes.TrimSpace(fx.Secret)
	f.Fuzz(func(t *testing.T, target, rangeHeader string) {
		raw := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: x\r\nRange: %s\r\nAccept-Encoding: br, gzip\r\n\r\n", target, rangeHeader)
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return // not a request Go's server would pass to a handler
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("GET %q: status %d", target, w.Code)
		}
		if bytes.Contains(w.Body.Bytes(), secret) {
			t.Fatalf("GET %q served the secret", target)
		}
	})
}

func BenchmarkServeRevalidate(b *testing.B) {
	fx := fixture(b)
	h, _ := New(Config{WebRoot: fx.WebRoot, WeightsDir: fx.WeightsDir})
	req := httptest.NewRequest("GET", fx.Large.URL, nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	req.Header.Set("If-None-Match", w.Header().Get("ETag"))
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 304 {
			b.Fatal(w.Code)
		}
	}
}

func BenchmarkServeLargeLoopback(b *testing.B) {
	fx := fixture(b)
	h, _ := New(Config{WebRoot: fx.WebRoot, WeightsDir: fx.WeightsDir})
	srv := httptest.NewServer(h)
	defer srv.Close()
	b.SetBytes(int64(len(fx.Large.Body)))
	for b.Loop() {
		res, err := http.Get(srv.URL + fx.Large.URL)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
}

// TestRunLimitsRequestHeaders: a client that never finishes its headers is cut off after
// ReadHeaderTimeout, and oversized headers are refused with 431.
func TestRunLimitsRequestHeaders(t *testing.T) {
	web := t.TempDir()
	os.WriteFile(filepath.Join(web, "index.html"), []byte("<p>hi</p>"), 0o644)
	base, cancel, done, _ := startRun(t, Config{WebRoot: web, ReadHeaderTimeout: 300 * time.Millisecond})
	defer func() { cancel(); waitRun(t, done, 10*time.Second) }()
	host := strings.TrimPrefix(base, "http://")

	c, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	_, err = io.ReadAll(c) // returns when the server closes the connection
	if err != nil {
		t.Errorf("slow headers: the server did not close the connection within 5s: %v", err)
	}
	t.Logf("connection with unfinished headers closed after %v", time.Since(start).Round(time.Millisecond))

	req, _ := http.NewRequest("GET", base+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 200<<10))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("200 KiB of headers: status %d, want 431", res.StatusCode)
	}
}
