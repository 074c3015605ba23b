package weights

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/teach"
)

func testHead(hidden int) *teach.Head {
	h := &teach.Head{Arch: "alexnet", Layer: "fc7", WeightsSHA256: "abc", Classes: []string{"cat", "dog", "teapot"}, Dim: 6, Hidden: hidden}
	out1 := 3
	if hidden > 0 {
		out1 = hidden
	}
	for i := range out1 * 6 {
		h.W1 = append(h.W1, float32(i%5)-2)
	}
	for i := range out1 {
		h.B1 = append(h.B1, float32(i)/10)
	}
	if hidden > 0 {
		for i := range 3 * hidden {
			h.W2 = append(h.W2, float32(i%3)-1)
		}
		h.B2 = []float32{0.1, -0.2, 0.3}
	}
	return h
}

// TestHeadRoundTrip: a head written and read back is the same head; a corrupt, truncated or
// mistaken file is refused with a message that says which.
func TestHeadRoundTrip(t *testing.T) {
	for _, hidden := range []int{0, 4} {
		h := testHead(hidden)
		var buf bytes.Buffer
		if err := EncodeHead(&buf, h, "test"); err != nil {
			t.Fatal(err)
		}
		got, err := DecodeHead(buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.W1, h.W1) || !slices.Equal(got.B2, h.B2) || !slices.Equal(got.Classes, h.Classes) || got.Layer != "fc7" || got.Arch != "alexnet" || got.Hidden != hidden {
			t.Errorf("hidden %d: read back %+v", hidden, got)
		}
		data := buf.Bytes()
		bad := slices.Clone(data)
		bad[len(bad)-3] ^= 1
		if _, err := DecodeHead(bad); err == nil || !strings.Contains(err.Error(), "SHA-256") {
			t.Errorf("a flipped byte: %v", err)
		}
		if _, err := DecodeHead(data[:len(data)-4]); err == nil || !strings.Contains(err.Error(), "truncated") {
			t.Errorf("a truncated file: %v", err)
		}
		if _, err := Decode(data); err == nil || !strings.Contains(err.Error(), "classifier head") {
			t.Errorf("a head read as a network: %v", err)
		}
	}
	var model bytes.Buffer
	if err := Encode(&model, Fixture(engine.SqueezeNet11, 1), "fixture"); err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeHead(model.Bytes()); err == nil || !strings.Contains(err.Error(), "not a classifier head") {
		t.Errorf("a network read as a head: %v", err)
	}
	one := testHead(0)
	one.Classes = one.Classes[:1]
	if err := EncodeHead(&bytes.Buffer{}, one, ""); err == nil {
		t.Error("a head of one class was written")
	}
}

func FuzzDecodeHead(f *testing.F) {
	for _, hidden := range []int{0, 4} {
		var buf bytes.Buffer
		if err := EncodeHead(&buf, testHead(hidden), "seed"); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := DecodeHead(data)
		if err != nil {
			return
		}
		// What decodes is a usable head, and encodes back to the same bytes.
		if _, err := h.Logits(make([]float32, h.Dim)); err != nil {
			t.Fatalf("a decoded head cannot score: %v", err)
		}
		var buf bytes.Buffer
		if err := EncodeHead(&buf, h, "again"); err != nil {
			t.Fatalf("a decoded head does not encode: %v", err)
		}
		if _, err := DecodeHead(buf.Bytes()); err != nil {
			t.Fatalf("a re-encoded head does not decode: %v", err)
		}
	})
}
