package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/alexlens/alexlens/internal/swapdir"
	"github.com/alexlens/alexlens/weights/manifest"
)

// TestSoak is many browsers' worth of clients against Run on loopback: full downloads of
// weight files, Range reads, conditional requests, downloads abandoned midway, the manifest
// and the page, from soakClients clients at once, while the web folder is rebuilt (swapped
// as scripts/build-web.sh does), a weights file is added as `make weights` does (file first,
// then the manifest by rename), and the server is stopped and started again. Every body is
// checked: a whole file against the manifest's SHA-256 and length, a range against the
// file's bytes, the page against one of the two builds. It fails on any mismatch or any
// answer but 200, 206 and 304 (and refused connections while the server restarts); it
// reports requests per second, latencies, downloads and memory, and asserts nothing about
// speed. It runs for 8 s; ALEXLENS_SOAK=3m runs it longer (BENCHMARKS.md "Server soak").
func TestSoak(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the rebuild swaps folders with renameat2, Linux only")
	}
	length := 8 * time.Second
	if v := os.Getenv("ALEXLENS_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("ALEXLENS_SOAK=%q: %v", v, err)
		}
		length = d
	}
	const soakClients = 48
	dir := t.TempDir()
	web, weightsDir := filepath.Join(dir, "web"), filepath.Join(dir, "weights")
	pages := [2][]byte{[]byte("<!doctype html><title>build A</title>"), []byte("<!doctype html><title>build B, rebuilt</title>")}
	asset := bytes.Repeat([]byte("console.log('the app');\n"), 4096)
	assetName := "app." + hash12(asset) + ".js"
	writeBuild := func(folder string, page []byte) {
		must(t, os.MkdirAll(folder, 0o755))
		must(t, os.WriteFile(filepath.Join(folder, "index.html"), page, 0o644))
		must(t, os.WriteFile(filepath.Join(folder, assetName), asset, 0o644))
	}
	writeBuild(web, pages[0])
	must(t, os.MkdirAll(weightsDir, 0o755))
	files := map[string][]byte{} // every weights file ever published, by name
	var filesMu sync.RWMutex
	var m manifest.Manifest
	publish := func(arch string, size int) { // the file first, then the manifest that names it
		b := make([]byte, size)
		rand.New(rand.NewSource(int64(size))).Read(b)
		sum := sha256.Sum256(b)
		name := fmt.Sprintf("%s-f32-%s.alxw", arch, hex.EncodeToString(sum[:6]))
		must(t, os.WriteFile(filepath.Join(weightsDir, name), b, 0o644))
		filesMu.Lock()
		files[name] = b
		filesMu.Unlock()
		m.Weights = append(m.Weights, manifest.Entry{File: name, Arch: arch, Precision: "f32", Kind: "fixture", Bytes: int64(size), SHA256: hex.EncodeToString(sum[:])})
		j, err := json.Marshal(m)
		must(t, err)
		tmp := filepath.Join(weightsDir, ".manifest.json.next")
		must(t, os.WriteFile(tmp, j, 0o644))
		must(t, os.Rename(tmp, filepath.Join(weightsDir, manifest.Name)))
	}
	publish("alexnet", 6<<20)
	publish("squeezenet1_1", 1<<20)
	publish("tiny", 40<<10)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := ln.Addr().String()
	ln.Close()
	base := "http://" + addr
	cfg := Config{Addr: addr, WebRoot: web, WeightsDir: weightsDir, ShutdownTimeout: 10 * time.Second}
	start := func() (context.CancelFunc, <-chan error) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- Run(ctx, cfg, io.Discard) }()
		for i := 0; i < 200; i++ { // until it listens
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				return cancel, done
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		t.Fatalf("the server did not listen on %s", addr)
		return nil, nil
	}
	stop, done := start()

	var st soakStats
	st.lat = make([][]time.Duration, soakClients)
	var mem memSampler
	mem.start()
	goroutinesBefore := runtime.NumGoroutine()
	began := time.Now()
	deadline := began.Add(length)
	var restarted atomic.Bool
	var wg sync.WaitGroup
	transport := &http.Transport{MaxIdleConnsPerHost: soakClients, DisableCompression: true}
	defer transport.CloseIdleConnections()
	for c := range soakClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := soakClient{id: c, base: base, http: &http.Client{Transport: transport, Timeout: time.Minute},
				rng: rand.New(rand.NewSource(int64(c))), pages: pages, asset: asset, assetName: assetName, st: &st,
				file: func(name string) []byte { filesMu.RLock(); defer filesMu.RUnlock(); return files[name] }}
			for time.Now().Before(deadline) {
				cl.once(restarted.Load())
			}
		}()
	}
	// The middle: a rebuild of the page, a new weights file, a restart of the server.
	time.Sleep(length / 3)
	next := filepath.Join(dir, "web-next")
	writeBuild(next, pages[1])
	must(t, swapdir.Replace(next, web))
	publish("alexnet-bvlc", 2<<20)
	time.Sleep(length / 3)
	stop()
	if err := <-done; err != nil {
		t.Errorf("Run, stopped: %v", err)
	}
	restarted.Store(true)
	stop, done = start()
	restartedAt := time.Since(began)
	wg.Wait()
	took := time.Since(began)
	stop()
	if err := <-done; err != nil {
		t.Errorf("Run, stopped at the end: %v", err)
	}
	peak, settled := mem.stop()
	transport.CloseIdleConnections()

	st.mu.Lock()
	defer st.mu.Unlock()
	for _, p := range st.problems[:min(len(st.problems), 20)] {
		t.Error(p)
	}
	if n := len(st.problems); n > 0 {
		t.Errorf("%d problems in %d requests", n, st.requests.Load())
	}
	if st.afterRestart.Load() == 0 {
		t.Error("no request succeeded after the restart")
	}
	var all []time.Duration
	for _, l := range st.lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[min(len(all)-1, int(p*float64(len(all))))]
	}
	t.Logf("soak: %d clients, %.1f s (restart at %.1f s): %d requests, %.0f requests/s; latency (all but whole large downloads) p50 %v, p99 %v; "+
		"%d whole downloads (%.0f MB, %.0f MB/s), %d ranges, %d conditional (%d x 304), %d abandoned; problems %d; refused while restarting %d; "+
		"Go heap in use: peak %.0f MB, %.0f MB after the run; goroutines %d before, %d after",
		soakClients, took.Seconds(), restartedAt.Seconds(), st.requests.Load(), float64(st.requests.Load())/took.Seconds(), pct(0.5).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond),
		st.downloads.Load(), float64(st.downloadBytes.Load())/1e6, float64(st.downloadBytes.Load())/1e6/took.Seconds(), st.ranges.Load(), st.conditional.Load(), st.notModified.Load(), st.abandoned.Load(),
		len(st.problems), st.refused.Load(), float64(peak)/(1<<20), float64(settled)/(1<<20), goroutinesBefore, runtime.NumGoroutine())
}

type soakStats struct {
	requests, downloads, downloadBytes, ranges, conditional, notModified, abandoned, refused, afterRestart atomic.Int64

	mu       sync.Mutex
	problems []string
	lat      [][]time.Duration // by client
}

func (s *soakStats) problem(format string, a ...any) {
	s.mu.Lock()
	s.problems = append(s.problems, fmt.Sprintf(format, a...))
	s.mu.Unlock()
}

// soakClient is one browser's worth of requests, chosen at random.
type soakClient struct {
	id        int
	base      string
	http      *http.Client
	rng       *rand.Rand
	pages     [2][]byte
	asset     []byte
	assetName string
	file      func(name string) []byte
	st        *soakStats
	etags     map[string]string // by path, for conditional requests
}

func (c *soakClient) once(restarted bool) {
	m, ok := c.manifest()
	if !ok || len(m.Weights) == 0 {
		return
	}
	e := m.Weights[c.rng.Intn(len(m.Weights))]
	want := c.file(e.File)
	if want == nil {
		c.st.problem("the manifest names %s, which was never published", e.File)
		return
	}
	path := "/weights/" + e.File
	began := time.Now()
	var ok2 bool
	switch k := c.rng.Intn(10); {
	case k < 3: // a whole file, checked against the manifest
		ok2 = c.get(path, nil, func(status int, body io.Reader) error {
			h := sha256.New()
			n, err := io.Copy(h, body)
			if err != nil {
				return err
			}
			if n != e.Bytes || hex.EncodeToString(h.Sum(nil)) != e.SHA256 {
				return fmt.Errorf("%d bytes with SHA-256 %x, the manifest says %d and %s", n, h.Sum(nil)[:6], e.Bytes, e.SHA256[:12])
			}
			c.st.downloads.Add(1)
			c.st.downloadBytes.Add(n)
			return nil
		})
		if e.Bytes > 1<<20 {
			began = time.Time{} // not a latency: the time is the transfer's
		}
	case k < 6: // a range, checked against the file's bytes
		from := c.rng.Int63n(e.Bytes)
		to := min(e.Bytes-1, from+c.rng.Int63n(256<<10))
		ok2 = c.get(path, http.Header{"Range": {fmt.Sprintf("bytes=%d-%d", from, to)}}, func(status int, body io.Reader) error {
			got, err := io.ReadAll(body)
			if err != nil {
				return err
			}
			if status != http.StatusPartialContent || !bytes.Equal(got, want[from:to+1]) {
				return fmt.Errorf("range %d-%d: status %d, %d bytes, not the file's", from, to, status, len(got))
			}
			c.st.ranges.Add(1)
			return nil
		})
	case k < 8: // the page, or the app's asset, again with the ETag it got last time
		p := "/"
		if k == 7 {
			p = "/" + c.assetName
		}
		h := http.Header{}
		if tag := c.etags[p]; tag != "" {
			h.Set("If-None-Match", tag)
			c.st.conditional.Add(1)
		}
		ok2 = c.get(p, h, func(status int, body io.Reader) error {
			got, err := io.ReadAll(body)
			if err != nil {
				return err
			}
			switch {
			case status == http.StatusNotModified:
				c.st.notModified.Add(1)
			case p == "/" && !bytes.Equal(got, c.pages[0]) && !bytes.Equal(got, c.pages[1]):
				return fmt.Errorf("the page is neither build: %q", got)
			case p != "/" && !bytes.Equal(got, c.asset):
				return fmt.Errorf("%d bytes, not the asset", len(got))
			}
			return nil
		})
	default: // a download abandoned after its first 64 KB
		ok2 = c.get(path, nil, func(status int, body io.Reader) error {
			got := make([]byte, min(64<<10, len(want)))
			if _, err := io.ReadFull(body, got); err != nil {
				return err
			}
			if !bytes.Equal(got, want[:len(got)]) {
				return errors.New("the first bytes are not the file's")
			}
			c.st.abandoned.Add(1)
			return nil
		})
	}
	if ok2 && !began.IsZero() {
		c.st.lat[c.id] = append(c.st.lat[c.id], time.Since(began))
	}
	if ok2 && restarted {
		c.st.afterRestart.Add(1)
	}
}

// manifest reads manifest.json and checks that it parses.
func (c *soakClient) manifest() (m manifest.Manifest, ok bool) {
	ok = c.get("/weights/"+manifest.Name, nil, func(status int, body io.Reader) error {
		return json.NewDecoder(body).Decode(&m)
	})
	return m, ok
}

// get sends one request and hands a 200, 206 or 304 answer's body to check; anything else
// is a problem, except a refused connection (the server restarting), after which the client
// waits a moment. It reports whether the answer was good.
func (c *soakClient) get(path string, h http.Header, check func(status int, body io.Reader) error) bool {
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	if err != nil {
		c.st.problem("%s: %v", path, err)
		return false
	}
	for k, v := range h {
		req.Header[k] = v
	}
	c.st.requests.Add(1)
	res, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) {
			c.st.refused.Add(1)
			time.Sleep(20 * time.Millisecond)
			return false
		}
		c.st.problem("%s: %v", path, err)
		return false
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusPartialContent && res.StatusCode != http.StatusNotModified {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 200))
		c.st.problem("%s: status %d: %s", path, res.StatusCode, b)
		return false
	}
	if err := check(res.StatusCode, res.Body); err != nil {
		c.st.problem("%s: %v", path, err)
		return false
	}
	if tag := res.Header.Get("ETag"); tag != "" {
		if c.etags == nil {
			c.etags = map[string]string{}
		}
		c.etags[path] = tag
	}
	return true
}

// memSampler follows the Go heap in use while the soak runs.
type memSampler struct {
	quit chan struct{}
	done chan uint64
}

func (s *memSampler) start() {
	s.quit, s.done = make(chan struct{}), make(chan uint64, 1)
	go func() {
		var peak uint64
		var ms runtime.MemStats
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-s.quit:
				s.done <- peak
				return
			case <-tick.C:
			}
		}
	}()
}

// stop returns the peak, and the heap in use after a collection.
func (s *memSampler) stop() (peak, settled uint64) {
	close(s.quit)
	peak = <-s.done
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return peak, ms.HeapInuse
}

func hash12(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:6])
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
