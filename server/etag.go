package server

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"sync"
	"time"
)

// maxETagEntries bounds the ETag cache. The served trees hold tens of files; the bound
// only matters if files churn under a long-running server, and then clearing the cache
// costs one re-hash per file.
const maxETagEntries = 4096

// etagCache remembers the content hash of each served file, keyed by path and checked
// against the file's identity (device and inode), size and modification time, so a file is hashed once rather than per request
// (a weight file is hundreds of megabytes).
type etagCache struct {
	mu      sync.Mutex
	entries map[string]*etagEntry
}

type etagEntry struct {
	fi      os.FileInfo // for os.SameFile: a replaced file is a new file
	size    int64
	modTime time.Time
	once    sync.Once
	tag     string
	err     error
}

// get returns the strong ETag of f, whose path is key and whose stat is fi. Concurrent
// first requests for the same file share one hashing pass.
func (c *etagCache) get(key string, f *os.File, fi os.FileInfo) (string, error) {
	c.mu.Lock()
	if c.entries == nil {
		c.entries = make(map[string]*etagEntry)
	}
	e := c.entries[key]
	if e == nil || e.size != fi.Size() || !e.modTime.Equal(fi.ModTime()) || !os.SameFile(e.fi, fi) {
		if len(c.entries) >= maxETagEntries {
			clear(c.entries)
		}
		e = &etagEntry{fi: fi, size: fi.Size(), modTime: fi.ModTime()}
		c.entries[key] = e
	}
	c.mu.Unlock()

	e.once.Do(func() { e.tag, e.err = hashETag(f, fi.Size()) })
	if e.err != nil {
		// Do not remember failures: the next request may read the file fine.
		c.mu.Lock()
		if c.entries[key] == e {
			delete(c.entries, key)
		}
		c.mu.Unlock()
	}
	return e.tag, e.err
}

// hashETag hashes exactly size bytes of f from its start with SHA-256 and returns its
// entity-tag (ETagFromSHA256). It reads through ReadAt so the file
// offset (used later to send the body) is untouched.
func hashETag(f *os.File, size int64) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, size)); err != nil {
		return "", err
	}
	return ETagFromSHA256(h.Sum(nil)), nil
}

// ETagFromSHA256 is the strong entity-tag every host of the site sends for content with
// the given SHA-256 digest: its first 128 bits in hex, quoted. The Worker's staging
// computes it too, so both hosts tag the same bytes alike.
func ETagFromSHA256(sum []byte) string {
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}
