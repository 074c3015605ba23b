package handler

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/alexlens/alexlens/server"
	"github.com/alexlens/alexlens/weights/manifest"
)

// MaxAssetBytes is the largest file Workers static assets accept (25 MiB).
const MaxAssetBytes = 25 << 20

// IndexName is the file Stage writes beside web/ and weights/: every servable file with
// its size, ETag, time and precompressed siblings. URLs never reach it (the site is
// served from web/), and the Worker reads it once per isolate.
const IndexName = "index.json"

// Index maps store names ("web/app.wasm", "weights", ...) to their entries.
type Index map[string]Entry

// Stage copies the site (webRoot) and the weights folder (weightsDir, may be "") into
// out/web and out/weights (replacing out), as Workers static assets to upload, and writes out/index.json.
// What the Go server would refuse is left out: dotfiles and dot-directories, symlinks
// leading out of their root, anything but regular files and directories. Symlinks inside
// a root become copies of their targets. Each file must be under limit bytes (Workers
// static assets refuse files over 25 MiB; 0: no limit).
func Stage(webRoot, weightsDir, out string, limit int64) (Index, error) {
	if err := os.RemoveAll(out); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	idx := Index{}
	if err := stageRoot(webRoot, out, "web", limit, weightsDir != "", idx); err != nil {
		return nil, err
	}
	if weightsDir != "" {
		if err := stageRoot(weightsDir, out, "weights", limit, false, idx); err != nil {
			return nil, err
		}
	}
	// Precompressed siblings count only when at least as new as their file.
	for name, e := range idx {
		if e.Dir {
			continue
		}
		for _, c := range []string{"br", "gzip"} {
			if s, ok := idx[name+suffix(c)]; ok && !s.Dir && !s.ModTime.Before(e.ModTime) {
				e.Encodings = append(e.Encodings, c)
			}
		}
		idx[name] = e
	}
	if err := checkManifest(out, idx); err != nil {
		return nil, err
	}
	b, err := json.Marshal(idx)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(out, IndexName), b, 0o644); err != nil {
		return nil, err
	}
	return idx, nil
}

// checkManifest holds the staged weights to what their manifest.json (in out) says: each
// file it lists whole is staged with the length and SHA-256 it gives, and each piece of a
// sharded one with the piece's. A site whose manifest names what is not there is not staged.
func checkManifest(out string, idx Index) error {
	if e, ok := idx["weights/"+manifest.Name]; !ok || e.Dir {
		return nil
	}
	m, err := manifest.Read(filepath.Join(out, "weights", manifest.Name))
	if err != nil {
		return fmt.Errorf("stage: %w", err)
	}
	check := func(file string, length int64, sha string) error {
		e, ok := idx["weights/"+file]
		sum, err := hex.DecodeString(sha)
		switch {
		case !ok || e.Dir:
			return fmt.Errorf("stage: the weights manifest lists %s, which is not in the weights folder", file)
		case err != nil || len(sum) != sha256.Size:
			return fmt.Errorf("stage: the weights manifest gives %s the SHA-256 %q, which is not one", file, sha)
		case e.Size != length || e.ETag != server.ETagFromSHA256(sum):
			return fmt.Errorf("stage: %s is not the file the weights manifest lists (%d bytes, SHA-256 %.12s…): build the weights again", file, length, sha)
		}
		return nil
	}
	for _, w := range m.Weights {
		if len(w.Shards) == 0 {
			if err := check(w.File, w.Bytes, w.SHA256); err != nil {
				return err
			}
		}
		for _, sh := range w.Shards {
			if err := check(sh.File, sh.Length, sh.SHA256); err != nil {
				return err
			}
		}
	}
	return nil
}

func stageRoot(dir, out, prefix string, limit int64, weightsApart bool, idx Index) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("stage: %w", err)
	}
	defer root.Close()
	idx[prefix] = Entry{Dir: true}
	return fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if prefix == "web" && p == "weights" && weightsApart {
			// /weights/ is always the weights folder: a copy inside the site (an export
			// keeps its weights there) is unreachable, and staged once, from weightsDir.
			return fs.SkipDir
		}
		// Stat through the root: symlinks are followed only while they stay inside it.
		fi, err := root.Stat(p)
		if err != nil {
			return nil // a link out of the root, or a dangling one: not served
		}
		name := prefix + "/" + path.Clean(p)
		dst := filepath.Join(out, filepath.FromSlash(name))
		switch {
		case fi.IsDir():
			if d.Type()&fs.ModeSymlink != 0 {
				return nil // no directory links: a loop could never end
			}
			idx[name] = Entry{Dir: true}
			return os.MkdirAll(dst, 0o755)
		case !fi.Mode().IsRegular():
			return nil
		}
		if limit > 0 && fi.Size() > limit {
			return fmt.Errorf("stage: %s is %d bytes, over the %d byte limit of Workers static assets (export the site with `alexlens site`, which shards weights)", name, fi.Size(), limit)
		}
		e, err := copyHashed(root, p, dst)
		if err != nil {
			return fmt.Errorf("stage: %s: %w", name, err)
		}
		if want := server.NameHash(p); want != "" && e.ETag != "" && !strings.HasPrefix(e.ETag[1:], want) {
			// The Go server refuses such a file at each request; assets are fixed once
			// uploaded, so the Worker's promise is kept here: it is never staged.
			return fmt.Errorf("stage: %s: its name promises content hash %s, but its bytes hash to %s: build it again", name, want, e.ETag[1:13])
		}
		e.ModTime = fi.ModTime().UTC()
		idx[name] = e
		return os.Chtimes(dst, fi.ModTime(), fi.ModTime())
	})
}

func copyHashed(root *os.Root, p, dst string) (Entry, error) {
	in, err := root.Open(p)
	if err != nil {
		return Entry{}, err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return Entry{}, err
	}
	out, err := os.Create(dst)
	if err != nil {
		return Entry{}, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Entry{}, err
	}
	return Entry{Size: n, ETag: server.ETagFromSHA256(h.Sum(nil))}, nil
}

// DirStore serves a folder written by Stage: the Store of tests and local tools.
type DirStore struct {
	dir string
	idx Index
}

// OpenDir reads a staged folder's index.
func OpenDir(dir string) (*DirStore, error) {
	b, err := os.ReadFile(filepath.Join(dir, IndexName))
	if err != nil {
		return nil, err
	}
	idx, err := ParseIndex(b)
	if err != nil {
		return nil, err
	}
	return &DirStore{dir: dir, idx: idx}, nil
}

// MaxIndex bounds index.json: a site has hundreds of files, not millions.
const MaxIndex = 16 << 20

// ParseIndex reads index.json with clear errors.
func ParseIndex(b []byte) (Index, error) {
	if len(b) > MaxIndex {
		return nil, fmt.Errorf("index of %d bytes is larger than the %d allowed", len(b), MaxIndex)
	}
	var idx Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("index is not valid: %v", err)
	}
	for name, e := range idx {
		if name != "web" && name != "weights" && !strings.HasPrefix(name, "web/") && !strings.HasPrefix(name, "weights/") {
			return nil, fmt.Errorf("index names %q outside web/ and weights/", name)
		}
		if strings.Contains("/"+name+"/", "/../") || strings.Contains("/"+name+"/", "/./") || strings.Contains(name, "//") {
			return nil, fmt.Errorf("index name %q is not a clean path", name)
		}
		if e.Size < 0 {
			return nil, fmt.Errorf("index entry %q has a negative size", name)
		}
	}
	return idx, nil
}

// Names lists the index's file names, sorted.
func (idx Index) Names() []string {
	var out []string
	for n, e := range idx {
		if !e.Dir {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Stat implements Store.
func (s *DirStore) Stat(name string) (Entry, bool) {
	e, ok := s.idx[name]
	return e, ok
}

// Read implements Store.
func (s *DirStore) Read(name string, off, n int64) ([]byte, error) {
	if _, ok := s.idx[name]; !ok {
		return nil, fs.ErrNotExist
	}
	f, err := os.Open(filepath.Join(s.dir, filepath.FromSlash(name)))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		return nil, err
	}
	return b, nil
}
