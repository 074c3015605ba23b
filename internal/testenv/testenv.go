// Package testenv finds what the project's tests use from outside the repository: the
// module root, the folder of real trained weights (never committed) and the photos that
// python3-skimage installs. Tests that need one of them skip with a message saying how to
// get it when it is missing.
package testenv

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// PhotosDir is where Debian's python3-skimage puts its sample photos (chelsea.png,
// coffee.png, rocket.jpg...).
const PhotosDir = "/usr/lib/python3/dist-packages/skimage/data"

var (
	rootOnce sync.Once
	root     string
	rootErr  error
)

// ModuleRoot is the folder holding go.mod, found from the working directory up (go test
// runs each package in its own folder).
func ModuleRoot() (string, error) {
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			rootErr = err
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				root = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				rootErr = errors.New("no go.mod above the working directory")
				return
			}
			dir = parent
		}
	})
	return root, rootErr
}

// SharedWeightsDir is the folder of real trained weights: $ALEXLENS_SHARED/weights when
// that variable is set, else ../shared/weights beside the module root. It may not exist.
func SharedWeightsDir() string {
	if s := os.Getenv("ALEXLENS_SHARED"); s != "" {
		return filepath.Join(s, "weights")
	}
	r, err := ModuleRoot()
	if err != nil {
		r = "." // no module: a path that will not exist, so tests skip
	}
	return filepath.Join(r, "..", "shared", "weights")
}

// SharedWeight is the path of the named file of real weights, or skips the test when it
// is not there.
func SharedWeight(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(SharedWeightsDir(), name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("real weights not available (%v): they live in ../shared/weights beside the project, or set ALEXLENS_SHARED to the folder holding weights/", err)
	}
	return p
}

// Photo is the path of a python3-skimage photo, or skips the test when it is not
// installed.
func Photo(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(PhotosDir, name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("photo %s not available (%v): apt-get install python3-skimage, or scripts/install-test-deps.sh", name, err)
	}
	return p
}

// BuildWasm builds the Go package pkg (a path as `go build` takes it, relative to the test's
// package folder) for js/wasm into out, and returns the wasm_exec.js of the Go that built it,
// for browser tests that run Go programs in a page or worker.
func BuildWasm(t testing.TB, pkg, out string) (wasmExec []byte) {
	t.Helper()
	build := exec.Command("go", "build", "-o", out, pkg)
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if msg, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building %s for js/wasm: %v\n%s", pkg, err, msg)
	}
	wasmExec, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		t.Fatalf("wasm_exec.js of the Go that built %s: %v", pkg, err)
	}
	return wasmExec
}

// TextureTiles cuts the python3-skimage texture name (brick, grass, gravel: 512 x 512) into
// n non-overlapping side x side tiles, row by row, as PNG files' bytes: real photos of one
// material, for tests that need many photos of a class. It skips the test when the photo is
// not installed.
func TextureTiles(t testing.TB, name string, n, side int) [][]byte {
	t.Helper()
	f, err := os.Open(Photo(t, name+".png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	per := img.Bounds().Dx() / side
	if n > per*(img.Bounds().Dy()/side) {
		t.Fatalf("%s holds fewer than %d tiles of %d pixels", name, n, side)
	}
	sub := img.(interface {
		SubImage(image.Rectangle) image.Image
	})
	var out [][]byte
	for i := range n {
		r := image.Rect(i%per*side, i/per*side, i%per*side+side, i/per*side+side)
		var buf bytes.Buffer
		if err := png.Encode(&buf, sub.SubImage(r)); err != nil {
			t.Fatal(err)
		}
		out = append(out, buf.Bytes())
	}
	return out
}
