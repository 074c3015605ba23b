//go:build !js

package weights

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/weights/pth"

	"github.com/alexlens/alexlens/weights/manifest"
)

func TestManifest(t *testing.T) {
	dir := t.TempDir()
	fix := Fixture(engine.SqueezeNet11, 4)
	f32, err := WriteModel(dir, fix, FixtureSource(4))
	if err != nil {
		t.Fatal(err)
	}
	i8, err := WriteModel(dir, fix.WithPrecision(engine.Int8), FixtureSource(4))
	if err != nil {
		t.Fatal(err)
	}
	part, err := engine.NewPartialModel(engine.SqueezeNet11, map[string]*engine.Tensor{
		"features.0.weight": {Shape: fix.Params["features.0.weight"].Shape, Data: fix.Params["features.0.weight"].F32},
		"features.0.bias":   {Shape: []int{64}, Data: fix.Params["features.0.bias"].F32},
	})
	if err != nil {
		t.Fatal(err)
	}
	partPath, err := WriteModel(dir, part, "conv1 of a trained-looking file")
	if err != nil {
		t.Fatal(err)
	}
	// Writing the same model again gives the same name: content-hashed.
	if again, err := WriteModel(dir, fix, FixtureSource(4)); err != nil || again != f32 {
		t.Fatalf("same model written as %s, first as %s (%v)", again, f32, err)
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not weights"), 0o644)
	if err := WriteManifest(dir); err != nil {
		t.Fatal(err)
	}
	man, err := manifest.Read(filepath.Join(dir, manifest.Name))
	if err != nil {
		t.Fatal(err)
	}
	if len(man.Weights) != 3 {
		t.Fatalf("manifest lists %d files, want 3: %+v", len(man.Weights), man.Weights)
	}
	byFile := map[string]manifest.Entry{}
	for _, e := range man.Weights {
		byFile[e.File] = e
		data, err := os.ReadFile(filepath.Join(dir, e.File))
		if err != nil {
			t.Fatal(err)
		}
		h, err := ReadHeader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if e.SHA256 != hex.EncodeToString(sum[:]) || e.Bytes != int64(len(data)) {
			t.Errorf("%s: manifest says %d bytes sha256 %s", e.File, e.Bytes, e.SHA256)
		}
		if want := HashedName(h.Arch, h.Precision, e.SHA256); e.File != want {
			t.Errorf("file %s, content-hashed name %s", e.File, want)
		}
		if e.Arch != h.Arch || e.Precision != string(h.Precision) || string(e.Partial) != h.Partial || len(e.Layers) != len(h.Layers) {
			t.Errorf("%s: manifest entry %+v disagrees with the header", e.File, e)
		}
		for i := range e.Layers {
			if e.Layers[i] != h.Layers[i] {
				t.Errorf("%s layer %d: %+v, header %+v", e.File, i, e.Layers[i], h.Layers[i])
			}
		}
	}
	if e := byFile[filepath.Base(f32)]; e.Kind != "fixture" || e.Precision != "f32" || e.Partial != "" || len(e.Layers) != len(engine.SqueezeNet11.LayerNames())-4 {
		t.Errorf("f32 entry %+v", e)
	}
	if e := byFile[filepath.Base(i8)]; e.Precision != "int8" {
		t.Errorf("int8 entry %+v", e)
	}
	if e := byFile[filepath.Base(partPath)]; e.Kind != "trained" || e.Partial != "pool1" || len(e.Layers) != 1 {
		t.Errorf("partial entry %+v", e)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
	// A damaged file makes the manifest fail with its name rather than list it.
	os.WriteFile(filepath.Join(dir, "zz-broken.alxw"), []byte("ALXW junk"), 0o644)
	if err := WriteManifest(dir); err == nil || !strings.Contains(err.Error(), "zz-broken.alxw") {
		t.Errorf("manifest over a broken file: %v", err)
	}
}

// fetchServer serves body as the official file name of squeezenet1_1 on loopback, with
// Official and BaseURL pointed at it for the test. handler, when set, replaces the plain one.
type fetchServer struct {
	body     []byte
	file     string
	requests atomic.Int32
}

func newFetchServer(t *testing.T, body []byte, handler func(w http.ResponseWriter, r *http.Request)) *fetchServer {
	t.Helper()
	sum := sha256.Sum256(body)
	fs := &fetchServer{body: body, file: "squeezenet1_1-" + hex.EncodeToString(sum[:4]) + ".pth"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.requests.Add(1)
		if r.URL.Path != "/models/"+fs.file {
			http.NotFound(w, r)
			return
		}
		if handler != nil {
			handler(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		// Several writes, so progress has something to draw.
		for i := 0; i < len(body); i += 64 << 10 {
			w.Write(body[i:min(i+64<<10, len(body))])
		}
	}))
	t.Cleanup(srv.Close)
	oldURL, oldFile := BaseURL, Official["squeezenet1_1"]
	BaseURL, Official["squeezenet1_1"] = srv.URL+"/models/", fs.file
	t.Cleanup(func() { BaseURL, Official["squeezenet1_1"] = oldURL, oldFile })
	return fs
}

func pthBytes(t *testing.T, m *engine.Model) []byte {
	var buf bytes.Buffer
	if err := pth.Write(&buf, tensorsOf(m), nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// dirFiles lists a folder's file names, hidden ones included.
func dirFiles(t *testing.T, dir string) []string {
	es, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestFetch(t *testing.T) {
	fix := Fixture(engine.SqueezeNet11, 8)
	fs := newFetchServer(t, pthBytes(t, fix), nil)
	dir := filepath.Join(t.TempDir(), "weights")
	var progress bytes.Buffer
	path, err := Fetch(context.Background(), "squeezenet1_1", dir, &progress)
	if err != nil {
		t.Fatal(err)
	}
	out := progress.String()
	mb := strconv.FormatFloat(float64(len(fs.body))/1e6, 'f', 1, 64) + " MB"
	if !strings.Contains(out, fs.file) || !strings.Contains(out, "100.0%") || !strings.Contains(out, mb+"/"+mb) || !strings.Contains(out, "MB/s") {
		t.Errorf("progress output %q lacks the name, 100.0%%, %s/%s or a rate", out, mb, mb)
	}
	got, err := Load(path, "squeezenet1_1")
	if err != nil {
		t.Fatal(err)
	}
	sameParams(t, got, fix.WithPrecision(engine.F32))
	if got.Fixture {
		t.Error("downloaded weights marked as a fixture")
	}
	h, _ := readHeaderFile(t, path)
	if !strings.Contains(h.Source, fs.file) {
		t.Errorf("source %q does not name the download", h.Source)
	}
	files := dirFiles(t, dir)
	if len(files) != 4 { // the .pth, f32 and int8 .alxw, manifest.json
		t.Errorf("folder holds %v, want the .pth, two .alxw and manifest.json", files)
	}
	man, err := manifest.Read(filepath.Join(dir, manifest.Name))
	if err != nil || len(man.Weights) != 2 {
		t.Fatalf("manifest %+v, %v", man, err)
	}

	// A second fetch uses the verified file already there.
	n := fs.requests.Load()
	progress.Reset()
	if _, err := Fetch(context.Background(), "squeezenet1_1", dir, &progress); err != nil {
		t.Fatal(err)
	}
	if fs.requests.Load() != n || !strings.Contains(progress.String(), "already") {
		t.Errorf("second fetch downloaded again (%d requests, said %q)", fs.requests.Load()-n, progress.String())
	}
}

func readHeaderFile(t *testing.T, path string) (*Header, error) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return ReadHeader(f)
}

func TestFetchFailures(t *testing.T) {
	body := pthBytes(t, Fixture(engine.SqueezeNet11, 9))
	for _, c := range []struct {
		name    string
		handler func(w http.ResponseWriter, r *http.Request)
		want    string
	}{
		{"truncated", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body[:len(body)/2])
		}, "broke off"},
		{"wrong hash", func(w http.ResponseWriter, r *http.Request) {
			bad := bytes.Clone(body)
			bad[len(bad)/3] ^= 1
			w.Write(bad)
		}, "does not start with"},
		{"server error", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
		}, "503"},
	} {
		t.Run(c.name, func(t *testing.T) {
			newFetchServer(t, body, c.handler)
			dir := t.TempDir()
			var progress bytes.Buffer
			_, err := Fetch(context.Background(), "squeezenet1_1", dir, &progress)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v does not say %q", err, c.want)
			}
			if files := dirFiles(t, dir); len(files) != 0 {
				t.Errorf("failed fetch left %v", files)
			}
		})
	}
}

func TestFetchCancel(t *testing.T) {
	body := pthBytes(t, Fixture(engine.SqueezeNet11, 9))
	started := make(chan struct{})
	newFetchServer(t, body, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body[:1000])
		w.(http.Flusher).Flush()
		close(started)
		<-r.Context().Done() // hold the rest until the client gives up
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	dir := t.TempDir()
	_, err := Fetch(ctx, "squeezenet1_1", dir, nil)
	if err == nil || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("cancelled fetch: %v", err)
	}
	if files := dirFiles(t, dir); len(files) != 0 {
		t.Errorf("cancelled fetch left %v", files)
	}
}

// TestFetchUnknownLength: a chunked answer has no length; progress shows bytes and rate.
func TestFetchUnknownLength(t *testing.T) {
	body := pthBytes(t, Fixture(engine.SqueezeNet11, 10))
	newFetchServer(t, body, func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < len(body); i += 256 << 10 {
			w.Write(body[i:min(i+256<<10, len(body))])
			w.(http.Flusher).Flush()
		}
	})
	var progress bytes.Buffer
	if _, err := Fetch(context.Background(), "squeezenet1_1", t.TempDir(), &progress); err != nil {
		t.Fatal(err)
	}
	mb := strconv.FormatFloat(float64(len(body))/1e6, 'f', 1, 64) + " MB"
	if out := progress.String(); !strings.Contains(out, mb+"  ") || !strings.Contains(out, "MB/s") || strings.Contains(out, "%") {
		t.Errorf("progress %q should show %s and a rate, no percentage", out, mb)
	}
}

func TestFetchStall(t *testing.T) {
	body := pthBytes(t, Fixture(engine.SqueezeNet11, 9))
	newFetchServer(t, body, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body[:1000])
		w.(http.Flusher).Flush()
		<-r.Context().Done() // stop sending; the client must give up by itself
	})
	old := StallTimeout
	StallTimeout = 300 * time.Millisecond
	defer func() { StallTimeout = old }()
	dir := t.TempDir()
	_, err := Fetch(context.Background(), "squeezenet1_1", dir, nil)
	if err == nil || !strings.Contains(err.Error(), "no data received") || !strings.Contains(err.Error(), "nothing was kept") {
		t.Fatalf("stalled fetch: %v", err)
	}
	if files := dirFiles(t, dir); len(files) != 0 {
		t.Errorf("stalled fetch left %v", files)
	}
}

func TestFetchOffline(t *testing.T) {
	// A loopback port nobody listens on: the connection is refused at once, as it is on a
	// machine without a network (DNS fails at once there too).
	l := httptest.NewServer(http.NotFoundHandler())
	url := l.URL
	l.Close()
	old := BaseURL
	BaseURL = url + "/models/"
	defer func() { BaseURL = old }()
	dir := t.TempDir()
	start := time.Now()
	_, err := Fetch(context.Background(), "alexnet", dir, nil)
	if took := time.Since(start); took > DialTimeout {
		t.Errorf("offline fetch took %v", took)
	}
	want := filepath.Join(dir, "alexnet-owt-7be5be79.pth")
	if err == nil || !strings.Contains(err.Error(), "offline") || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "alexlens weights convert") {
		t.Fatalf("offline error %v should say where to put the file (%s) and how to convert it", err, want)
	}
	if _, err := Fetch(context.Background(), "vgg16", dir, nil); err == nil || !strings.Contains(err.Error(), "alexnet") {
		t.Errorf("unknown name: %v", err)
	}
}

func TestHashPrefix(t *testing.T) {
	for file, want := range map[string]string{"alexnet-owt-7be5be79.pth": "7be5be79", "squeezenet1_1-b8a52dc0.pth": "b8a52dc0"} {
		if got := hashPrefix(file); got != want {
			t.Errorf("hashPrefix(%s) = %s, want %s", file, got, want)
		}
	}
}
