// Package shard splits a weights file into pieces a static host accepts (most refuse files
// over 25 MiB) and describes them in the weights manifest, so the browser can fetch the
// pieces and put the file back together. It has no syscall/js import: the exporter (site)
// plans shards natively and the engine worker (wasm/worker) reads the same description.
//
// A shard is a byte range of the original file. Cuts fall on layer boundaries where they
// can, so a shard usually holds whole layers; a layer larger than the limit (AlexNet's fc6
// is 151 MB in float32) is cut into chunks of the limit's size.
package shard

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"strings"
)

// DefaultLimit keeps every shard under the 25 MiB per-file limit of Cloudflare Pages and
// Workers static assets (GitHub Pages warns from 50 MB), with room to spare.
const DefaultLimit = 24 << 20

// MaxShards bounds how many shards one file may list: 512 MB of weights (the engine
// worker's own limit) in 1 MiB shards.
const MaxShards = 512

// MaxFileBytes bounds the file a shard list may describe: the engine worker's limit.
const MaxFileBytes = 512 << 20

// Shard is one piece of a weights file.
type Shard struct {
	File   string `json:"file"`   // plain file name in the weights folder
	Offset int64  `json:"offset"` // where the piece starts in the original file
	Length int64  `json:"length"`
	SHA256 string `json:"sha256"` // of the piece's bytes
}

// Range is a byte range of the original file (a layer, or the header).
type Range struct {
	Offset, Length int64
}

// Plan returns the byte ranges of the shards for a file of size bytes whose layers lie at
// layers (in file order; the header before the first layer goes with it). Every range is
// at most limit bytes; cuts are at layer starts where possible.
func Plan(size int64, layers []Range, limit int64) ([]Range, error) {
	if limit < 1 {
		return nil, fmt.Errorf("shard: limit %d must be positive", limit)
	}
	if size < 0 {
		return nil, fmt.Errorf("shard: negative file size %d", size)
	}
	// Cut points: every layer start after the first byte, and the end of the file.
	var cuts []int64
	prev := int64(0)
	for i, l := range layers {
		if l.Offset < prev || l.Length < 0 || l.Offset+l.Length > size {
			return nil, fmt.Errorf("shard: layer %d (%d+%d) is out of order or outside the file of %d bytes", i, l.Offset, l.Length, size)
		}
		if l.Offset > 0 {
			cuts = append(cuts, l.Offset)
		}
		prev = l.Offset + l.Length
	}
	cuts = append(cuts, size)

	var out []Range
	start := int64(0)
	for start < size {
		// The farthest cut point within the limit; if none, a chunk of exactly limit bytes.
		end := int64(-1)
		for _, c := range cuts {
			if c > start && c-start <= limit {
				end = c
			}
		}
		if end < 0 {
			end = start + limit
		}
		out = append(out, Range{start, end - start})
		start = end
	}
	return out, nil
}

// Name is a shard's file name: the weights file's stem, the piece's index and the first 12
// hex digits of its SHA-256, so each piece can be cached forever under its name
// (alexnet-f32-0123456789ab.p03.fedcba987654.bin).
func Name(file string, index int, sha256hex string) string {
	stem := strings.TrimSuffix(path.Base(file), path.Ext(file))
	return fmt.Sprintf("%s.p%02d.%s.bin", stem, index, sha256hex[:12])
}

var (
	hexDigest = regexp.MustCompile(`^[0-9a-f]{64}$`)
	plainName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$`)
)

// Check verifies that shards put back together make exactly a file of size bytes: in order,
// contiguous from 0 to size, each non-empty and at most limit bytes (0: no limit), with
// plain names and well-formed hashes.
func Check(shards []Shard, size, limit int64) error {
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

// Entry is what the engine worker needs from one manifest entry.
type Entry struct {
	File   string  `json:"file"`
	Bytes  int64   `json:"bytes"`
	SHA256 string  `json:"sha256"`
	Shards []Shard `json:"shards"`
}

// MaxManifest bounds the manifest a reader parses: it lists a handful of files.
const MaxManifest = 1 << 20

// Find looks up file (a plain name) in a manifest.json and returns its shards, checked with
// Check; nil with no error when the file is listed whole (no shards) or not at all. When
// sha256 is not empty the entry must carry the same hash.
func Find(manifest []byte, file, sha256 string) ([]Shard, int64, error) {
	if len(manifest) > MaxManifest {
		return nil, 0, fmt.Errorf("manifest of %d bytes is larger than the %d allowed", len(manifest), MaxManifest)
	}
	var m struct {
		Weights []Entry `json:"weights"`
	}
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, 0, fmt.Errorf("manifest is not valid: %v", err)
	}
	for _, e := range m.Weights {
		if e.File != file {
			continue
		}
		if sha256 != "" && !strings.EqualFold(e.SHA256, sha256) {
			continue // another version of the file
		}
		if len(e.Shards) == 0 {
			return nil, 0, nil
		}
		if err := Check(e.Shards, e.Bytes, 0); err != nil {
			return nil, 0, fmt.Errorf("manifest entry %s: %v", file, err)
		}
		return e.Shards, e.Bytes, nil
	}
	return nil, 0, nil
}
