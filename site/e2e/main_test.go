//go:build !js

// Package e2e checks a static export (alexlens site) in a real headless Chromium, served by
// a plain static file server (net/http.FileServer: no ranges or encodings of our own): the
// app starts and classifies from sharded weights, installs its service worker, works with
// the network off, and moves cleanly to a new deployment. TestMain builds the web app once
// with scripts/build-web.sh.
package e2e

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/internal/chromium"
	"github.com/alexlens/alexlens/internal/testenv"
	"github.com/alexlens/alexlens/site"
	"github.com/alexlens/alexlens/weights"
)

var (
	skipAll    string // why every test skips, "" when they run
	moduleRoot string
	webDir     string // the built app
	weightsDir string // .alxw files + manifest.json
	haveReal   bool   // the trained SqueezeNet weights are in weightsDir
)

// shardLimit is small so that SqueezeNet's 4.9 MB float32 file is sharded, as AlexNet's
// 244 MB file is under the real 24 MiB limit.
const shardLimit = 1 << 20

func TestMain(m *testing.M) {
	code, cleanup := setup()
	if code == 0 {
		code = m.Run()
	}
	cleanup()
	os.Exit(code)
}

func setup() (int, func()) {
	noop := func() {}
	if chromium.Path() == "" {
		skipAll = chromium.NotInstalled
		return 0, noop
	}
	var err error
	if moduleRoot, err = testenv.ModuleRoot(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1, noop
	}
	tmp, err := os.MkdirTemp("", "alexlens-site-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1, noop
	}
	cleanup := func() { os.RemoveAll(tmp) }
	webDir, weightsDir = filepath.Join(tmp, "web"), filepath.Join(tmp, "weights")
	start := time.Now()
	cmd := exec.Command(filepath.Join(moduleRoot, "scripts", "build-web.sh"), webDir)
	cmd.Dir = moduleRoot
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "site e2e: building the web app: %v\n%s", err, buf.String())
		cleanup()
		return 1, noop
	}
	fmt.Fprintf(os.Stderr, "site e2e: web app built in %v\n", time.Since(start).Round(time.Millisecond))
	if err := writeWeights(weightsDir); err != nil {
		fmt.Fprintln(os.Stderr, "site e2e: weights:", err)
		cleanup()
		return 1, noop
	}
	return 0, cleanup
}

// writeWeights converts the real SqueezeNet 1.1 and the original AlexNet's conv1 from the
// shared folder when it is there; otherwise SqueezeNet fixture weights stand in (the
// tests then check the app runs, not what it predicts).
func writeWeights(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	pth := filepath.Join(testenv.SharedWeightsDir(), "squeezenet1_1-imagenet.pth")
	if _, err := os.Stat(pth); err == nil {
		if _, err := weights.ConvertFile(pth, dir, engine.SqueezeNet11.Name, ""); err != nil {
			return err
		}
		haveReal = true
	} else {
		fmt.Fprintf(os.Stderr, "site e2e: %s not found: using fixture weights\n", pth)
		fix := weights.Fixture(engine.SqueezeNet11, 1)
		for _, p := range []engine.Precision{engine.F32, engine.Int8} { // as ConvertFile writes
			if _, err := weights.WriteModel(dir, fix.WithPrecision(p), weights.FixtureSource(1)); err != nil {
				return err
			}
		}
	}
	bvlc := filepath.Join(testenv.SharedWeightsDir(), "bvlc_alexnet_conv1.pth")
	if _, err := os.Stat(bvlc); err == nil {
		if _, err := weights.ConvertFile(bvlc, dir, engine.AlexNetBVLC.Name, ""); err != nil {
			return err
		}
	}
	return weights.WriteManifest(dir)
}

// host is a plain static file server for one export folder, with a switch that makes it
// behave like a lost network (every request is cut off) and a log of what was asked.
type host struct {
	dir     string
	url     string
	offline atomic.Bool
	csp     string // sent with every response when set
	mu      sync.Mutex
	paths   []string
	ranged  []string // the paths of Range requests (also in paths)
	sent    int64    // body bytes sent
}

// countingWriter counts the body bytes of a response.
type countingWriter struct {
	http.ResponseWriter
	h *host
}

func (c countingWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.h.mu.Lock()
	c.h.sent += int64(n)
	c.h.mu.Unlock()
	return n, err
}

// reset forgets the requests so far.
func (h *host) reset() {
	h.mu.Lock()
	h.paths, h.ranged, h.sent = nil, nil, 0
	h.mu.Unlock()
}

func serve(t *testing.T, dir string) *host {
	return serveCSP(t, dir, "")
}

// serveCSP is serve with a Content-Security-Policy on every response.
func serveCSP(t *testing.T, dir, csp string) *host {
	t.Helper()
	h := &host{dir: dir, csp: csp}
	files := http.FileServer(http.Dir(dir))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.offline.Load() {
			panic(http.ErrAbortHandler) // the connection drops: a network error for the browser
		}
		h.mu.Lock()
		h.paths = append(h.paths, r.URL.Path)
		if r.Header.Get("Range") != "" {
			h.ranged = append(h.ranged, r.URL.Path)
		}
		h.mu.Unlock()
		if h.csp != "" {
			w.Header().Set("Content-Security-Policy", h.csp)
		}
		files.ServeHTTP(countingWriter{w, h}, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	h.url = "http://" + ln.Addr().String()
	return h
}

// count is how many requests asked for a path with the given prefix and suffix.
func (h *host) count(prefix, suffix string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return countPaths(h.paths, prefix, suffix)
}

// countWhole is count without Range requests: the downloads of whole files.
func (h *host) countWhole(prefix, suffix string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return countPaths(h.paths, prefix, suffix) - countPaths(h.ranged, prefix, suffix)
}

func countPaths(paths []string, prefix, suffix string) int {
	n := 0
	for _, p := range paths {
		if strings.HasPrefix(p, prefix) && strings.HasSuffix(p, suffix) {
			n++
		}
	}
	return n
}

// export writes a site from web into dir.
func export(t *testing.T, web, dir string) *site.Result {
	t.Helper()
	res, err := site.Export(site.Options{WebDir: web, WeightsDir: weightsDir, OutDir: dir, ShardLimit: shardLimit})
	if err != nil {
		t.Fatal(err)
	}
	return res
}
