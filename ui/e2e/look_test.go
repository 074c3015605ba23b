//go:build !js

package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/gallery"
	"github.com/alexlens/alexlens/internal/chromium"
	"github.com/alexlens/alexlens/internal/testenv"
	"github.com/alexlens/alexlens/weights"
)

// The look-inside views: Embeddings (gallery, neighbours, directions), Atlas, Units.

// galleryPhotos are real photos (scikit-image's, BSD / public domain) the tests embed.
var galleryPhotos = []string{"chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png", "horse.png"}

// lookArch is the network the look tests use: the real SqueezeNet when the shared weights
// are there, else the AlexNet fixture.
func lookArch() string {
	if haveReal {
		return engine.SqueezeNet11.Name
	}
	return engine.AlexNet.Name
}

// openLook opens the app on a look-inside view and waits until the gallery is open and idle
// (the first visit adds the bundled sample photos).
func openLook(t *testing.T, ctx context.Context, query, view string) {
	t.Helper()
	open(t, ctx, query+"#"+view)
	waitLookIdle(t, ctx)
}

// waitLookIdle waits until no look-inside request runs and returns the error shown, if any.
func waitLookIdle(t *testing.T, ctx context.Context) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => {
		const q = s => document.querySelector(s);
		if (!q('[data-testid=nav]') || q('[data-testid=look-progress]')) return null;
		if (q('[data-testid=gallery-count]') && !q('[data-testid=gallery-count]').textContent) return null;
		return 'idle:' + (q('[data-testid=look-error]')?.textContent || '');
	})()`, chromedp.WithPollingTimeout(240*time.Second), chromedp.WithPollingInterval(20*time.Millisecond)))
	if err != nil {
		t.Fatalf("waiting for the look-inside views: %v (page: %s)", err, pageText(ctx))
	}
	return strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(s, "idle:"), "dismiss"))
}

func galleryCount(t *testing.T, ctx context.Context) int {
	return evalInt(t, ctx, `+(document.querySelector('[data-testid=gallery-count]')?.dataset.count ?? -1)`)
}

// storedGalleries reads the worker's IndexedDB from the page (same origin): every key with
// its bytes, base64.
func storedGalleries(t *testing.T, ctx context.Context) map[string]string {
	t.Helper()
	m, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`new Promise((res, rej) => {
		const req = indexedDB.open('alexlens');
		req.onerror = () => rej(req.error);
		req.onsuccess = () => {
			const db = req.result;
			if (!db.objectStoreNames.contains('galleries')) { db.close(); res({}); return; }
			const out = {};
			const tx = db.transaction('galleries', 'readonly');
			const cur = tx.objectStore('galleries').openCursor();
			cur.onsuccess = () => {
				const c = cur.result;
				if (!c) { db.close(); res(out); return; }
				let s = '';
				const b = new Uint8Array(c.value.buffer || c.value, c.value.byteOffset || 0, c.value.byteLength);
				for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode.apply(null, b.subarray(i, i + 0x8000));
				out[c.key] = btoa(s);
				c.continue();
			};
		};
	})`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func decodeStored(t *testing.T, b64 string) *gallery.Gallery {
	t.Helper()
	data, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gallery.Decode(data)
	if err != nil {
		t.Fatalf("the stored gallery does not decode: %v", err)
	}
	return g
}

func uploadTo(t *testing.T, ctx context.Context, testid string, paths ...string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.CSS(`[data-testid=`+testid+`]`), paths)); err != nil {
		t.Fatalf("upload to %s: %v", testid, err)
	}
}

func click(t *testing.T, ctx context.Context, selector string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(selector))); err != nil {
		t.Fatalf("click %s: %v", selector, err)
	}
}

type shownNeighbor struct {
	Item     string
	Distance float64
}

// waitNeighbors waits for the neighbour list of query (data-query) and returns it.
func waitNeighbors(t *testing.T, ctx context.Context, query, metric string) []shownNeighbor {
	t.Helper()
	ns, err := chromedp.Run(ctx, chromedp.Poll[[]shownNeighbor](fmt.Sprintf(`(() => {
		const q = document.querySelector('[data-testid=query]');
		const m = document.querySelector('[data-testid=metric]')?.value;
		const ns = [...document.querySelectorAll('[data-testid=neighbor]')];
		if (!q || q.dataset.query !== %q || m !== %q || ns.length === 0) return null;
		return ns.map(e => ({Item: e.dataset.item, Distance: parseFloat(e.dataset.distance)}));
	})()`, query, metric), chromedp.WithPollingTimeout(60*time.Second), chromedp.WithPollingInterval(20*time.Millisecond)))
	if err != nil {
		t.Fatalf("waiting for the neighbours of %s: %v (page: %s)", query, err, pageText(ctx))
	}
	return ns
}

// buildCLI builds the alexlens command once per test binary.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "alexlens")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/alexlens")
	cmd.Dir = moduleRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the CLI: %v\n%s", err, out)
	}
	return bin
}

// TestLookEmbeddingsEqualCLI: photos dropped into the browser's gallery get the embeddings,
// classes and thumbnails `alexlens index` gives the same files with the same weights, and
// the neighbours of a classified photo (both metrics) equal `alexlens neighbors`.
func TestLookEmbeddingsEqualCLI(t *testing.T) {
	if !haveReal && skipAll == "" {
		t.Skip("needs the trained SqueezeNet weights (../shared/weights/squeezenet1_1-imagenet.pth): fixture embeddings are meaningless to compare neighbours on")
	}
	ctx := browser(t, false)
	dir := t.TempDir()
	var paths []string
	for _, name := range galleryPhotos {
		data, err := os.ReadFile(testenv.Photo(t, name))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	wfile := filepath.Join(weightsDir, manifestFile(t, engine.SqueezeNet11.Name, "f32"))
	cli := buildCLI(t)
	alxg := filepath.Join(t.TempDir(), "cli.alxg")
	if out, err := exec.Command(cli, "index", "--weights", wfile, "-o", alxg, dir).CombinedOutput(); err != nil {
		t.Fatalf("alexlens index: %v\n%s", err, out)
	}
	want, err := gallery.ReadFile(alxg)
	if err != nil {
		t.Fatal(err)
	}

	openLook(t, ctx, "?arch=squeezenet1_1&precision=f32", "embeddings")
	waitCount(t, ctx, 4)
	click(t, ctx, `[data-testid=gallery-clear]`) // the starter gallery of sample photos goes:
	if n := galleryCount(t, ctx); n != 4 {       // a first click only asks
		t.Fatalf("%d items after one click on Clear", n)
	}
	click(t, ctx, `[data-testid=gallery-clear]`)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`+document.querySelector('[data-testid=gallery-count]').dataset.count === 0 || null`, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("clearing: %v", err)
	}
	start := time.Now()
	uploadTo(t, ctx, "gallery-input", paths...)
	waitCount(t, ctx, len(paths))
	if msg := waitLookIdle(t, ctx); msg != "" {
		t.Fatalf("adding photos: %s", msg)
	}
	t.Logf("embedded %d photos in the browser in %v (%.2f images/s, including decoding and thumbnails)", len(paths), time.Since(start), float64(len(paths))/time.Since(start).Seconds())

	stored := storedGalleries(t, ctx)
	if len(stored) != 1 {
		t.Fatalf("%d galleries stored, want 1", len(stored))
	}
	for key, b64 := range stored {
		got := decodeStored(t, b64)
		if key != want.Header.Weights.SHA256 || got.Header.Weights.SHA256 != key {
			t.Errorf("stored under %.12s with fingerprint %.12s; the CLI's weights fingerprint is %.12s", key, got.Header.Weights.SHA256, want.Header.Weights.SHA256)
		}
		if got.Header.Layer != want.Header.Layer || got.Header.Dim != want.Header.Dim || got.Header.Encoding != want.Header.Encoding || got.Len() != want.Len() {
			t.Fatalf("browser gallery %+v (%d items), CLI %+v (%d)", got.Header, got.Len(), want.Header, want.Len())
		}
		for i, it := range got.Items {
			j := want.Find(it.Name)
			if j < 0 {
				t.Fatalf("%s is not in the CLI's gallery", it.Name)
			}
			w := want.Items[j]
			if it.Class != w.Class || it.Label != w.Label || !bytes.Equal(it.Thumb, w.Thumb) {
				t.Errorf("%s: browser class %d %q thumb %d B, CLI %d %q %d B", it.Name, it.Class, it.Label, len(it.Thumb), w.Class, w.Label, len(w.Thumb))
			}
			a, b := got.Embedding(i, nil), want.Embedding(j, nil)
			var worst float64
			for k := range a {
				worst = max(worst, math.Abs(float64(a[k]-b[k])))
			}
			// Same float embeddings to rounding: the int8 codes may differ by one step
			// where a value sits on a rounding boundary, never more.
			var amax float64
			for _, v := range b {
				amax = max(amax, math.Abs(float64(v)))
			}
			if worst > 1.01*amax/127 {
				t.Errorf("%s: embeddings differ by up to %g (one int8 step is %g)", it.Name, worst, amax/127)
			}
		}
	}

	// Neighbours of a classified photo, as `alexlens neighbors PHOTO` finds them.
	for _, metric := range []string{"cosine", "euclidean"} {
		out, err := exec.Command(cli, "neighbors", "--weights", wfile, "--gallery", alxg, "--k", "8", "--metric", metric, "--json", paths[1]).Output()
		if err != nil {
			t.Fatalf("alexlens neighbors: %v", err)
		}
		var res []struct {
			Neighbors []struct {
				Item     string
				Distance float64
			}
		}
		if err := json.Unmarshal(out, &res); err != nil || len(res) != 1 {
			t.Fatalf("neighbors output %s: %v", out, err)
		}
		nav(t, ctx, "classify")
		seq := resultSeq(t, ctx)
		upload(t, ctx, paths[1])
		waitResult(t, ctx, seq+1)
		nav(t, ctx, "embeddings")
		waitLookIdle(t, ctx)
		setField(t, ctx, "metric", metric)
		click(t, ctx, `[data-testid=query-last]`)
		got := waitNeighbors(t, ctx, "the last classified image", metric)
		wantN := res[0].Neighbors
		if len(got) != len(wantN) {
			t.Fatalf("%s: browser %d neighbours %+v, CLI %d %+v", metric, len(got), got, len(wantN), wantN)
		}
		for i := range got {
			if got[i].Item != wantN[i].Item || math.Abs(got[i].Distance-wantN[i].Distance) > 1e-4*math.Max(1, wantN[i].Distance) {
				t.Errorf("%s neighbour %d: browser %s %.6f, CLI %s %.6f", metric, i, got[i].Item, got[i].Distance, wantN[i].Item, wantN[i].Distance)
			}
		}
		screenshot(t, ctx, "look-neighbors-"+metric)
	}

	// The CLI's file as a prepared gallery, opened with the page (?gallery=, one request) in
	// a fresh profile: the browser keeps exactly the CLI's gallery.
	cliBytes, err := os.ReadFile(alxg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(webDir, "look-cli-test.alxg"), cliBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	fresh := browser(t, false)
	openLook(t, fresh, "?arch=squeezenet1_1&precision=f32&gallery=look-cli-test.alxg", "embeddings")
	waitCount(t, fresh, len(paths))
	if n := galleryCount(t, fresh); n != len(paths) {
		t.Errorf("the prepared gallery shows %d items, the file has %d", n, len(paths))
	}
	for _, b64 := range storedGalleries(t, fresh) {
		if b64 != base64.StdEncoding.EncodeToString(cliBytes) {
			t.Error("the stored gallery differs from the prepared file the page opened")
		}
	}
	click(t, fresh, `[data-testid=gallery-item][data-item="coffee.png"]`)
	ns := waitNeighbors(t, fresh, "coffee.png", "cosine")
	g, _ := gallery.ReadFile(alxg)
	i := g.Find("coffee.png")
	want2, _ := g.Search([][]float32{g.Embedding(i, nil)}, gallery.SearchOptions{K: 8, Exclude: func(j int) bool { return j == i }})
	for j, n := range want2[0] {
		if ns[j].Item != g.Items[n.Index].Name || math.Abs(ns[j].Distance-float64(n.Distance)) > 1e-6 {
			t.Errorf("neighbour %d of coffee.png in the prepared gallery: browser %+v, native search %s %v", j, ns[j], g.Items[n.Index].Name, n.Distance)
		}
	}
}

func waitCount(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`(+(document.querySelector('[data-testid=gallery-count]')?.dataset.count ?? -1) >= %d && !document.querySelector('[data-testid=look-progress]')) || null`, n),
		chromedp.WithPollingTimeout(300*time.Second), chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		t.Fatalf("waiting for %d gallery items: %v (page: %s)", n, err, pageText(ctx))
	}
}

// nav clicks a view in the navigation.
func nav(t *testing.T, ctx context.Context, view string) {
	t.Helper()
	click(t, ctx, `[data-testid=nav] [data-view=`+view+`]`)
}

// TestLookBadGalleryFiles: a truncated, corrupt, foreign (other weights) or non-gallery file
// gets a clear error, and the gallery (on screen and in IndexedDB) is exactly as before.
func TestLookBadGalleryFiles(t *testing.T) {
	ctx := browser(t, false)
	arch := lookArch()
	openLook(t, ctx, "?arch="+arch+"&precision=int8", "embeddings")
	waitCount(t, ctx, 4) // the starter gallery: the four sample photos
	before := storedGalleries(t, ctx)
	if len(before) != 1 {
		t.Fatalf("%d galleries stored after the first visit, want 1", len(before))
	}
	var good []byte
	for _, b64 := range before {
		good, _ = base64.StdEncoding.DecodeString(b64)
	}
	if decodeStored(t, base64.StdEncoding.EncodeToString(good)).Len() != 4 {
		t.Fatal("the stored starter gallery does not hold the 4 sample photos")
	}

	// A gallery of the same architecture made with other (fixture) weights.
	fx := weights.Fixture(engine.SqueezeNet11, 99)
	if arch == engine.AlexNet.Name {
		fx = weights.Fixture(engine.AlexNet, 99)
	}
	h, err := gallery.HeaderFor(fx, "", gallery.Int8, 64, "fixture:99")
	if err != nil {
		t.Fatal(err)
	}
	fg, _ := gallery.New(h)
	if err := fg.Add(gallery.Item{Name: "x.jpg", Class: -1}, make([]float32, h.Dim)); err != nil {
		t.Fatal(err)
	}
	var foreign bytes.Buffer
	if err := fg.Encode(&foreign); err != nil {
		t.Fatal(err)
	}
	corrupt := bytes.Clone(good)
	copy(corrupt[8:], []byte("{not json"))
	jpg, _ := os.ReadFile(filepath.Join(moduleRoot, "ui", "samples", "rocket.jpg"))
	cases := []struct {
		name, file string
		data       []byte
		want       string
	}{
		{"truncated", "truncated.alxg", good[:len(good)/2], "gallery"},
		{"corrupt-header", "corrupt.alxg", corrupt, "gallery"},
		{"other-weights", "other-weights.alxg", foreign.Bytes(), "other"},
		{"a-photo", "photo.alxg", jpg, "gallery"},
		{"empty", "empty.alxg", nil, "gallery"},
	}
	dir := t.TempDir()
	for _, c := range cases {
		p := filepath.Join(dir, c.file)
		if err := os.WriteFile(p, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		uploadTo(t, ctx, "gallery-file", p)
		msg, err := chromedp.Run(ctx, chromedp.Poll[string](`document.querySelector('[data-testid=look-error]')?.textContent || null`,
			chromedp.WithPollingTimeout(60*time.Second), chromedp.WithPollingInterval(20*time.Millisecond)))
		if err != nil {
			t.Fatalf("%s: no error shown: %v (page: %s)", c.name, err, pageText(ctx))
		}
		t.Logf("%s: %s", c.name, msg)
		if !strings.Contains(msg, c.file) || !strings.Contains(msg, c.want) || !strings.Contains(msg, "unchanged") {
			t.Errorf("%s: message %q does not name the file and the reason", c.name, msg)
		}
		if n := galleryCount(t, ctx); n != 4 {
			t.Errorf("%s: %d items shown after a refused file, want 4", c.name, n)
		}
		after := storedGalleries(t, ctx)
		if len(after) != 1 || fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("%s: IndexedDB changed after a refused file", c.name)
		}
		screenshot(t, ctx, "look-bad-gallery-"+c.name)
		click(t, ctx, `[data-testid=look-error] button`)
	}
	// A reload still finds the stored gallery.
	openLook(t, ctx, "?arch="+arch+"&precision=int8", "embeddings")
	if n := galleryCount(t, ctx); n != 4 {
		t.Errorf("%d items after a reload, want the 4 stored", n)
	}
	// The good file itself loads (replacing the gallery with the same 4 items).
	p := filepath.Join(dir, "good.alxg")
	os.WriteFile(p, good, 0o644)
	uploadTo(t, ctx, "gallery-file", p)
	if msg := waitLookIdle(t, ctx); msg != "" {
		t.Errorf("loading the stored gallery's own bytes: %s", msg)
	}
}

// TestLookViews: every look-inside view works and renders (screenshots under testout/):
// neighbours and a direction walk, the atlas by PCA and by t-SNE with zoom, a unit's top
// patches, and a feature visualization that reports progress and can be cancelled.
func TestLookViews(t *testing.T) {
	ctx := browser(t, false)
	arch := lookArch()
	openLook(t, ctx, "?arch="+arch+"&precision=int8", "embeddings")
	waitCount(t, ctx, 4)
	var paths []string
	for _, name := range galleryPhotos {
		// rocket.jpg is also a bundled sample, already in the starter gallery.
		if _, err := os.Stat(filepath.Join(testenv.PhotosDir, name)); err == nil && name != "rocket.jpg" {
			paths = append(paths, filepath.Join(testenv.PhotosDir, name))
		}
	}
	if len(paths) > 0 {
		uploadTo(t, ctx, "gallery-input", paths...)
		waitCount(t, ctx, 4+len(paths))
	}
	// Several files dropped on the gallery join it (and nothing is classified).
	dropped, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`Promise.all(['chelsea.jpg', 'coffee.jpg'].map(s => fetch('samples/' + s).then(r => r.blob()))).then(bs => {
		const dt = new DataTransfer();
		bs.forEach((b, i) => dt.items.add(new File([b], 'dropped-' + i + '.jpg', {type: 'image/jpeg'})));
		const ev = new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true});
		document.querySelector('[data-testid=gallery-drop]').dispatchEvent(ev);
		return ev.defaultPrevented;
	})`, chromedp.EvalAwaitPromise))
	if err != nil || !dropped {
		t.Fatalf("dropping files on the gallery: handled %v, %v", dropped, err)
	}
	waitCount(t, ctx, 6+len(paths))
	// "Neighbours of the classified image" stays disabled: no image was classified.
	if evalInt(t, ctx, `+document.querySelector('[data-testid=query-last]').disabled`) != 1 {
		t.Error("a drop on the gallery also classified the image")
	}
	n := galleryCount(t, ctx)
	// A file whose name is already in the gallery is refused, the others stay.
	if _, err := os.Stat(filepath.Join(testenv.PhotosDir, "rocket.jpg")); err == nil {
		uploadTo(t, ctx, "gallery-input", filepath.Join(testenv.PhotosDir, "rocket.jpg"))
		msg, err := chromedp.Run(ctx, chromedp.Poll[string](`document.querySelector('[data-testid=look-error]')?.textContent || null`, chromedp.WithPollingTimeout(60*time.Second)))
		if err != nil || !strings.Contains(msg, "rocket.jpg is already in the gallery") {
			t.Errorf("adding a second rocket.jpg: %q, %v", msg, err)
		}
		if galleryCount(t, ctx) != n {
			t.Errorf("gallery of %d items has %d after a refused image", n, galleryCount(t, ctx))
		}
		click(t, ctx, `[data-testid=look-error] button`)
	}

	// Neighbours of an item: every other item, nearest first, in both metrics.
	click(t, ctx, `[data-testid=gallery-item][data-item="chelsea.jpg"]`)
	ns := waitNeighbors(t, ctx, "chelsea.jpg", "cosine")
	if len(ns) != min(8, n-1) {
		t.Errorf("%d neighbours of %d items", len(ns), n)
	}
	for i, x := range ns {
		if x.Item == "chelsea.jpg" || (i > 0 && x.Distance < ns[i-1].Distance) || !(x.Distance >= 0 && x.Distance <= 2) {
			t.Errorf("cosine neighbours %+v", ns)
		}
	}
	// dropped-0.jpg is the same file: distance 0; then the other photo of the same cat.
	if ns[0].Item != "dropped-0.jpg" || ns[0].Distance > 1e-5 {
		t.Errorf("the nearest image to chelsea.jpg is %s at %g, not its copy dropped-0.jpg at 0", ns[0].Item, ns[0].Distance)
	}
	if haveReal && len(paths) > 0 && ns[1].Item != "chelsea.png" {
		t.Errorf("the second nearest image to the cat chelsea.jpg is %s, not the other photo of her (chelsea.png)", ns[1].Item)
	}
	// A direction: from the cat towards the coffee cup.
	click(t, ctx, `[data-testid=mark-from]`)
	click(t, ctx, `[data-testid=gallery-item][data-item="coffee.jpg"]`)
	waitNeighbors(t, ctx, "coffee.jpg", "cosine")
	click(t, ctx, `[data-testid=mark-to]`)
	click(t, ctx, `[data-testid=gallery-item][data-item="chelsea.jpg"]`)
	waitNeighbors(t, ctx, "chelsea.jpg", "cosine")
	click(t, ctx, `[data-testid=walk]`)
	steps, err := chromedp.Run(ctx, chromedp.Poll[int](`document.querySelectorAll('[data-testid=walk-step]').length || null`, chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil || steps != 7 {
		t.Errorf("walk: %d steps, %v", steps, err)
	}
	screenshot(t, ctx, "look-embeddings")

	// Atlas: PCA, then t-SNE and UMAP with progress; zoom changes the canvas.
	nav(t, ctx, "atlas")
	for _, method := range []string{"pca", "tsne", "umap"} {
		setField(t, ctx, "atlas-method", method)
		click(t, ctx, `[data-testid=atlas-run]`)
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`document.querySelector('[data-testid=atlas-canvas]')?.dataset.method === %q || !!document.querySelector('[data-testid=look-error]') || null`, method), chromedp.WithPollingTimeout(120*time.Second))); err != nil {
			t.Fatalf("atlas %s: %v (page: %s)", method, err, pageText(ctx))
		}
		if msg := waitLookIdle(t, ctx); msg != "" {
			t.Fatalf("atlas %s: %s", method, msg)
		}
		pts := evalInt(t, ctx, `+(document.querySelector('[data-testid=atlas-canvas]')?.dataset.points ?? 0)`)
		cells := evalInt(t, ctx, `document.querySelectorAll('[data-testid=atlas-cell]').length`)
		members := evalInt(t, ctx, `[...document.querySelectorAll('[data-testid=atlas-cell]')].reduce((s, e) => s + +e.dataset.members, 0)`)
		if pts != n || cells == 0 || members != n {
			t.Errorf("atlas %s: %d points, %d cells holding %d items, gallery %d", method, pts, cells, members, n)
		}
		// Each cell lists the images that fell in it (up to six thumbnails).
		if thumbs, want := evalInt(t, ctx, `document.querySelectorAll('[data-testid=cell-thumb]').length`), evalInt(t, ctx, `[...document.querySelectorAll('[data-testid=atlas-cell]')].reduce((s, e) => s + Math.min(6, +e.dataset.members), 0)`); thumbs != want {
			t.Errorf("atlas %s: %d thumbnails in the cell list, want %d", method, thumbs, want)
		}
		// The canvas has thumbnails on it: many distinct colours, not a blank fill.
		colours := evalInt(t, ctx, `(() => { const c = document.querySelector('[data-testid=atlas-canvas]'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; const s = new Set(); for (let i = 0; i < d.length; i += 64) s.add(d[i] << 16 | d[i+1] << 8 | d[i+2]); return s.size; })()`)
		if colours < 50 {
			t.Errorf("atlas %s: the canvas has %d colours: nothing drawn?", method, colours)
		}
		screenshot(t, ctx, "look-atlas-"+method)
	}
	click(t, ctx, `[data-testid=atlas-zoom-in]`)
	click(t, ctx, `[data-testid=atlas-zoom-in]`)
	if z, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`parseFloat(document.querySelector('[data-testid=atlas-canvas]').dataset.zoom)`)); err != nil || z != 2.25 {
		t.Errorf("zoom after two clicks: %v, %v", z, err)
	}
	// Zooming in asks for a finer grid of the same layout.
	base := max(2, min(8, int(math.Round(math.Sqrt(float64(n)/2)))))
	fine := int(math.Round(float64(base) * 2.25))
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`document.querySelector('#atlas-h').textContent.includes('· %d×%d grid') || null`, fine, fine), chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		heading, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#atlas-h').textContent`))
		t.Errorf("atlas at zoom 2.25: %v (heading %q, want a %dx%d grid)", err, heading, fine, fine)
	}
	waitLookIdle(t, ctx)
	screenshot(t, ctx, "look-atlas-zoomed")
	click(t, ctx, `[data-testid=atlas-fit]`)
	waitLookIdle(t, ctx)

	// Icons: every cell of the map gets its feature visualization, drawn into its square.
	cells := evalInt(t, ctx, `document.querySelectorAll('[data-testid=atlas-cell]').length`)
	click(t, ctx, `[data-testid=atlas-icons]`)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`+document.querySelector('[data-testid=atlas-canvas]').dataset.icons === %d || !!document.querySelector('[data-testid=look-error]') || null`, cells), chromedp.WithPollingTimeout(300*time.Second))); err != nil {
		t.Fatalf("atlas icons: %v (page: %s)", err, pageText(ctx))
	}
	if msg := waitLookIdle(t, ctx); msg != "" {
		t.Fatalf("atlas icons: %s", msg)
	}
	if colours := evalInt(t, ctx, `(() => { const c = document.querySelector('[data-testid=atlas-canvas]'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; const s = new Set(); for (let i = 0; i < d.length; i += 64) s.add(d[i] << 16 | d[i+1] << 8 | d[i+2]); return s.size; })()`); colours < 50 {
		t.Errorf("atlas icons: the canvas has %d colours: nothing drawn?", colours)
	}
	screenshot(t, ctx, "look-atlas-icons")
	// The poster: the worker draws the map's icons into one PNG for the page to save.
	click(t, ctx, `[data-testid=atlas-poster]`)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`+document.querySelector('[data-testid=atlas-poster]').dataset.bytes > 1000 || !!document.querySelector('[data-testid=look-error]') || null`, chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		t.Fatalf("atlas poster: %v (page: %s)", err, pageText(ctx))
	}
	if msg := waitLookIdle(t, ctx); msg != "" {
		t.Fatalf("atlas poster: %s", msg)
	}
	// The atlas file (for the embed's atlas view): the worker writes the cells and icons.
	click(t, ctx, `[data-testid=atlas-file]`)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`+document.querySelector('[data-testid=atlas-file]').dataset.bytes > 1000 || !!document.querySelector('[data-testid=look-error]') || null`, chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		t.Fatalf("atlas file: %v (page: %s)", err, pageText(ctx))
	}
	if msg := waitLookIdle(t, ctx); msg != "" {
		t.Fatalf("atlas file: %s", msg)
	}

	// Units: top patches of a channel, ranked.
	nav(t, ctx, "units")
	setField(t, ctx, "unit-channel", "3")
	click(t, ctx, `[data-testid=unit-run]`)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelectorAll('[data-testid=unit-patch]').length > 0 || !!document.querySelector('[data-testid=look-error]') || null`, chromedp.WithPollingTimeout(120*time.Second))); err != nil {
		t.Fatalf("units: %v (page: %s)", err, pageText(ctx))
	}
	if msg := waitLookIdle(t, ctx); msg != "" {
		t.Fatalf("units: %s", msg)
	}
	type patch struct {
		Item  string
		Value float64
		W     int
	}
	ps, err := chromedp.Run(ctx, chromedp.Evaluate[[]patch](`[...document.querySelectorAll('[data-testid=unit-patch]')].map(e => ({Item: e.dataset.item, Value: parseFloat(e.dataset.value), W: e.querySelector('canvas').width}))`))
	if err != nil || len(ps) != min(12, n) {
		t.Fatalf("%d patches, %v", len(ps), err)
	}
	for i, p := range ps {
		if p.W < 8 || (i > 0 && p.Value > ps[i-1].Value) {
			t.Errorf("patches %+v", ps)
		}
	}

	// Feature visualization: progress, then cancel; then a short run to the end.
	setField(t, ctx, "featurevis-steps", "400")
	click(t, ctx, `[data-testid=featurevis-run]`)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`+(document.querySelector('[data-testid=featurevis-progress]')?.dataset.step ?? 0) >= 4 || null`, chromedp.WithPollingTimeout(120*time.Second))); err != nil {
		t.Fatalf("no feature visualization progress: %v (page: %s)", err, pageText(ctx))
	}
	click(t, ctx, `[data-testid=featurevis-cancel]`)
	msg := waitLookIdle(t, ctx)
	if !strings.Contains(msg, "cancelled") {
		t.Errorf("after cancelling: %q", msg)
	}
	if step := evalInt(t, ctx, `+document.querySelector('[data-testid=featurevis-progress]').dataset.step`); step >= 400 {
		t.Errorf("cancelled run reached step %d of 400", step)
	}
	click(t, ctx, `[data-testid=look-error] button`)
	setField(t, ctx, "featurevis-steps", "24")
	start := time.Now()
	click(t, ctx, `[data-testid=featurevis-run]`)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(document.querySelector('[data-testid=featurevis-progress]')?.textContent || '').startsWith('done: 24') || !!document.querySelector('[data-testid=look-error]') || null`, chromedp.WithPollingTimeout(300*time.Second))); err != nil {
		t.Fatalf("feature visualization: %v (page: %s)", err, pageText(ctx))
	}
	if msg := waitLookIdle(t, ctx); msg != "" {
		t.Fatalf("feature visualization: %s", msg)
	}
	t.Logf("feature visualization, 24 steps at 128 px on %s: %v in the page", arch, time.Since(start))
	if note := text(t, ctx, "featurevis-progress"); !strings.HasPrefix(note, "done: 24 steps") {
		t.Errorf("feature visualization caption %q", note)
	}
	screenshot(t, ctx, "look-units")

	// Phone: the navigation fits and scrolls sideways within itself, not the page.
	if err := chromium.EmulatePhone(ctx); err != nil {
		t.Fatal(err)
	}
	nav(t, ctx, "embeddings")
	if w := evalInt(t, ctx, `document.documentElement.scrollWidth`); w > chromium.PhoneWidth {
		t.Errorf("page is %d px wide on a %d px screen", w, chromium.PhoneWidth)
	}
	shot(t, ctx, "look-phone", chromium.PhoneWidth, chromium.PhoneHeight)
}

// setField sets an input or select and fires its change event, as a person's edit would.
func setField(t *testing.T, ctx context.Context, testid, value string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS(`[data-testid=`+testid+`]`), value),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid=`+testid+`]').dispatchEvent(new Event('change', {bubbles: true}))`)); err != nil {
		t.Fatalf("setting %s: %v", testid, err)
	}
}

// TestClassAtlas: a newcomer's atlas without a gallery of their own: the network's classes
// on a map, finer cells as one zooms in, and icons filling in for the cells in view.
func TestClassAtlas(t *testing.T) {
	ctx := browser(t, false)
	openLook(t, ctx, "?arch="+lookArch()+"&precision=int8", "atlas")
	setField(t, ctx, "atlas-method", "classes")
	click(t, ctx, `[data-testid=atlas-run]`)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`+document.querySelector('[data-testid=atlas-canvas]')?.dataset.points === 1000 || !!document.querySelector('[data-testid=look-error]') || null`, chromedp.WithPollingTimeout(180*time.Second))); err != nil {
		t.Fatalf("class atlas: %v (page: %s)", err, pageText(ctx))
	}
	if msg := waitLookIdle(t, ctx); msg != "" {
		t.Fatalf("class atlas: %s", msg)
	}
	grid := func() int {
		return evalInt(t, ctx, `+(document.querySelector('#atlas-h').textContent.match(/(\d+)×/) || [0, 0])[1]`)
	}
	if g := grid(); g != 8 {
		t.Errorf("the class atlas at zoom 1 has a %d-cell grid, want 8", g)
	}
	// A class filter keeps the cells voting for it: the five retrievers are a few cells of the map.
	all := evalInt(t, ctx, `+document.querySelector('[data-testid=atlas-canvas]').dataset.shown`)
	filter := func(v string) {
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const e = document.querySelector('[data-testid=atlas-filter]'); e.value = %q; e.dispatchEvent(new Event('input', {bubbles: true})); })()`, v))); err != nil {
			t.Fatal(err)
		}
	}
	filter("retriever")
	shown, err := chromedp.Run(ctx, chromedp.Poll[int](`document.querySelector('[data-testid=atlas-canvas]').dataset.filter === 'retriever' ? +document.querySelector('[data-testid=atlas-canvas]').dataset.shown : null`, chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil || shown < 1 || shown >= all || shown > 5 {
		t.Errorf("filter retriever: %d of %d cells shown (%v), want 1 to 5 (ImageNet has 5 retrievers)", shown, all, err)
	}
	filter("")
	// Zooming in twice (1.5² = 2.25) asks for a finer grid: 18 cells a side.
	click(t, ctx, `[data-testid=atlas-zoom-in]`)
	click(t, ctx, `[data-testid=atlas-zoom-in]`)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`/18×18/.test(document.querySelector('#atlas-h').textContent) || null`, chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		t.Fatalf("zoomed class atlas: %v (heading: %d-cell grid)", err, grid())
	}
	waitLookIdle(t, ctx)
	// Icons come for the cells in view, a batch at a time; the first batch is enough here.
	click(t, ctx, `[data-testid=atlas-icons]`)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`+document.querySelector('[data-testid=atlas-canvas]').dataset.icons >= 8 || !!document.querySelector('[data-testid=look-error]') || null`, chromedp.WithPollingTimeout(300*time.Second))); err != nil {
		t.Fatalf("class atlas icons: %v (page: %s)", err, pageText(ctx))
	}
	screenshot(t, ctx, "look-class-atlas")
	click(t, ctx, `[data-testid=icons-cancel]`)
	if msg := waitLookIdle(t, ctx); msg != "" && !strings.Contains(msg, "cancel") {
		t.Errorf("after cancelling the icons: %s", msg)
	}
}
