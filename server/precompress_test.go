package server

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
)

func TestPrecompress(t *testing.T) {
	dir := t.TempDir()
	text := func(s string) []byte { return []byte(strings.Repeat(s, 200)) }
	random := make([]byte, 4096)
	rand.Read(random)
	files := map[string][]byte{
		"app.wasm":           append([]byte("\x00asm\x01\x00\x00\x00"), text("i32.add local.get ")...),
		"main.js":            text("const x = await fetch(url);\n"),
		"index.html":         text("<div>AlexLens</div>\n"),
		"style.css":          text("body{margin:0}\n"),
		"data/manifest.json": text(`{"layer":"conv1"},`),
		"icon.svg":           text("<path d='M0 0'/>"),
		"small.js":           []byte("let a=1;"), // below the size threshold
		"photo.png":          text("PNGPNGPNG"),  // not a compressible type
		"noise.wasm":         random,             // compressed would not be smaller
		".hidden/secret.js":  text("secret();"),  // dot-directory
		".eslintrc.json":     text("{}"),         // dotfile
		"weights/model.alxw": text("weights"),    // weight files are not precompressed
		"deep/er/nested.css": text("a{b:c}\n"),
	}
	mtime := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for name, b := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, b, 0o644)
		os.Chtimes(p, mtime, mtime)
	}
	os.WriteFile(filepath.Join(dir, "noise.wasm.br"), []byte("stale"), 0o644) // older build's leftover
	os.Symlink(filepath.Join(dir, "main.js"), filepath.Join(dir, "link.js"))

	if err := Precompress(dir); err != nil {
		t.Fatal(err)
	}
	want := []string{"app.wasm", "main.js", "index.html", "style.css", "data/manifest.json", "icon.svg", "deep/er/nested.css"}
	for _, name := range want {
		p := filepath.Join(dir, filepath.FromSlash(name))
		for _, enc := range []string{".gz", ".br"} {
			z, err := os.ReadFile(p + enc)
			if err != nil {
				t.Errorf("%s%s not written: %v", name, enc, err)
				continue
			}
			got, err := decompress(enc, z)
			if err != nil || !bytes.Equal(got, files[name]) {
				t.Errorf("%s%s does not decode to the file: %v", name, enc, err)
			}
			if len(z) >= len(files[name]) {
				t.Errorf("%s%s is %d bytes, the file %d", name, enc, len(z), len(files[name]))
			}
			fi, _ := os.Stat(p + enc)
			if !fi.ModTime().Equal(mtime) {
				t.Errorf("%s%s modification time %v, want the file's %v", name, enc, fi.ModTime(), mtime)
			}
		}
	}
	for _, name := range []string{"small.js", "photo.png", "noise.wasm", ".hidden/secret.js", ".eslintrc.json", "weights/model.alxw", "link.js"} {
		for _, enc := range []string{".gz", ".br"} {
			if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name)) + enc); err == nil {
				t.Errorf("%s%s written, want none", name, enc)
			}
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".precompress-*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}

	// A second run rewrites nothing: siblings are current.
	before, _ := os.Stat(filepath.Join(dir, "main.js.br"))
	if err := Precompress(dir); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(filepath.Join(dir, "main.js.br"))
	if !os.SameFile(before, after) {
		t.Errorf("a current sibling was rewritten")
	}

	// A changed file gets new siblings.
	newJS := text("const y = 2;\n")
	os.WriteFile(filepath.Join(dir, "main.js"), newJS, 0o644)
	if err := Precompress(dir); err != nil {
		t.Fatal(err)
	}
	for _, enc := range []string{".gz", ".br"} {
		z, _ := os.ReadFile(filepath.Join(dir, "main.js"+enc))
		if got, err := decompress(enc, z); err != nil || !bytes.Equal(got, newJS) {
			t.Errorf("main.js%s is stale after the file changed (%v)", enc, err)
		}
	}

	if err := Precompress(filepath.Join(dir, "missing")); err == nil {
		t.Errorf("Precompress of a missing directory returned nil")
	}
	if err := Precompress(filepath.Join(dir, "main.js")); err == nil {
		t.Errorf("Precompress of a file returned nil")
	}
	for _, opt := range []PrecompressOptions{{BrotliQuality: 12}, {BrotliQuality: -1}, {GzipLevel: 10}} {
		if err := PrecompressWith(dir, opt); err == nil {
			t.Errorf("PrecompressWith(%+v) returned nil", opt)
		}
	}
}

func decompress(enc string, z []byte) ([]byte, error) {
	if enc == ".gz" {
		zr, err := gzip.NewReader(bytes.NewReader(z))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	}
	return io.ReadAll(brotli.NewReader(bytes.NewReader(z)))
}
