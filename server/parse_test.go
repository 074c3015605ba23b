package server

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseRange(t *testing.T) {
	const size = 1000
	cases := []struct {
		header string
		want   []ByteRange
		err    error
	}{
		{"", nil, nil},
		{"bytes=0-99", []ByteRange{{0, 100}}, nil},
		{"bytes=900-", []ByteRange{{900, 100}}, nil},
		{"bytes=-100", []ByteRange{{900, 100}}, nil},
		{"bytes=-5000", []ByteRange{{0, 1000}}, nil},
		{"bytes=990-5000", []ByteRange{{990, 10}}, nil},
		{"bytes=0-99999999999999999999999", []ByteRange{{0, 1000}}, nil},
		{"Bytes = 1-1", []ByteRange{{1, 1}}, nil},
		{"bytes=0-0, 10-19 ,-1", []ByteRange{{0, 1}, {10, 10}, {999, 1}}, nil},
		{"bytes=0-0,,1-1", []ByteRange{{0, 1}, {1, 1}}, nil},
		{"bytes=5-9,2000-", []ByteRange{{5, 5}}, nil},
		{"bytes=1000-", nil, ErrRangeUnsatisfiable},
		{"bytes=1000-2000,3000-", nil, ErrRangeUnsatisfiable},
		{"bytes=-0", nil, ErrRangeUnsatisfiable},
		{"bytes=", nil, ErrRangeIgnored},
		{"bytes=,", nil, ErrRangeIgnored},
		{"items=0-1", nil, ErrRangeIgnored},
		{"bytes 0-1", nil, ErrRangeIgnored},
		{"bytes=5-2", nil, ErrRangeIgnored},
		{"bytes=a-2", nil, ErrRangeIgnored},
		{"bytes=-", nil, ErrRangeIgnored},
		{"bytes=--1", nil, ErrRangeIgnored},
		{"bytes=+1-2", nil, ErrRangeIgnored},
		{"bytes=1-2-3", nil, ErrRangeIgnored},
		{"bytes=0 -1", nil, ErrRangeIgnored},
		{"bytes=0-999,0-999", nil, ErrRangeIgnored}, // overlapping beyond the file size
		{"bytes=" + strings.Repeat("0-0,", MaxRanges+1), nil, ErrRangeIgnored},
	}
	for _, c := range cases {
		got, err := ParseRange(c.header, size)
		if !errors.Is(err, c.err) || (c.err == nil && err != nil) {
			t.Errorf("ParseRange(%q): error %v, want %v", c.header, err, c.err)
			continue
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("ParseRange(%q) = %v, want %v", c.header, got, c.want)
		}
	}
	if _, err := ParseRange("bytes=0-", 0); !errors.Is(err, ErrRangeUnsatisfiable) {
		t.Errorf("empty representation: %v, want ErrRangeUnsatisfiable", err)
	}
	if _, err := ParseRange("bytes=0-", -1); err == nil {
		t.Errorf("negative size accepted")
	}
}

func TestNegotiateEncoding(t *testing.T) {
	both := []string{"br", "gzip"}
	cases := []struct {
		header  string
		present bool
		offered []string
		want    string
	}{
		{"br, gzip", true, both, "br"},
		{"gzip, br", true, both, "br"}, // equal weights: the server's order
		{"gzip", true, both, "gzip"},
		{"gzip;q=0.5", true, both, "gzip"},
		{"br;q=0.4, gzip;q=0.5", true, both, "gzip"},
		{"br;Q=0.6, gzip;q=0.5", true, both, "br"},
		{"x-gzip", true, both, "gzip"},
		{"*", true, both, "br"},
		{"*;q=0", true, both, ""},
		{"*, br;q=0", true, both, "gzip"},
		{"identity", true, both, ""},
		{"gzip;q=0.5, identity;q=0.8", true, both, ""},
		{"gzip;q=0.8, identity;q=0.8", true, both, "gzip"},
		{"br;q=1.0", true, both, "br"},
		{"br;q=1.5", true, both, ""},    // malformed weight: element ignored
		{"br;q=0.1234", true, both, ""}, // four decimals: malformed
		{"br;q=", true, both, ""},
		{"", true, both, ""},
		{"", false, both, ""},
		{"br, gzip", false, both, ""},
		{"br", true, nil, ""},
		{"br", true, []string{"gzip"}, ""},
		{" BR ;  q=0.9 ,gzip;q=0.1", true, both, "br"},
	}
	for _, c := range cases {
		if got := NegotiateEncoding(c.header, c.present, c.offered); got != c.want {
			t.Errorf("NegotiateEncoding(%q, %v, %v) = %q, want %q", c.header, c.present, c.offered, got, c.want)
		}
	}
}

func TestETagListMatches(t *testing.T) {
	const tag = `"abc"`
	cases := []struct {
		header      string
		weak, match bool
	}{
		{`"abc"`, false, true},
		{`"abc"`, true, true},
		{`W/"abc"`, true, true},
		{`W/"abc"`, false, false},
		{`"x", "abc"`, false, true},
		{`"x","abc"`, true, true},
		{` "x" ,	"abc" `, true, true},
		{`"a,b", "abc"`, true, true}, // commas inside an entity-tag
		{`*`, false, true},
		{`"abcd"`, true, false},
		{`abc`, true, false},
		{`"abc`, true, false},
		{`"x" "abc"`, true, false}, // missing comma: malformed
		{``, true, false},
	}
	for _, c := range cases {
		if got := ETagListMatches(c.header, tag, c.weak); got != c.match {
			t.Errorf("ETagListMatches(%q, weak=%v) = %v, want %v", c.header, c.weak, got, c.match)
		}
	}
}

func TestCacheControl(t *testing.T) {
	cases := map[string]string{
		"squeezenet1_1-f32-0123456789ab.alxw": cacheImmutable,
		"app.3f2a9c1d.wasm":                   cacheImmutable,
		"weights/alexnet_int8_deadbeef.alxw":  cacheImmutable,
		"0123abcd.js":                         cacheImmutable,
		"index.html":                          cacheRevalidate,
		"manifest.json":                       cacheRevalidate,
		"sw.js":                               cacheRevalidate,
		"app.3f2a9c1.wasm":                    cacheRevalidate, // 7 hex digits
		"app.3f2a9c1g.wasm":                   cacheRevalidate, // not hex
		"appdeadbeef.wasm":                    cacheRevalidate, // not a separate part
		"app.DEADBEEF.wasm":                   cacheRevalidate, // hashes are written lowercase
		"app.deadbeefcafe":                    cacheRevalidate, // an extension is not a hash
		"IMG_20260101_123456.jpg":             cacheRevalidate, // a date, not a hash
		"model-12345678.alxw":                 cacheRevalidate, // all digits: revalidated
		"a-b_0123456789abcdef0123.c.js":       cacheImmutable,
	}
	for name, want := range cases {
		if got := CacheControl(name); got != want {
			t.Errorf("CacheControl(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestContentType(t *testing.T) {
	for name, want := range map[string]string{
		"a.wasm": "application/wasm", "a.JS": "text/javascript; charset=utf-8",
		"a.alxw": "application/octet-stream", "a.webmanifest": "application/manifest+json",
		"a.unknownext": "application/octet-stream", "noext": "application/octet-stream",
	} {
		if got := ContentType(name); got != want {
			t.Errorf("ContentType(%q) = %q, want %q", name, got, want)
		}
	}
}

// FuzzParseRange checks that any header yields either an error or ranges that lie in
// the representation, are non-empty, bounded in number, and (when several) add up to no
// more than the representation.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-99", "bytes=-5", "bytes=5-", "bytes=0-0,2-3,-1", "bytes=99999999999999999999-",
		"bytes=-99999999999999999999", "bytes= 1 - 2", "bytes=,,,", "bytes=0-1,0-1"} {
		f.Add(s, int64(100))
	}
	f.Add("bytes=0-", int64(0))
	f.Fuzz(func(t *testing.T, header string, size int64) {
		rs, err := ParseRange(header, size)
		if err != nil {
			if rs != nil {
				t.Fatalf("ranges %v returned with error %v", rs, err)
			}
			return
		}
		if len(rs) > MaxRanges {
			t.Fatalf("%d ranges", len(rs))
		}
		var total int64
		for _, r := range rs {
			if r.Length <= 0 || r.Start < 0 || r.Start >= size || r.Length > size-r.Start {
				t.Fatalf("range %+v outside a representation of %d bytes (header %q)", r, size, header)
			}
			total += r.Length
		}
		if len(rs) > 1 && total > size {
			t.Fatalf("ranges %v add up to more than %d", rs, size)
		}
	})
}

// FuzzNegotiateEncoding checks that the choice is always one that was offered and that
// the client did not refuse with q=0.
func FuzzNegotiateEncoding(f *testing.F) {
	for _, s := range []string{"br, gzip", "gzip;q=0.5, identity;q=0.8", "*;q=0", "br;q=0, *", "x-gzip", ";;;", "br;q=1.000"} {
		f.Add(s)
	}
	offered := []string{"br", "gzip"}
	f.Fuzz(func(t *testing.T, header string) {
		got := NegotiateEncoding(header, true, offered)
		if got == "" {
			return
		}
		if !slices.Contains(offered, got) {
			t.Fatalf("chose %q, not offered", got)
		}
		if NegotiateEncoding(header, false, offered) != "" {
			t.Fatalf("chose a coding for a request without Accept-Encoding")
		}
	})
}

// FuzzETagListMatches checks that any list is handled without panic and that a list
// holding exactly the tag matches it.
func FuzzETagListMatches(f *testing.F) {
	for _, s := range []string{`"a"`, `W/"a", "b"`, `*`, `"a,b"`, `"`, `W/`} {
		f.Add(s, `"a"`)
	}
	f.Fuzz(func(t *testing.T, header, tag string) {
		ETagListMatches(header, tag, true)
		ETagListMatches(header, tag, false)
		if t2, rest, ok := scanETag(tag); ok && rest == "" && t2 == tag && !strings.HasPrefix(tag, "W/") {
			if !ETagListMatches(tag, tag, false) || !ETagListMatches(`"zz", `+tag, tag, true) {
				t.Fatalf("list %q does not match itself", tag)
			}
		}
	})
}

func BenchmarkParseRange(b *testing.B) {
	for b.Loop() {
		ParseRange("bytes=0-1023, 4096-8191, -512", 1<<30)
	}
}

func BenchmarkNegotiateEncoding(b *testing.B) {
	offered := []string{"br", "gzip"}
	for b.Loop() {
		NegotiateEncoding("gzip, deflate, br, zstd", true, offered)
	}
}
