//go:build !js

package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/engine/imagenet"
	"github.com/alexlens/alexlens/engine/preprocess"
	"github.com/alexlens/alexlens/internal/chromium"
	"github.com/alexlens/alexlens/internal/testenv"
	"github.com/alexlens/alexlens/weights"
)

// nativeTop5 classifies a photo the way the CLI does: the same weights file, preprocess's
// decoding and the engine's default CPU backend, all native Go.
func nativeTop5(t *testing.T, weightsFile, photo string) []prediction {
	t.Helper()
	wb, err := os.ReadFile(filepath.Join(weightsDir, weightsFile))
	if err != nil {
		t.Fatal(err)
	}
	m, err := weights.Decode(wb)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := os.ReadFile(photo)
	if err != nil {
		t.Fatal(err)
	}
	img, err := preprocess.Decode(pb, preprocess.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Forward(preprocess.Tensor(img, m.Arch.InputSize), engine.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []prediction
	for _, c := range engine.TopK(engine.Probabilities(res.Logits).Row(0), 5) {
		out = append(out, prediction{imagenet.Label(c.Index), float64(c.Prob)})
	}
	return out
}

// TestClassifyMatchesNative uploads a photo through the file input and checks the page's
// top-5 against the native path, for the real SqueezeNet weights and AlexNet fixtures, on
// the CPU path with WebGPU unavailable. It also checks the kernel grid and that an
// activation map is drawn, and saves screenshots of each view.
func TestClassifyMatchesNative(t *testing.T) {
	cases := []struct {
		name, arch, kind string
		kernels          int
		photo, precision string
	}{
		{"squeezenet-trained", engine.SqueezeNet11.Name, "trained", 64, "chelsea.png", "f32"},
		{"alexnet-fixture", engine.AlexNet.Name, "fixture", 64, "coffee.png", "int8"},
	}
	ctx := browser(t, false)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.kind == "trained" && !haveReal {
				t.Skipf("real SqueezeNet weights absent (%s): set ALEXLENS_SHARED to the folder holding weights/", testenv.SharedWeightsDir())
			}
			photo := testenv.Photo(t, tc.photo)
			tab := chromium.NewTab(t, ctx)
			open(t, tab, "?arch="+tc.arch+"&precision="+tc.precision)
			if got := text(t, tab, "weights-kind"); got != tc.kind {
				t.Errorf("weights-kind = %q, want %q", got, tc.kind)
			}
			if got := text(t, tab, "backend"); got != "cpu" {
				t.Errorf("backend = %q, want cpu (WebGPU is unavailable in this browser)", got)
			}
			if note := text(t, tab, "backend-note"); !strings.Contains(note, "WebGPU") {
				t.Errorf("no note saying why the CPU is used: %q", note)
			}
			banner := evalInt(t, tab, `document.querySelectorAll('[data-testid=fixture-banner]').length`)
			if (tc.kind == "fixture") != (banner == 1) {
				t.Errorf("fixture banner shown %d times for %s weights", banner, tc.kind)
			}
			if n := evalInt(t, tab, `document.querySelectorAll('[data-testid=kernel]').length`); n != tc.kernels {
				t.Errorf("%d kernels drawn, want %d", n, tc.kernels)
			}
			if n := evalInt(t, tab, kernelColours); n < tc.kernels/2 {
				t.Errorf("only %d kernel canvases have any colour", n)
			}
			screenshot(t, tab, tc.name+"-ready")

			upload(t, tab, photo)
			waitResult(t, tab, 1)
			got := predictions(t, tab)
			want := nativeTop5(t, manifestFile(t, tc.arch, tc.precision), photo)
			if len(got) != 5 {
				t.Fatalf("page shows %d predictions, want 5: %v", len(got), got)
			}
			for i := range want {
				if got[i].Label != want[i].Label || math.Abs(got[i].Prob-want[i].Prob) > 1e-3 {
					t.Errorf("rank %d: page %q %.5f, native %q %.5f", i+1, got[i].Label, got[i].Prob, want[i].Label, want[i].Prob)
				}
			}
			t.Logf("%s top-5 in the browser: %v", tc.name, got)
			if ms := text(t, tab, "forward-ms"); ms == "" || ms == "<missing>" {
				t.Errorf("no forward time shown")
			}
			lit := evalInt(t, tab, activationPixels)
			if lit < 10 {
				t.Errorf("activation map has %d lit pixels: blank", lit)
			}
			screenshot(t, tab, tc.name+"-classified")

			// Another layer's map comes from the same forward pass.
			if err := chromedp.Do(tab, chromedp.SetValue(chromedp.CSS(`[data-testid=layer-select]`), "pool1"),
				chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid=layer-select]').dispatchEvent(new Event('change', {bubbles: true}))`)); err != nil {
				t.Fatal(err)
			}
			if _, err := chromedp.Run(tab, chromedp.Poll[bool](`document.querySelector('.map-main figcaption')?.textContent.startsWith('pool1')`,
				chromedp.WithPollingTimeout(30*time.Second))); err != nil {
				t.Fatalf("map for pool1 never shown: %v", err)
			}
			if lit := evalInt(t, tab, activationPixels); lit < 10 {
				t.Errorf("pool1 map has %d lit pixels", lit)
			}
		})
	}
}

// kernelColours counts kernel canvases that are not one flat colour.
const kernelColours = `[...document.querySelectorAll('[data-testid=kernel]')].filter(c => {
	const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
	for (let i = 4; i < d.length; i += 4) if (d[i] !== d[0] || d[i+1] !== d[1] || d[i+2] !== d[2]) return true;
	return false;
}).length`

// activationPixels counts pixels of the main activation map brighter than the colour map's
// floor (near black).
const activationPixels = `(() => {
	const c = document.querySelector('[data-testid=activation-map]');
	if (!c || !c.width) return 0;
	const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
	let n = 0;
	for (let i = 0; i < d.length; i += 4) if (d[i] + d[i+1] + d[i+2] > 60) n++;
	return n;
})()`

// TestBadImages sends a non-image, a corrupt JPEG and an image too large to decode: each
// gives a readable message and the page keeps working.
func TestBadImages(t *testing.T) {
	ctx := browser(t, false)
	open(t, ctx, "?arch="+engine.AlexNet.Name+"&precision=int8")
	dir := t.TempDir()
	good := filepath.Join(moduleRoot, "ui", "samples", "chelsea.jpg")
	goodBytes, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	bad := []struct{ name, file, want string }{
		{"non-image", "notes.jpg", "unknown image format"},
		{"corrupt", "broken.jpg", ""},
		{"huge", "huge.png", "too large"},
		{"empty", "empty.png", "empty"},
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("notes.jpg", []byte("these are notes, not a photo\n"))
	write("broken.jpg", goodBytes[:len(goodBytes)/3])
	write("huge.png", hugePNG(t, 30000, 30000))
	write("empty.png", nil)
	seq := 0
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			upload(t, ctx, filepath.Join(dir, b.file))
			msg := waitError(t, ctx)
			t.Logf("%s: %q", b.name, msg)
			if !strings.Contains(strings.ToLower(msg), b.want) || strings.Contains(msg, "panic") || strings.Contains(msg, "internal error") {
				t.Errorf("message %q does not say what is wrong (want %q in it)", msg, b.want)
			}
			if s := text(t, ctx, "status"); s != "ready" {
				t.Errorf("status %q after a bad file, want ready", s)
			}
			screenshot(t, ctx, "error-"+b.name)
			// The app still works: a good photo classifies.
			upload(t, ctx, good)
			seq++
			waitResult(t, ctx, seq)
			if p := predictions(t, ctx); len(p) != 5 {
				t.Errorf("after the bad file, a good one gave %d predictions", len(p))
			}
		})
	}
}

// hugePNG is a tiny valid PNG header that declares w x h pixels: a decompression bomb's
// shape, which must be refused before any pixel is allocated.
func hugePNG(t *testing.T, w, h uint32) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	// IHDR data starts at byte 16 (8 signature + 4 length + 4 type); its CRC follows 13 bytes.
	binary.BigEndian.PutUint32(b[16:], w)
	binary.BigEndian.PutUint32(b[20:], h)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

// TestSecondVisitUsesCache loads the page twice in one browser profile: the second visit
// must take the weights from Cache Storage, with no weight request reaching the server.
func TestSecondVisitUsesCache(t *testing.T) {
	ctx := browser(t, false)
	file := manifestFile(t, engine.AlexNet.Name, "int8")
	before := requests.count(file)
	first := chromium.NewTab(t, ctx)
	cold := open(t, first, "?arch="+engine.AlexNet.Name+"&precision=int8")
	if n := requests.count(file) - before; n != 1 {
		t.Errorf("first visit fetched %s %d times, want 1", file, n)
	}
	if note := evalInt(t, first, `document.body.innerText.includes('from the browser cache') ? 1 : 0`); note != 0 {
		t.Errorf("first visit claims the weights came from the cache")
	}
	second := chromium.NewTab(t, ctx)
	warm := open(t, second, "?arch="+engine.AlexNet.Name+"&precision=int8")
	if n := requests.count(file) - before; n != 1 {
		t.Errorf("weights requested %d times over two visits, want 1 (second visit from Cache Storage)", n)
	}
	if note := evalInt(t, second, `document.body.innerText.includes('from the browser cache') ? 1 : 0`); note != 1 {
		t.Errorf("second visit does not say it used the browser cache: %s", pageText(second))
	}
	t.Logf("navigation to ready: cold %v, cached %v", cold.Round(time.Millisecond), warm.Round(time.Millisecond))
}

// TestWebGPU asks for the WebGPU backend in a browser that has an adapter (Chromium's
// software one, SwiftShader) and in one that has none. With an adapter the network runs on
// WebGPU and gives the CPU's top-5; without one it runs on the CPU and the page says why.
// The default (auto) runs the CPU path on a software adapter, and says so.
func TestWebGPU(t *testing.T) {
	arch, photo := engine.AlexNet.Name, "rocket.jpg"
	if haveReal {
		arch, photo = engine.SqueezeNet11.Name, "chelsea.jpg"
	}
	classify := func(ctx context.Context, backend string) []prediction {
		t.Helper()
		tab := chromium.NewTab(t, ctx)
		open(t, tab, "?arch="+arch+"&precision=int8&backend="+backend)
		if err := chromedp.Do(tab, chromedp.Click(chromedp.CSS(`[data-sample="`+photo+`"]`))); err != nil {
			t.Fatal(err)
		}
		waitResult(t, tab, 1)
		if backend == "webgpu" {
			screenshot(t, tab, "webgpu-"+text(t, tab, "backend"))
		}
		return predictions(t, tab)
	}
	t.Run("no-adapter", func(t *testing.T) {
		ctx := browser(t, false)
		tab := chromium.NewTab(t, ctx)
		open(t, tab, "?arch="+arch+"&precision=int8&backend=webgpu")
		if got := text(t, tab, "backend"); got != "cpu" {
			t.Errorf("backend %q, want cpu", got)
		}
		if note := text(t, tab, "backend-note"); !strings.Contains(note, "not available") || !strings.Contains(note, "CPU") {
			t.Errorf("note %q does not say WebGPU is unavailable and the CPU runs", note)
		}
		if p := classify(ctx, "webgpu"); len(p) != 5 {
			t.Errorf("%d predictions on the fallback path", len(p))
		}
	})
	t.Run("software-adapter", func(t *testing.T) {
		ctx := browser(t, true)
		cpu := classify(ctx, "cpu")
		tab := chromium.NewTab(t, ctx)
		open(t, tab, "?arch="+arch+"&precision=int8&backend=webgpu")
		got := text(t, tab, "backend")
		if got != "webgpu" {
			t.Fatalf("backend %q with an adapter, want webgpu (note: %s)", got, text(t, tab, "backend-note"))
		}
		gpu := classify(ctx, "webgpu")
		if len(gpu) != 5 || gpu[0].Label != cpu[0].Label || math.Abs(gpu[0].Prob-cpu[0].Prob) > 1e-2 {
			t.Errorf("WebGPU top-5 %v, CPU %v", gpu, cpu)
		}
		// The default, auto, treats a software adapter as no GPU: the CPU path is faster.
		auto := chromium.NewTab(t, ctx)
		open(t, auto, "?arch="+arch+"&precision=int8")
		if got, note := text(t, auto, "backend"), text(t, auto, "backend-note"); got != "cpu" || !strings.Contains(note, "software") {
			t.Errorf("backend=auto on SwiftShader: backend %q, note %q; want the CPU and a note that says why", got, note)
		}
	})
}

// TestWebcam runs the live loop on Chromium's fake camera (a moving test pattern): frames
// go through preprocess.FromRGBA in the worker and keep updating the predictions and maps
// until the webcam is switched off; then a photo classifies as before.
func TestWebcam(t *testing.T) {
	ctx := browser(t, false)
	arch := engine.AlexNet.Name // fixture weights, always served
	if haveReal {
		arch = engine.SqueezeNet11.Name
	}
	open(t, ctx, "?arch="+arch+"&precision=int8")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.Search(`//button[text()="Use webcam"]`))); err != nil {
		t.Fatal(err)
	}
	waitResult(t, ctx, 3) // three frames, one after another
	src, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('.input-card .small')?.textContent || ''`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(src, "webcam") {
		t.Errorf("results are not from the webcam: %q", src)
	}
	lit := evalInt(t, ctx, activationPixels)
	// An untrained fixture's channel 0 may be dark on the camera's test pattern: then some
	// other channel of the live map must light up.
	for c := 1; lit < 10 && !haveReal && c < 16; c++ {
		if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS(`[data-testid=channel-input]`), fmt.Sprint(c)),
			chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid=channel-input]').dispatchEvent(new Event('change', {bubbles: true}))`)); err != nil {
			t.Fatal(err)
		}
		waitResult(t, ctx, resultSeq(t, ctx)+1) // the next frame draws that channel
		lit = evalInt(t, ctx, activationPixels)
	}
	if lit < 10 {
		t.Errorf("webcam activation map has %d lit pixels", lit)
	}
	screenshot(t, ctx, "webcam")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.Search(`//button[text()="Stop webcam"]`))); err != nil {
		t.Fatal(err)
	}
	// The loop stops: at most the frame in flight finishes.
	time.Sleep(300 * time.Millisecond)
	n := resultSeq(t, ctx)
	time.Sleep(time.Second)
	if m := resultSeq(t, ctx); m > n+1 {
		t.Errorf("webcam still running after stop: results %d -> %d", n, m)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-sample="coffee.jpg"]`))); err != nil {
		t.Fatal(err)
	}
	waitResult(t, ctx, resultSeq(t, ctx)+1)
}

// TestChangedWeightsReplaceCacheEntry: a new version of a weights file (new bytes, so a new
// content-hashed name in the manifest) is downloaded once and replaces the old version's
// Cache Storage entry. It uses its own server (own origin, own cache) and weights folder.
func TestChangedWeightsReplaceCacheEntry(t *testing.T) {
	ctx := browser(t, false)
	dir := t.TempDir()
	write := func(seed int64) string {
		p, err := weights.WriteModel(dir, weights.Fixture(engine.SqueezeNet11, seed).WithPrecision(engine.Int8), weights.FixtureSource(seed))
		if err != nil {
			t.Fatal(err)
		}
		if err := weights.WriteManifest(dir); err != nil {
			t.Fatal(err)
		}
		return filepath.Base(p)
	}
	old := write(1)
	var log requestLog
	url := serveWeights(t, dir, &log)
	cached := func(tab context.Context) []string {
		keys, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`caches.open('alexlens-weights-v1').then(c => c.keys()).then(ks => ks.map(r => new URL(r.url).pathname))`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		return keys
	}
	tab := chromium.NewTab(t, ctx)
	openAt(t, tab, url, "")
	if got := cached(tab); len(got) != 1 || got[0] != "/weights/"+old {
		t.Fatalf("after the first visit the cache holds %v, want [/weights/%s]", got, old)
	}
	if err := os.Remove(filepath.Join(dir, old)); err != nil {
		t.Fatal(err)
	}
	changed := write(2)
	if changed == old {
		t.Fatal("new weights got the old name")
	}
	tab2 := chromium.NewTab(t, ctx)
	openAt(t, tab2, url, "")
	if got := cached(tab2); len(got) != 1 || got[0] != "/weights/"+changed {
		t.Errorf("after the change the cache holds %v, want only [/weights/%s]", got, changed)
	}
	if log.count(changed) != 1 || log.count(old) != 1 {
		t.Errorf("requests: old %d, new %d; want 1 each", log.count(old), log.count(changed))
	}
}

// TestBVLCFirstLayer shows the original AlexNet's trained first layer (the paper's Figure 3):
// 96 kernels of 11x11, and activations of the layers those weights cover, with no classes.
func TestBVLCFirstLayer(t *testing.T) {
	if skipAll == "" && !haveBVLC {
		t.Skipf("real BVLC conv1 weights absent (%s): set ALEXLENS_SHARED to the folder holding weights/", testenv.SharedWeightsDir())
	}
	ctx := browser(t, false)
	open(t, ctx, "?arch="+engine.AlexNetBVLC.Name+"&precision=f32")
	if n := evalInt(t, ctx, `document.querySelectorAll('[data-testid=kernel]').length`); n != 96 {
		t.Errorf("%d kernels drawn, want 96", n)
	}
	if n := evalInt(t, ctx, kernelColours); n < 90 {
		t.Errorf("only %d of 96 kernels have any colour", n)
	}
	if got := text(t, ctx, "weights-kind"); got != "trained" {
		t.Errorf("weights-kind %q", got)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-sample="astronaut.jpg"]`))); err != nil {
		t.Fatal(err)
	}
	waitResult(t, ctx, 1)
	if p := predictions(t, ctx); len(p) != 0 {
		t.Errorf("first-layer-only weights gave predictions: %v", p)
	}
	lit := evalInt(t, ctx, activationPixels)
	if lit < 10 {
		t.Errorf("conv1 map has %d lit pixels", lit)
	}
	screenshot(t, ctx, "bvlc-conv1")
	// "Hide values near zero" blanks the weak activations: fewer pixels stay lit.
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS(`[data-testid=threshold]`), "0.5"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid=threshold]').dispatchEvent(new Event('change', {bubbles: true}))`)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('.maps-card .field.grow b')?.textContent === '50.0%'`,
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("threshold never applied: %v", err)
	}
	var after int
	for range 50 { // the maps arrive from the worker shortly after the label changes
		if after = evalInt(t, ctx, activationPixels); after < lit {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if after >= lit || after == 0 {
		t.Errorf("threshold 0.5 left %d lit pixels of %d", after, lit)
	}
}

// TestDropAndPaste drops a photo onto the page and pastes another, as a person would with
// a file from the desktop or a screenshot from the clipboard (the events carry real File
// objects made from the sample photos).
func TestDropAndPaste(t *testing.T) {
	ctx := browser(t, false)
	arch := engine.AlexNet.Name
	if haveReal {
		arch = engine.SqueezeNet11.Name
	}
	open(t, ctx, "?arch="+arch+"&precision=int8")
	send := func(event, sample string) {
		t.Helper()
		js := `fetch('samples/` + sample + `').then(r => r.blob()).then(b => {
			const dt = new DataTransfer();
			dt.items.add(new File([b], '` + sample + `', {type: 'image/jpeg'}));
			const ev = '` + event + `' === 'drop'
				? new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true})
				: new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true});
			document.querySelector('.dropzone').dispatchEvent(ev);
			return ev.defaultPrevented;
		})`
		handled, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		if !handled {
			t.Errorf("the page did not take the %s event", event)
		}
	}
	send("drop", "coffee.jpg")
	waitResult(t, ctx, 1)
	src, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('.input-card .small')?.textContent || ''`))
	if !strings.HasPrefix(src, "coffee.jpg") {
		t.Errorf("dropped file not the one classified: %q", src)
	}
	send("paste", "rocket.jpg")
	waitResult(t, ctx, 2)
	src, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('.input-card .small')?.textContent || ''`))
	if !strings.HasPrefix(src, "pasted image") {
		t.Errorf("pasted image not the one classified: %q", src)
	}
}

// TestLowMemoryDevice: a device that reports 2 GB (navigator.deviceMemory, set before the
// page's scripts run, as such a phone reports it) gets AlexNet's int8 weights by default and
// a note that says why and how to get float32; asking for f32 by name still gets it.
func TestLowMemoryDevice(t *testing.T) {
	ctx := browser(t, false)
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `Object.defineProperty(Navigator.prototype, 'deviceMemory', {get: () => 2, configurable: true});`,
	}); err != nil {
		t.Fatal(err)
	}
	selected := func() string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid=weights-select]').selectedOptions[0].textContent`))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	open(t, ctx, "?arch="+engine.AlexNet.Name)
	if got := selected(); !strings.Contains(got, "int8") {
		t.Errorf("on a 2 GB device the app loaded %q, want AlexNet's int8 weights", got)
	}
	if note := text(t, ctx, "weights-note"); !strings.Contains(note, "2 GB") || !strings.Contains(note, "precision=f32") {
		t.Errorf("weights note %q", note)
	}
	open(t, ctx, "?arch="+engine.AlexNet.Name+"&precision=f32")
	if got := selected(); !strings.Contains(got, "f32") {
		t.Errorf("precision=f32 on a 2 GB device loaded %q", got)
	}
}

// TestWeightsCachedInParts: a file larger than one cache part (AlexNet int8, 61 MB) is
// stored in Cache Storage as several entries, loaded from them on the next visit without a
// download, and when one part has gone bad (or an entry holding the whole file is left
// from an earlier release) the file is downloaded again and only its parts remain.
func TestWeightsCachedInParts(t *testing.T) {
	ctx := browser(t, false)
	dir, files := alexNetFiles(t, engine.Int8)
	file := filepath.Base(files[0])
	var log requestLog
	url := serveWeights(t, dir, &log)
	const query = "?arch=alexnet&precision=int8&backend=cpu"
	type entry struct{ Path, Part string }
	entries := func(tab context.Context) []entry {
		es, err := chromedp.Run(tab, chromedp.Evaluate[[]entry](`caches.open('alexlens-weights-v1').then(c => c.keys()).then(ks => ks.map(r => {
			const u = new URL(r.url); return {Path: u.pathname, Part: u.searchParams.get('part') ?? 'whole'};
		}).sort((a, b) => a.Part.localeCompare(b.Part, 'en', {numeric: true})))`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		return es
	}
	wantParts := func(tab context.Context) {
		t.Helper()
		es := entries(tab)
		if len(es) != 4 {
			t.Fatalf("the cache holds %v, want the 61 MB file in 4 parts", es)
		}
		for i, e := range es {
			if e.Path != "/weights/"+file || e.Part != fmt.Sprint(i) {
				t.Fatalf("the cache holds %v, want parts 0..3 of /weights/%s", es, file)
			}
		}
	}
	source := func(tab context.Context) string {
		s, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.querySelector('footer')?.textContent ?? ''`))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	tab := chromium.NewTab(t, ctx)
	openAt(t, tab, url, query)
	wantParts(tab)
	if n := log.count(file); n != 1 {
		t.Fatalf("first visit: %d downloads, want 1", n)
	}

	tab2 := chromium.NewTab(t, ctx)
	openAt(t, tab2, url, query)
	if n := log.count(file); n != 1 {
		t.Errorf("second visit: %d downloads in all, want the first only", n)
	}
	if s := source(tab2); !strings.Contains(s, "from the browser cache") {
		t.Errorf("second visit: the page does not say the weights came from the cache: %q", s)
	}

	// Part 2 replaced by other bytes of the same length, and a whole-file entry as an
	// earlier release stored it.
	if _, err := chromedp.Run(tab2, chromedp.Evaluate[bool](`(async () => {
		const c = await caches.open('alexlens-weights-v1');
		const key = (await c.keys()).map(r => r.url).find(u => new URL(u).searchParams.get('part') === '2');
		const old = await c.match(key);
		const body = new Uint8Array(await old.arrayBuffer()).fill(7);
		await c.put(key, new Response(body, {headers: old.headers}));
		const whole = new URL(key); whole.searchParams.delete('part');
		await c.put(whole.href, new Response(new Uint8Array(16)));
		return true;
	})()`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatal(err)
	}
	tab3 := chromium.NewTab(t, ctx)
	openAt(t, tab3, url, query)
	// Fetched again (from the browser's HTTP cache here: the content-hashed name may be
	// kept for good), and stored anew.
	if s := source(tab3); !strings.Contains(s, "downloaded") {
		t.Errorf("after a part went bad the page does not say it downloaded the weights: %q", s)
	}
	wantParts(tab3)
	bad, err := chromedp.Run(tab3, chromedp.Evaluate[bool](`(async () => {
		const c = await caches.open('alexlens-weights-v1');
		const key = (await c.keys()).map(r => r.url).find(u => new URL(u).searchParams.get('part') === '2');
		return new Uint8Array(await (await c.match(key)).arrayBuffer()).every(b => b === 7);
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if bad {
		t.Error("the bad part is still in the cache")
	}
}

// TestWeightsCacheQuota: when Cache Storage refuses a downloaded file (the origin's quota
// set below its size through the DevTools protocol), the weights still load and classify,
// the page says they were not kept, none of their parts stay behind, and weights cached
// before are kept and used on the next visit.
func TestWeightsCacheQuota(t *testing.T) {
	ctx := browser(t, false)
	photo := testenv.Photo(t, "chelsea.png")
	var log requestLog
	url := serveWeights(t, weightsDir, &log)
	small, large := manifestFile(t, "alexnet", "int8"), manifestFile(t, "alexnet", "f32") // the fixtures, always served
	cached := func(tab context.Context, file string) int {
		n, err := chromedp.Run(tab, chromedp.Evaluate[int](`caches.open('alexlens-weights-v1').then(c => c.keys()).then(ks => ks.filter(r => new URL(r.url).pathname === '/weights/`+file+`').length)`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	tab := chromium.NewTab(t, ctx)
	openAt(t, tab, url, "?arch=alexnet&precision=int8")
	if cached(tab, small) == 0 {
		t.Fatalf("%s was not cached on the first visit", small)
	}
	usage, err := chromedp.Run(tab, chromedp.Evaluate[float64](`navigator.storage.estimate().then(e => e.usage)`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	quota := usage + 4<<20 // far less than the 244 MB file
	if _, err := chromedp.Call(tab, storage.OverrideQuotaForOrigin, storage.OverrideQuotaForOriginParams{Origin: url, QuotaSize: &quota}); err != nil {
		t.Fatal(err)
	}
	tab2 := chromium.NewTab(t, ctx)
	openAt(t, tab2, url, "?arch=alexnet&precision=f32")
	upload(t, tab2, photo)
	waitResult(t, tab2, 1)
	if got := predictions(t, tab2); len(got) != 5 {
		t.Errorf("the page shows %d predictions after the cache refused the weights, want 5", len(got))
	}
	note, err := chromedp.Run(tab2, chromedp.Evaluate[string](`document.querySelector('footer')?.textContent ?? ''`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(note, "not kept in the browser's cache") {
		t.Errorf("the page does not say the weights were not kept: %q", note)
	}
	if n := cached(tab2, large); n != 0 {
		t.Errorf("%d parts of %s stayed in the cache after the write failed", n, large)
	}
	if cached(tab2, small) == 0 {
		t.Errorf("%s, cached before, is gone", small)
	}
	before := log.count(small)
	tab3 := chromium.NewTab(t, ctx)
	openAt(t, tab3, url, "?arch=alexnet&precision=int8")
	if n := log.count(small); n != before {
		t.Errorf("the weights cached before were downloaded again (%d -> %d)", before, n)
	}
}
