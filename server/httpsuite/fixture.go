// Package httpsuite is a conformance suite for a host serving the AlexLens site: content
// types, caching and validators, conditional and range requests, precompressed
// encodings, path-traversal and hidden-file refusal, security headers, methods, and a
// bounded concurrent load. It speaks real HTTP to a base URL, so the same checks apply to
// the Go server and to any other host (a Cloudflare Worker) serving the same fixture.
//
// Use: WriteFixture into a temporary directory, start the host on fx.WebRoot and
// fx.WeightsDir, then Run(t, baseURL, fx).
package httpsuite

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/andybalholm/brotli"
)

// File is one servable file of the fixture and what a conforming host must answer for it.
type File struct {
	URL         string // request path, e.g. "/app.0123abcd.wasm"
	Body        []byte // identity bytes
	ContentType string // media type without parameters
	Immutable   bool   // content-hashed name: cache forever; otherwise revalidate
	// Encodings lists the precompressed siblings written beside the file, in the
	// server's preference order ("br", "gzip").
	Encodings []string
}

// Files is the fixture: where it lies on disk and what the host must serve from it.
type Files struct {
	WebRoot, WeightsDir string

	Index File   // served at "/"
	Files []File // every servable file, Index included
	Large File   // a weight file big enough for range tests

	// DirWithIndex is a directory URL ("/sub/") answered with its index.html, whose body
	// is DirIndexBody. DirWithoutIndex ("/empty/") must be 404: no listings. Its only
	// file is named ListingCanary, which must not appear in the answer.
	DirWithIndex    string
	DirIndexBody    []byte
	DirWithoutIndex string
	ListingCanary   string

	// Hidden lists URLs of dotfiles and files in dot-directories that exist but must
	// never be served.
	Hidden []string
	// Secret is the content of a file outside both roots; it must never appear in any
	// response. SecretName is its name beside the roots.
	Secret     []byte
	SecretName string
	// SymlinksOut are URLs of symlinks inside the roots that point outside them (empty
	// when the host cannot have symlinks); SymlinkIn is a symlink to a file inside.
	SymlinksOut []string
	SymlinkIn   *File

	// StrictPrecompressed: the host must serve the precompressed siblings as negotiated
	// (the Go server). A host that compresses on its own only needs to send an encoding
	// the client accepted, with a body that decodes to File.Body.
	StrictPrecompressed bool
	// NotIsolated: the host was told to leave out COEP and CORP (by default it sends COEP
	// require-corp and CORP cross-origin: server.SecurityHeaders).
	NotIsolated bool
	// UnknownMethods501: the host's HTTP layer answers a method it does not know (BREW)
	// with 501 Not Implemented before the application sees it, as RFC 9110 §9.1 says an
	// origin server should (workerd does). Known methods must still get 405.
	UnknownMethods501 bool
}

// WriteFixture creates base/web, base/weights and, beside them, a secret file and
// symlinks that try to reach it. Contents are derived from a fixed seed.
func WriteFixture(base string) (Files, error) {
	fx := Files{
		WebRoot:             filepath.Join(base, "web"),
		WeightsDir:          filepath.Join(base, "weights"),
		SecretName:          "outside-secret.txt",
		Secret:              []byte("ALEXLENS-SECRET-7f3e9a outside the served roots\n"),
		DirWithIndex:        "/sub/",
		DirWithoutIndex:     "/empty/",
		ListingCanary:       "listing-canary-5b1d.txt",
		StrictPrecompressed: true,
	}
	rng := rand.New(rand.NewPCG(1, 2))
	text := func(n int, words ...string) []byte {
		var b bytes.Buffer
		for b.Len() < n {
			b.WriteString(words[rng.IntN(len(words))])
			b.WriteByte(' ')
		}
		return b.Bytes()
	}
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	wasm := append([]byte("\x00asm\x01\x00\x00\x00"), text(20000, "local.get", "i32.add", "call", "f32.mul", "end")...)
	index := []byte("<!doctype html>\n<html><head><title>AlexLens</title><script src=\"main.js\"></script></head>\n<body>" +
		string(text(2000, "<p>AlexLens</p>", "<div>layer</div>")) + "</body></html>\n")

	type spec struct {
		dir, name, ctype string
		body             []byte
		immutable        bool
		encodings        []string
	}
	specs := []spec{
		{"web", "index.html", "text/html", index, false, []string{"br", "gzip"}},
		{"web", "app.@HASH@.wasm", "application/wasm", wasm, true, []string{"br", "gzip"}},
		{"web", "main.js", "text/javascript", text(5000, "const", "await", "fetch(url);", "return"), false, []string{"gzip"}},
		{"web", "style.css", "text/css", text(3000, "body{margin:0}", ".grid{display:grid}"), false, nil},
		{"web", "manifest.webmanifest", "application/manifest+json", []byte(`{"name":"AlexLens","start_url":"/"}`), false, nil},
		{"web", "manifest.json", "application/json", []byte(`{"name":"AlexLens"}`), false, nil},
		{"web", "sw.js", "text/javascript", []byte("self.addEventListener('fetch', () => {});\n"), false, nil},
		{"web", "icon.svg", "image/svg+xml", []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>`), false, nil},
		{"web", "photo.png", "image/png", append([]byte("\x89PNG\r\n\x1a\n"), random(3000)...), false, nil},
		{"web", "cat.jpg", "image/jpeg", append([]byte("\xff\xd8\xff\xe0"), random(3000)...), false, nil},
		{"web", "sub/index.html", "text/html", []byte("<!doctype html><p>sub page</p>\n"), false, nil},
		{"weights", "squeezenet1_1-f32-@HASH@.alxw", "application/octet-stream", random(3 << 20), true, nil},
		{"weights", "manifest.json", "application/json", []byte(`{"models":[]}`), false, nil},
	}
	// Every file gets one fixed, whole-second modification time so date validators are
	// exact; siblings get the same time (they are current).
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, s := range specs {
		// Content-hashed names carry the first 12 hex digits of their bytes' SHA-256, as
		// the build names them (a host may refuse a file that breaks the promise).
		sum := sha256.Sum256(s.body)
		s.name = strings.ReplaceAll(s.name, "@HASH@", hex.EncodeToString(sum[:])[:12])
		p := filepath.Join(base, s.dir, filepath.FromSlash(s.name))
		if err := writeFile(p, s.body, mtime); err != nil {
			return fx, err
		}
		for _, enc := range s.encodings {
			z, suffix, err := compress(enc, s.body)
			if err != nil {
				return fx, err
			}
			if err := writeFile(p+suffix, z, mtime); err != nil {
				return fx, err
			}
		}
		url := "/" + s.name
		if s.dir == "weights" {
			url = "/weights/" + s.name
		}
		f := File{URL: url, Body: s.body, ContentType: s.ctype, Immutable: s.immutable, Encodings: s.encodings}
		fx.Files = append(fx.Files, f)
		switch {
		case url == "/index.html":
			fx.Index = f
		case url == "/sub/index.html":
			fx.DirIndexBody = s.body
		case strings.HasSuffix(url, ".alxw"):
			fx.Large = f
		}
	}

	// Things that exist but must not be served.
	hidden := map[string][]byte{
		"web/.env":                      fx.Secret,
		"web/.git/config":               fx.Secret,
		"web/.well-hidden/page.html":    fx.Secret,
		"weights/.hidden.alxw":          fx.Secret,
		"web/empty/" + fx.ListingCanary: []byte("canary\n"),
	}
	for name, body := range hidden {
		if err := writeFile(filepath.Join(base, filepath.FromSlash(name)), body, mtime); err != nil {
			return fx, err
		}
	}
	fx.Hidden = []string{"/.env", "/.git/config", "/.git/", "/.well-hidden/page.html", "/weights/.hidden.alxw"}
	if err := writeFile(filepath.Join(base, fx.SecretName), fx.Secret, mtime); err != nil {
		return fx, err
	}
	if err := writeFile(filepath.Join(base, "outside", "secret.txt"), fx.Secret, mtime); err != nil {
		return fx, err
	}

	links := []struct{ name, target, url string }{
		{"web/leak.txt", "../" + fx.SecretName, "/leak.txt"},
		{"web/leak-abs.txt", filepath.Join(base, fx.SecretName), "/leak-abs.txt"},
		{"web/leakdir", "../outside", "/leakdir/secret.txt"},
		{"weights/leak.alxw", "../" + fx.SecretName, "/weights/leak.alxw"},
	}
	for _, l := range links {
		if err := os.Symlink(l.target, filepath.Join(base, filepath.FromSlash(l.name))); err != nil {
			return fx, fmt.Errorf("httpsuite: %w", err)
		}
		fx.SymlinksOut = append(fx.SymlinksOut, l.url)
	}
	if err := os.Symlink("main.js", filepath.Join(fx.WebRoot, "alias.js")); err != nil {
		return fx, fmt.Errorf("httpsuite: %w", err)
	}
	for _, f := range fx.Files {
		if f.URL == "/main.js" {
			in := f
			in.URL, in.Encodings = "/alias.js", nil
			fx.SymlinkIn = &in
		}
	}
	return fx, nil
}

func writeFile(p string, b []byte, mtime time.Time) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("httpsuite: %w", err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		return fmt.Errorf("httpsuite: %w", err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		return fmt.Errorf("httpsuite: %w", err)
	}
	return nil
}

func compress(coding string, b []byte) ([]byte, string, error) {
	var buf bytes.Buffer
	switch coding {
	case "gzip":
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		if err := zw.Close(); err != nil {
			return nil, "", err
		}
		return buf.Bytes(), ".gz", nil
	case "br":
		bw := brotli.NewWriter(&buf)
		bw.Write(b)
		if err := bw.Close(); err != nil {
			return nil, "", err
		}
		return buf.Bytes(), ".br", nil
	}
	return nil, "", fmt.Errorf("httpsuite: unknown coding %q", coding)
}

// decode undoes a Content-Encoding.
func decode(coding string, b []byte) ([]byte, error) {
	var buf bytes.Buffer
	switch coding {
	case "":
		return b, nil
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		if _, err := buf.ReadFrom(zr); err != nil {
			return nil, err
		}
	case "br":
		if _, err := buf.ReadFrom(brotli.NewReader(bytes.NewReader(b))); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown content coding %q", coding)
	}
	return buf.Bytes(), nil
}
