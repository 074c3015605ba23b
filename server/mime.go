package server

import (
	"path"
	"strings"
)

// contentTypes is fixed here rather than taken from the host's mime tables so that every
// machine (and the Cloudflare Worker) answers the same: browsers refuse to compile wasm
// streamed with any type but application/wasm, and module scripts need a JS type.
var contentTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".htm":         "text/html; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".json":        "application/json",
	".map":         "application/json",
	".webmanifest": "application/manifest+json",
	".wasm":        "application/wasm",
	".alxw":        "application/octet-stream",
	".pth":         "application/octet-stream",
	".onnx":        "application/octet-stream",
	".bin":         "application/octet-stream",
	".png":         "image/png",
	".jpg":         "image/jpeg",
	".jpeg":        "image/jpeg",
	".gif":         "image/gif",
	".webp":        "image/webp",
	".avif":        "image/avif",
	".svg":         "image/svg+xml",
	".ico":         "image/x-icon",
	".txt":         "text/plain; charset=utf-8",
	".md":          "text/markdown; charset=utf-8",
	".woff2":       "font/woff2",
	".woff":        "font/woff",
	".gz":          "application/gzip",
	".br":          "application/octet-stream",
}

// ContentType returns the media type for a file name; unknown extensions are sent as
// opaque bytes (with nosniff, the browser will not guess).
func ContentType(name string) string {
	if t, ok := contentTypes[strings.ToLower(path.Ext(name))]; ok {
		return t
	}
	return "application/octet-stream"
}

// IsContentHashed reports whether a file name carries a content hash: a part of the name
// before its extension, separated by '.', '-' or '_', of at least 8 lowercase hex digits
// with at least one letter: app.3f2a9c1d.wasm, squeezenet1_1-f32-0123456789ab.alxw.
// Such names change whenever their bytes do, so they may be cached forever. The letter
// rule keeps dates and counters (IMG_20260101_123456.jpg) from being cached forever; a
// real hash that happens to be all digits merely gets revalidated.
func IsContentHashed(name string) bool {
	base := path.Base(name)
	base = strings.TrimSuffix(base, path.Ext(base))
	for part := range strings.FieldsFuncSeq(base, func(r rune) bool { return r == '.' || r == '-' || r == '_' }) {
		if isHexHash(part) {
			return true
		}
	}
	return false
}

func isHexHash(s string) bool {
	if len(s) < 8 {
		return false
	}
	letter := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'f':
			letter = true
		case c < '0' || c > '9':
			return false
		}
	}
	return letter
}

const (
	cacheImmutable = "public, max-age=31536000, immutable"
	// no-cache lets the browser keep a copy but makes it revalidate (cheap with ETags),
	// so index.html, the manifest and the service worker always point at current assets.
	cacheRevalidate = "no-cache"
	cacheNever      = "no-store"
)

// CacheControl returns the Cache-Control value for a served file name.
func CacheControl(name string) string {
	if IsContentHashed(name) {
		return cacheImmutable
	}
	return cacheRevalidate
}
