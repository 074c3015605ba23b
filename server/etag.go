package server

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
)

// maxETagEntries bounds the hash cache. The served trees hold tens of files; the bound
// only matters if files churn under a long-running server, and then clearing the cache
// costs one re-hash per file.
const maxETagEntries = 4096

// etagCache remembers the content hashes of each served file, keyed by path and checked
// against the file's identity (fileID: device, inode, size, modification and change
// times), so a file is hashed once rather than per request (a weight file is hundreds of
// megabytes), and again whenever anything about it changes, even in place with its size
// and modification time put back.
type etagCache struct {
	mu      sync.Mutex
	entries map[string]*etagEntry
}

type etagEntry struct {
	fi   os.FileInfo // for os.SameFile: a replaced file is a new file
	id   fileID
	once sync.Once
	sums contentSums
	err  error
}

// contentSums are the SHA-256 digests (hex) of a stored file: of its bytes (Stored, which
// the ETag derives from) and of the bytes it decodes to (Decoded: the same for an
// identity file, the uncompressed content for a .br or .gz sibling), which is what a
// content-hashed name promises.
type contentSums struct {
	Stored, Decoded string
}

// get returns the hashes of f (coding "" for identity bytes, else "br" or "gzip"), whose
// path is key and whose stat is fi. Concurrent first requests for the same file share one
// hashing pass.
func (c *etagCache) get(key string, f *os.File, fi os.FileInfo, coding string) (contentSums, error) {
	id := identity(fi)
	c.mu.Lock()
	if c.entries == nil {
		c.entries = make(map[string]*etagEntry)
	}
	e := c.entries[key]
	if e == nil || e.id != id || !os.SameFile(e.fi, fi) {
		if len(c.entries) >= maxETagEntries {
			clear(c.entries)
		}
		e = &etagEntry{fi: fi, id: id}
		c.entries[key] = e
	}
	c.mu.Unlock()

	e.once.Do(func() { e.sums, e.err = hashContent(f, fi.Size(), coding) })
	if e.err != nil {
		// Do not remember failures: the next request may read the file fine.
		c.mu.Lock()
		if c.entries[key] == e {
			delete(c.entries, key)
		}
		c.mu.Unlock()
	}
	return e.sums, e.err
}

// hashContent hashes exactly size bytes of f from its start, and for a compressed sibling
// the bytes they decode to. It reads through ReadAt so the file offset (used later to send
// the body) is untouched.
func hashContent(f *os.File, size int64, coding string) (contentSums, error) {
	stored := sha256.New()
	r := io.TeeReader(io.NewSectionReader(f, 0, size), stored)
	if coding == "" {
		if _, err := io.Copy(io.Discard, r); err != nil {
			return contentSums{}, err
		}
		s := hex.EncodeToString(stored.Sum(nil))
		return contentSums{s, s}, nil
	}
	var dec io.Reader
	switch coding {
	case "br":
		dec = brotli.NewReader(r)
	case "gzip":
		z, err := gzip.NewReader(r)
		if err != nil {
			return contentSums{}, fmt.Errorf("gzip sibling: %w", err)
		}
		dec = z
	default:
		return contentSums{}, fmt.Errorf("unknown coding %q", coding)
	}
	decoded := sha256.New()
	if _, err := io.Copy(decoded, dec); err != nil {
		return contentSums{}, fmt.Errorf("%s sibling does not decode: %w", coding, err)
	}
	if _, err := io.Copy(io.Discard, r); err != nil { // bytes after the stream still count
		return contentSums{}, err
	}
	return contentSums{hex.EncodeToString(stored.Sum(nil)), hex.EncodeToString(decoded.Sum(nil))}, nil
}

// ETagFromSHA256 is the strong entity-tag every host of the site sends for content with
// the given SHA-256 digest: its first 128 bits in hex, quoted. The Worker's staging
// computes it too, so both hosts tag the same bytes alike.
func ETagFromSHA256(sum []byte) string {
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// etagFromHex is ETagFromSHA256 of a hex digest.
func etagFromHex(sum string) string { return `"` + sum[:32] + `"` }

// NameHash is the content hash a file name promises under the project's naming scheme, or
// "": the first 12 hex digits of the SHA-256 of the file's (decoded) bytes, as the last
// '.' or '-' separated part before the extension: app.3f2a9c1d0b4e.wasm,
// squeezenet1_1-f32-0123456789ab.alxw, squeezenet1_1-f32-0123456789ab.p00.00aa11bb22cc.bin.
func NameHash(name string) string {
	base := path.Base(name)
	base = strings.TrimSuffix(base, path.Ext(base))
	i := strings.LastIndexAny(base, ".-")
	h := base[i+1:]
	if i < 0 || len(h) != 12 {
		return ""
	}
	for j := 0; j < len(h); j++ {
		if c := h[j]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return ""
		}
	}
	return h
}
