//go:build !js

package split

import (
	"context"
	"fmt"
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
)

// The page drives workers that each run internal/sharedtest (one part of a split pass on
// the SqueezeNet fixture, the same input everywhere). window.pass sets up a pass over
// cfg.parts workers, exchanging over cfg.exchange ("shared": a SharedArrayBuffer the page
// allocates, as the app's part 0 and the benchmark page do; "ports": a MessageChannel mesh;
// "auto": shared when the worker says split.SharedAvailable), runs it and returns every
// part's logits. window.broken starts a pass on part 0 only; the other parts either give up
// the exchange (fail) or never run, and it returns part 0's error.
const sharedPageJS = `"use strict";
function startWorker() {
  const w = new Worker("worker.js");
  let pending = null;
  const ready = new Promise((res, rej) => { pending = {res, rej}; });
  w.onmessage = e => {
    const p = pending; pending = null;
    if (!p) return;
    if (e.data && e.data.error) p.rej(new Error(e.data.error)); else p.res(e.data);
  };
  w.onerror = e => { if (pending) pending.rej(new Error("worker: " + e.message)); };
  return {ready, w, call(msg, transfer) {
    return new Promise((res, rej) => { pending = {res, rej}; w.postMessage(msg, transfer || []); });
  }};
}
async function setup(cfg) {
  const ws = [];
  for (let i = 0; i < cfg.parts; i++) ws.push(startWorker());
  await Promise.all(ws.map(w => w.ready));
  let shared = null, available = false;
  if (cfg.parts > 1) {
    const size = await ws[0].call({op: "sharedBytes", arch: cfg.arch, parts: cfg.parts, capacity: cfg.capacity || 0});
    available = size.available;
    if (cfg.exchange === "shared" || (cfg.exchange === "auto" && available)) shared = new SharedArrayBuffer(size.bytes);
  }
  const ports = ws.map(() => new Array(cfg.parts).fill(null));
  if (!shared) {
    for (let i = 0; i < cfg.parts; i++) for (let j = i + 1; j < cfg.parts; j++) {
      const ch = new MessageChannel();
      ports[i][j] = ch.port1; ports[j][i] = ch.port2;
    }
  }
  const kinds = await Promise.all(ws.map((w, i) => w.call({op: "init", arch: cfg.arch, precision: cfg.precision,
    part: i, parts: cfg.parts, shared: shared, ports: ports[i], timeoutMs: cfg.timeoutMs || 0},
    ports[i].filter(p => p !== null))));
  return {ws, kinds: kinds.map(k => k.exchange), available};
}
window.pass = async function (cfg) {
  const s = await setup(cfg);
  try {
    const t0 = performance.now();
    const rs = await Promise.all(s.ws.map(w => w.call({op: "run", batch: cfg.batch})));
    return {Exchange: s.kinds, Available: s.available, Isolated: self.crossOriginIsolated,
      Ms: performance.now() - t0, Logits: rs.map(r => Array.from(r.logits))};
  } finally { s.ws.forEach(w => w.w.terminate()); }
};
window.broken = async function (cfg) {
  const s = await setup(cfg);
  try {
    const t0 = performance.now();
    const run = s.ws[0].call({op: "run", batch: 1}).then(() => "", e => String(e.message || e));
    if (cfg.fail) {
      await new Promise(r => setTimeout(r, 100));
      await s.ws[cfg.parts - 1].call({op: "fail"});
    }
    const error = await run;
    return {Error: error, Ms: performance.now() - t0};
  } finally { s.ws.forEach(w => w.w.terminate()); }
};
`

const sharedWorkerJS = `"use strict";
importScripts("wasm_exec.js");
const go = new Go();
WebAssembly.instantiateStreaming(fetch("part.wasm"), go.importObject)
  .then(r => go.run(r.instance))
  .catch(e => postMessage({error: "the Go program did not start: " + e}));
`

type passResult struct {
	Exchange  []string
	Available bool
	Isolated  bool
	Ms        float64
	Logits    [][]float64
}

type brokenResult struct {
	Error string
	Ms    float64
}

// TestBrowserExchanges runs split passes in real Web Workers in headless Chromium: on a
// cross-origin isolated page through a SharedArrayBuffer (2 and 3 parts; slots sized by
// ShareCapacity, and small slots with a batch of 2 so that every exchange takes several
// rounds) and over MessageChannels, and on a page that is not isolated, where the shared
// exchange is not available and the ports are the fallback. Every part's logits must equal
// one worker's exactly. A part that gives up must end part 0's wait at once; a part that
// never runs must end it after the timeout with an error, not a hang.
func TestBrowserExchanges(t *testing.T) {
	if chromium.Path() == "" {
		t.Skip(chromium.NotInstalled)
	}
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	dir := t.TempDir()
	wasmExec := testenv.BuildWasm(t, "./internal/sharedtest", filepath.Join(dir, "part.wasm"))
	files := map[string]string{
		"wasm_exec.js": string(wasmExec),
		"index.html":   `<!doctype html><html><head><meta charset="utf-8"><script src="page.js"></script></head><body></body></html>`,
		"page.js":      sharedPageJS,
		"worker.js":    sharedWorkerJS,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files0 := http.FileServer(http.Dir(dir))
	isolated := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cross-Origin-Opener-Policy", "same-origin")
		w.Header().Set("Cross-Origin-Embedder-Policy", "require-corp")
		files0.ServeHTTP(w, r)
	}))
	defer isolated.Close()
	plain := httptest.NewServer(files0)
	defer plain.Close()

	ctx := chromium.New(t, chromium.Options{})
	const arch = "squeezenet1_1"
	run := func(tab context.Context, cfg string) passResult {
		t.Helper()
		c, cancel := context.WithTimeout(tab, 3*time.Minute)
		defer cancel()
		res, err := chromedp.Run(c, chromedp.Evaluate[passResult](fmt.Sprintf("window.pass(%s)", cfg), chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("pass %s: %v", cfg, err)
		}
		return res
	}
	same := func(what string, got passResult, want []float64) {
		t.Helper()
		for p, l := range got.Logits {
			if len(l) != len(want) {
				t.Fatalf("%s: part %d has %d logits, one worker %d", what, p, len(l), len(want))
			}
			for i := range want {
				if l[i] != want[i] {
					t.Fatalf("%s: part %d logit %d = %v, one worker gives %v", what, p, i, l[i], want[i])
				}
			}
		}
	}
	open := func(tab context.Context, base string) {
		t.Helper()
		if err := chromedp.Do(tab, chromedp.Navigate(base+"/index.html")); err != nil {
			t.Fatal(err)
		}
	}
	cfg := func(parts int, exchange string, batch, capacity int) string {
		return fmt.Sprintf(`{arch: %q, precision: "f32", parts: %d, exchange: %q, batch: %d, capacity: %d}`, arch, parts, exchange, batch, capacity)
	}

	open(ctx, isolated.URL)
	whole := map[int][]float64{}
	for _, batch := range []int{1, 2} {
		r := run(ctx, cfg(1, "none", batch, 0))
		if !r.Isolated {
			t.Fatal("the page served with COOP and COEP is not cross-origin isolated")
		}
		whole[batch] = r.Logits[0]
	}
	for _, c := range []struct {
		parts           int
		exchange        string
		batch, capacity int
	}{
		{2, "auto", 1, 0}, // shared: the page is isolated
		{3, "shared", 1, 0},
		{2, "shared", 2, 5000}, // conv1's share is 78 slots' worth
		{2, "ports", 1, 0},
	} {
		what := fmt.Sprintf("%d parts, %s exchange, batch %d, capacity %d", c.parts, c.exchange, c.batch, c.capacity)
		r := run(ctx, cfg(c.parts, c.exchange, c.batch, c.capacity))
		want := map[string]string{"auto": "shared", "shared": "shared", "ports": "ports"}[c.exchange]
		for p, k := range r.Exchange {
			if k != want {
				t.Errorf("%s: part %d exchanged over %s, want %s", what, p, k, want)
			}
		}
		same(what, r, whole[c.batch])
		t.Logf("%s: %.0f ms, logits equal one worker's", what, r.Ms)
	}

	broken := func(cfg string) brokenResult {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		res, err := chromedp.Run(c, chromedp.Evaluate[brokenResult](fmt.Sprintf("window.broken(%s)", cfg), chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("broken pass %s: %v", cfg, err)
		}
		return res
	}
	// Part 2 of 3 gives up 100 ms in: part 0, blocked in Atomics.wait, returns at once.
	r := broken(fmt.Sprintf(`{arch: %q, precision: "f32", parts: 3, exchange: "shared", fail: true}`, arch))
	if !strings.Contains(r.Error, "part 2 gave up") || r.Ms > 5000 {
		t.Errorf("a part gave up: part 0 returned after %.0f ms with %q, want part 2's giving up within seconds", r.Ms, r.Error)
	}
	t.Logf("a part gave up: part 0 returned after %.0f ms: %s", r.Ms, r.Error)
	// Part 1 never runs: part 0 gives up after its 500 ms timeout.
	r = broken(fmt.Sprintf(`{arch: %q, precision: "f32", parts: 2, exchange: "shared", timeoutMs: 500}`, arch))
	if !strings.Contains(r.Error, "did not take part") || r.Ms > 10000 {
		t.Errorf("a part never ran: part 0 returned after %.0f ms with %q, want a timeout error after 500 ms", r.Ms, r.Error)
	}
	t.Logf("a part never ran: part 0 returned after %.0f ms: %s", r.Ms, r.Error)

	// Not isolated: no SharedArrayBuffer for the workers, so "auto" falls back to the ports.
	tab := chromium.NewTab(t, ctx)
	open(tab, plain.URL)
	r2 := run(tab, cfg(2, "auto", 1, 0))
	if r2.Isolated || r2.Available {
		t.Errorf("plain page: crossOriginIsolated %v, split.SharedAvailable %v; want both false", r2.Isolated, r2.Available)
	}
	for p, k := range r2.Exchange {
		if k != "ports" {
			t.Errorf("plain page: part %d exchanged over %s, want ports", p, k)
		}
	}
	same("plain page, 2 parts over ports", r2, whole[1])
}
