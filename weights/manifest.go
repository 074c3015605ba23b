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
)

// Manifest lists the weight files of a served folder, so the app can pick one and fetch its
// layers without first reading every header.
type Manifest struct {
	Weights []ManifestEntry `json:"weights"`
}

// ManifestEntry is one .alxw file.
type ManifestEntry struct {
	File      string       `json:"file"`
	Arch      string       `json:"arch"`
	Precision string       `json:"precision"`
	Kind      string       `json:"kind"`    // trained or fixture
	Partial   string       `json:"partial"` // last layer covered, "" when complete
	Bytes     int64        `json:"bytes"`
	SHA256    string       `json:"sha256"` // of the whole file
	Layers    []LayerRange `json:"layers"`
}

// ManifestName is the file WriteManifest writes.
const ManifestName = "manifest.json"

// WriteManifest scans dir for *.alxw files and writes dir/manifest.json describing them,
// sorted by file name. Only headers are parsed; each file is hashed as a stream.
func WriteManifest(dir string) error {
	paths, err := filepath.Glob(filepath.Join(dir, "*.alxw"))
	if err != nil {
		return err
	}
	sort.Strings(paths)
	man := Manifest{Weights: []ManifestEntry{}}
	for _, p := range paths {
		e, err := manifestEntry(p)
		if err != nil {
			return fmt.Errorf("manifest: %s: %w", p, err)
		}
		man.Weights = append(man.Weights, e)
	}
	js, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, ManifestName), func(w io.Writer) error {
		_, err := w.Write(append(js, '\n'))
		return err
	})
}

func manifestEntry(path string) (ManifestEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return ManifestEntry{}, err
	}
	defer f.Close()
	h, err := ReadHeader(f)
	if err != nil {
		return ManifestEntry{}, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return ManifestEntry{}, err
	}
	sum := sha256.New()
	n, err := io.Copy(sum, f)
	if err != nil {
		return ManifestEntry{}, err
	}
	if n != h.FileBytes {
		return ManifestEntry{}, fmt.Errorf("file is %d bytes, its header says %d", n, h.FileBytes)
	}
	kind := "trained"
	if h.Fixture {
		kind = "fixture"
	}
	return ManifestEntry{
		File: filepath.Base(path), Arch: h.Arch, Precision: string(h.Precision), Kind: kind,
		Partial: h.Partial, Bytes: n, SHA256: hex.EncodeToString(sum.Sum(nil)), Layers: h.Layers,
	}, nil
}

// ReadManifest reads a manifest.json.
func ReadManifest(path string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	return &m, nil
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
