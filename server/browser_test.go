package server

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/alexlens/alexlens/internal/chromium"
	"github.com/alexlens/alexlens/internal/testenv"
)

// probePage loads a Go wasm program with instantiateStreaming (needs application/wasm
// and 'wasm-unsafe-eval'), starts a worker from a blob: URL (worker-src blob:), fetches
// a byte range of a weight file (connect-src 'self', Range), and tries what the CSP must
// forbid: an inline script and eval.
const probeHTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>probe</title>
<script>window.inlineRan = true;</script>
<script src="wasm_exec.js"></script>
<script src="probe.js"></script>
</head><body><p>AlexLens server probe</p></body></html>
`

const probeJS = `
window.violations = [];
document.addEventListener('securitypolicyviolation', e => violations.push(e.effectiveDirective + ' ' + e.blockedURI));
function tryEval() { try { return eval('1 + 1'); } catch (e) { return 'blocked'; } }
(async () => {
  const go = new Go();
  const wasmURL = 'app.0123abcd.wasm';
  const r = await WebAssembly.instantiateStreaming(fetch(wasmURL), go.importObject);
  await go.run(r.instance);
  const w = new Worker(URL.createObjectURL(new Blob(['postMessage(6 * 7)'], {type: 'text/javascript'})));
  const fromWorker = await new Promise((res, rej) => { w.onmessage = e => res(e.data); w.onerror = e => rej(String(e.message)); });
  const resp = await fetch('/weights/w.alxw', {headers: {Range: 'bytes=10-19'}});
  const bytes = Array.from(new Uint8Array(await resp.arrayBuffer()));
  const t = performance.getEntriesByName(new URL(wasmURL, location.href).href)[0];
  window.result = {
    wasm: globalThis.probeResult || '', worker: fromWorker, rangeStatus: resp.status, rangeBytes: bytes,
    isolated: self.crossOriginIsolated, eval: String(tryEval()), inline: !!window.inlineRan,
    wasmEncoded: t ? t.encodedBodySize : -1, wasmDecoded: t ? t.decodedBodySize : -1,
  };
})().catch(e => { window.result = {error: String(e)}; });
`

type probeResult struct {
	Error                    string
	Wasm                     string
	Worker                   int
	RangeStatus              int
	RangeBytes               []int
	Isolated                 bool
	Eval                     string
	Inline                   bool
	WasmEncoded, WasmDecoded int
}

// TestBrowserLoadsGoWasmApp serves a real Go wasm program, precompressed, to headless
// Chromium and checks that the security headers let the app do what AlexLens does and
// stop what it must not, with cross-origin isolation off and on.
func TestBrowserLoadsGoWasmApp(t *testing.T) {
	chrome := chromium.Path()
	if chrome == "" {
		t.Skip(chromium.NotInstalled)
	}
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	base := t.TempDir()
	web, weights := filepath.Join(base, "web"), filepath.Join(base, "weights")
	os.MkdirAll(web, 0o755)
	os.MkdirAll(weights, 0o755)
	wasmExec := testenv.BuildWasm(t, "./testdata/wasmprobe", filepath.Join(web, "app.0123abcd.wasm"))
	os.WriteFile(filepath.Join(web, "wasm_exec.js"), wasmExec, 0o644)
	os.WriteFile(filepath.Join(web, "index.html"), []byte(probeHTML), 0o644)
	os.WriteFile(filepath.Join(web, "probe.js"), []byte(probeJS), 0o644)
	weightBytes := make([]byte, 4096)
	for i := range weightBytes {
		weightBytes[i] = byte(i * 7)
	}
	os.WriteFile(filepath.Join(weights, "w.alxw"), weightBytes, 0o644)
	// Quality 5: the test needs a valid br sibling, not the smallest one.
	if err := PrecompressWith(web, PrecompressOptions{BrotliQuality: 5}); err != nil {
		t.Fatal(err)
	}

	for _, isolated := range []bool{false, true} {
		url, cancelRun, done, _ := startRun(t, Config{WebRoot: web, WeightsDir: weights, NotIsolated: !isolated})
		// A fresh browser and profile for each run: nothing cached from the other one.
		ctx, cancel := chromium.Start(chrome, chromium.Options{UserDataDir: t.TempDir(),
			Extra: []chromedp.ExecAllocatorOption{chromedp.Flag("disable-gpu", true)}})
		ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
		err := chromedp.Do(ctx, chromedp.Navigate(url+"/"))
		var res probeResult
		var violations []string
		if err == nil {
			var raw json.RawMessage
			raw, err = chromedp.Run(ctx, chromedp.Poll[json.RawMessage]("window.result", chromedp.WithPollingTimeout(30*time.Second)))
			if err == nil {
				err = json.Unmarshal(raw, &res)
			}
		}
		if err == nil {
			violations, err = chromedp.Run(ctx, chromedp.Evaluate[[]string]("window.violations"))
		}
		cancelT()
		cancel()
		cancelRun()
		waitRun(t, done, 10*time.Second)
		if err != nil {
			t.Fatalf("isolated=%v: driving Chromium: %v", isolated, err)
		}
		t.Logf("isolated=%v: %+v, CSP reports %q", isolated, res, violations)
		if res.Error != "" {
			t.Fatalf("isolated=%v: the page failed: %s (CSP reports %q)", isolated, res.Error, violations)
		}
		if res.Wasm != "go-wasm-ran" {
			t.Errorf("isolated=%v: the Go wasm program did not run (%q)", isolated, res.Wasm)
		}
		if res.Worker != 42 {
			t.Errorf("isolated=%v: blob worker answered %d, want 42", isolated, res.Worker)
		}
		want := make([]int, 10)
		for i := range want {
			want[i] = int(weightBytes[10+i])
		}
		if res.RangeStatus != 206 || !slices.Equal(res.RangeBytes, want) {
			t.Errorf("isolated=%v: ranged weight fetch: status %d, bytes %v, want 206 %v", isolated, res.RangeStatus, res.RangeBytes, want)
		}
		if res.Isolated != isolated {
			t.Errorf("isolated=%v: self.crossOriginIsolated = %v", isolated, res.Isolated)
		}
		if res.Eval != "blocked" || res.Inline {
			t.Errorf("isolated=%v: the CSP let eval (%s) or an inline script (%v) run", isolated, res.Eval, res.Inline)
		}
		if res.WasmEncoded <= 0 || res.WasmEncoded >= res.WasmDecoded {
			t.Errorf("isolated=%v: wasm transferred %d bytes for %d decoded: the precompressed sibling was not used",
				isolated, res.WasmEncoded, res.WasmDecoded)
		}
		var siblingSizes []int
		for _, suffix := range []string{".br", ".gz"} {
			if fi, err := os.Stat(filepath.Join(web, "app.0123abcd.wasm"+suffix)); err == nil {
				siblingSizes = append(siblingSizes, int(fi.Size()))
			}
		}
		if !slices.Contains(siblingSizes, res.WasmEncoded) {
			t.Errorf("isolated=%v: wasm transferred %d bytes, not the size of a precompressed sibling %v",
				isolated, res.WasmEncoded, siblingSizes)
		}
		for _, v := range violations {
			if v != "script-src-elem inline" && v != "script-src eval" {
				t.Errorf("isolated=%v: unexpected CSP violation %q", isolated, v)
			}
		}
	}
}
