package server

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// ByteRange is one satisfiable range of a representation: Length bytes from Start.
type ByteRange struct {
	Start, Length int64
}

// ContentRange formats the Content-Range value of r within a representation of size bytes.
func (r ByteRange) ContentRange(size int64) string {
	return fmt.Sprintf("bytes %d-%d/%d", r.Start, r.Start+r.Length-1, size)
}

// MaxRanges bounds how many ranges one Range header may ask for. Browsers and download
// managers ask for one or a handful; many tiny ranges only serve to amplify work.
const MaxRanges = 32

var (
	// ErrRangeIgnored means the Range header is not one this server honours (another unit,
	// bad syntax, too many or overlapping ranges): RFC 9110 §14.2 lets a server ignore
	// such a header and send the whole representation with 200.
	ErrRangeIgnored = errors.New("range header ignored")
	// ErrRangeUnsatisfiable means the header is well formed but no range overlaps the
	// representation: the answer is 416 with Content-Range: bytes */size.
	ErrRangeUnsatisfiable = errors.New("range not satisfiable")
)

// ParseRange parses a Range header value (RFC 9110 §14.1.2) against a representation of
// size bytes and returns the satisfiable ranges in request order, each clipped to the
// representation. An empty header returns (nil, nil). Ranges that start beyond the end
// are dropped when another range is satisfiable. The work is bounded by MaxRanges, so a
// hostile header cannot make the server do more than a fixed amount of work.
func ParseRange(header string, size int64) ([]ByteRange, error) {
	if header == "" {
		return nil, nil
	}
	if size < 0 {
		return nil, fmt.Errorf("server: negative representation size %d", size)
	}
	unit, set, ok := strings.Cut(header, "=")
	if !ok || !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return nil, ErrRangeIgnored
	}
	var out []ByteRange
	var total int64
	n := 0
	for spec := range strings.SplitSeq(set, ",") {
		spec = strings.Trim(spec, " \t")
		if spec == "" {
			// RFC 9110 list syntax allows empty elements; they carry nothing.
			continue
		}
		if n++; n > MaxRanges {
			return nil, ErrRangeIgnored
		}
		first, last, ok := strings.Cut(spec, "-")
		if !ok {
			return nil, ErrRangeIgnored
		}
		var r ByteRange
		if first == "" {
			// Suffix range: the final N bytes.
			suffix, ok := parseDigits(last)
			if !ok {
				return nil, ErrRangeIgnored
			}
			if suffix == 0 {
				continue // unsatisfiable, see RFC 9110 §14.1.3
			}
			r = ByteRange{Start: max(size-suffix, 0), Length: min(suffix, size)}
		} else {
			start, ok := parseDigits(first)
			if !ok {
				return nil, ErrRangeIgnored
			}
			end := size - 1
			if last != "" {
				e, ok := parseDigits(last)
				if !ok || e < start {
					return nil, ErrRangeIgnored
				}
				end = min(e, size-1)
			}
			if start >= size {
				continue // unsatisfiable on its own; others may still be served
			}
			r = ByteRange{Start: start, Length: end - start + 1}
		}
		if r.Length <= 0 {
			continue
		}
		out = append(out, r)
		total += r.Length
	}
	if n == 0 {
		return nil, ErrRangeIgnored
	}
	if len(out) == 0 {
		return nil, ErrRangeUnsatisfiable
	}
	// Overlapping ranges that add up to more than the file are either a confused client
	// or an amplification attempt; the whole file is cheaper for everyone.
	if len(out) > 1 && total > size {
		return nil, ErrRangeIgnored
	}
	return out, nil
}

// parseDigits parses a non-empty run of ASCII digits. Values beyond what an int64 holds
// saturate at math.MaxInt64: such positions lie past the end of any real file, and
// saturation keeps "bytes=0-99999999999999999999" meaning "to the end".
func parseDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var v int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > (math.MaxInt64-9)/10 {
			v = math.MaxInt64
			continue
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}
