//go:build !js

package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/alexlens/alexlens/engine"
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
	checkCat(t, classify(t, ctx, filepath.Join(photosDir, "chelsea.png")))
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
	checkCat(t, classify(t, ctx, filepath.Join(photosDir, "chelsea.png")))
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
	checkCat(t, classify(t, ctx, filepath.Join(photosDir, "chelsea.png")))
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
