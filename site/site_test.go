package site

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"github.com/alexlens/alexlens/server"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/weights"

	"github.com/alexlens/alexlens/weights/manifest"
)

// fakeWeb writes a small built app with the shape scripts/build-web.sh gives.
func fakeWeb(t *testing.T, dir, style string) {
	t.Helper()
	files := map[string]string{
		"index.html":                        "<!doctype html>\n<html lang=\"en\" data-app=\"app.0123456789ab.wasm\">\n<head>\n<title>x</title>\n</head>\n<body></body>\n</html>\n",
		"app.0123456789ab.wasm":             "\x00asm\x01\x00\x00\x00" + strings.Repeat("app", 200),
		"style.abcdef012345.css":            style,
		"favicon.svg":                       "<svg xmlns='http://www.w3.org/2000/svg'/>",
		"engine.00112233aabb.wasm":          "\x00asm\x01\x00\x00\x00engine",
		"engine-shared.00112233aabc.wasm":   "\x00asm\x01\x00\x00\x00shared",
		"engine-portable.00112233aabd.wasm": "\x00asm\x01\x00\x00\x00portable",
		"wasm_exec.445566778899.js":         "// go",
		"samples/chelsea.jpg":               "\xff\xd8\xff",
		".hidden":                           "secret",
		"app.0123456789ab.wasm.br":          "stale?",
	}
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fixtureWeights writes SqueezeNet fixture weights (f32, 4.9 MB, and int8) with a manifest.
func fixtureWeights(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fix := weights.Fixture(engine.SqueezeNet11, 3)
	for _, p := range []engine.Precision{engine.F32, engine.Int8} {
		if _, err := weights.WriteModel(dir, fix.WithPrecision(p), weights.FixtureSource(3)); err != nil {
			t.Fatal(err)
		}
	}
	if err := weights.WriteManifest(dir); err != nil {
		t.Fatal(err)
	}
}

type exported struct {
	dir      string
	res      *Result
	manifest []manifest.Entry
}

func export(t *testing.T, web, wts, out string, limit int64) exported {
	t.Helper()
	res, err := Export(Options{WebDir: web, WeightsDir: wts, OutDir: out, ShardLimit: limit, Brotli: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "weights", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Weights []manifest.Entry }
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return exported{out, res, m.Weights}
}

func TestExport(t *testing.T) {
	tmp := t.TempDir()
	web, wts, out := filepath.Join(tmp, "web"), filepath.Join(tmp, "weights"), filepath.Join(tmp, "dist")
	fakeWeb(t, web, "body{color:red}")
	fixtureWeights(t, wts)
	const limit = 1 << 20
	x := export(t, web, wts, out, limit)

	// Every file is under the limit; the hidden file did not travel.
	filepath.Walk(out, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && fi.Size() > limit {
			t.Errorf("%s is %d bytes, over the %d limit", p, fi.Size(), limit)
		}
		if strings.HasPrefix(fi.Name(), ".") {
			t.Errorf("dotfile %s exported", p)
		}
		return nil
	})

	// The f32 file (4.9 MB) was sharded; the shards put together are the original file,
	// each shard's name and hash match its bytes. The int8 file (1.3 MB)... also over 1 MiB.
	if len(x.manifest) != 2 {
		t.Fatalf("manifest has %d entries, want 2", len(x.manifest))
	}
	for _, e := range x.manifest {
		orig, err := os.ReadFile(filepath.Join(wts, e.File))
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(orig)) <= limit {
			if len(e.Shards) != 0 {
				t.Errorf("%s fits the limit but was sharded", e.File)
			}
			continue
		}
		if len(e.Shards) < 2 {
			t.Fatalf("%s (%d bytes) not sharded", e.File, len(orig))
		}
		if err := manifest.CheckShards(e.Shards, e.Bytes, limit); err != nil {
			t.Fatal(err)
		}
		var whole []byte
		for _, s := range e.Shards {
			b, err := os.ReadFile(filepath.Join(out, "weights", s.File))
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			if hex.EncodeToString(sum[:]) != s.SHA256 || !strings.Contains(s.File, s.SHA256[:12]) {
				t.Errorf("shard %s: hash or name does not match its bytes", s.File)
			}
			whole = append(whole, b...)
		}
		if !bytes.Equal(whole, orig) {
			t.Errorf("%s: shards do not reassemble the file", e.File)
		}
		if _, err := os.Stat(filepath.Join(out, "weights", e.File)); err == nil {
			t.Errorf("%s was published whole as well as sharded", e.File)
		}
		// The engine worker's reader finds the same shards.
		mb, _ := os.ReadFile(filepath.Join(out, "weights", "manifest.json"))
		pm, err := manifest.Parse(mb)
		if err != nil {
			t.Fatal(err)
		}
		got, size, err := pm.Shards(e.File, e.SHA256)
		if err != nil || size != e.Bytes || len(got) != len(e.Shards) {
			t.Errorf("manifest Shards = %d shards, %d bytes, %v", len(got), size, err)
		}
	}
	if x.res.Shards == 0 {
		t.Error("result counts no shards")
	}

	// index.html links the PWA files and names the build.
	index := read(t, out, "index.html")
	for _, want := range []string{`rel="manifest" href="manifest.webmanifest"`, `data-build="` + x.res.Build + `"`, `<script src="pwa.`} {
		if !strings.Contains(index, want) {
			t.Errorf("index.html lacks %s:\n%s", want, index)
		}
	}
	pwa := regexp.MustCompile(`pwa\.[0-9a-f]{12}\.js`).FindString(index)
	if pwa == "" || read(t, out, pwa) == "" {
		t.Errorf("pwa script %q missing", pwa)
	}

	// sw.js lists the shell with the hashes of the bytes written, and no weights.
	sw := read(t, out, "sw.js")
	if !strings.Contains(sw, `const BUILD = "`+x.res.Build+`"`) {
		t.Error("sw.js does not carry the build")
	}
	m := regexp.MustCompile(`const SHELL = (\[.*\]);`).FindStringSubmatch(sw)
	if m == nil {
		t.Fatal("no SHELL list in sw.js")
	}
	var shell [][2]string
	if err := json.Unmarshal([]byte(m[1]), &shell); err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, f := range shell {
		listed[f[0]] = true
		sum := sha256.Sum256([]byte(read(t, out, f[0])))
		if hex.EncodeToString(sum[:]) != f[1] {
			t.Errorf("sw.js hash of %s does not match the file", f[0])
		}
		if strings.HasPrefix(f[0], "weights/") || strings.HasSuffix(f[0], ".br") || strings.HasPrefix(f[0], "engine-shared.") || strings.HasPrefix(f[0], "engine-portable.") {
			t.Errorf("sw.js precaches %s", f[0])
		}
	}
	for _, want := range []string{"embed.html", "embed.js", "index.html", "app.0123456789ab.wasm", "engine.00112233aabb.wasm", "style.abcdef012345.css", "manifest.webmanifest", "icon-192.png", "icon-512.png", "samples/chelsea.jpg", pwa} {
		if !listed[want] {
			t.Errorf("sw.js does not precache %s", want)
		}
	}

	// The embed page names the hashed view, style and engine scripts; the engine script
	// runs the app's engine.
	page := read(t, out, "embed.html")
	for _, re := range []string{`embed-view\.[0-9a-f]{12}\.js`, `embed\.[0-9a-f]{12}\.css`, `data-engine="embed-engine\.[0-9a-f]{12}\.js"`} {
		if !regexp.MustCompile(re).MatchString(page) {
			t.Errorf("embed.html lacks %s", re)
		}
	}
	eng := regexp.MustCompile(`embed-engine\.[0-9a-f]{12}\.js`).FindString(page)
	if js := read(t, out, eng); !strings.Contains(js, `importScripts("wasm_exec.445566778899.js")`) || !strings.Contains(js, `"engine.00112233aabb.wasm"`) || !strings.Contains(js, `"engine-portable.00112233aabd.wasm"`) {
		t.Errorf("%s does not load the app's engine", eng)
	}

	// _headers: security headers for all (those of the Go server: cross-origin isolated),
	// immutable only for content-hashed names.
	h := read(t, out, "_headers")
	for _, hd := range server.SecurityHeaders(server.DefaultCSP, true) {
		if !strings.Contains(h, "\n  "+hd[0]+": "+hd[1]+"\n") {
			t.Errorf("_headers lacks the server's %s: %s", hd[0], hd[1])
		}
	}
	for _, want := range []string{"/*\n  Content-Security-Policy: default-src 'self'", "/app.0123456789ab.wasm\n  Cache-Control: public, max-age=31536000, immutable", "/" + pwa + "\n  Cache-Control: public, max-age=31536000, immutable"} {
		if !strings.Contains(h, want) {
			t.Errorf("_headers lacks %q", want)
		}
	}
	for _, never := range []string{"/index.html\n", "/sw.js\n", "/weights/manifest.json\n"} {
		if strings.Contains(h, never) {
			t.Errorf("_headers caches %q", never)
		}
	}

	// Precompressed copies: fresh for rewritten files; the stale copy in the web folder of
	// an unchanged file is kept only if current (here its time equals the file's: kept).
	for _, f := range []string{"index.html.br", "index.html.gz", "sw.js.br", pwa + ".gz"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("no precompressed %s", f)
		}
	}

	// The same inputs give the same build; a changed file gives another.
	again := export(t, web, wts, filepath.Join(tmp, "dist2"), limit)
	if again.res.Build != x.res.Build {
		t.Errorf("same inputs, builds %s and %s", x.res.Build, again.res.Build)
	}
	os.WriteFile(filepath.Join(web, "samples", "chelsea.jpg"), []byte("\xff\xd8\xff\x00"), 0o644)
	changed := export(t, web, wts, out, limit) // over the first export
	if changed.res.Build == x.res.Build {
		t.Error("a changed sample did not change the build")
	}
	if !strings.Contains(read(t, out, "sw.js"), changed.res.Build) {
		t.Error("the replaced export still has the old sw.js")
	}
}

func read(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestExportErrors(t *testing.T) {
	tmp := t.TempDir()
	web, wts := filepath.Join(tmp, "web"), filepath.Join(tmp, "weights")
	out := filepath.Join(tmp, "dist")
	if _, err := Export(Options{WebDir: web, OutDir: out}); err == nil || !strings.Contains(err.Error(), "make web") {
		t.Errorf("missing web app: %v", err)
	}
	fakeWeb(t, web, "x")
	if _, err := Export(Options{WebDir: web, WeightsDir: wts, OutDir: out}); err == nil || !strings.Contains(err.Error(), "weights") {
		t.Errorf("missing weights manifest: %v", err)
	}
	fixtureWeights(t, wts)
	// A weights file changed after its manifest was written is refused, and the earlier
	// export (none here) is left alone.
	m, _ := manifest.Read(filepath.Join(wts, "manifest.json"))
	f := filepath.Join(wts, m.Weights[0].File)
	b, _ := os.ReadFile(f)
	b[len(b)-1] ^= 1
	os.WriteFile(f, b, 0o644)
	if _, err := Export(Options{WebDir: web, WeightsDir: wts, OutDir: out}); err == nil || !strings.Contains(err.Error(), "does not match its manifest") {
		t.Errorf("corrupt weights: %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed export left an output folder")
	}
	if _, err := Export(Options{WebDir: web, OutDir: out, ShardLimit: 10}); err == nil {
		t.Error("a 10 byte shard limit was accepted")
	}
	os.WriteFile(filepath.Join(web, "index.html"), []byte("no head"), 0o644)
	if _, err := Export(Options{WebDir: web, OutDir: out}); err == nil || !strings.Contains(err.Error(), "</head>") {
		t.Errorf("index.html without head: %v", err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(tmp, ".dist.tmp-*"))
	if len(leftovers) > 0 {
		t.Errorf("staging folders left behind: %v", leftovers)
	}
}

func TestIcon(t *testing.T) {
	for _, n := range []int{192, 512} {
		b, err := Icon(n)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if s := img.Bounds().Size(); s.X != n || s.Y != n {
			t.Errorf("icon %d is %v", n, s)
		}
		// Not a flat square: the middle has kernel pixels unlike the corner.
		if img.At(0, 0) == img.At(n*3/10, n*3/10) && img.At(0, 0) == img.At(n/2, n/2) {
			t.Errorf("icon %d looks flat", n)
		}
	}
	if _, err := Icon(4); err == nil {
		t.Error("a 4 px icon was drawn")
	}
}

// TestEmbedDemoArchs: the embed demo shows networks the site has: the original AlexNet's
// first layer for the kernels when published, else the smallest whole trained network.
func TestEmbedDemoArchs(t *testing.T) {
	e := func(arch, kind, partial string, bytes int64) manifest.Entry {
		return manifest.Entry{Arch: arch, Kind: kind, Partial: manifest.Partial(partial), Bytes: bytes}
	}
	for _, c := range []struct {
		name             string
		ws               []manifest.Entry
		kernels, network string
	}{
		{"none", nil, "alexnet-bvlc", "squeezenet1_1"},
		{"make weights", []manifest.Entry{e("alexnet", "trained", "", 244e6), e("squeezenet1_1", "trained", "", 5e6), e("alexnet-bvlc", "trained", "conv1", 140e3)}, "alexnet-bvlc", "squeezenet1_1"},
		{"alexnet only", []manifest.Entry{e("alexnet", "trained", "", 244e6), e("alexnet", "trained", "", 61e6)}, "alexnet", "alexnet"},
		{"trained before fixture", []manifest.Entry{e("squeezenet1_1", "fixture", "", 5e6), e("alexnet", "trained", "", 61e6)}, "alexnet", "alexnet"},
	} {
		k, n := demoArchs(c.ws)
		if k != c.kernels || n != c.network {
			t.Errorf("%s: demo shows kernels of %s and runs %s, want %s and %s", c.name, k, n, c.kernels, c.network)
		}
	}
	// An export with SqueezeNet fixtures only: every view of the demo names it.
	tmp := t.TempDir()
	web, wts, out := filepath.Join(tmp, "web"), filepath.Join(tmp, "weights"), filepath.Join(tmp, "dist")
	fakeWeb(t, web, "body{}")
	fixtureWeights(t, wts)
	export(t, web, wts, out, 1<<20)
	demo, err := os.ReadFile(filepath.Join(out, "embed-demo.html"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(demo), `data-arch="squeezenet1_1"`); n != 8 || strings.Contains(string(demo), "alexnet") {
		t.Errorf("the demo names squeezenet1_1 %d times (want 8: four views, each as a snippet and live; and no AlexNet the site lacks)", n)
	}
}
