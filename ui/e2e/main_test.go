//go:build !js

// Package e2e drives the built web app in a real headless Chromium: the page, the engine
// worker and the Go server, with real weights where the shared folder has them. TestMain
// builds the app once (scripts/build-web.sh), writes weights into a temporary folder and
// serves both on a loopback port with the project's own server.
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
	"testing"
	"time"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/internal/chromium"
	"github.com/alexlens/alexlens/internal/testenv"
	"github.com/alexlens/alexlens/server"
	"github.com/alexlens/alexlens/weights"

	"github.com/alexlens/alexlens/weights/manifest"
)

var (
	skipAll    string // why every browser test skips, "" when they run
	baseURL    string
	webDir     string
	weightsDir string
	moduleRoot string
	haveReal   bool // the trained SqueezeNet weights were converted
	haveBVLC   bool // the original AlexNet's trained conv1 was converted
	chromePath string
	requests   requestLog
)

// requestLog counts the weight files the server hands out, to prove a second visit is
// served from the browser's Cache Storage.
type requestLog struct {
	mu    sync.Mutex
	paths []string
}

func (l *requestLog) add(p string) {
	l.mu.Lock()
	l.paths = append(l.paths, p)
	l.mu.Unlock()
}

func (l *requestLog) count(suffix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, p := range l.paths {
		if strings.HasSuffix(p, suffix) {
			n++
		}
	}
	return n
}

func TestMain(m *testing.M) {
	code, cleanup := setup()
	if code != 0 {
		os.Exit(code)
	}
	code = m.Run()
	cleanup()
	os.Exit(code)
}

func setup() (int, func()) {
	noop := func() {}
	chromePath = chromium.Path()
	if chromePath == "" {
		skipAll = chromium.NotInstalled
		return 0, noop
	}
	root, err := testenv.ModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1, noop
	}
	moduleRoot = root
	tmp, err := os.MkdirTemp("", "alexlens-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1, noop
	}
	cleanup := func() { os.RemoveAll(tmp) }
	webDir = filepath.Join(tmp, "web")
	weightsDir = filepath.Join(tmp, "weights")
	if err := buildWeb(webDir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the web app:", err)
		cleanup()
		return 1, noop
	}
	if err := writeWeights(weightsDir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: writing weights:", err)
		cleanup()
		return 1, noop
	}
	h, err := server.New(server.Config{WebRoot: webDir, WeightsDir: weightsDir})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		cleanup()
		return 1, noop
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		cleanup()
		return 1, noop
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".alxw") {
			requests.add(r.URL.Path)
		}
		h.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	baseURL = "http://" + ln.Addr().String()
	return 0, func() { srv.Close(); cleanup() }
}

// buildWeb runs the same script `make run` uses.
func buildWeb(out string) error {
	start := time.Now()
	cmd := exec.Command(filepath.Join(moduleRoot, "scripts", "build-web.sh"), out)
	cmd.Dir = moduleRoot
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%v\n%s", err, buf.String())
	}
	fmt.Fprintf(os.Stderr, "e2e: web app built in %v\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// writeWeights fills the served folder: AlexNet fixture weights (f32 and int8) always, the
// real SqueezeNet 1.1 weights and the original AlexNet's conv1 (f32 and int8 each) when the
// shared folder has them.
func writeWeights(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	fix := weights.Fixture(engine.AlexNet, 1)
	for _, p := range []engine.Precision{engine.F32, engine.Int8} {
		if _, err := weights.WriteModel(dir, fix.WithPrecision(p), weights.FixtureSource(1)); err != nil {
			return err
		}
	}
	pth := filepath.Join(testenv.SharedWeightsDir(), "squeezenet1_1-imagenet.pth")
	if _, err := os.Stat(pth); err == nil {
		if _, err := weights.ConvertFile(pth, dir, engine.SqueezeNet11.Name, ""); err != nil {
			return err
		}
		haveReal = true
	}
	bvlc := filepath.Join(testenv.SharedWeightsDir(), "bvlc_alexnet_conv1.pth")
	if _, err := os.Stat(bvlc); err == nil {
		if _, err := weights.ConvertFile(bvlc, dir, engine.AlexNetBVLC.Name, ""); err != nil {
			return err
		}
		haveBVLC = true
	}
	return weights.WriteManifest(dir)
}

// manifestFile is the served file name of arch at precision.
func manifestFile(t *testing.T, arch, precision string) string {
	t.Helper()
	m, err := manifest.Read(filepath.Join(weightsDir, manifest.Name))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range m.Weights {
		if e.Arch == arch && e.Precision == precision {
			return e.File
		}
	}
	t.Fatalf("no %s %s weights in the manifest", arch, precision)
	return ""
}

// alexNetFiles writes AlexNet's fixture weights (the trained files' size and layout: 244 MB
// in float32, 61 MB in int8) in the given precisions and their manifest into a new folder,
// and returns the folder and the files' paths in that order.
func alexNetFiles(t *testing.T, precisions ...engine.Precision) (dir string, files []string) {
	t.Helper()
	dir = t.TempDir()
	fix := weights.Fixture(engine.AlexNet, 1)
	for _, p := range precisions {
		f, err := weights.WriteModel(dir, fix.WithPrecision(p), weights.FixtureSource(1))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if err := weights.WriteManifest(dir); err != nil {
		t.Fatal(err)
	}
	return dir, files
}

// serveWeights serves the built app with another weights folder on a port of its own,
// logging weight requests; it stops when the test ends.
func serveWeights(t *testing.T, dir string, log *requestLog) string {
	t.Helper()
	h, err := server.New(server.Config{WebRoot: webDir, WeightsDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".alxw") {
			log.add(r.URL.Path)
		}
		h.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}
