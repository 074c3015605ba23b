package gallery

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// testHeader describes SqueezeNet's mean-pooled fire9 (512 components), a real embedding
// shape that keeps tests small.
func testHeader(e Encoding) Header {
	return Header{Arch: "squeezenet1_1", Layer: "fire9", Pooling: PoolMean, Dim: 512, Encoding: e, Thumb: 64,
		Weights: WeightsInfo{SHA256: strings.Repeat("ab", 32), Source: "test"}}
}

// randomGallery fills a gallery with n seeded items whose embeddings look like ReLU outputs
// (non-negative, many zeros), as fc7 and fire9 do.
func randomGallery(t testing.TB, e Encoding, n int, seed uint64) (*Gallery, [][]float32) {
	t.Helper()
	g, err := New(testHeader(e))
	if err != nil {
		t.Fatal(err)
	}
	rng := splitMix(seed)
	var vs [][]float32
	for i := 0; i < n; i++ {
		v := make([]float32, g.Header.Dim)
		for j := range v {
			if x := rng.normal(); x > 0 {
				v[j] = float32(x * 3)
			}
		}
		it := Item{Name: "img/" + string(rune('a'+i%26)) + itoa(i) + ".jpg", Class: i % 1000, Label: "label " + itoa(i)}
		if i%3 == 0 {
			it.Thumb = []byte{0xff, 0xd8, byte(i), 0xff, 0xd9}
		}
		if err := g.Add(it, v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	return g, vs
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func encode(t testing.TB, g *Gallery) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := g.Encode(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestRoundTrip(t *testing.T) {
	for _, e := range []Encoding{F16, Int8} {
		t.Run(string(e), func(t *testing.T) {
			g, vs := randomGallery(t, e, 37, 1)
			data := encode(t, g)
			h, err := Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(h.Header, g.Header) || h.Len() != g.Len() {
				t.Fatalf("header %+v len %d, want %+v len %d", h.Header, h.Len(), g.Header, g.Len())
			}
			for i := range g.Items {
				a, b := g.Items[i], h.Items[i]
				if a.Name != b.Name || a.Label != b.Label || a.Class != b.Class || !bytes.Equal(a.Thumb, b.Thumb) {
					t.Fatalf("item %d: %+v, want %+v", i, b, a)
				}
				got, want := h.Embedding(i, nil), g.Embedding(i, nil)
				if !equalF32(got, want) {
					t.Fatalf("item %d embedding changed in the round trip", i)
				}
				if h.norm[i] != g.norm[i] {
					t.Fatalf("item %d norm %v, want %v", i, h.norm[i], g.norm[i])
				}
				// The stated error bound of each encoding.
				for j, v := range vs[i] {
					err := math.Abs(float64(got[j] - v))
					bound := float64(v) * (1.0 / 2048) // f16: half an ulp, 2^-11 relative
					if e == Int8 {
						bound = float64(g.scale[i])/2 + 1e-6
					}
					if err > bound {
						t.Fatalf("item %d component %d: %v stored as %v, error %g > bound %g", i, j, v, got[j], err, bound)
					}
				}
			}
			if !bytes.Equal(encode(t, h), data) {
				t.Fatal("re-encoding a decoded gallery changed its bytes")
			}
			// Appending to a decoded gallery and writing it again keeps the old items.
			if err := h.Add(Item{Name: "new.png", Class: -1}, vs[0]); err != nil {
				t.Fatal(err)
			}
			h2, err := Decode(encode(t, h))
			if err != nil {
				t.Fatal(err)
			}
			if h2.Len() != g.Len()+1 || h2.Find("new.png") != g.Len() || h2.Items[g.Len()].Class != -1 {
				t.Fatalf("append: %d items, new.png at %d", h2.Len(), h2.Find("new.png"))
			}
		})
	}
}

func equalF32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func TestWriteFileAtomic(t *testing.T) {
	g, _ := randomGallery(t, Int8, 5, 2)
	dir := t.TempDir()
	p := filepath.Join(dir, "g.alxg")
	if err := g.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	h, err := ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if h.Len() != 5 {
		t.Fatalf("%d items", h.Len())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temporary files left behind: %v", ents)
	}
}

// Corrupt and foreign files get an error that says what is wrong, never a panic.
func TestDecodeRefusesBadFiles(t *testing.T) {
	g, _ := randomGallery(t, F16, 4, 3)
	good := encode(t, g)
	gi, _ := randomGallery(t, Int8, 4, 3)
	goodI8 := encode(t, gi)
	hlen := int(binary.LittleEndian.Uint32(good[8:]))
	withHeader := func(data []byte, edit func(string) string) []byte {
		h := edit(string(data[12 : 12+hlen]))
		var b bytes.Buffer
		b.Write(data[:8])
		b.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(h))))
		b.WriteString(h)
		for b.Len()%8 != 0 {
			b.WriteByte(0)
		}
		b.Write(data[align8(int64(12+hlen)):])
		return b.Bytes()
	}
	replace := func(old, new string) func(string) string {
		return func(s string) string {
			if !strings.Contains(s, old) {
				t.Fatalf("header %s lacks %q", s, old)
			}
			return strings.Replace(s, old, new, 1)
		}
	}
	set := func(data []byte, off int, b ...byte) []byte {
		d := append([]byte(nil), data...)
		copy(d[off:], b)
		return d
	}
	embStart := len(good) - 4*512*2
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"), "no ALXG magic"},
		{"alxw weights file", append([]byte("ALXW\x01\x00\x00\x00"), good[8:]...), "no ALXG magic"},
		{"future version", set(good, 4, 2), "version 2"},
		{"header length huge", set(good, 8, 0xff, 0xff, 0xff, 0x7f), "header length"},
		{"header past end", good[:40], "runs past the end"},
		{"header not JSON", withHeader(good, func(s string) string { return "{" + s }), "not valid JSON"},
		{"header trailing junk", withHeader(good, func(s string) string { return s + "x" }), "not valid JSON"},
		{"unknown arch", withHeader(good, replace(`"arch":"squeezenet1_1"`, `"arch":"resnet50"`)), `unknown architecture "resnet50"`},
		{"layer of another arch", withHeader(good, replace(`"layer":"fire9"`, `"layer":"fc7"`)), `no layer "fc7"`},
		{"dim of another layer", withHeader(good, replace(`"dim":512`, `"dim":4096`)), "have 512 components"},
		{"wrong pooling", withHeader(good, replace(`"pooling":"mean"`, `"pooling":"none"`)), "pooling"},
		{"unknown encoding", withHeader(good, replace(`"encoding":"f16"`, `"encoding":"bf16"`)), `unknown encoding "bf16"`},
		{"bad fingerprint", withHeader(good, replace(`"sha256":"abab`, `"sha256":"ABAB`)), "fingerprint"},
		{"negative count", withHeader(good, replace(`"count":4`, `"count":-1`)), "count -1"},
		{"count beyond file", withHeader(good, replace(`"count":4`, `"count":4000000`)), "cannot fit"},
		{"count too big", withHeader(good, replace(`"count":4`, `"count":99999999999`)), "out of range"},
		{"more items than stored", withHeader(good, replace(`"count":4`, `"count":5`)), ""},
		{"fewer items than stored", withHeader(good, replace(`"count":4`, `"count":3`)), ""},
		{"thumbnails in a thumbless gallery", withHeader(good, replace(`"thumb":64`, `"thumb":0`)), "thumbnail size is 0"},
		{"truncated embeddings", good[:len(good)-1], "truncated"},
		{"trailing bytes", append(append([]byte(nil), good...), 0), "trailing"},
		{"f16 infinity", set(good, embStart+10, 0x00, 0x7c), "infinite or NaN"},
		{"f16 NaN", set(good, embStart+10, 0x01, 0xfe), "infinite or NaN"},
		{"int8 -128", set(goodI8, len(goodI8)-3, 0x80), "-128"},
		{"int8 negative scale", set(goodI8, len(goodI8)-4*512-16, 0, 0, 0x80, 0xbf), "scale"},
		{"int8 NaN scale", set(goodI8, len(goodI8)-4*512-16, 0, 0, 0xc0, 0x7f), "scale"},
		{"name not UTF-8", set(good, int(align8(int64(12+hlen)))+2, 0xff), "not UTF-8"},
		{"name length past end", set(good, int(align8(int64(12+hlen))), 0xff, 0xff), "limit"},
		{"non-zero padding", set(good, 12+hlen, 'x'), "padding"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, err := Decode(c.data)
			if err == nil {
				t.Fatalf("accepted (%d items)", g.Len())
			}
			if !errors.Is(err, ErrFormat) {
				t.Errorf("error does not wrap ErrFormat: %v", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
		})
	}
}

// Every truncation of a valid file is refused with an error.
func TestDecodeEveryTruncation(t *testing.T) {
	g, _ := randomGallery(t, Int8, 3, 4)
	data := encode(t, g)
	for n := 0; n < len(data); n++ {
		if _, err := Decode(data[:n]); err == nil {
			t.Fatalf("truncated to %d of %d bytes: accepted", n, len(data))
		}
	}
}

func TestAddRefusesBadItems(t *testing.T) {
	g, _ := New(testHeader(F16))
	v := make([]float32, 512)
	bad := []struct {
		name string
		it   Item
		v    []float32
		want string
	}{
		{"short embedding", Item{Name: "a"}, v[:10], "10 components"},
		{"NaN", Item{Name: "a"}, append(append([]float32(nil), v[:511]...), float32(math.NaN())), "NaN"},
		{"empty name", Item{}, v, "name"},
		{"name not UTF-8", Item{Name: "\xff"}, v, "name"},
		{"long label", Item{Name: "a", Label: strings.Repeat("x", 2000)}, v, "label"},
		{"class", Item{Name: "a", Class: -2}, v, "class"},
		{"huge thumbnail", Item{Name: "a", Thumb: make([]byte, MaxThumbBytes+1)}, v, "thumbnail"},
	}
	for _, c := range bad {
		if err := g.Add(c.it, c.v); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		}
	}
	if g.Len() != 0 {
		t.Fatalf("refused items were added: %d", g.Len())
	}
	if _, err := New(Header{Arch: "alexnet", Layer: "fc7", Pooling: PoolNone, Dim: 4096, Encoding: "f32", Weights: testHeader(F16).Weights}); err == nil {
		t.Error("New accepted encoding f32")
	}
}

func TestCompatible(t *testing.T) {
	a := testHeader(F16)
	b := a
	b.Encoding = Int8
	b.Thumb = 0
	if err := a.Compatible(b); err != nil {
		t.Errorf("encoding and thumbnails do not change what embeddings mean: %v", err)
	}
	for _, edit := range []func(*Header){
		func(h *Header) { h.Arch, h.Layer, h.Pooling, h.Dim = "alexnet", "fc7", PoolNone, 4096 },
		func(h *Header) { h.Layer, h.Dim = "fire8", 384 },
		func(h *Header) { h.Weights.SHA256 = strings.Repeat("cd", 32) },
	} {
		c := a
		edit(&c)
		if err := a.Compatible(c); !errors.Is(err, ErrIncompatible) {
			t.Errorf("%+v vs %+v: %v", a, c, err)
		}
	}
}

// A float32 is rounded to the nearest half, ties to even, and every finite half survives
// the round trip; checked exhaustively over halves and their midpoints.
func TestHalf(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		v := fromHalf(uint16(h))
		if !halfFinite(uint16(h)) {
			continue
		}
		if got := toHalf(v); got != uint16(h) && !(v == 0 && got&0x7fff == 0) {
			t.Fatalf("half %#04x = %v -> %#04x", h, v, got)
		}
		// The midpoint to the next half up (same sign) rounds to the even one of the two.
		if h&0x7fff < 0x7bff {
			next := fromHalf(uint16(h + 1))
			mid := float32((float64(v) + float64(next)) / 2)
			want := uint16(h)
			if h&1 == 1 {
				want = uint16(h + 1)
			}
			if got := toHalf(mid); got != want {
				t.Fatalf("midpoint of %#04x and %#04x (%v) -> %#04x, want %#04x", h, h+1, mid, got, want)
			}
			// Just above the midpoint always goes up.
			above := math.Nextafter32(mid, float32(math.Copysign(math.Inf(1), float64(v))))
			if got := toHalf(above); got != uint16(h+1) {
				t.Fatalf("just past the midpoint of %#04x and %#04x (%v) -> %#04x", h, h+1, above, got)
			}
		}
	}
	for _, c := range []struct {
		f    float32
		want uint16
	}{{1, 0x3c00}, {-2, 0xc000}, {65504, 0x7bff}, {1e9, 0x7bff}, {-1e9, 0xfbff}, {65519, 0x7bff}, {5.96e-8, 0x0001}, {1e-9, 0}} {
		if got := toHalf(c.f); got != c.want {
			t.Errorf("toHalf(%v) = %#04x, want %#04x", c.f, got, c.want)
		}
	}
}
