package weights

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/weights/manifest"
)

// WriteManifest scans dir for *.alxw files and writes dir/manifest.json (package manifest) describing them,
// sorted by file name. Only headers are parsed; each file is hashed as a stream.
func WriteManifest(dir string) error {
	paths, err := filepath.Glob(filepath.Join(dir, "*.alxw"))
	if err != nil {
		return err
	}
	sort.Strings(paths)
	man := manifest.Manifest{Weights: []manifest.Entry{}}
	for _, p := range paths {
		e, err := manifestEntry(p)
		if err != nil {
			return fmt.Errorf("manifest: %s: %w", p, err)
		}
		man.Weights = append(man.Weights, e)
	}
	js, err := json.MarshalIndent(man.WithFirstLayers(), "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, manifest.Name), func(w io.Writer) error {
		_, err := w.Write(append(js, '\n'))
		return err
	})
}

func manifestEntry(path string) (manifest.Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return manifest.Entry{}, err
	}
	defer f.Close()
	h, err := ReadHeader(f)
	if err != nil {
		return manifest.Entry{}, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return manifest.Entry{}, err
	}
	sum := sha256.New()
	n, err := io.Copy(sum, f)
	if err != nil {
		return manifest.Entry{}, err
	}
	if n != h.FileBytes {
		return manifest.Entry{}, fmt.Errorf("file is %d bytes, its header says %d", n, h.FileBytes)
	}
	kind := "trained"
	if h.Fixture {
		kind = "fixture"
	}
	return manifest.Entry{
		File: filepath.Base(path), Arch: h.Arch, Precision: string(h.Precision), Kind: kind,
		Partial: manifest.Partial(h.Partial), Bytes: n, SHA256: hex.EncodeToString(sum.Sum(nil)), Layers: h.Layers,
	}, nil
}

// WriteModel encodes m into dir under a content-hashed name,
// <arch>-<precision>-<first 12 hex digits of the file's SHA-256>.alxw, so that the name can
// be cached forever. It returns the file's path; an existing identical file is kept.
func WriteModel(dir string, m *engine.Model, source string) (string, error) {
	if err := checkModel(m); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".alxw-*.tmp")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())              // a no-op after the rename
	if err := tmp.Chmod(0o644); err != nil { // served files: readable by the web server
		tmp.Close()
		return "", err
	}
	sum := sha256.New()
	if err := encode(io.MultiWriter(tmp, sum), m, source); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	name := HashedName(m.Arch.Name, m.Precision(), hex.EncodeToString(sum.Sum(nil)))
	path := filepath.Join(dir, name)
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	return path, nil
}

// HashedName is the content-hashed file name for an .alxw file with the given SHA-256 (hex).
func HashedName(arch string, p engine.Precision, sha256hex string) string {
	return fmt.Sprintf("%s-%s-%.12s.alxw", arch, p, sha256hex)
}

// FileHash is the SHA-256 (hex) of a whole file's bytes, the hash HashedName uses.
func FileHash(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// writeAtomic writes a file through a temporary file in the same folder and a rename, so
// readers never see half a file and a failure leaves nothing behind.
func writeAtomic(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
