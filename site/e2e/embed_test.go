//go:build !js

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/engine/imagenet"
	"github.com/alexlens/alexlens/engine/preprocess"
	"github.com/alexlens/alexlens/gallery"
	"github.com/alexlens/alexlens/gallery/atlas"
	"github.com/alexlens/alexlens/server"
	"github.com/alexlens/alexlens/teach"
	"github.com/alexlens/alexlens/weights"

	"github.com/alexlens/alexlens/weights/manifest"
)

// kernelBudget is what the kernel view may transfer in all (page, script, style,
// manifest, weights header and conv1), as docs/EMBED.md states.
const kernelBudget = 300 << 10

// blogPost serves a host page on its own origin with a strict CSP that only adds the
// AlexLens site to script-src and frame-src, as docs/EMBED.md tells authors to. Its own
// script (/host.js) records CSP violations on the host page.
func blogPost(t *testing.T, site string, body string) string {
	t.Helper()
	csp := fmt.Sprintf("default-src 'none'; script-src 'self' %s; frame-src %s; style-src 'self'; img-src 'self'", site, site)
	page := `<!doctype html><html><head><meta charset="utf-8"><title>A blog post</title>
<link rel="stylesheet" href="/host.css"><script src="/host.js"></script>
<script src="` + site + `/embed.js" async></script></head>
<body><article><h1>What AlexNet's first layer learned</h1><p>Some words before the embeds.</p>` + body + `</article></body></html>`
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(page))
	})
	mux.HandleFunc("/host.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css")
		w.Write([]byte("body { font: 16px/1.5 Georgia, serif; max-width: 760px; margin: 2em auto; } .spacer { height: 6000px; }"))
	})
	mux.HandleFunc("/host.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		w.Write([]byte(`window.violations = []; document.addEventListener("securitypolicyviolation", e => violations.push(e.violatedDirective + " " + e.blockedURI));`))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	// "localhost" and "127.0.0.1" are different origins: the embeds are cross-origin.
	return "http://localhost:" + fmt.Sprint(ln.Addr().(*net.TCPAddr).Port) + "/"
}

type embedState struct{ View, State, Status string }

// waitEmbeds waits until n embeds on the host page report ready or error.
func waitEmbeds(t *testing.T, ctx context.Context, n int) []embedState {
	t.Helper()
	js := fmt.Sprintf(`(() => {
		const s = [...document.querySelectorAll('[data-alexlens-state]')].map(d => ({View: d.dataset.alexlens, State: d.dataset.alexlensState, Status: d.dataset.alexlensStatus || ''}));
		return s.length >= %d ? s : null;
	})()`, n)
	return poll[[]embedState](t, ctx, fmt.Sprintf("%d embeds", n), js, 120*time.Second)
}

// TestEmbedKernelBudget: a post with only the kernel view transfers less than the budget
// from the AlexLens site, and never starts the engine.
func TestEmbedKernelBudget(t *testing.T) {
	ctx := browser(t)
	dist := filepath.Join(t.TempDir(), "dist")
	export(t, webDir, dist)
	h := serveCSP(t, dist, server.DefaultCSP)
	arch := kernelArch()
	post := blogPost(t, h.url, `<div data-alexlens="kernels" data-arch="`+arch+`"></div>`)
	if err := chromedp.Do(ctx, chromedp.Navigate(post)); err != nil {
		t.Fatal(err)
	}
	s := waitEmbeds(t, ctx, 1)
	if s[0].State != "ready" {
		t.Fatalf("kernel embed: %+v", s[0])
	}
	time.Sleep(500 * time.Millisecond) // let any stray request arrive
	h.mu.Lock()
	sent, paths := h.sent, append([]string(nil), h.paths...)
	h.mu.Unlock()
	t.Logf("kernel view of %s: %d bytes from the site in %d requests: %v (%s)", arch, sent, len(paths), paths, s[0].Status)
	if sent > kernelBudget {
		t.Errorf("the kernel view transferred %d bytes, over the %d byte budget", sent, kernelBudget)
	}
	for _, p := range paths {
		if strings.HasSuffix(p, ".wasm") || strings.Contains(p, "engine") {
			t.Errorf("the kernel view loaded the engine (%s)", p)
		}
	}
	if v := eval[[]string](t, ctx, `window.violations`); len(v) > 0 {
		t.Errorf("CSP violations on the host page: %v", v)
	}
}

// kernelArch is the network whose kernels the tests show: the original AlexNet's trained
// conv1 when the shared folder has it, else SqueezeNet.
func kernelArch() string {
	if m, _ := filepath.Glob(filepath.Join(weightsDir, engine.AlexNetBVLC.Name+"-*.alxw")); len(m) > 0 {
		return engine.AlexNetBVLC.Name
	}
	return engine.SqueezeNet11.Name
}

// TestEmbedPage: a post with three views (kernels, classify, activations) and a fourth far
// below the fold. The visible ones work under the post's strict CSP; classify and
// activations share one engine and download the weights once; the fourth loads nothing
// until it is scrolled to.
func TestEmbedPage(t *testing.T) {
	ctx := browser(t)
	dist := filepath.Join(t.TempDir(), "dist")
	export(t, webDir, dist)
	h := serveCSP(t, dist, server.DefaultCSP)
	sq := engine.SqueezeNet11.Name
	post := blogPost(t, h.url, `
<div data-alexlens="kernels" data-arch="`+kernelArch()+`"></div>
<p>And here is what it says about a photo:</p>
<div data-alexlens="classify" data-arch="`+sq+`"></div>
<div data-alexlens="activations" data-arch="`+sq+`" data-layer="conv1"></div>
<div class="spacer"></div>
<div id="below" data-alexlens="neighbours" data-arch="`+sq+`"></div>`)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(900, 1400), chromedp.Navigate(post)); err != nil {
		t.Fatal(err)
	}
	states := waitEmbeds(t, ctx, 3)
	for _, s := range states {
		if s.State != "ready" {
			t.Errorf("%s embed: %s (%s)", s.View, s.State, s.Status)
		}
		if haveReal && s.View == "classify" && !strings.Contains(s.Status, "top-1 tabby") && !strings.Contains(s.Status, "cat") {
			t.Errorf("classify embed on chelsea.jpg: %s", s.Status)
		}
	}
	if n := h.count("/embed.html", ""); n != 3 {
		t.Errorf("%d embed pages loaded before scrolling, want 3 (the fourth is far below)", n)
	}
	// One engine, one download: each piece of the SqueezeNet file was fetched once (the
	// kernel view reads conv1 with a Range request of its own when it shows SqueezeNet).
	f32 := pieces(t, dist, sq, "f32")
	for _, p := range f32 {
		if n := h.countWhole("/weights/"+p, ""); n != 1 {
			t.Errorf("%s fetched %d times by two embeds, want once", p, n)
		}
	}
	if n := h.count("/engine.", ".wasm"); n != 1 {
		t.Errorf("engine.wasm fetched %d times, want once (one shared engine)", n)
	}
	if v := eval[[]string](t, ctx, `window.violations`); len(v) > 0 {
		t.Errorf("CSP violations on the host page: %v", v)
	}
	// The iframes take their containers' width and their content's height.
	sizes := eval[[][2]float64](t, ctx, `[...document.querySelectorAll('iframe')].map(f => [f.getBoundingClientRect().width / f.parentElement.getBoundingClientRect().width, f.getBoundingClientRect().height])`)
	for i, s := range sizes {
		if s[0] < 0.99 || s[0] > 1.01 || s[1] < 100 {
			t.Errorf("iframe %d: width ratio %.2f, height %.0f px", i, s[0], s[1])
		}
	}
	shotPage(t, ctx, "embed-post", 900)

	// Scrolling down mounts the fourth, which reuses the engine and the weights.
	eval[bool](t, ctx, `document.getElementById('below').scrollIntoView(), true`)
	states = waitEmbeds(t, ctx, 4)
	for _, s := range states {
		if s.View == "neighbours" && s.State != "ready" {
			t.Errorf("neighbours embed: %s (%s)", s.State, s.Status)
		}
	}
	for _, p := range f32 {
		if n := h.countWhole("/weights/"+p, ""); n != 1 {
			t.Errorf("%s fetched %d times by three embeds, want once", p, n)
		}
	}
}

// pieces lists the files (shards, or the whole file) of arch's weights at precision in an
// export.
func pieces(t *testing.T, dist, arch, precision string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dist, "weights", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m manifest.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, e := range m.Weights {
		if e.Arch == arch && e.Precision == precision && e.Partial == "" {
			if len(e.Shards) == 0 {
				return []string{e.File}
			}
			var out []string
			for _, s := range e.Shards {
				out = append(out, s.File)
			}
			return out
		}
	}
	t.Fatalf("no %s %s weights in the export", arch, precision)
	return nil
}

// shotPage saves a screenshot of the whole page, width w, under testout/.
func shotPage(t *testing.T, ctx context.Context, name string, w int64) {
	t.Helper()
	full := eval[int64](t, ctx, `Math.min(2400, Math.ceil(document.querySelector('article').getBoundingClientRect().bottom - 6000))`)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, max(full, 600)), chromedp.Sleep(300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, name)
}

// TestEmbedDemo: the export's live preview page (embed-demo.html, linked from
// docs/EMBED.md) shows its snippets working on the site itself, under the site's CSP.
func TestEmbedDemo(t *testing.T) {
	ctx := browser(t)
	dist := filepath.Join(t.TempDir(), "dist")
	export(t, webDir, dist)
	h := serveCSP(t, dist, server.DefaultCSP)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(900, 5000), chromedp.Navigate(h.url+"/embed-demo.html")); err != nil {
		t.Fatal(err)
	}
	for _, s := range waitEmbeds(t, ctx, 4) {
		if s.State != "ready" {
			t.Errorf("%s preview: %s (%s)", s.View, s.State, s.Status)
		}
	}
	if snippet := eval[string](t, ctx, `document.querySelector('pre code').textContent`); !strings.Contains(snippet, `embed.js" async></script>`) {
		t.Errorf("the first snippet is %q", snippet)
	}
}

// writeAtlasFile writes a 4x4 atlas file of fixture SqueezeNet fire9 embeddings under dir:
// five drawn cells, each icon one flat colour, and returns the cells' places.
func writeAtlasFile(t *testing.T, path string) [][2]int {
	t.Helper()
	m := weights.Fixture(engine.SqueezeNet11, 1)
	h, err := gallery.HeaderFor(m, "fire9", gallery.Int8, 0, "fixture")
	if err != nil {
		t.Fatal(err)
	}
	places := [][2]int{{0, 0}, {3, 0}, {1, 2}, {2, 2}, {3, 3}} // (x, y)
	cells := make([]gallery.Cell, len(places))
	icons := make([]*image.RGBA, len(places))
	for i, p := range places {
		mean := make([]float32, h.Dim)
		mean[i] = 1
		cells[i] = gallery.Cell{Col: p[0], Row: p[1], Members: []int{i, i + 10}, Mean: mean,
			Top: []engine.Class{{Index: 281 + i, Prob: 0.5}}}
		icons[i] = image.NewRGBA(image.Rect(0, 0, 32, 32))
		draw.Draw(icons[i], icons[i].Rect, image.NewUniform(color.RGBA{uint8(50 * i), 200, 100, 255}), image.Point{}, draw.Src)
	}
	member := func(k int) string { return fmt.Sprintf("photo-%d.jpg", k) }
	g, err := atlas.File(h, gallery.AtlasLayout{Grid: 4, Of: gallery.AtlasOfGallery, Method: "tsne", Source: "a test gallery"}, cells, icons, member, imagenet.Label)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := g.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return places
}

// TestEmbedAtlas: the atlas view draws an atlas file kept on the site, each icon at its
// cell of the grid, without loading any weights; a chosen cell shows its classes and
// images; a missing file, a plain gallery and a file on another site are clear errors.
func TestEmbedAtlas(t *testing.T) {
	ctx := browser(t)
	dist := filepath.Join(t.TempDir(), "dist")
	export(t, webDir, dist)
	places := writeAtlasFile(t, filepath.Join(dist, "atlases", "demo.alxg"))
	// A plain gallery (no atlas layout) beside it.
	m := weights.Fixture(engine.SqueezeNet11, 1)
	ph, err := gallery.HeaderFor(m, "fire9", gallery.Int8, 0, "fixture")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := gallery.New(ph)
	if err != nil {
		t.Fatal(err)
	}
	if err := plain.Add(gallery.Item{Name: "a.jpg", Class: -1}, make([]float32, ph.Dim)); err != nil {
		t.Fatal(err)
	}
	if err := plain.WriteFile(filepath.Join(dist, "atlases", "plain.alxg")); err != nil {
		t.Fatal(err)
	}
	h := serveCSP(t, dist, server.DefaultCSP)
	post := blogPost(t, h.url, `
<div id="good" data-alexlens="atlas" data-gallery="atlases/demo.alxg"></div>
<div id="missing" data-alexlens="atlas" data-gallery="atlases/none.alxg"></div>
<div id="plain" data-alexlens="atlas" data-gallery="atlases/plain.alxg"></div>
<div id="elsewhere" data-alexlens="atlas" data-gallery="https://example.com/a.alxg"></div>`)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(900, 3000), chromedp.Navigate(post)); err != nil {
		t.Fatal(err)
	}
	waitEmbeds(t, ctx, 4)
	status := eval[map[string][2]string](t, ctx, `Object.fromEntries([...document.querySelectorAll('[data-alexlens]')].map(d => [d.id, [d.dataset.alexlensState, d.dataset.alexlensStatus]]))`)
	for id, want := range map[string][2]string{
		"good":      {"ready", "4×4 atlas, 5 cells with icons: a test gallery laid out by tsne · squeezenet1_1 fire9 · untrained fixture weights"},
		"missing":   {"error", "HTTP 404"},
		"plain":     {"error", "not an atlas file"},
		"elsewhere": {"error", "must be on this AlexLens site"},
	} {
		if got := status[id]; got[0] != want[0] || !strings.Contains(got[1], want[1]) {
			t.Errorf("%s: %s %q, want %s and %q", id, got[0], got[1], want[0], want[1])
		}
	}
	if n := h.count("/weights/", ""); n != 0 {
		t.Errorf("the atlas views fetched %d weights files, want none", n)
	}
	if v := eval[[]string](t, ctx, `window.violations`); len(v) > 0 {
		t.Errorf("CSP violations on the host page: %v", v)
	}

	// The view itself: each icon where its cell is, and a chosen cell's details.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(600, 900), chromedp.Navigate(h.url+"/embed.html?view=atlas&gallery=atlases/demo.alxg")); err != nil {
		t.Fatal(err)
	}
	poll[bool](t, ctx, "the atlas view", `document.getElementById('view').dataset.state === 'ready' || null`, 60*time.Second)
	type box struct{ X, Y, Left, Top, W, H float64 }
	boxes := eval[[]box](t, ctx, `[...document.querySelectorAll('[data-testid=embed-atlas] button')].map(b => { const r = b.getBoundingClientRect(); return {X: +b.dataset.x, Y: +b.dataset.y, Left: r.left, Top: r.top, W: r.width, H: r.height}; })`)
	if len(boxes) != len(places) {
		t.Fatalf("%d cells drawn, want %d", len(boxes), len(places))
	}
	grid := eval[box](t, ctx, `(r => ({Left: r.left, Top: r.top, W: r.width, H: r.height}))(document.querySelector('[data-testid=embed-atlas]').getBoundingClientRect())`)
	for i, b := range boxes {
		if int(b.X) != places[i][0] || int(b.Y) != places[i][1] || b.W < 20 {
			t.Errorf("cell %d: (%v, %v), %v px wide; want (%d, %d)", i, b.X, b.Y, b.W, places[i][0], places[i][1])
		}
		// Column x starts x quarters across the grid, row y y quarters down.
		if dx, dy := b.Left-grid.Left-b.X*grid.W/4, b.Top-grid.Top-b.Y*grid.H/4; dx < -3 || dx > 3 || dy < -3 || dy > 3 {
			t.Errorf("cell (%v, %v) drawn %.0f, %.0f px off its place on the %.0fx%.0f grid", b.X, b.Y, dx, dy, grid.W, grid.H)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid=embed-atlas] button[data-x="1"][data-y="2"]`))); err != nil {
		t.Fatal(err)
	}
	detail := eval[string](t, ctx, `document.querySelector('[data-testid=embed-atlas-detail]').textContent`)
	for _, want := range []string{"Row 3, column 2 · 2 images", imagenet.Label(283), "photo-2.jpg, photo-12.jpg"} {
		if !strings.Contains(detail, want) {
			t.Errorf("the chosen cell's details %q lack %q", detail, want)
		}
	}
	screenshot(t, ctx, "embed-atlas")
}

// servedModel reassembles arch's f32 weights from an export (whole, or from its shards) and
// decodes them: the model the embeds load.
func servedModel(t *testing.T, dist, arch string) *engine.Model {
	t.Helper()
	var data []byte
	for _, p := range pieces(t, dist, arch, "f32") {
		b, err := os.ReadFile(filepath.Join(dist, "weights", p))
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, b...)
	}
	m, err := weights.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestEmbedHead: a classify view with data-head runs a head saved from the Teach view (an
// .alxw head file kept on the site): its classes first, with the probabilities the head
// gives natively on the photo's embedding, then ImageNet's top-5; a missing head file and a
// head taught on other weights are errors that say so.
func TestEmbedHead(t *testing.T) {
	ctx := browser(t)
	dist := filepath.Join(t.TempDir(), "dist")
	export(t, webDir, dist)
	sq := engine.SqueezeNet11.Name
	m := servedModel(t, dist, sq)
	head := &teach.Head{Arch: sq, Layer: "fire9", WeightsSHA256: gallery.Fingerprint(m), Classes: []string{"warm", "cold"}, Dim: 512}
	for i := range 2 * 512 {
		head.W1 = append(head.W1, float32(math.Sin(float64(i)))/8)
	}
	head.B1 = []float32{0.1, -0.1}
	write := func(name string, h *teach.Head) {
		var buf bytes.Buffer
		if err := weights.EncodeHead(&buf, h, "test"); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dist, "heads"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dist, "heads", name), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("demo.alxw", head)
	foreign := *head
	foreign.WeightsSHA256 = strings.Repeat("ab", 32)
	write("foreign.alxw", &foreign)
	h := serveCSP(t, dist, server.DefaultCSP)
	post := blogPost(t, h.url, `
<div id="good" data-alexlens="classify" data-arch="`+sq+`" data-precision="f32" data-head="heads/demo.alxw"></div>
<div id="missing" data-alexlens="classify" data-arch="`+sq+`" data-precision="f32" data-head="heads/none.alxw"></div>
<div id="foreign" data-alexlens="classify" data-arch="`+sq+`" data-precision="f32" data-head="heads/foreign.alxw"></div>`)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(900, 3000), chromedp.Navigate(post)); err != nil {
		t.Fatal(err)
	}
	waitEmbeds(t, ctx, 3)
	status := eval[map[string][2]string](t, ctx, `Object.fromEntries([...document.querySelectorAll('[data-alexlens]')].map(d => [d.id, [d.dataset.alexlensState, d.dataset.alexlensStatus]]))`)
	for id, want := range map[string][2]string{
		"good":    {"ready", " · taught: "},
		"missing": {"error", "HTTP 404"},
		"foreign": {"error", "taught on other squeezenet1_1 weights"},
	} {
		if got := status[id]; got[0] != want[0] || !strings.Contains(got[1], want[1]) {
			t.Errorf("%s: %s %q, want %s and %q", id, got[0], got[1], want[0], want[1])
		}
	}

	// The view itself: the head's probabilities are the native head's on the photo.
	if err := chromedp.Do(ctx, chromedp.Navigate(h.url+"/embed.html?view=classify&arch="+sq+"&precision=f32&head=heads/demo.alxw&image=coffee.jpg")); err != nil {
		t.Fatal(err)
	}
	poll[bool](t, ctx, "the classify view with a head", `document.getElementById('view').dataset.state === 'ready' || null`, 120*time.Second)
	type pred struct {
		Label string
		Prob  float64
	}
	got := eval[[]pred](t, ctx, `[...document.querySelectorAll('[data-testid=embed-taught] li')].map(l => ({Label: l.dataset.label, Prob: +l.dataset.prob}))`)
	x, err := preprocess.Load(filepath.Join("..", "..", "ui", "samples", "coffee.jpg"), 224)
	if err != nil {
		t.Fatal(err)
	}
	emb, err := gallery.EmbedLayer(m, nil, x, "fire9")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := head.Probabilities(emb[0])
	if len(got) != 2 {
		t.Fatalf("the head's classes shown: %+v", got)
	}
	for _, p := range got {
		i := map[string]int{"warm": 0, "cold": 1}[p.Label]
		if math.Abs(p.Prob-float64(want[i])) > 1e-4 {
			t.Errorf("%s: the embed says %.5f, the native head %.5f", p.Label, p.Prob, want[i])
		}
	}
	t.Logf("the head on coffee.jpg: embed %+v, native %v", got, want)
}
