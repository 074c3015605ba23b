package server

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/andybalholm/brotli"
)

// compressible lists the extensions worth precompressing: text and wasm shrink 3-5x;
// images, fonts and weight files are already dense.
var compressible = map[string]bool{
	".wasm": true, ".js": true, ".mjs": true, ".css": true, ".html": true,
	".json": true, ".svg": true, ".webmanifest": true, ".map": true,
}

// minCompressSize: below this a compressed copy saves less than a request's headers.
const minCompressSize = 256

// Precompress writes .gz (gzip, best compression) and .br (brotli, quality 11) siblings
// for the compressible files under dir, when a sibling is missing or older than its
// file. Siblings get their file's modification time, which is how the server (and the
// next run) tells a current sibling from a stale one. A sibling that would not be
// smaller than the file is not written (and a stale one is removed). Dotfiles and
// dot-directories are skipped, like the server skips them; symlinks are not followed.
//
// Brotli quality 11 is slow in pure Go (about 20 s for a 2 MB wasm here) but about 11%
// smaller than quality 9; PrecompressWith trades size for time in development builds.
func Precompress(dir string) error {
	return PrecompressWith(dir, PrecompressOptions{})
}

// PrecompressOptions chooses compression levels; zero values mean the best.
type PrecompressOptions struct {
	BrotliQuality int // 1..11 (brotli.BestCompression); 0: 11
	GzipLevel     int // 1..9 (gzip.BestCompression); 0: 9
}

// PrecompressWith is Precompress with chosen compression levels.
func PrecompressWith(dir string, opt PrecompressOptions) error {
	if opt.BrotliQuality == 0 {
		opt.BrotliQuality = brotli.BestCompression
	}
	if opt.GzipLevel == 0 {
		opt.GzipLevel = gzip.BestCompression
	}
	if opt.BrotliQuality < 1 || opt.BrotliQuality > brotli.BestCompression {
		return fmt.Errorf("precompress: brotli quality %d outside 1..11", opt.BrotliQuality)
	}
	if opt.GzipLevel < 1 || opt.GzipLevel > gzip.BestCompression {
		return fmt.Errorf("precompress: gzip level %d outside 1..9", opt.GzipLevel)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("precompress: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("precompress: %s is not a directory", dir)
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("precompress: %w", err)
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !compressible[strings.ToLower(filepath.Ext(p))] {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("precompress: %w", err)
		}
		if info.Size() < minCompressSize {
			return nil
		}
		return precompressFile(p, info, opt)
	})
}

func precompressFile(p string, info fs.FileInfo, opt PrecompressOptions) error {
	var src []byte
	for _, enc := range []struct {
		suffix string
		encode func([]byte) ([]byte, error)
	}{
		{".gz", func(b []byte) ([]byte, error) { return gzipBytes(b, opt.GzipLevel) }},
		{".br", func(b []byte) ([]byte, error) { return brotliBytes(b, opt.BrotliQuality) }},
	} {
		sib := p + enc.suffix
		if sfi, err := os.Stat(sib); err == nil && sfi.Mode().IsRegular() && sfi.ModTime().Equal(info.ModTime()) {
			continue // current
		}
		if src == nil {
			b, err := os.ReadFile(p)
			if err != nil {
				return fmt.Errorf("precompress: %w", err)
			}
			src = b
		}
		out, err := enc.encode(src)
		if err != nil {
			return fmt.Errorf("precompress %s: %w", p, err)
		}
		if len(out) >= len(src) {
			if err := os.Remove(sib); err != nil && !os.IsNotExist(err) {
				return fmt.Errorf("precompress: %w", err)
			}
			continue
		}
		if err := writeAtomic(sib, out, info.ModTime()); err != nil {
			return fmt.Errorf("precompress: %w", err)
		}
	}
	return nil
}

func gzipBytes(src []byte, level int) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, level)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(src); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func brotliBytes(src []byte, quality int) ([]byte, error) {
	var buf bytes.Buffer
	bw := brotli.NewWriterLevel(&buf, quality)
	if _, err := bw.Write(src); err != nil {
		return nil, err
	}
	if err := bw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeAtomic writes b to a temporary file beside name and renames it into place, so a
// server never serves a half-written sibling; then stamps it with modTime.
func writeAtomic(name string, b []byte, modTime time.Time) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".precompress-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Chtimes(tmp.Name(), modTime, modTime); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}
