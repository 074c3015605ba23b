package server

import (
	"net/http"
	"strings"
	"time"
)

// maxETags bounds how many entity-tags of an If-Match / If-None-Match list are examined.
const maxETags = 64

// ETagListMatches reports whether the If-Match or If-None-Match field value header lists
// etag (itself a full entity-tag such as `"abc"` or `W/"abc"`). "*" matches any current
// representation. weak selects RFC 9110 §8.8.3.2 weak comparison (If-None-Match: the
// opaque parts are equal, W/ prefixes ignored) instead of strong comparison (If-Match,
// If-Range: both strong and equal). A malformed list matches nothing.
func ETagListMatches(header, etag string, weak bool) bool {
	s := strings.Trim(header, " \t")
	if s == "*" {
		return true
	}
	for n := 0; s != "" && n < maxETags; n++ {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			break
		}
		tag, rest, ok := scanETag(s)
		if !ok {
			return false
		}
		if etagsEqual(tag, etag, weak) {
			return true
		}
		s = strings.TrimLeft(rest, " \t")
		if s != "" && s[0] != ',' {
			return false
		}
	}
	return false
}

// scanETag reads one entity-tag at the start of s: [W/] DQUOTE *etagc DQUOTE.
func scanETag(s string) (tag, rest string, ok bool) {
	start := 0
	if strings.HasPrefix(s, "W/") {
		start = 2
	}
	if len(s) < start+2 || s[start] != '"' {
		return "", "", false
	}
	for i := start + 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			return s[:i+1], s[i+1:], true
		case c == 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80:
		default:
			return "", "", false
		}
	}
	return "", "", false
}

func etagsEqual(a, b string, weak bool) bool {
	aWeak, bWeak := strings.HasPrefix(a, "W/"), strings.HasPrefix(b, "W/")
	if !weak {
		return !aWeak && !bWeak && a == b
	}
	return strings.TrimPrefix(a, "W/") == strings.TrimPrefix(b, "W/")
}

// precondition is the outcome of evaluating a request's conditional headers.
type precondition int

const (
	proceed     precondition = iota // send the representation (200, or 206 if ranged)
	notModified                     // 304
	failed                          // 412
)

// evaluatePreconditions applies RFC 9110 §13.2.2 in its order for a GET or HEAD of a
// representation with the given strong etag and modification time (zero: unknown). It
// also returns whether a Range header, if any, should be honoured (If-Range).
func evaluatePreconditions(r *http.Request, etag string, modTime time.Time) (precondition, bool) {
	h := r.Header
	if im := h.Get("If-Match"); im != "" {
		if !ETagListMatches(im, etag, false) {
			return failed, false
		}
	} else if ius, ok := parseHTTPDate(h.Get("If-Unmodified-Since")); ok && !modTime.IsZero() {
		if modTime.Truncate(time.Second).After(ius) {
			return failed, false
		}
	}
	if inm := h.Get("If-None-Match"); inm != "" {
		if ETagListMatches(inm, etag, true) {
			return notModified, false
		}
	} else if ims, ok := parseHTTPDate(h.Get("If-Modified-Since")); ok && !modTime.IsZero() {
		if !modTime.Truncate(time.Second).After(ims) {
			return notModified, false
		}
	}
	honourRange := true
	if ir := strings.Trim(h.Get("If-Range"), " \t"); ir != "" {
		if strings.HasPrefix(ir, `"`) || strings.HasPrefix(ir, "W/") {
			tag, rest, ok := scanETag(ir)
			honourRange = ok && strings.Trim(rest, " \t") == "" && etagsEqual(tag, etag, false)
		} else {
			d, ok := parseHTTPDate(ir)
			honourRange = ok && !modTime.IsZero() && modTime.Truncate(time.Second).Equal(d)
		}
	}
	return proceed, honourRange
}

func parseHTTPDate(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := http.ParseTime(s)
	return t, err == nil
}
