//go:build !js

package e2e

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/engine/preprocess"
	"github.com/alexlens/alexlens/gallery"
	"github.com/alexlens/alexlens/internal/chromium"
	"github.com/alexlens/alexlens/internal/testenv"
	"github.com/alexlens/alexlens/teach"
	"github.com/alexlens/alexlens/teach/project"
	"github.com/alexlens/alexlens/weights"
)

// textureTiles writes n 128 x 128 tiles of a 512 x 512 skimage texture as PNG files.
func textureTiles(t *testing.T, name string, n int) []string { return textureTilesOf(t, name, n, 128) }

// textureTilesOf writes n side x side tiles of a skimage texture as PNG files.
func textureTilesOf(t *testing.T, name string, n, side int) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for i, tile := range testenv.TextureTiles(t, name, n, side) {
		p := filepath.Join(dir, fmt.Sprintf("%s-%02d.png", name, i))
		if err := os.WriteFile(p, tile, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// TestTeach: two classes named in the Teach view and filled with real photos (texture tiles),
// a head trained in the worker with its report (accuracy, confusion), and in the Classify
// view the head's classes beside the top-5, with the probabilities of the head the engine
// trains natively from the same photos and seed; the head's class explained (Grad-CAM) and
// visualized (its logit's feature visualization).
func TestTeach(t *testing.T) {
	arch := lookArch() // the released SqueezeNet, else AlexNet's fixture weights
	embedding := engine.Archs[arch].Embedding
	file := manifestFile(t, arch, "f32")
	ctx := browser(t, false)
	tab := chromium.NewTab(t, ctx)
	open(t, tab, "?arch="+arch+"&precision=f32")
	openTeach(t, tab)
	if l := evalString(t, tab, `document.querySelector('[data-testid=teach-layer]').value`); l != embedding {
		t.Errorf("the Teach view embeds at %q by default, want %s", l, embedding)
	}
	classes := []string{"brick", "grass"}
	photos := map[string][]string{}
	for i, name := range classes {
		photos[name] = textureTiles(t, name, 16)
		setValue(t, tab, "teach-name", name, "change")
		click(t, tab, `[data-testid=teach-add-class]`)
		waitTeach(t, tab, fmt.Sprintf(`document.querySelector('[data-testid=teach-class][data-name=%q]')`, name))
		uploadTo(t, tab, fmt.Sprintf("teach-input-%d", i), photos[name][:8]...)
		waitTeach(t, tab, fmt.Sprintf(`+document.querySelector('[data-testid=teach-class][data-name=%q]')?.dataset.count === 8`, name))
	}
	// Not a class: a duplicate name.
	setValue(t, tab, "teach-name", "grass", "change")
	click(t, tab, `[data-testid=teach-add-class]`)
	if e := text(t, tab, "teach-error"); e != `there is a class "grass" already` {
		t.Errorf("a duplicate class: %q", e)
	}
	if evalInt(t, tab, `+document.querySelector('[data-testid=teach-layer]').disabled`) != 1 {
		t.Error("the layer can be changed while classes hold photos embedded at it")
	}
	click(t, tab, `[data-testid=teach-train]`)
	waitTeach(t, tab, `document.querySelector('[data-testid=teach-report]')`)
	acc, _ := strconv.ParseFloat(evalString(t, tab, `document.querySelector('[data-testid=teach-report]').dataset.accuracy`), 64)
	ms := evalString(t, tab, `document.querySelector('[data-testid=teach-report]').dataset.ms`)
	t.Logf("held-out accuracy %.2f, trained in %s ms", acc, ms)
	if evalInt(t, tab, `document.querySelectorAll('[data-testid=teach-confusion] tr').length`) != 3 {
		t.Error("no confusion matrix of two classes")
	}
	screenshot(t, tab, "teach")

	// Back to Classify: a grass photo the head never saw, scored by the head too.
	click(t, tab, `[data-view=classify]`)
	probe := photos["grass"][15]
	upload(t, tab, probe)
	waitResult(t, tab, 1)
	type taught struct {
		Label string
		Prob  float64
	}
	got, err := chromedp.Run(tab, chromedp.Evaluate[[]taught](`[...document.querySelectorAll('[data-testid=taught-prediction]')].map(e => ({Label: e.dataset.label, Prob: parseFloat(e.dataset.prob)}))`))
	if err != nil || len(got) != 2 {
		t.Fatalf("the head's classes beside the top-5: %v, %v (page: %s)", got, err, pageText(tab))
	}

	// The same head natively: the same photos in the same order, seed 0.
	m, err := weights.Load(filepath.Join(weightsDir, file), arch)
	if err != nil {
		t.Fatal(err)
	}
	var examples []teach.Example
	for c, name := range classes {
		for _, p := range photos[name][:8] {
			x, err := preprocess.Load(p, 224)
			if err != nil {
				t.Fatal(err)
			}
			emb, err := gallery.EmbedLayer(m, nil, teach.Augment(x), m.Arch.Embedding)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range emb {
				examples = append(examples, teach.Example{Embedding: e, Class: c, Source: len(examples) / 2})
			}
		}
	}
	head, _, err := teach.Train(context.Background(), examples, classes, teach.Options{})
	if err != nil {
		t.Fatal(err)
	}
	x, _ := preprocess.Load(probe, 224)
	emb, _ := gallery.EmbedLayer(m, nil, x, m.Arch.Embedding)
	want, _ := head.Probabilities(emb[0])
	for _, g := range got {
		i := map[string]int{"brick": 0, "grass": 1}[g.Label]
		if math.Abs(g.Prob-float64(want[i])) > 1e-3 {
			t.Errorf("%s: the page's head says %.5f, the native head %.5f", g.Label, g.Prob, want[i])
		}
	}
	t.Logf("the head on an unseen grass photo: page %v, native %v", got, want)

	// Why did the head say grass? Grad-CAM of the head's own class.
	click(t, tab, `[data-testid=why-taught][data-index="1"]`)
	if _, err := chromedp.Run(tab, chromedp.Poll[bool](`+(document.querySelector('[data-testid=why-heat]')?.dataset.seq || 0) > 0 || !!document.querySelector('[data-testid=why-error]') || null`, chromedp.WithPollingTimeout(120*time.Second))); err != nil {
		t.Fatalf("why grass: %v (page: %s)", err, pageText(tab))
	}
	if e := evalString(t, tab, `document.querySelector('[data-testid=why-error]')?.textContent || ''`); e != "" {
		t.Fatalf("why grass: %s", e)
	}
	caption := text(t, tab, "why-caption")
	var grass float64
	for _, g := range got {
		if g.Label == "grass" {
			grass = g.Prob
		}
	}
	if !strings.HasPrefix(caption, "Grad-CAM for grass (your class: the Teach view's head)") || !strings.Contains(caption, fmt.Sprintf("%.1f%%)", 100*grass)) {
		t.Errorf("why grass: the caption %q does not name the taught class at %.1f%%", caption, 100*grass)
	}
	t.Logf("why grass: %s", caption)

	// What grass looks like to the network: feature visualization of the head's grass logit.
	nav(t, tab, "units")
	// The view's first visit embeds the bundled sample photos; the button waits for them.
	if _, err := chromedp.Run(tab, chromedp.Poll[bool](`document.querySelector('[data-testid=featurevis-run]')?.disabled === false || null`, chromedp.WithPollingTimeout(240*time.Second))); err != nil {
		t.Fatalf("the Units view: %v (page: %s)", err, pageText(tab))
	}
	setValue(t, tab, "featurevis-objective", "taught", "change")
	setValue(t, tab, "featurevis-taught", "1", "change")
	setField(t, tab, "featurevis-steps", "8")
	click(t, tab, `[data-testid=featurevis-run]`)
	if _, err := chromedp.Run(tab, chromedp.Poll[bool](`(document.querySelector('[data-testid=featurevis-progress]')?.textContent || '').startsWith('done: 8') || !!document.querySelector('[data-testid=look-error]') || null`, chromedp.WithPollingTimeout(120*time.Second))); err != nil {
		t.Fatalf("feature visualization of grass: %v (page: %s)", err, pageText(tab))
	}
	if msg := waitLookIdle(t, tab); msg != "" {
		t.Fatalf("feature visualization of grass: %s", msg)
	}
	t.Logf("feature visualization of the taught class grass: %s", text(t, tab, "featurevis-progress"))
}

// openTeach shows the Teach view and waits until it has reopened the project the browser
// keeps for the weights.
func openTeach(t *testing.T, ctx context.Context) {
	t.Helper()
	click(t, ctx, `[data-view=teach]`)
	waitTeach(t, ctx, `document.querySelector('[data-testid=teach-view][data-ready]')`)
}

func waitTeach(t *testing.T, ctx context.Context, cond string) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`(() => {
		if (document.querySelector('[data-testid=teach-error]')) return true;
		return (%s) ? true : null;
	})()`, cond), chromedp.WithPollingTimeout(120*time.Second), chromedp.WithPollingInterval(20*time.Millisecond)))
	if err != nil {
		t.Fatalf("waiting for %s: %v (page: %s)", cond, err, pageText(ctx))
	}
	if e := evalString(t, ctx, `document.querySelector('[data-testid=teach-error]')?.textContent || ''`); e != "" {
		t.Fatalf("the Teach view reports: %s", e)
	}
}

// TestTeachNumbers (opt-in: ALEXLENS_BROWSER_BENCH=1) times training in the Teach view as a
// reader runs it: AlexNet's fc7 (4,096 values), three classes of 34 photos each (texture
// tiles), each photo with its mirror image: 204 examples; the worker's own training time. It
// reports; it asserts nothing about speed.
func TestTeachNumbers(t *testing.T) {
	if os.Getenv("ALEXLENS_BROWSER_BENCH") == "" {
		t.Skip("opt-in: set ALEXLENS_BROWSER_BENCH=1")
	}
	for _, threads := range []string{"1", "2"} {
		t.Run(threads, func(t *testing.T) {
			ctx := browser(t, false)
			open(t, ctx, "?arch=alexnet&precision=f32&threads="+threads)
			openTeach(t, ctx)
			start := time.Now()
			for i, name := range []string{"brick", "grass", "gravel"} {
				setValue(t, ctx, "teach-name", name, "change")
				click(t, ctx, `[data-testid=teach-add-class]`)
				waitTeach(t, ctx, fmt.Sprintf(`document.querySelector('[data-testid=teach-class][data-name=%q]')`, name))
				uploadTo(t, ctx, fmt.Sprintf("teach-input-%d", i), textureTilesOf(t, name, 34, 64)...)
				waitTeach(t, ctx, fmt.Sprintf(`+document.querySelector('[data-testid=teach-class][data-name=%q]')?.dataset.count === 34`, name))
			}
			embed := time.Since(start)
			for run := range 2 {
				clicked := time.Now()
				click(t, ctx, `[data-testid=teach-train]`)
				waitTeach(t, ctx, `document.querySelector('[data-testid=teach-report]') && !document.querySelector('[data-testid=teach-progress]')`)
				ms, _ := strconv.ParseFloat(evalString(t, ctx, `document.querySelector('[data-testid=teach-report]').dataset.ms`), 64)
				epochs := evalInt(t, ctx, `+document.querySelector('[data-testid=teach-report]').dataset.epochs`)
				wall := time.Since(clicked) // includes the waitTeach poll: an upper bound
				t.Logf("alexnet fc7, %s threads, run %d: 204 examples trained in %.0f ms (%d epochs), %.0f ms from the click to the report; adding the 102 photos took %.1f s in all",
					threads, run+1, ms, epochs, float64(wall.Milliseconds()), embed.Seconds())
			}
		})
	}
}

// TestTeachProject: the Teach view keeps its classes in the browser (a reload brings back the
// classes, photos and trained head), saves them as an .alxt project file that the native
// reader opens with the same classes and photos, reopens that file after its classes were
// removed, and refuses a truncated one without losing the classes it holds.
func TestTeachProject(t *testing.T) {
	arch := lookArch()
	query := "?arch=" + arch + "&precision=f32"
	ctx := browser(t, false)
	tab := chromium.NewTab(t, ctx)
	downloads := t.TempDir()
	if _, err := chromedp.Call(tab, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatal(err)
	}
	open(t, tab, query)
	openTeach(t, tab)
	idle := `!document.querySelector('[data-testid=teach-busy]')`
	want := map[string]int{"brick": 3, "grass": 4}
	for i, name := range []string{"brick", "grass"} {
		setValue(t, tab, "teach-name", name, "change")
		click(t, tab, `[data-testid=teach-add-class]`)
		waitTeach(t, tab, fmt.Sprintf(`document.querySelector('[data-testid=teach-class][data-name=%q]')`, name))
		uploadTo(t, tab, fmt.Sprintf("teach-input-%d", i), textureTiles(t, name, want[name])...)
		waitTeach(t, tab, fmt.Sprintf(`+document.querySelector('[data-testid=teach-class][data-name=%q]')?.dataset.count === %d`, name, want[name]))
	}
	click(t, tab, `[data-testid=teach-train]`)
	waitTeach(t, tab, `document.querySelector('[data-testid=teach-report]') && !document.querySelector('[data-testid=teach-progress]')`)
	if note := evalString(t, tab, `document.querySelector('[data-testid=teach-unstored]')?.textContent || ''`); note != "" {
		t.Errorf("the page says: %s", note)
	}
	classes := func(when string) {
		t.Helper()
		got, err := chromedp.Run(tab, chromedp.Evaluate[map[string]int](`Object.fromEntries([...document.querySelectorAll('[data-testid=teach-class]')].map(e => [e.dataset.name, +e.dataset.count]))`))
		if err != nil || len(got) != len(want) || got["brick"] != want["brick"] || got["grass"] != want["grass"] {
			t.Errorf("%s: classes %v (%v), want %v", when, got, err, want)
		}
	}

	// A new visit to the page: the classes, photos and head are back.
	open(t, tab, query)
	openTeach(t, tab)
	classes("after a reload")
	click(t, tab, `[data-view=classify]`)
	upload(t, tab, textureTiles(t, "grass", 6)[5])
	waitResult(t, tab, 1)
	if n := evalInt(t, tab, `document.querySelectorAll('[data-testid=taught-prediction]').length`); n != 2 {
		t.Errorf("after a reload the Classify view shows %d of the head's classes, want 2", n)
	}

	// Saved as a file: the native reader finds the same classes and photos, and the head.
	click(t, tab, `[data-view=teach]`)
	click(t, tab, `[data-testid=teach-save]`)
	saved := filepath.Join(downloads, "alexlens-project.alxt")
	var data []byte
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if b, err := os.ReadFile(saved); err == nil && len(b) > 0 {
			if _, err := os.Stat(saved + ".crdownload"); err != nil {
				data = b
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s downloaded (page: %s)", saved, pageText(tab))
		}
	}
	p, err := project.Decode(data)
	if err != nil {
		t.Fatalf("the saved project: %v", err)
	}
	perClass := map[string]int{}
	for _, ph := range p.Photos {
		perClass[p.Classes[ph.Class]]++
	}
	if len(p.Classes) != 2 || perClass["brick"] != want["brick"] || perClass["grass"] != want["grass"] || p.Head == nil {
		t.Errorf("the saved project has classes %v, photos per class %v, a head: %v", p.Classes, perClass, p.Head != nil)
	}
	t.Logf("the project file: %d bytes, %d photos, %d values an embedding", len(data), len(p.Photos), p.Header.Dim)

	// Opened again after its classes were removed.
	for _, name := range []string{"brick", "grass"} {
		click(t, tab, fmt.Sprintf(`[aria-label="remove class %s"]`, name))
		waitTeach(t, tab, fmt.Sprintf(`!document.querySelector('[data-testid=teach-class][data-name=%q]') && `+idle, name))
	}
	uploadTo(t, tab, "teach-open-input", saved)
	waitTeach(t, tab, `document.querySelectorAll('[data-testid=teach-class]').length === 2 && `+idle)
	classes("after opening the file")

	// A truncated file is refused and the classes stay.
	broken := filepath.Join(t.TempDir(), "broken.alxt")
	if err := os.WriteFile(broken, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	uploadTo(t, tab, "teach-open-input", broken)
	if _, err := chromedp.Run(tab, chromedp.Poll[bool](`!!document.querySelector('[data-testid=teach-error]') || null`, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("a truncated project: no error shown (page: %s)", pageText(tab))
	}
	msg := evalString(t, tab, `document.querySelector('[data-testid=teach-error]').textContent`)
	if !strings.HasPrefix(msg, "broken.alxt: ") {
		t.Errorf("a truncated project: %q does not name the file", msg)
	}
	t.Logf("a truncated project: %s", msg)
	classes("after a truncated file was refused")
}

// TestTeachSources: photos reach a class by paste and by drop (to the class marked "paste
// here", the last added until another is marked) and from the camera while a class's record
// button is held down with the mouse (Chromium's fake camera): frames are added while it is
// held and stop when it is released; and from the Embeddings view, a gallery image and its
// neighbours.
func TestTeachSources(t *testing.T) {
	ctx := browser(t, false)
	open(t, ctx, "?arch="+lookArch()+"&precision=f32")
	openTeach(t, ctx)
	for _, name := range []string{"brick", "camera"} {
		setValue(t, ctx, "teach-name", name, "change")
		click(t, ctx, `[data-testid=teach-add-class]`)
		waitTeach(t, ctx, fmt.Sprintf(`document.querySelector('[data-testid=teach-class][data-name=%q]')`, name))
	}
	count := func(name string) int {
		return evalInt(t, ctx, fmt.Sprintf(`+document.querySelector('[data-testid=teach-class][data-name=%q]').dataset.count`, name))
	}
	send := func(event string, n int) {
		t.Helper()
		js := fmt.Sprintf(`fetch('samples/coffee.jpg').then(r => r.blob()).then(b => {
			const dt = new DataTransfer();
			for (let i = 0; i < %d; i++) dt.items.add(new File([b], 'photo-' + i + '.jpg', {type: 'image/jpeg'}));
			const ev = %q === 'drop'
				? new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true})
				: new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true});
			document.body.dispatchEvent(ev);
			return ev.defaultPrevented;
		})`, n, event)
		if handled, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js, chromedp.EvalAwaitPromise)); err != nil || !handled {
			t.Fatalf("the Teach view did not take the %s event: %v", event, err)
		}
	}
	// The last class added is the target until another is marked.
	send("paste", 1)
	waitTeach(t, ctx, `+document.querySelector('[data-testid=teach-class][data-name=camera]').dataset.count === 1 && !document.querySelector('[data-testid=teach-busy]')`)
	click(t, ctx, `[data-testid=teach-class][data-name=brick] [data-testid=teach-target]`)
	send("paste", 2)
	waitTeach(t, ctx, `+document.querySelector('[data-testid=teach-class][data-name=brick]').dataset.count === 2 && !document.querySelector('[data-testid=teach-busy]')`)
	send("drop", 2)
	waitTeach(t, ctx, `+document.querySelector('[data-testid=teach-class][data-name=brick]').dataset.count === 4 && !document.querySelector('[data-testid=teach-busy]')`)
	if c := count("camera"); c != 1 {
		t.Errorf("the class not marked got photos: %d", c)
	}

	// The camera: hold the record button of "camera".
	click(t, ctx, `[data-testid=teach-camera]`)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('[data-testid=teach-video]')?.videoWidth > 0 || !!document.querySelector('[data-testid=teach-error]') || null`, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("the camera: %v (page: %s)", err, pageText(ctx))
	}
	type point struct{ X, Y float64 }
	at, err := chromedp.Run(ctx, chromedp.Evaluate[point](`(() => { const b = document.querySelector('[data-testid=teach-record][data-class="1"]'); b.scrollIntoView({block: 'center'}); const r = b.getBoundingClientRect(); return {X: r.x + r.width / 2, Y: r.y + r.height / 2}; })()`))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.MouseEvent(chromedp.MousePressed, at.X, at.Y, chromedp.ButtonLeft, chromedp.ClickCount(1))); err != nil {
		t.Fatal(err)
	}
	waitTeach(t, ctx, `+document.querySelector('[data-testid=teach-class][data-name=camera]').dataset.count >= 4`)
	if err := chromedp.Do(ctx, chromedp.MouseEvent(chromedp.MouseReleased, at.X, at.Y, chromedp.ButtonLeft, chromedp.ClickCount(1))); err != nil {
		t.Fatal(err)
	}
	waitTeach(t, ctx, `!document.querySelector('[data-testid=teach-busy]')`)
	held := count("camera")
	time.Sleep(600 * time.Millisecond)
	if after := count("camera"); after != held {
		t.Errorf("recording went on after the button was released: %d photos, then %d", held, after)
	}
	t.Logf("the camera class holds %d photos: 1 pasted, %d recorded", held, held-1)
	click(t, ctx, `[data-testid=teach-train]`)
	waitTeach(t, ctx, `document.querySelector('[data-testid=teach-report]') && !document.querySelector('[data-testid=teach-progress]')`)
	click(t, ctx, `[data-testid=teach-camera]`) // off
	if on := evalInt(t, ctx, `+!!document.querySelector('[data-testid=teach-video]').srcObject`); on != 0 {
		t.Error("the camera stream is still attached after turning the camera off")
	}

	// From the gallery: an image of the Embeddings view and its neighbours, to brick.
	bricks := count("brick")
	nav(t, ctx, "embeddings")
	waitLookIdle(t, ctx)
	click(t, ctx, `[data-testid=gallery-item]`)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelectorAll('[data-testid=neighbor]').length > 0 || null`, chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		t.Fatalf("neighbours: %v (page: %s)", err, pageText(ctx))
	}
	neighbours := evalInt(t, ctx, `document.querySelectorAll('[data-testid=neighbor]').length`)
	query := evalString(t, ctx, `document.querySelector('[data-testid=query]').dataset.query`)
	setValue(t, ctx, "teach-from-class", "0", "change")
	click(t, ctx, `[data-testid=teach-from-neighbors]`)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!document.querySelector('[data-testid=teach-from-note]') || !!document.querySelector('[data-testid=teach-from] .error') || null`, chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		t.Fatalf("adding gallery images: %v (page: %s)", err, pageText(ctx))
	}
	note := evalString(t, ctx, `(document.querySelector('[data-testid=teach-from-note]') || document.querySelector('[data-testid=teach-from] .error')).textContent`)
	t.Logf("%s and its %d neighbours: %s", query, neighbours, note)
	added := 1 + neighbours
	if evalInt(t, ctx, `[...document.querySelectorAll('[data-testid=neighbor]')].some(n => n.dataset.item === document.querySelector('[data-testid=query]').dataset.query) ? 1 : 0`) == 1 {
		added-- // the query is its own nearest neighbour: added once
	}
	if want := fmt.Sprintf("Added %d to brick: it has %d photos now.", added, bricks+added); note != want {
		t.Errorf("adding gallery images: %q, want %q", note, want)
	}
	openTeach(t, ctx)
	if c := count("brick"); c != bricks+added {
		t.Errorf("brick holds %d photos, want %d", c, bricks+added)
	}
}

// TestTeachRecordNumbers (opt-in: ALEXLENS_BROWSER_BENCH=1) measures the Teach view's camera
// (Chromium's fake camera, 640 x 480) while a class's button is held for 5 s: the frames
// captured a second (at most 10 by design), and how soon all are embedded (each with its
// mirror image, the project stored in IndexedDB after each).
func TestTeachRecordNumbers(t *testing.T) {
	if os.Getenv("ALEXLENS_BROWSER_BENCH") == "" {
		t.Skip("opt-in: set ALEXLENS_BROWSER_BENCH=1")
	}
	for _, arch := range []string{lookArch(), "alexnet"} {
		t.Run(arch, func(t *testing.T) {
			ctx := browser(t, false)
			open(t, ctx, "?arch="+arch+"&precision=f32")
			openTeach(t, ctx)
			setValue(t, ctx, "teach-name", "me", "change")
			click(t, ctx, `[data-testid=teach-add-class]`)
			waitTeach(t, ctx, `document.querySelector('[data-testid=teach-class][data-name=me]')`)
			click(t, ctx, `[data-testid=teach-camera]`)
			if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('[data-testid=teach-video]')?.videoWidth > 0 || null`, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
				t.Fatal(err)
			}
			type point struct{ X, Y float64 }
			at, err := chromedp.Run(ctx, chromedp.Evaluate[point](`(() => { const b = document.querySelector('[data-testid=teach-record]'); b.scrollIntoView({block: 'center'}); const r = b.getBoundingClientRect(); return {X: r.x + r.width / 2, Y: r.y + r.height / 2}; })()`))
			if err != nil {
				t.Fatal(err)
			}
			count := func() int {
				return evalInt(t, ctx, `+document.querySelector('[data-testid=teach-class][data-name=me]').dataset.count`)
			}
			start := time.Now()
			if err := chromedp.Do(ctx, chromedp.MouseEvent(chromedp.MousePressed, at.X, at.Y, chromedp.ButtonLeft, chromedp.ClickCount(1))); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Second)
			if err := chromedp.Do(ctx, chromedp.MouseEvent(chromedp.MouseReleased, at.X, at.Y, chromedp.ButtonLeft, chromedp.ClickCount(1))); err != nil {
				t.Fatal(err)
			}
			held := time.Since(start)
			waitTeach(t, ctx, `!document.querySelector('[data-testid=teach-busy]')`)
			done := time.Since(start) // an upper bound: includes the poll
			n := count()
			t.Logf("%s: %d frames captured in %.1f s of holding (%.1f frames/s), all embedded %.1f s after the press (%.1f frames/s)",
				arch, n, held.Seconds(), float64(n)/held.Seconds(), done.Seconds(), float64(n)/done.Seconds())
		})
	}
}
