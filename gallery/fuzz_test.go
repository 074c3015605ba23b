package gallery

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzRead feeds arbitrary bytes to Decode: it must return a gallery or an error, never panic
// or allocate much more than the input, and whatever it accepts must re-encode to the same
// bytes (the format has one encoding of each gallery).
func FuzzRead(f *testing.F) {
	for _, e := range []Encoding{F16, Int8} {
		g, _ := randomGallery(f, e, 3, 5)
		f.Add(encode(f, g))
		empty, _ := New(testHeader(e))
		f.Add(encode(f, empty))
	}
	f.Add([]byte("ALXG\x01\x00\x00\x00\x02\x00\x00\x00{}"))
	f.Add(encode(f, atlasGallery(f)))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Decode(data)
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := g.Encode(&b); err != nil {
			t.Fatalf("decoded gallery does not encode: %v", err)
		}
		h, err := Decode(b.Bytes())
		if err != nil {
			t.Fatalf("re-encoded gallery does not decode: %v", err)
		}
		if !reflect.DeepEqual(h.Header, g.Header) || h.Len() != g.Len() {
			t.Fatalf("round trip changed the header or count: %+v %d vs %+v %d", h.Header, h.Len(), g.Header, g.Len())
		}
		for i := range g.Items {
			a, c := g.Items[i], h.Items[i]
			if a.Name != c.Name || a.Label != c.Label || a.Class != c.Class || !bytes.Equal(a.Thumb, c.Thumb) ||
				!equalF32(g.Embedding(i, nil), h.Embedding(i, nil)) {
				t.Fatalf("round trip changed item %d", i)
			}
		}
		if g.Len() > 0 {
			if _, err := g.Search([][]float32{g.Embedding(0, nil)}, SearchOptions{K: 3}); err != nil {
				t.Fatalf("search on a decoded gallery: %v", err)
			}
		}
	})
}
