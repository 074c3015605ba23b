//go:build !js

package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/internal/testenv"
)

// TestStaticExportEndToEnd serves dist/ with a plain static file server and classifies a
// photo: the weights arrive as shards (the whole file is not even published).
func TestStaticExportEndToEnd(t *testing.T) {
	ctx := browser(t)
	dist := filepath.Join(t.TempDir(), "dist")
	export(t, webDir, dist)
	h := serve(t, dist)
	open(t, ctx, h.url+"/?arch="+engine.SqueezeNet11.Name+"&precision=f32")
	if n := h.count("/weights/", ".bin"); n < 2 {
		t.Errorf("%d shard requests, want the f32 file's shards (it is over the %d byte limit)", n, shardLimit)
	}
	if n := h.count("/weights/", ".alxw"); n != 0 {
		t.Errorf("%d requests for whole .alxw files of a sharded file", n)
	}
	checkCat(t, classify(t, ctx, testenv.Photo(t, "chelsea.png")))
	screenshot(t, ctx, "static-export-classified")
}

// TestOfflineReload: open once, cut the network, reload: the app starts from the service
// worker's cache, loads the weights the engine cached, and classifies.
func TestOfflineReload(t *testing.T) {
	ctx := browser(t)
	dist := filepath.Join(t.TempDir(), "dist")
	res := export(t, webDir, dist)
	h := serve(t, dist)
	url := h.url + "/?arch=" + engine.SqueezeNet11.Name + "&precision=f32"
	open(t, ctx, url)
	controlledBy(t, ctx, res.Build)
	setOffline(t, ctx, h, true)
	if online := eval[bool](t, ctx, `navigator.onLine`); online {
		t.Error("the page still believes it is online")
	}
	before := len(h.paths)
	reload(t, ctx)
	if got := eval[string](t, ctx, `document.documentElement.dataset.build`); got != res.Build {
		t.Errorf("offline page is build %q, want %q", got, res.Build)
	}
	checkCat(t, classify(t, ctx, testenv.Photo(t, "chelsea.png")))
	if after := len(h.paths); after != before {
		t.Errorf("the host answered %d requests while offline", after-before)
	}
	screenshot(t, ctx, "offline-classified")
	setOffline(t, ctx, h, false)
}

// TestUpdate deploys a changed build over the first: a reload shows the new version at
// once, the new service worker takes over with the new shell, the weights (unchanged) are
// not downloaded again, and the new version then works offline.
func TestUpdate(t *testing.T) {
	ctx := browser(t)
	dist := filepath.Join(t.TempDir(), "dist")
	v1 := export(t, webDir, dist)
	h := serve(t, dist)
	url := h.url + "/?arch=" + engine.SqueezeNet11.Name + "&precision=f32"
	open(t, ctx, url)
	controlledBy(t, ctx, v1.Build)
	shards := h.count("/weights/", ".bin")

	// The second build differs in one sample file and the stylesheet (a new hashed name).
	web2 := filepath.Join(t.TempDir(), "web2")
	if err := os.CopyFS(web2, os.DirFS(webDir)); err != nil {
		t.Fatal(err)
	}
	restyle(t, web2)
	v2 := export(t, web2, dist)
	if v2.Build == v1.Build {
		t.Fatal("the changed build has the same identity")
	}
	reload(t, ctx)
	if got := eval[string](t, ctx, `document.documentElement.dataset.build`); got != v2.Build {
		t.Fatalf("after the deployment a reload shows build %q, want %q", got, v2.Build)
	}
	// Every stylesheet and script the page uses is one of v2's files.
	v2files := listFiles(t, dist)
	for _, u := range eval[[]string](t, ctx, `[...document.querySelectorAll('script[src], link[rel=stylesheet]')].map(e => e.getAttribute('src') || e.getAttribute('href'))`) {
		if !slices.Contains(v2files, u) {
			t.Errorf("the new page uses %s, which is not part of the new build", u)
		}
	}
	controlledBy(t, ctx, v2.Build)
	if n := h.count("/weights/", ".bin"); n != shards {
		t.Errorf("unchanged weights were downloaded again after the update (%d shard requests, then %d)", shards, n)
	}
	// Only the new shell is kept.
	caches := eval[[]string](t, ctx, `caches.keys()`)
	if !slices.Contains(caches, "alexlens-shell-"+v2.Build) || slices.Contains(caches, "alexlens-shell-"+v1.Build) {
		t.Errorf("caches after the update: %v (want the shell of %s only)", caches, v2.Build)
	}
	setOffline(t, ctx, h, true)
	reload(t, ctx)
	if got := eval[string](t, ctx, `document.documentElement.dataset.build`); got != v2.Build {
		t.Errorf("offline after the update: build %q, want %q", got, v2.Build)
	}
	checkCat(t, classify(t, ctx, testenv.Photo(t, "chelsea.png")))
	setOffline(t, ctx, h, false)
}

// restyle changes the built app's stylesheet the way a new build would: new content, new
// hashed name, index.html pointing at it.
func restyle(t *testing.T, web string) {
	t.Helper()
	old, err := filepath.Glob(filepath.Join(web, "style.*.css"))
	if err != nil || len(old) != 1 {
		t.Fatalf("stylesheet of the build: %v %v", old, err)
	}
	css, _ := os.ReadFile(old[0])
	css = append(css, []byte("\n/* v2 */ .offline-offer { outline: 1px solid transparent; }\n")...)
	name := filepath.Base(old[0])
	newName := "style.0000000000a2.css"
	for _, f := range []string{old[0], old[0] + ".br", old[0] + ".gz"} {
		os.Remove(f)
	}
	if err := os.WriteFile(filepath.Join(web, newName), css, 0o644); err != nil {
		t.Fatal(err)
	}
	index := filepath.Join(web, "index.html")
	b, _ := os.ReadFile(index)
	b = []byte(strings.ReplaceAll(string(b), name, newName))
	os.Remove(index + ".br")
	os.Remove(index + ".gz")
	if err := os.WriteFile(index, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func listFiles(t *testing.T, dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out
}

// TestKeepWeightsOffline: the offer states the size; after the visitor accepts, weights
// the engine never loaded (SqueezeNet int8) start with the network off.
func TestKeepWeightsOffline(t *testing.T) {
	ctx := browser(t)
	dist := filepath.Join(t.TempDir(), "dist")
	res := export(t, webDir, dist)
	h := serve(t, dist)
	open(t, ctx, h.url+"/?arch="+engine.SqueezeNet11.Name+"&precision=f32")
	controlledBy(t, ctx, res.Build)
	offer := poll[string](t, ctx, "the offline offer", `document.querySelector('[data-testid=offline-save]')?.textContent || null`, 30*time.Second)
	if !strings.Contains(offer, " MB)") {
		t.Errorf("the offer does not say how much it stores: %q", offer)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid=offline-save]`))); err != nil {
		t.Fatal(err)
	}
	state := poll[string](t, ctx, "the weights to be kept", `(s => s === 'saved' || s === 'error' ? s : null)(document.querySelector('[data-testid=offline]')?.dataset.state)`, 60*time.Second)
	if state != "saved" {
		t.Fatalf("keeping the weights failed: %s", pageText(ctx))
	}
	kept := eval[int](t, ctx, `caches.open('alexlens-offline-weights').then(c => c.keys()).then(k => k.length)`)
	if kept < 2 {
		t.Errorf("%d files kept offline", kept)
	}
	setOffline(t, ctx, h, true)
	defer setOffline(t, ctx, h, false)
	open(t, ctx, h.url+"/?arch="+engine.SqueezeNet11.Name+"&precision=int8")
	if got := eval[string](t, ctx, `document.querySelector('[data-testid=weights-select]')?.selectedOptions[0]?.textContent || ''`); !strings.Contains(got, "int8") {
		t.Errorf("offline the app loaded %q, want the int8 weights", got)
	}
	checkCat(t, classify(t, ctx, testenv.Photo(t, "chelsea.png")))
}

// TestKeepWeightsOfflineQuota: with too little storage the offer says so clearly and no
// file is left half-stored.
func TestKeepWeightsOfflineQuota(t *testing.T) {
	ctx := browser(t)
	dist := filepath.Join(t.TempDir(), "dist")
	res := export(t, webDir, dist)
	h := serve(t, dist)
	open(t, ctx, h.url+"/?arch="+engine.SqueezeNet11.Name+"&precision=f32")
	controlledBy(t, ctx, res.Build)
	usage := eval[float64](t, ctx, `navigator.storage.estimate().then(e => e.usage)`)
	quota := usage + 256<<10 // far less than the weights
	if _, err := chromedp.Call(ctx, storage.OverrideQuotaForOrigin, storage.OverrideQuotaForOriginParams{Origin: h.url, QuotaSize: &quota}); err != nil {
		t.Fatal(err)
	}
	poll[string](t, ctx, "the offline offer", `document.querySelector('[data-testid=offline-save]')?.textContent || null`, 30*time.Second)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid=offline-save]`))); err != nil {
		t.Fatal(err)
	}
	state := poll[string](t, ctx, "the outcome", `(s => s === 'saved' || s === 'error' ? s : null)(document.querySelector('[data-testid=offline]')?.dataset.state)`, 60*time.Second)
	msg := eval[string](t, ctx, `document.querySelector('[data-testid=offline-status]').textContent`)
	if state != "error" || !strings.Contains(msg, "storage space") || !strings.Contains(msg, "MB") {
		t.Errorf("state %q, message %q; want a clear storage error", state, msg)
	}
	t.Logf("message: %s", msg)
	// Files that fitted are kept whole; the one that did not is not kept at all: for every
	// manifest entry, all of its parts are cached or none.
	partial := eval[[]string](t, ctx, `(async () => {
		const m = await (await fetch('weights/manifest.json')).json();
		const c = await caches.open('alexlens-offline-weights');
		const out = [];
		for (const e of m.weights) {
			const parts = (e.shards && e.shards.length) ? e.shards.map(s => s.file) : [e.file];
			let n = 0;
			for (const p of parts) if (await c.match(new URL('weights/' + p, location.href).href)) n++;
			if (n !== 0 && n !== parts.length) out.push(e.file + ': ' + n + ' of ' + parts.length + ' parts');
		}
		return out;
	})()`)
	if len(partial) > 0 {
		t.Errorf("half-kept files after the storage error: %v", partial)
	}
}

// TestInstallable: Chromium finds nothing that stops the export from installing as an app
// (manifest, icons, service worker), and the manifest it parsed has our name and icons.
func TestInstallable(t *testing.T) {
	ctx := browser(t)
	dist := filepath.Join(t.TempDir(), "dist")
	res := export(t, webDir, dist)
	h := serve(t, dist)
	open(t, ctx, h.url+"/?arch="+engine.SqueezeNet11.Name)
	controlledBy(t, ctx, res.Build)
	errs, err := chromedp.Call(ctx, page.GetInstallabilityErrors, cdp.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs.InstallabilityErrors {
		t.Errorf("installability error %s %v", e.ErrorID, e.ErrorArguments)
	}
	m, err := chromedp.Call(ctx, page.GetAppManifest, page.GetAppManifestParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Errors) > 0 || !strings.Contains(m.Data, `"short_name": "AlexLens"`) || !strings.Contains(m.Data, "icon-512.png") {
		t.Errorf("manifest %s: errors %v", m.URL, m.Errors)
	}
}
