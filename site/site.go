// Package site exports AlexLens as a self-contained folder that any static host serves
// (GitHub Pages, Cloudflare Pages, nginx, `python3 -m http.server`): the built web app with
// content-hashed names, the weights cut into shards under the hosts' 25 MiB file limit, a
// service worker and web app manifest so the app installs and works offline, precompressed
// copies, and a `_headers` file for hosts that read one. docs/PUBLISH.md says how to publish it.
package site

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/alexlens/alexlens/server"
	"github.com/alexlens/alexlens/site/shard"
	"github.com/alexlens/alexlens/ui/static"
	"github.com/alexlens/alexlens/weights"

	"github.com/alexlens/alexlens/weights/manifest"
)

// Options says what to export and where.
type Options struct {
	// WebDir is the built web app (scripts/build-web.sh, `make web`).
	WebDir string
	// WeightsDir holds .alxw files and their manifest.json (`make weights`). Empty: the
	// site has no weights (the app says so).
	WeightsDir string
	// OutDir is replaced as a whole, in one step at the end: a server reading it sees the
	// old export or the new one, never a mix.
	OutDir string
	// Include picks the weights to publish; nil publishes every manifest entry.
	Include func(manifest.Entry) bool
	// ShardLimit is the largest file written; weights files over it are sharded. 0 means
	// shard.DefaultLimit.
	ShardLimit int64
	// Brotli is the quality (1-11) of the precompressed .br copies (.gz beside them);
	// 0 writes no precompressed copies. Copies already in WebDir are reused when current.
	Brotli int
}

// Result describes an export.
type Result struct {
	Build      string   // the build's identity: changes whenever any published byte does
	Files      int      // files written, precompressed copies not counted
	Bytes      int64    // their total size
	Shards     int      // weight shards written for files over the limit
	Largest    int64    // the largest file written
	HeaderRule int      // rules in _headers (Cloudflare Pages reads at most 100)
	Warnings   []string // things a publisher should know
}

// MaxHeaderRules is the number of rules Cloudflare Pages reads from _headers.
const MaxHeaderRules = 100

// Export writes the site. See Options.
func Export(opt Options) (*Result, error) {
	if opt.WebDir == "" || opt.OutDir == "" {
		return nil, errors.New("site: WebDir and OutDir are required")
	}
	if _, err := os.Stat(filepath.Join(opt.WebDir, "index.html")); err != nil {
		return nil, fmt.Errorf("site: no built web app in %s (run `make web` first): %w", opt.WebDir, err)
	}
	if opt.ShardLimit == 0 {
		opt.ShardLimit = shard.DefaultLimit
	}
	if opt.ShardLimit < 1<<10 {
		return nil, fmt.Errorf("site: shard limit %d is below 1 KiB", opt.ShardLimit)
	}
	if opt.Brotli < 0 || opt.Brotli > 11 {
		return nil, fmt.Errorf("site: brotli quality %d outside 0..11", opt.Brotli)
	}
	out := filepath.Clean(opt.OutDir)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return nil, fmt.Errorf("site: %w", err)
	}
	stage, err := os.MkdirTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-")
	if err != nil {
		return nil, fmt.Errorf("site: %w", err)
	}
	defer os.RemoveAll(stage) // a no-op once renamed into place
	if err := os.Chmod(stage, 0o755); err != nil {
		return nil, fmt.Errorf("site: %w", err)
	}
	x := &exporter{opt: opt, dir: stage, res: &Result{}, hashes: map[string]string{}}
	if err := x.run(); err != nil {
		return nil, fmt.Errorf("site: %w", err)
	}
	if err := swapInto(stage, out); err != nil {
		return nil, fmt.Errorf("site: %w", err)
	}
	return x.res, nil
}

// swapInto replaces out with stage: rename the old export aside, rename the new one in,
// then delete the old.
func swapInto(stage, out string) error {
	old := out + ".old"
	if err := os.RemoveAll(old); err != nil {
		return err
	}
	if _, err := os.Stat(out); err == nil {
		if err := os.Rename(out, old); err != nil {
			return err
		}
	}
	if err := os.Rename(stage, out); err != nil {
		return err
	}
	return os.RemoveAll(old)
}

type exporter struct {
	opt     Options
	dir     string
	res     *Result
	hashes  map[string]string // slash path in the site -> sha256 of the bytes written
	weights []manifest.Entry  // the exported weights, in manifest order
}

func (x *exporter) run() error {
	if err := x.copyWeb(); err != nil {
		return err
	}
	pwaJS, err := x.addHashed("pwa.js", mustRead(static.PWA, "pwa.js"))
	if err != nil {
		return err
	}
	if err := x.write("manifest.webmanifest", mustRead(static.PWA, "manifest.webmanifest")); err != nil {
		return err
	}
	for _, n := range []int{192, 512} {
		png, err := Icon(n)
		if err != nil {
			return err
		}
		if err := x.write(fmt.Sprintf("icon-%d.png", n), png); err != nil {
			return err
		}
	}
	if x.opt.WeightsDir != "" {
		if err := x.exportWeights(); err != nil {
			return err
		}
	}
	// After the weights: the embed demo shows networks the site has.
	if err := x.addEmbed(); err != nil {
		return err
	}
	// The build's identity covers every published file, so any change makes a new sw.js.
	build := x.buildID()
	x.res.Build = build
	if err := x.rewriteIndex(pwaJS, build); err != nil {
		return err
	}
	if err := x.writeServiceWorker(build); err != nil {
		return err
	}
	if err := x.writeHeaders(); err != nil {
		return err
	}
	if x.opt.Brotli > 0 {
		if err := server.PrecompressWith(x.dir, server.PrecompressOptions{BrotliQuality: x.opt.Brotli, GzipLevel: 9}); err != nil {
			return err
		}
	}
	if x.res.Largest > x.opt.ShardLimit {
		x.res.Warnings = append(x.res.Warnings, fmt.Sprintf("the largest file is %d bytes, over the %d byte limit", x.res.Largest, x.opt.ShardLimit))
	}
	return nil
}

func mustRead(fsys fs.FS, name string) []byte {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		panic("site: embedded file missing: " + name) // a build defect, not bad input
	}
	return b
}

// isSibling reports a precompressed copy (name.br, name.gz of a file beside it).
func isSibling(p string) bool {
	return strings.HasSuffix(p, ".br") || strings.HasSuffix(p, ".gz")
}

// copyWeb copies the built app, skipping dotfiles (which no host should serve) and
// keeping current precompressed copies with their times, so they need not be redone.
func (x *exporter) copyWeb() error {
	return filepath.WalkDir(x.opt.WebDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(x.opt.WebDir, p)
		if rel == "." {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(x.dir, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil // symlinks and devices are not part of a build
		}
		slash := filepath.ToSlash(rel)
		if slash == "sw.js" || slash == "_headers" || slash == "manifest.webmanifest" {
			return nil // written by the export itself
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if isSibling(slash) {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			dst := filepath.Join(x.dir, rel)
			if err := os.WriteFile(dst, data, 0o644); err != nil {
				return err
			}
			return os.Chtimes(dst, fi.ModTime(), fi.ModTime())
		}
		if err := x.write(slash, data); err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		return os.Chtimes(filepath.Join(x.dir, rel), fi.ModTime(), fi.ModTime())
	})
}

// write writes a file of the site and records its hash.
func (x *exporter) write(slash string, data []byte) error {
	dst := filepath.Join(x.dir, filepath.FromSlash(slash))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		return err
	}
	// A stale precompressed copy of an overwritten file must not be served.
	os.Remove(dst + ".br")
	os.Remove(dst + ".gz")
	sum := sha256.Sum256(data)
	x.hashes[slash] = hex.EncodeToString(sum[:])
	x.res.Files++
	x.res.Bytes += int64(len(data))
	x.res.Largest = max(x.res.Largest, int64(len(data)))
	return nil
}

// addHashed writes name with a content hash before its extension and returns the new name.
func (x *exporter) addHashed(name string, data []byte) (string, error) {
	sum := sha256.Sum256(data)
	ext := path.Ext(name)
	hashed := strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:])[:12] + ext
	return hashed, x.write(hashed, data)
}

func (x *exporter) exportWeights() error {
	m, err := manifest.Read(filepath.Join(x.opt.WeightsDir, manifest.Name))
	if err != nil {
		return fmt.Errorf("weights: %w (make one with `alexlens weights fetch` or `make weights`)", err)
	}
	var entries []manifest.Entry
	for _, e := range m.Weights {
		if x.opt.Include != nil && !x.opt.Include(e) {
			continue
		}
		if strings.ContainsAny(e.File, `/\`) || strings.HasPrefix(e.File, ".") {
			return fmt.Errorf("weights manifest names %q, not a plain file name", e.File)
		}
		data, err := os.ReadFile(filepath.Join(x.opt.WeightsDir, e.File))
		if err != nil {
			return fmt.Errorf("weights: %w", err)
		}
		if got := weights.FileHash(data); int64(len(data)) != e.Bytes || got != e.SHA256 {
			return fmt.Errorf("weights file %s does not match its manifest entry (%d bytes, sha256 %.12s; manifest says %d bytes, %.12s): run `alexlens weights` again to rewrite the manifest", e.File, len(data), got, e.Bytes, e.SHA256)
		}
		pe := e // as published: the file itself, or (over the shard limit) its shards
		pe.Shards = nil
		if int64(len(data)) <= x.opt.ShardLimit {
			if err := x.write("weights/"+e.File, data); err != nil {
				return err
			}
		} else {
			ranges := make([]shard.Range, len(e.Layers))
			for i, l := range e.Layers {
				ranges[i] = shard.Range{Offset: l.Offset, Length: l.Length}
			}
			plan, err := shard.Plan(int64(len(data)), ranges, x.opt.ShardLimit)
			if err != nil {
				return fmt.Errorf("weights file %s: %w", e.File, err)
			}
			for i, r := range plan {
				piece := data[r.Offset : r.Offset+r.Length]
				sum := sha256.Sum256(piece)
				s := manifest.Shard{Offset: r.Offset, Length: r.Length, SHA256: hex.EncodeToString(sum[:])}
				s.File = shard.Name(e.File, i, s.SHA256)
				if err := x.write("weights/"+s.File, piece); err != nil {
					return err
				}
				pe.Shards = append(pe.Shards, s)
			}
			if err := manifest.CheckShards(pe.Shards, e.Bytes, x.opt.ShardLimit); err != nil {
				return fmt.Errorf("weights file %s: %w", e.File, err) // a planning defect
			}
			x.res.Shards += len(pe.Shards)
		}
		entries = append(entries, pe)
		x.weights = append(x.weights, e)
	}
	if entries == nil {
		entries = []manifest.Entry{}
	}
	b, err := json.MarshalIndent((&manifest.Manifest{Weights: entries}).WithFirstLayers(), "", " ")
	if err != nil {
		return err
	}
	return x.write("weights/"+manifest.Name, append(b, '\n'))
}

// buildID hashes every file's name and hash, in name order.
func (x *exporter) buildID() string {
	names := make([]string, 0, len(x.hashes))
	for n := range x.hashes {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s %s\n", n, x.hashes[n])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

var headEnd = regexp.MustCompile(`(?i)</head>`)
var htmlStart = regexp.MustCompile(`(?i)<html\b`)

// rewriteIndex links the web app manifest, the icons and pwa.js from index.html and marks
// the page with the build, so a test (or a person) can tell which version is running.
func (x *exporter) rewriteIndex(pwaJS, build string) error {
	p := filepath.Join(x.dir, "index.html")
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if !headEnd.Match(b) || !htmlStart.Match(b) {
		return errors.New("index.html has no <html> or </head> tag to add the app manifest to")
	}
	add := fmt.Sprintf(`  <link rel="manifest" href="manifest.webmanifest">
  <meta name="theme-color" content="#5b3fd6">
  <link rel="apple-touch-icon" href="icon-192.png">
  <script src="%s" defer></script>
</head>`, pwaJS)
	loc := headEnd.FindIndex(b)
	b = append(b[:loc[0]:loc[0]], append([]byte(add), b[loc[1]:]...)...)
	loc = htmlStart.FindIndex(b)
	b = append(b[:loc[1]:loc[1]], append([]byte(fmt.Sprintf(` data-build="%s"`, build)), b[loc[1]:]...)...)
	return x.write("index.html", b)
}

// shellExcluded are files the service worker does not precache: itself, the headers file,
// weights (the engine caches what it loads; pwa.js keeps the rest on request), the
// shared-memory engine, which only cross-origin isolated pages load (an offline isolated
// page falls back to the ordinary engine, on one thread), and the portable engine, which
// only browsers without WebAssembly SIMD load: precaching either would double the engine
// download of every install. (A browser without SIMD cannot install the app offline.)
func shellExcluded(slash string) bool {
	return slash == "sw.js" || slash == "_headers" || strings.HasPrefix(slash, "weights/") || isSibling(slash) ||
		strings.HasPrefix(slash, "engine-shared.") || strings.HasPrefix(slash, "engine-portable.")
}

func (x *exporter) writeServiceWorker(build string) error {
	var shell [][2]string
	for n, h := range x.hashes {
		if !shellExcluded(n) {
			shell = append(shell, [2]string{n, h})
		}
	}
	sort.Slice(shell, func(i, j int) bool { return shell[i][0] < shell[j][0] })
	list, err := json.Marshal(shell)
	if err != nil {
		return err
	}
	tpl := mustRead(static.PWA, "sw.js")
	sw := bytes.Replace(tpl, []byte("@BUILD@"), []byte(build), 1)
	sw = bytes.Replace(sw, []byte("@SHELL@"), list, 1)
	if bytes.Contains(sw, []byte("@BUILD@")) || bytes.Contains(sw, []byte("@SHELL@")) || bytes.Equal(sw, tpl) {
		return errors.New("sw.js template placeholders not filled")
	}
	return x.write("sw.js", sw)
}

// writeHeaders writes _headers (Cloudflare Pages and Netlify syntax): the Go server's
// security headers for every path, and "cache forever" for each content-hashed file.
// Files without a rule get the host's default, which revalidates. Rules are listed per
// file because hosts join the values of overlapping rules.
func (x *exporter) writeHeaders() error {
	var b strings.Builder
	b.WriteString("# Written by `alexlens site`: the same headers as `alexlens serve`, for hosts that read this file.\n")
	b.WriteString("/*\n")
	for _, h := range server.SecurityHeaders(server.DefaultCSP, true) { // cross-origin isolated, as served by default
		fmt.Fprintf(&b, "  %s: %s\n", h[0], h[1])
	}
	rules := 1
	var names []string
	for n := range x.hashes {
		if server.IsContentHashed(n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "/%s\n  Cache-Control: %s\n", n, server.CacheControl(n))
		rules++
	}
	x.res.HeaderRule = rules
	if rules > MaxHeaderRules {
		x.res.Warnings = append(x.res.Warnings, fmt.Sprintf("_headers has %d rules; Cloudflare Pages reads only the first %d (publish fewer weights files, or a larger shard limit)", rules, MaxHeaderRules))
	}
	p := filepath.Join(x.dir, "_headers")
	return os.WriteFile(p, []byte(b.String()), 0o644)
}
