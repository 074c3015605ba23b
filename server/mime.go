package server

import (
	"path"
	"regexp"
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

// hashedName matches a content hash of at least 8 lowercase hex digits standing as its
// own dot/dash/underscore-separated part of a file name: app.3f2a9c1d.wasm,
// squeezenet1_1-f32-0123456789ab.alxw. Such names change whenever their bytes do, so
// they may be cached forever.
var hashedName = regexp.MustCompile(`(^|[._-])[0-9a-f]{8,}([._-]|$)`)

// IsContentHashed reports whether a file name carries a content hash (see hashedName).
// The extension is not part of the test, so "0123abcd.wasm" counts but "app.deadbeefcafe"
// (a hash-like extension) does not.
func IsContentHashed(name string) bool {
	base := path.Base(name)
	base = strings.TrimSuffix(base, path.Ext(base))
	return hashedName.MatchString(base)
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
