package server

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

// smallWindowClient is an HTTP client whose sockets have a 32 KB receive buffer, so the
// server's writes block as soon as the reader falls behind (no megabytes of buffering
// between them on loopback).
func smallWindowClient() *http.Client {
	d := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 32<<10) })
		if err != nil {
			return err
		}
		return serr
	}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableCompression: true}}
}

// TestSlowReaderKeepsDownload: a client reading steadily at about 800 KB/s keeps its 8 MB
// download under a 300 ms stall timeout, although the kernel, with megabytes buffered,
// wakes a blocked write only every few seconds at that rate: Run's server watches bytes
// acknowledged, not writes. A client that stops reading is still dropped.
func TestSlowReaderKeepsDownload(t *testing.T) {
	web, weights := t.TempDir(), t.TempDir()
	want := writeRandom(t, weights, "big.bin", 8<<20)
	const stall = 300 * time.Millisecond
	base, cancel, done, _ := startRun(t, Config{WebRoot: web, WeightsDir: weights, WriteStallTimeout: stall})
	defer func() { cancel(); waitRun(t, done, 10*time.Second) }()
	res, err := smallWindowClient().Get(base + "/weights/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	b, err := slowRead(res.Body, 80<<10, 100*time.Millisecond, nil)
	res.Body.Close()
	if err != nil || !bytes.Equal(b, want) {
		t.Fatalf("slow reader got %d of %d bytes in %v, error %v", len(b), len(want), time.Since(start), err)
	}
	t.Logf("8 MB at about 800 KB/s in %v with a %v stall timeout", time.Since(start).Round(time.Millisecond), stall)

	// A reader that stops is dropped after about the stall timeout.
	res, err = smallWindowClient().Get(base + "/weights/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(res.Body, make([]byte, 64<<10))
	time.Sleep(10 * stall)
	rest, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err == nil || 64<<10+len(rest) >= len(want) {
		t.Errorf("a reader that stopped for %v got %d of %d bytes, error %v; want the connection cut", 10*stall, 64<<10+len(rest), len(want), err)
	}
}

// TestDownloadLimit: beyond MaxDownloads large responses at once, a request for a large
// file gets 503 with Retry-After, small files are still served, and the limit frees up when
// a download ends.
func TestDownloadLimit(t *testing.T) {
	web, weights := t.TempDir(), t.TempDir()
	writeRandom(t, weights, "big.bin", 8<<20)
	writeRandom(t, weights, "small.bin", 1000)
	h, err := New(Config{WebRoot: web, WeightsDir: weights, MaxDownloads: 1})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	first, err := smallWindowClient().Get(srv.URL + "/weights/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(first.Body, make([]byte, 1024)) // in progress, held open
	res, _ := get(t, srv.URL+"/weights/big.bin")
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || res.Header.Get("Cache-Control") != cacheNever {
		t.Errorf("second large download: status %d, Retry-After %q, Cache-Control %q; want 503 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"), res.Header.Get("Cache-Control"))
	}
	if res, _ := get(t, srv.URL+"/weights/small.bin"); res.StatusCode != 200 {
		t.Errorf("small file during a download: status %d", res.StatusCode)
	}
	io.Copy(io.Discard, first.Body)
	first.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, body := get(t, srv.URL+"/weights/big.bin")
		if res.StatusCode == 200 && len(body) == 8<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the first download ended: status %d", res.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConnectionLimit: Run answers a connection beyond MaxConnections with 503 and
// Retry-After at once and closes it; when a connection closes, its place is free again.
func TestConnectionLimit(t *testing.T) {
	web := t.TempDir()
	writeRandom(t, web, "index.html", 10)
	base, cancel, done, _ := startRun(t, Config{WebRoot: web, MaxConnections: 2})
	defer func() { cancel(); waitRun(t, done, 10*time.Second) }()
	addr := strings.TrimSuffix(strings.TrimPrefix(base, "http://"), "/")
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// Two connections hold the places (idle, as a stalled client would).
	a, b := dial(), dial()
	defer b.Close()
	time.Sleep(100 * time.Millisecond)
	c := dial()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("third connection: %v", err)
	}
	res.Body.Close()
	c.Close()
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Errorf("third connection: status %d, Retry-After %q; want 503", res.StatusCode, res.Header.Get("Retry-After"))
	}
	a.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", base, nil)
		tr := &http.Transport{}
		res, err := tr.RoundTrip(req)
		tr.CloseIdleConnections()
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a connection closed, a new one still gets %v %v", res, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
