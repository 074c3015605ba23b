package server

import "strings"

// maxCodings bounds how many Accept-Encoding elements are looked at; real browsers send
// four or five.
const maxCodings = 64

// NegotiateEncoding picks the content coding to send for an Accept-Encoding header value
// (RFC 9110 §12.5.3). offered lists the codings available for the resource, most
// preferred first (for example "br", "gzip"); the result is one of them, or "" for the
// identity representation. present says whether the request had the header at all: a
// request without it gets identity, which every client understands.
//
// A coding wins when its q-value is highest among the offered codings (ties go to the
// server's order) and not lower than identity's, when the client weighted identity. When the client refuses everything on
// offer (q=0, or identity;q=0 with nothing usable), identity is sent anyway, as RFC 9110
// suggests, rather than failing the request.
func NegotiateEncoding(header string, present bool, offered []string) string {
	if !present || len(offered) == 0 {
		return ""
	}
	const unset = -1
	star := unset
	identity := unset
	qs := make([]int, len(offered))
	for i := range qs {
		qs[i] = unset
	}
	n := 0
	for elem := range strings.SplitSeq(header, ",") {
		elem = strings.Trim(elem, " \t")
		if elem == "" {
			continue
		}
		if n++; n > maxCodings {
			break
		}
		name, params, _ := strings.Cut(elem, ";")
		name = strings.ToLower(strings.Trim(name, " \t"))
		if name == "x-gzip" {
			name = "gzip" // RFC 9110 §8.4.1.3: an alias
		}
		q, ok := parseQ(params)
		if !ok {
			continue // a malformed weight makes the element meaningless; skip it
		}
		switch name {
		case "*":
			star = q
		case "identity":
			identity = q
		default:
			for i, c := range offered {
				if c == name {
					qs[i] = q
				}
			}
		}
	}
	if identity == unset {
		// Not weighted by the client: identity is the fallback, and any acceptable
		// coding is preferred to it (a client listing "gzip;q=0.5" alone wants gzip).
		identity = 0
	}
	best, bestQ := "", 0
	for i, c := range offered {
		q := qs[i]
		if q == unset {
			q = star
		}
		if q > bestQ {
			best, bestQ = c, q
		}
	}
	if best == "" || bestQ < identity {
		return ""
	}
	return best
}

// parseQ reads the q parameter of one list element, in thousandths (RFC 9110 §12.4.2):
// 1000 when absent, ok=false when the weight is malformed.
func parseQ(params string) (int, bool) {
	q := 1000
	for p := range strings.SplitSeq(params, ";") {
		k, v, _ := strings.Cut(strings.Trim(p, " \t"), "=")
		if !strings.EqualFold(strings.Trim(k, " \t"), "q") {
			continue
		}
		w, ok := parseWeight(strings.Trim(v, " \t"))
		if !ok {
			return 0, false
		}
		q = w
	}
	return q, true
}

// parseWeight parses qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ).
func parseWeight(s string) (int, bool) {
	if s == "" || len(s) > 5 || (s[0] != '0' && s[0] != '1') {
		return 0, false
	}
	v := int(s[0]-'0') * 1000
	if len(s) == 1 {
		return v, true
	}
	if s[1] != '.' {
		return 0, false
	}
	scale := 100
	for i := 2; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v += int(c-'0') * scale
		scale /= 10
	}
	if v > 1000 {
		return 0, false
	}
	return v, true
}
