// Package cachekey names weight files in the browser's Cache Storage. A key is the file's
// absolute URL with its sha256 as the query, so a cached copy can never be stale; a
// family is that URL with the content hash taken out of the file name, so a new version
// of a file (new bytes, new name) replaces the old version's entry instead of piling up.
package cachekey

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// Key resolves raw against base (the worker's location) and adds the sha256 ("" leaves
// the URL as it is: files without a known hash are not cached).
func Key(base, raw, sha256 string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("bad base URL %q: %v", base, err)
	}
	u, err := b.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("bad weights URL %q: %v", raw, err)
	}
	u.Fragment = ""
	if sha256 != "" {
		q := u.Query()
		q.Set("sha256", strings.ToLower(sha256))
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

// hashPart is a content hash of 8 or more hex digits set off by '-', '.' or '_' at the end
// of a file's stem: squeezenet1_1-f32-795ceb4fcd91.alxw.
var hashPart = regexp.MustCompile(`[-._][0-9a-f]{8,}$`)

// Family is the key's origin and path with any content hash removed from the file name
// and without the query: every version of one file has the same family.
func Family(key string) string {
	u, err := url.Parse(key)
	if err != nil {
		return key
	}
	dir, file := path.Split(u.Path)
	ext := path.Ext(file)
	stem := hashPart.ReplaceAllString(strings.TrimSuffix(file, ext), "")
	return u.Scheme + "://" + u.Host + dir + stem + ext
}

// partParam is the query parameter that numbers the entries a file is stored in.
const partParam = "part"

// Part is the key of entry i of a file stored in several entries (key from Key).
func Part(key string, i int) string {
	u, err := url.Parse(key)
	if err != nil {
		return key
	}
	q := u.Query()
	q.Set(partParam, strconv.Itoa(i))
	u.RawQuery = q.Encode()
	return u.String()
}

// Whole is the key of the file that a part's key belongs to, and ok false when key names
// no part (an entry holding a whole file, as earlier versions stored them).
func Whole(key string) (whole string, ok bool) {
	u, err := url.Parse(key)
	if err != nil {
		return key, false
	}
	q := u.Query()
	if !q.Has(partParam) {
		return key, false
	}
	q.Del(partParam)
	u.RawQuery = q.Encode()
	return u.String(), true
}
