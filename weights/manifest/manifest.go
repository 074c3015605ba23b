// Package manifest is the one reader and writer of a weights folder's manifest.json: the
// list of .alxw files (network, precision, trained or fixture, size, SHA-256, layer
// ranges) and, in a static export, the shards a large file is cut into. The server's
// folder (weights.WriteManifest), the site exporter, the app's weights choice (ui/state),
// the engine worker (shards) and the embeds all read it here. It imports nothing of the
// engine, so the page's wasm stays small.
package manifest

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
)

// Name is the manifest's file name in a weights folder.
const Name = "manifest.json"

// MaxBytes bounds a manifest a reader parses: it lists a handful of files.
const MaxBytes = 1 << 20

// Manifest lists the weight files of a folder, so that a reader can pick one and fetch its
// layers without first reading every header.
type Manifest struct {
	Weights []Entry `json:"weights"`
	// FirstLayers names, per network ("" for any) and precision ("" for none asked), the
	// file whose first layer the embeds' kernel view draws: Choose with first-layer-only
	// files allowed. That view reads conv1 alone and never starts the engine, so the
	// choice is made here when the manifest is written (WithFirstLayers).
	FirstLayers map[string]map[string]string `json:"firstLayers,omitempty"`
}

// WithFirstLayers fills FirstLayers from Weights and returns m.
func (m *Manifest) WithFirstLayers() *Manifest {
	m.FirstLayers = map[string]map[string]string{}
	for _, arch := range append([]string{""}, m.Archs()...) {
		per := map[string]string{}
		for _, precision := range []string{"", "f32", "int8"} {
			if e, err := m.Choose(arch, precision, true); err == nil {
				per[precision] = e.File
			}
		}
		if len(per) > 0 {
			m.FirstLayers[arch] = per
		}
	}
	return m
}

// Entry is one .alxw file.
type Entry struct {
	File      string       `json:"file"`
	Arch      string       `json:"arch"`
	Precision string       `json:"precision"`
	Kind      string       `json:"kind"` // trained or fixture
	Partial   Partial      `json:"partial"`
	Bytes     int64        `json:"bytes"`
	SHA256    string       `json:"sha256"` // of the whole file
	Layers    []LayerRange `json:"layers"`
	// Shards, in a static export, are the pieces a file over the host's size limit is cut
	// into (site/shard plans them); empty when the file is served whole.
	Shards []Shard `json:"shards,omitempty"`
}

// LayerRange is where one layer's tensors lie in the file (for fetching layers alone).
type LayerRange struct {
	Name   string `json:"name"`
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
}

// Partial is the last layer a file covers, "" when it covers the whole network (BVLC
// AlexNet's released conv1 kernels: "conv1"). Readers also accept a boolean.
type Partial string

// UnmarshalJSON accepts a layer name or a boolean (true: partial, layer unknown).
func (p *Partial) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*p = Partial(s)
		return nil
	}
	var ok bool
	if err := json.Unmarshal(b, &ok); err != nil {
		return fmt.Errorf("partial must be a boolean or a layer name, got %s", b)
	}
	*p = ""
	if ok {
		*p = "true"
	}
	return nil
}

// IsPartial reports whether the file covers only the first layers of its network.
func (e Entry) IsPartial() bool { return e.Partial != "" && e.Partial != "false" }

// Trained reports whether the file holds real, trained weights.
func (e Entry) Trained() bool { return e.Kind == "trained" }

// Parse reads a manifest with clear errors; every entry names a plain file in the folder.
func Parse(data []byte) (*Manifest, error) {
	if len(data) > MaxBytes {
		return nil, fmt.Errorf("manifest.json of %d bytes is larger than the %d allowed", len(data), MaxBytes)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("manifest.json is not valid: %v", err)
	}
	for i, e := range m.Weights {
		if e.File == "" || e.Arch == "" {
			return nil, fmt.Errorf("manifest.json entry %d has no file or arch", i)
		}
		if strings.Contains(e.File, "..") || strings.ContainsAny(e.File, `/\`) || strings.Contains(e.File, "://") {
			return nil, fmt.Errorf("manifest.json entry %d: file %q must be a plain name in the weights folder", i, e.File)
		}
	}
	return &m, nil
}

// Read parses the manifest at path.
func Read(path string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Candidates lists the entries for arch ("" for any), best first: trained before fixture,
// whole before partial, float32 before int8.
func (m *Manifest) Candidates(arch string) []Entry {
	var out []Entry
	for _, e := range m.Weights {
		if arch == "" || e.Arch == arch {
			out = append(out, e)
		}
	}
	rank := func(e Entry) int {
		r := 0
		if !e.Trained() {
			r += 4
		}
		if e.IsPartial() {
			r += 2
		}
		if e.Precision != "f32" {
			r++
		}
		return r
	}
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i]) < rank(out[j]) })
	return out
}

// Choose picks the file to load for arch ("" for any network): the best candidate, or
// when precision is given (f32, int8) the file of that precision in the best one's class
// (as trained, as whole); partial files only when partialOK.
func (m *Manifest) Choose(arch, precision string, partialOK bool) (Entry, error) {
	var cands []Entry
	for _, e := range m.Candidates(arch) {
		if partialOK || !e.IsPartial() {
			cands = append(cands, e)
		}
	}
	if len(cands) == 0 {
		if arch == "" {
			return Entry{}, fmt.Errorf("no weights in the manifest")
		}
		return Entry{}, fmt.Errorf("no weights for %q in the manifest (it has: %s)", arch, strings.Join(m.Archs(), ", "))
	}
	best := cands[0]
	if precision != "" {
		for _, e := range cands {
			if e.Precision == precision && e.Trained() == best.Trained() && e.IsPartial() == best.IsPartial() {
				return e, nil
			}
		}
	}
	return best, nil
}

// Archs lists the networks the manifest has files for, in order of first appearance.
func (m *Manifest) Archs() []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range m.Weights {
		if !seen[e.Arch] {
			seen[e.Arch] = true
			out = append(out, e.Arch)
		}
	}
	return out
}

// Shard is one piece of a weights file.
type Shard struct {
	File   string `json:"file"`   // plain file name in the weights folder
	Offset int64  `json:"offset"` // where the piece starts in the original file
	Length int64  `json:"length"`
	SHA256 string `json:"sha256"` // of the piece's bytes
}

// MaxShards bounds how many shards one file may list: 512 MB of weights (the engine
// worker's own limit) in 1 MiB shards.
const MaxShards = 512

// MaxFileBytes bounds the file a shard list may describe: the engine worker's limit.
const MaxFileBytes = 512 << 20

// Shards returns the checked shards of file (a plain name) with the whole file's size; nil
// with no error when the file is listed whole or not at all. When sha256 is not empty the
// entry must carry the same hash (another version of the file is not this one).
func (m *Manifest) Shards(file, sha256 string) ([]Shard, int64, error) {
	for _, e := range m.Weights {
		if e.File != file || (sha256 != "" && !strings.EqualFold(e.SHA256, sha256)) {
			continue
		}
		if len(e.Shards) == 0 {
			return nil, 0, nil
		}
		if err := CheckShards(e.Shards, e.Bytes, 0); err != nil {
			return nil, 0, fmt.Errorf("manifest entry %s: %v", file, err)
		}
		return e.Shards, e.Bytes, nil
	}
	return nil, 0, nil
}

var (
	hexDigest = regexp.MustCompile(`^[0-9a-f]{64}$`)
	plainName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$`)
)

// CheckShards verifies that shards put back together make exactly a file of size bytes: in
// order, contiguous from 0 to size, each non-empty and at most limit bytes (0: no limit),
// with plain names and well-formed hashes.
func CheckShards(shards []Shard, size, limit int64) error {
	if len(shards) == 0 {
		return fmt.Errorf("no shards")
	}
	if len(shards) > MaxShards {
		return fmt.Errorf("%d shards is more than the %d allowed", len(shards), MaxShards)
	}
	if size < 1 || size > MaxFileBytes {
		return fmt.Errorf("file size %d outside 1..%d", size, MaxFileBytes)
	}
	next := int64(0)
	for i, s := range shards {
		if !plainName.MatchString(s.File) || strings.Contains(s.File, "..") {
			return fmt.Errorf("shard %d: %q is not a plain file name", i, s.File)
		}
		if !hexDigest.MatchString(s.SHA256) {
			return fmt.Errorf("shard %d: sha256 must be 64 lowercase hex digits", i)
		}
		if s.Offset != next {
			return fmt.Errorf("shard %d starts at %d, expected %d (shards must be contiguous and in order)", i, s.Offset, next)
		}
		if s.Length < 1 || s.Length > size-s.Offset {
			return fmt.Errorf("shard %d: length %d does not fit a file of %d bytes at offset %d", i, s.Length, size, s.Offset)
		}
		if limit > 0 && s.Length > limit {
			return fmt.Errorf("shard %d: %d bytes is over the %d byte limit", i, s.Length, limit)
		}
		next = s.Offset + s.Length
	}
	if next != size {
		return fmt.Errorf("shards end at %d, the file has %d bytes", next, size)
	}
	return nil
}
