// Package shard plans how the static exporter (site) cuts a weights file into pieces a
// static host accepts (most refuse files over 25 MiB); the manifest lists them
// (manifest.Shard, checked by manifest.CheckShards) and the engine worker puts the file
// back together.
//
// A shard is a byte range of the original file. Cuts fall on layer boundaries where they
// can, so a shard usually holds whole layers; a layer larger than the limit (AlexNet's fc6
// is 151 MB in float32) is cut into chunks of the limit's size.
package shard

import (
	"fmt"
	"path"
	"strings"
)

// DefaultLimit keeps every shard under the 25 MiB per-file limit of Cloudflare Pages and
// Workers static assets (GitHub Pages warns from 50 MB), with room to spare.
const DefaultLimit = 24 << 20

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
