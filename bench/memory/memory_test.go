//go:build !js

// Package memory measures the memory the app's page takes in each browser engine while
// AlexNet's weights load and a photo is classified: the proportional set size of the whole
// browser (all its processes) sampled every 50 ms, baseline, peak and settled. It is a
// benchmark, run by `make bench-memory` (results go in BENCHMARKS.md); `go test` skips it.
package memory

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/internal/testenv"
	"github.com/alexlens/alexlens/internal/webdriver"
	"github.com/alexlens/alexlens/server"
	"github.com/alexlens/alexlens/weights"
)

func TestMemory(t *testing.T) {
	if os.Getenv("ALEXLENS_BENCH_MEMORY") == "" {
		t.Skip("a benchmark: `make bench-memory` runs it")
	}
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	web, wdir := filepath.Join(tmp, "web"), filepath.Join(tmp, "weights")
	cmd := exec.Command(filepath.Join(root, "scripts", "build-web.sh"), web)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build-web: %v\n%s", err, out)
	}
	// AlexNet's fixture weights have the trained file's size and layout (244 MB f32, 61 MB
	// int8): memory does not depend on the values.
	os.MkdirAll(wdir, 0o755)
	fix := weights.Fixture(engine.AlexNet, 1)
	for _, p := range []engine.Precision{engine.F32, engine.Int8} {
		if _, err := weights.WriteModel(wdir, fix.WithPrecision(p), weights.FixtureSource(1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := weights.WriteManifest(wdir); err != nil {
		t.Fatal(err)
	}
	h, err := server.New(server.Config{WebRoot: web, WeightsDir: wdir})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	photo := testenv.Photo(t, "chelsea.png")

	var rows bytes.Buffer
	fmt.Fprintf(&rows, "| engine | AlexNet | browser before | peak | settled | peak over before |\n|---|---|---:|---:|---:|---:|\n")
	for _, name := range webdriver.Engines {
		for _, precision := range []string{"f32", "int8"} {
			t.Run(name+"-"+precision, func(t *testing.T) {
				p := webdriver.Open(t, name)
				if err := p.Navigate(srv.URL + "/healthz"); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Second)
				before := webdriver.TreePSS(p.PID())
				var mu sync.Mutex
				peak := before
				stop := make(chan struct{})
				done := make(chan struct{})
				go func() {
					defer close(done)
					for {
						select {
						case <-stop:
							return
						case <-time.After(50 * time.Millisecond):
						}
						if m := webdriver.TreePSS(p.PID()); m > 0 {
							mu.Lock()
							peak = max(peak, m)
							mu.Unlock()
						}
					}
				}()
				if err := p.Navigate(srv.URL + "/?arch=alexnet&backend=cpu&precision=" + precision); err != nil {
					t.Fatal(err)
				}
				var st string
				webdriver.Poll(t, p, "ready", `(s => s === 'ready' || s === 'failed' ? s : null)(document.querySelector('[data-testid=status]')?.textContent)`, 5*time.Minute, &st)
				if st != "ready" {
					t.Fatalf("%s: %s", st, webdriver.Text(p))
				}
				if err := p.SetFiles(`[data-testid=image-input]`, photo); err != nil {
					t.Fatal(err)
				}
				webdriver.Poll(t, p, "the result", `document.querySelector('[data-testid=result]')?.dataset.seq === '1' || null`, 5*time.Minute, nil)
				time.Sleep(2 * time.Second)
				settled := webdriver.TreePSS(p.PID())
				close(stop)
				<-done
				mu.Lock()
				defer mu.Unlock()
				mb := func(n int64) string { return fmt.Sprintf("%.0f MB", float64(n)/(1<<20)) }
				fmt.Fprintf(&rows, "| %s | %s | %s | %s | %s | %s |\n", name, precision, mb(before), mb(peak), mb(settled), mb(peak-before))
				t.Logf("%s %s: before %s, peak %s, settled %s", name, precision, mb(before), mb(peak), mb(settled))
			})
		}
	}
	fmt.Print(rows.String())
}
