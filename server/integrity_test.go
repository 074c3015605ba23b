package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// integrityServer serves a web root and a weights folder with the server's log captured.
func integrityServer(t *testing.T) (web, weights, url string, logs *syncBuffer) {
	t.Helper()
	web, weights = t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(web, "index.html"), []byte("<p>hi</p>"), 0o644)
	logs = &syncBuffer{}
	h, err := New(Config{WebRoot: web, WeightsDir: weights, Log: log.New(logs, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return web, weights, srv.URL, logs
}

func hashedName(prefix string, data []byte, ext string) string {
	sum := sha256.Sum256(data)
	return prefix + hex.EncodeToString(sum[:])[:12] + ext
}

// rewriteInPlace overwrites a file's bytes without replacing it (same inode) and puts its
// modification time back, as a careless copy tool might.
func rewriteInPlace(t *testing.T, p string, data []byte) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// TestContentHashEnforced: a file whose name carries a content hash is served only while
// its bytes match it; a truncated one is a logged 5xx that no cache keeps, and serving
// resumes once the file is whole again. A precompressed sibling that does not decode to
// the promised bytes is passed over for the identity file.
func TestContentHashEnforced(t *testing.T) {
	web, weights, url, logs := integrityServer(t)
	data := bytes.Repeat([]byte("alexlens weights "), 1<<16)
	name := hashedName("squeezenet1_1-f32-", data, ".alxw")
	p := filepath.Join(weights, name)
	os.WriteFile(p, data, 0o644)

	res, body := get(t, url+"/weights/"+name)
	if res.StatusCode != 200 || !bytes.Equal(body, data) || res.Header.Get("Cache-Control") != cacheImmutable {
		t.Fatalf("whole file: status %d, %d bytes, Cache-Control %q", res.StatusCode, len(body), res.Header.Get("Cache-Control"))
	}
	etag := res.Header.Get("ETag")

	os.Truncate(p, int64(len(data)/2))
	for _, hdr := range [][]string{nil, {"Range", "bytes=0-99"}, {"If-None-Match", etag}} {
		res, _ := get(t, url+"/weights/"+name, hdr...)
		if res.StatusCode != http.StatusInternalServerError || res.Header.Get("Cache-Control") != cacheNever || res.Header.Get("ETag") != "" {
			t.Errorf("truncated file, headers %v: status %d, Cache-Control %q, ETag %q; want 500, no-store, no ETag", hdr, res.StatusCode, res.Header.Get("Cache-Control"), res.Header.Get("ETag"))
		}
	}
	if !strings.Contains(logs.String(), "refusing "+name) {
		t.Errorf("no log line for the refused file: %q", logs.String())
	}

	os.WriteFile(p, data, 0o644)
	if res, body := get(t, url+"/weights/"+name); res.StatusCode != 200 || !bytes.Equal(body, data) {
		t.Errorf("restored file: status %d, %d bytes", res.StatusCode, len(body))
	}

	// A hashed asset with a brotli sibling of other content: the identity bytes are sent.
	js := []byte(strings.Repeat("console.log('alexlens');\n", 200))
	asset := hashedName("app.", js, ".js")
	os.WriteFile(filepath.Join(web, asset), js, 0o644)
	var other bytes.Buffer
	bw := brotli.NewWriter(&other)
	bw.Write([]byte("something else entirely"))
	bw.Close()
	os.WriteFile(filepath.Join(web, asset+".br"), other.Bytes(), 0o644)
	res, body = get(t, url+"/"+asset, "Accept-Encoding", "br")
	if res.StatusCode != 200 || res.Header.Get("Content-Encoding") != "" || !bytes.Equal(body, js) {
		t.Errorf("asset with a foreign .br sibling: status %d, Content-Encoding %q, body ok %v", res.StatusCode, res.Header.Get("Content-Encoding"), bytes.Equal(body, js))
	}
}

// TestETagFollowsInPlaceRewrite: a file rewritten in place with its size and modification
// time put back gets a new ETag (the change time moved), so the old ETag gets no 304 and an
// If-Range resume with it gets the whole new file, never a 206 of mixed bytes.
func TestETagFollowsInPlaceRewrite(t *testing.T) {
	_, weights, url, _ := integrityServer(t)
	a := bytes.Repeat([]byte("A"), 1<<20)
	b := bytes.Repeat([]byte("B"), 1<<20)
	p := filepath.Join(weights, "model.bin")
	os.WriteFile(p, a, 0o644)
	res, _ := get(t, url+"/weights/model.bin")
	old := res.Header.Get("ETag")
	time.Sleep(20 * time.Millisecond) // a change time that differs even on coarse clocks
	rewriteInPlace(t, p, b)

	res, body := get(t, url+"/weights/model.bin", "If-None-Match", old)
	if res.StatusCode != 200 || !bytes.Equal(body, b) || res.Header.Get("ETag") == old {
		t.Errorf("If-None-Match with the old ETag after an in-place rewrite: status %d, ETag %q (old %q)", res.StatusCode, res.Header.Get("ETag"), old)
	}
	res, body = get(t, url+"/weights/model.bin", "Range", "bytes=524288-", "If-Range", old)
	if res.StatusCode != 200 || !bytes.Equal(body, b) {
		t.Errorf("If-Range resume with the old ETag: status %d, %d bytes; want the whole new file", res.StatusCode, len(body))
	}
}

// TestOverwriteDuringDownload: a file rewritten while a client downloads it must not
// reach the client as a complete response: the download is cut before its last bytes.
func TestOverwriteDuringDownload(t *testing.T) {
	_, weights, url, _ := integrityServer(t)
	const n = 32 << 20
	a := bytes.Repeat([]byte("a"), n)
	p := filepath.Join(weights, "big.bin")
	os.WriteFile(p, a, 0o644)
	res, err := http.Get(url + "/weights/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	first := make([]byte, 1<<20)
	if _, err := io.ReadFull(res.Body, first); err != nil {
		t.Fatal(err)
	}
	rewriteInPlace(t, p, bytes.Repeat([]byte("b"), n))
	rest, err := io.ReadAll(res.Body)
	got := append(first, rest...)
	if err == nil && len(got) == n {
		t.Fatalf("a complete %d-byte response for a file rewritten during the download (%d 'b' bytes in it)", len(got), bytes.Count(got, []byte("b")))
	}
	t.Logf("download cut after %d of %d bytes: %v", len(got), n, err)
}
