//go:build !js

package cpukernel

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/alexlens/alexlens/internal/chromium"
	"github.com/alexlens/alexlens/internal/testenv"
	"github.com/alexlens/alexlens/wasm/sharedmem"
)

// poolResult is what internal/pooltest posts.
type poolResult struct {
	Error   string `json:"error"`
	Results []struct {
		Arch      string    `json:"arch"`
		Precision string    `json:"precision"`
		Threads   int       `json:"threads"`
		Logits    []float64 `json:"logits"`
		Failure   string    `json:"failure"`
	} `json:"results"`
	AfterKill          []float64 `json:"afterKill"`
	ThreadsAfterKill   int       `json:"threadsAfterKill"`
	MsAfterKill        int       `json:"msAfterKill"`
	SilentError        string    `json:"silentError"`
	SilentMs           int       `json:"silentMs"`
	ThreadsAfterSilent int       `json:"threadsAfterSilent"`
}

// TestBrowserKernelPool runs internal/pooltest in a Web Worker of a cross-origin isolated page
// in real Chromium, the program rewritten onto a shared memory and started the way the app's
// worker.js starts the engine (ui/static/shared-memory.js, kernel-worker.js): the fixture
// networks' logits on 2 and 3 threads must equal one thread's exactly (every output is
// computed by the same arithmetic whichever thread computes it), and after a kernel worker
// stops answering the next pass must finish on one thread with the same logits; kernel
// workers that never start make SetThreads give up after its start timeout.
func TestBrowserKernelPool(t *testing.T) {
	if chromium.Path() == "" {
		t.Skip(chromium.NotInstalled)
	}
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	dir := t.TempDir()
	wasmExec := testenv.BuildWasm(t, "./internal/pooltest", filepath.Join(dir, "plain.wasm"))
	plain, err := os.ReadFile(filepath.Join(dir, "plain.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	shared, _, err := sharedmem.Share(plain)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"pooltest.wasm": shared, "wasm_exec.js": wasmExec}
	for name, from := range map[string]string{
		"shared-memory.js": "../../ui/static/shared-memory.js",
		"kernel-worker.js": "../../ui/static/kernel-worker.js",
	} {
		if files[name], err = os.ReadFile(from); err != nil {
			t.Fatal(err)
		}
	}
	files["silent-worker.js"] = []byte(`self.onmessage = function () {}; // never says "ready"`)
	files["index.html"] = []byte(`<!doctype html><meta charset="utf-8"><title>pool</title>`)
	files["worker.js"] = []byte(`importScripts("shared-memory.js", "wasm_exec.js");
const go = new Go();
fetch("pooltest.wasm").then(r => r.arrayBuffer()).then(bytes => {
  const mem = self.alexlensSharedMemory(bytes);
  if (!mem) throw new Error("pooltest.wasm does not import a shared memory");
  go.importObject.alexlens = { mem };
  return WebAssembly.instantiate(bytes, go.importObject);
}).then(r => {
  self.alexlensGoMemory = r.instance.exports.mem;
  return go.run(r.instance);
}).catch(e => self.postMessage({ error: String(e) }));`)
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fs := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cross-Origin-Opener-Policy", "same-origin")
		w.Header().Set("Cross-Origin-Embedder-Policy", "require-corp")
		fs.ServeHTTP(w, r)
	}))
	defer srv.Close()

	ctx := chromium.New(t, chromium.Options{})
	c, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	if _, err := chromedp.Run(c, chromedp.Navigate(srv.URL+"/index.html")); err != nil {
		t.Fatal(err)
	}
	out, err := chromedp.Run(c, chromedp.Evaluate[poolResult](`new Promise((resolve) => {
  if (!self.crossOriginIsolated) { resolve({error: "the page is not cross-origin isolated"}); return; }
  const w = new Worker("worker.js");
  w.onmessage = e => resolve(e.data);
  w.onerror = e => resolve({error: "worker: " + e.message});
})`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if out.Error != "" {
		t.Fatal(out.Error)
	}
	if len(out.Results) != 12 {
		t.Fatalf("%d results, want 12 (2 networks x 2 precisions x 3 thread counts)", len(out.Results))
	}
	for i := 0; i < len(out.Results); i += 3 {
		one := out.Results[i]
		if one.Threads != 1 {
			t.Fatalf("%s %s ran on %d threads, want 1", one.Arch, one.Precision, one.Threads)
		}
		for _, r := range out.Results[i+1 : i+3] {
			if r.Threads < 2 {
				t.Errorf("%s %s: SetThreads asked for more but %d ran (the pool stopped: %s)", r.Arch, r.Precision, r.Threads, r.Failure)
			}
			for j := range one.Logits {
				if r.Logits[j] != one.Logits[j] {
					t.Fatalf("%s %s on %d threads: logit %d = %v, one thread %v", r.Arch, r.Precision, r.Threads, j, r.Logits[j], one.Logits[j])
				}
			}
		}
		t.Logf("%s %s: logits on 2 and 3 threads equal one thread's", one.Arch, one.Precision)
	}
	last := out.Results[len(out.Results)-3]
	if out.ThreadsAfterKill != 1 {
		t.Errorf("after a kernel worker stopped answering the kernels report %d threads, want 1", out.ThreadsAfterKill)
	}
	for j := range last.Logits {
		if out.AfterKill[j] != last.Logits[j] {
			t.Fatalf("after a kernel worker stopped answering: logit %d = %v, want %v", j, out.AfterKill[j], last.Logits[j])
		}
	}
	t.Logf("a kernel worker that stopped answering: the pass finished on one thread in %d ms (round timeout 300 ms) with the same logits", out.MsAfterKill)
	if !strings.Contains(out.SilentError, "not ready after 300 ms") || out.ThreadsAfterSilent != 1 {
		t.Errorf("kernel workers that never start: SetThreads said %q and left %d threads; want an error naming the 300 ms start timeout, and one thread", out.SilentError, out.ThreadsAfterSilent)
	}
	t.Logf("kernel workers that never start: SetThreads gave up in %d ms: %s", out.SilentMs, out.SilentError)
}
