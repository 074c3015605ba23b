//go:build !js

package e2e

import (
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/internal/apppage"
	"github.com/alexlens/alexlens/internal/chromium"
	"github.com/alexlens/alexlens/internal/testenv"
	"github.com/alexlens/alexlens/internal/webdriver"
	"github.com/alexlens/alexlens/server"
)

// simdProbe is true in a page whose browser compiles WebAssembly SIMD (the same probe as
// ui/static/worker.js).
const simdProbe = `WebAssembly.validate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]))`

// TestFallbacks switches browser features off, one browser each, for real (Firefox ESR
// preferences, JavaScriptCore options) and checks the app takes the next path, says which,
// and still gives the native path's top-5: no WebAssembly SIMD (Safari before 16.4), no
// SharedArrayBuffer on an isolated page, a private window that refuses
// IndexedDB (and has no WebGPU), and a webcam the visitor blocked. No WebAssembly SIMD is
// tested in WebKit, whose JavaScriptCore can switch it off. (No WebGPU adapter, and a
// software one, are TestWebGPU's; the app uses no OffscreenCanvas.)
func TestFallbacks(t *testing.T) {
	if skipAll != "" {
		t.Skip(skipAll)
	}
	arch, precision := engine.AlexNet.Name, "int8"
	if haveReal {
		arch, precision = engine.SqueezeNet11.Name, "f32"
	}
	photo := testenv.Photo(t, "chelsea.png")
	native := nativeTop5(t, manifestFile(t, arch, precision), photo)
	query := "/?arch=" + arch + "&precision=" + precision
	classifies := func(t *testing.T, w apppage.Page, seq int) {
		t.Helper()
		w.Upload(photo)
		w.WaitResult(seq)
		got := w.Predictions()
		if len(got) != 5 {
			t.Fatalf("%d predictions, want 5", len(got))
		}
		for r := range native {
			if got[r].Label != native[r].Label || math.Abs(got[r].Prob-native[r].Prob) > 1e-3 {
				t.Errorf("rank %d: page %q %.5f, native %q %.5f", r+1, got[r].Label, got[r].Prob, native[r].Label, native[r].Prob)
			}
		}
	}

	t.Run("no-wasm-simd", func(t *testing.T) {
		w := apppage.Page{T: t, P: webdriver.WebKit(t, "JSC_useWasmSIMD=false")}
		w.Open(baseURL + query + "&backend=cpu")
		if webdriver.Must[bool](t, w.P, simdProbe) {
			t.Fatal("the browser still compiles WebAssembly SIMD with JSC_useWasmSIMD=false")
		}
		classifies(t, w, 1)
		if path := w.Text("compute-path"); !strings.Contains(path, "portable Go") {
			t.Errorf("compute path %q, want the portable Go kernels", path)
		}
		t.Logf("compute path %q", w.Text("compute-path"))
	})

	t.Run("no-shared-memory", func(t *testing.T) {
		h, err := server.New(server.Config{WebRoot: webDir, WeightsDir: weightsDir})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		defer srv.Close()
		w := apppage.Page{T: t, P: webdriver.Firefox(t, map[string]any{"javascript.options.shared_memory": false})}
		// Two threads asked for, which would start a kernel worker on this isolated page if
		// it had shared memory.
		w.Open(srv.URL + query + "&threads=2")
		if webdriver.Must[string](t, w.P, `typeof SharedArrayBuffer`) != "undefined" {
			t.Fatal("SharedArrayBuffer still exists with javascript.options.shared_memory off")
		}
		classifies(t, w, 1)
		if path := w.Text("compute-path"); !strings.HasSuffix(path, "1 thread") || !strings.Contains(path, "generated SIMD module") {
			t.Errorf("compute path %q: want the generated module on one thread (kernel workers need shared memory)", path)
		}
		if note := w.Text("backend-note"); !strings.Contains(note, "need a cross-origin isolated page") {
			t.Errorf("no note on why one thread runs: %q", note)
		}
		t.Logf("compute path %q", w.Text("compute-path"))
	})

	t.Run("private-window", func(t *testing.T) {
		w := apppage.Page{T: t, P: webdriver.Firefox(t, map[string]any{
			"browser.privatebrowsing.autostart": true, "dom.indexedDB.privateBrowsing.enabled": false,
			"dom.webgpu.enabled": false,
		})}
		// One thread: this case is about storage. Firefox here reports more cores than the
		// machine has, and its default of kernel workers, spinning beside the rest of the
		// suite on two cores, once held the load for minutes (see the notes of 5 December).
		w.Open(baseURL + query + "&threads=1")
		storage := webdriver.Must[string](t, w.P, `(async () => {
			const idb = await new Promise(res => { try { const r = indexedDB.open('probe'); r.onsuccess = () => res('open'); r.onerror = () => res('refused'); } catch (e) { res('refused') } });
			const cache = await (self.caches ? caches.open('probe').then(() => 'open', () => 'refused') : 'absent');
			return 'IndexedDB ' + idb + ', Cache Storage ' + cache + ', WebGPU ' + (navigator.gpu ? 'present' : 'absent');
		})()`)
		t.Logf("private window: %s", storage)
		if !strings.Contains(storage, "IndexedDB refused") {
			t.Fatalf("IndexedDB works in this private window (%s): nothing is tested", storage)
		}
		classifies(t, w, 1)
		t.Logf("compute path %q", w.Text("compute-path"))
		// The gallery cannot be stored: the Embeddings view says so, and classifying goes on.
		w.Nav("embeddings")
		var note string
		webdriver.Poll(t, w.P, "the Embeddings view", `(() => {
			const q = s => document.querySelector(s);
			if (q('[data-testid=look-progress]')) return null;
			const e = q('[data-testid=look-error]')?.textContent || '';
			const n = q('[data-testid=gallery-count]');
			return e || (n && n.textContent) || null;
		})()`, 240*time.Second, &note)
		t.Logf("Embeddings view without storage: %q", note)
		// The gallery works in memory and the page says it is not kept.
		count := 0
		webdriver.Poll(t, w.P, "the starter gallery in memory", `(n => n >= 4 ? n : null)(+(document.querySelector('[data-testid=gallery-count]')?.dataset.count ?? 0))`, 240*time.Second, &count)
		w.Idle()
		if note := w.Text("gallery-count"); !strings.Contains(note, "this tab only") {
			t.Errorf("gallery note %q does not say the gallery is not kept", note)
		}
		w.Nav("classify")
		classifies(t, w, 2)
	})

	t.Run("blocked-webcam", func(t *testing.T) {
		w := apppage.Page{T: t, P: webdriver.Firefox(t, map[string]any{
			"permissions.default.camera": 2, "media.navigator.permission.disabled": false,
		})}
		w.Open(baseURL + query)
		w.ClickText("button", "Use webcam")
		msg := ""
		webdriver.Poll(t, w.P, "the webcam message", `document.querySelector('[data-testid=error]')?.textContent || null`, 60*time.Second, &msg)
		t.Logf("blocked webcam: %q", msg)
		if !strings.Contains(strings.ToLower(msg), "camera") && !strings.Contains(strings.ToLower(msg), "webcam") {
			t.Errorf("message %q does not say the camera was refused", msg)
		}
		classifies(t, w, 1)
	})
}

// TestInsecureOrigin serves the app on a plain-HTTP origin that is not this machine's name
// (alexlens.test, mapped to the loopback server): the browser then withholds everything
// that needs a secure context, as for a site published without TLS: no Cache Storage, no
// service worker, no crypto.subtle. The app takes the next path for each (downloads every
// time, no offline mode, Go's own SHA-256) and gives the native path's top-5.
func TestInsecureOrigin(t *testing.T) {
	if skipAll != "" {
		t.Skip(skipAll)
	}
	ctx := chromium.New(t, chromium.Options{Extra: []chromedp.ExecAllocatorOption{
		chromedp.Flag("host-resolver-rules", "MAP alexlens.test 127.0.0.1"),
		chromedp.Flag("disable-features", "HttpsUpgrades,HttpsFirstBalancedModeAutoEnable"),
	}})
	arch, precision := engine.AlexNet.Name, "int8"
	if haveReal {
		arch, precision = engine.SqueezeNet11.Name, "f32"
	}
	base := "http://alexlens.test:" + baseURL[strings.LastIndex(baseURL, ":")+1:]
	openAt(t, ctx, base, "?arch="+arch+"&precision="+precision)
	type features struct{ Secure, Caches, Subtle, ServiceWorker bool }
	f, err := chromedp.Run(ctx, chromedp.Evaluate[features](`({Secure: self.isSecureContext, Caches: typeof caches !== 'undefined', Subtle: !!(self.crypto && crypto.subtle), ServiceWorker: 'serviceWorker' in navigator})`))
	if err != nil {
		t.Fatal(err)
	}
	if f.Secure || f.Caches || f.Subtle {
		t.Fatalf("the origin %s is treated as secure (%+v): nothing is tested", base, f)
	}
	photo := testenv.Photo(t, "chelsea.png")
	upload(t, ctx, photo)
	waitResult(t, ctx, 1)
	got, native := predictions(t, ctx), nativeTop5(t, manifestFile(t, arch, precision), photo)
	if len(got) != 5 {
		t.Fatalf("%d predictions, want 5", len(got))
	}
	for r := range native {
		if got[r].Label != native[r].Label || math.Abs(got[r].Prob-native[r].Prob) > 1e-3 {
			t.Errorf("rank %d: page %q %.5f, native %q %.5f", r+1, got[r].Label, got[r].Prob, native[r].Label, native[r].Prob)
		}
	}
	t.Logf("insecure origin %s (%+v): %s, compute path %q", base, f, got[0].Label, text(t, ctx, "compute-path"))
}
