package project

import (
	"bytes"
	"context"
	"encoding/binary"
	"image"
	"image/color"
	"math/rand"
	"reflect"
	"strings"
	"testing"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/gallery"
	"github.com/alexlens/alexlens/teach"
	"github.com/alexlens/alexlens/weights"
)

// sample is a project of three classes over SqueezeNet fire9 (fixture weights), four
// photos each with two embeddings, and, with head, a head trained on them.
func sample(t testing.TB, hidden int, head bool) *Project {
	t.Helper()
	m := weights.Fixture(engine.SqueezeNet11, 3)
	h, err := gallery.HeaderFor(m, "fire9", gallery.F16, 16, weights.FixtureSource(3))
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	rng := rand.New(rand.NewSource(1))
	p := &Project{Header: h, Classes: []string{"cat", "dog", "teapot"}, Hidden: hidden, Seed: 7}
	var examples []teach.Example
	for i := range 12 {
		class := i % 3
		img.Set(i, i, color.RGBA{uint8(40 * class), 0, 0, 255})
		thumb, err := gallery.Thumbnail(img, 16)
		if err != nil {
			t.Fatal(err)
		}
		ph := Photo{Name: "photo " + string(rune('a'+i)) + ".jpg", Class: class, Thumb: thumb}
		for range 2 {
			e := make([]float32, h.Dim)
			for j := range e {
				e[j] = float32(rng.NormFloat64())
			}
			e[class] += 5 // separable
			ph.Embeddings = append(ph.Embeddings, e)
			examples = append(examples, teach.Example{Embedding: e, Class: class, Source: i})
		}
		p.Photos = append(p.Photos, ph)
	}
	if head {
		hd, _, err := teach.Train(context.Background(), examples, p.Classes, teach.Options{Hidden: hidden, Seed: p.Seed})
		if err != nil {
			t.Fatal(err)
		}
		hd.Arch, hd.Layer, hd.WeightsSHA256 = h.Arch, h.Layer, h.Weights.SHA256
		p.Head = hd
	}
	return p
}

func encode(t testing.TB, p *Project) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Encode(&buf, p); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestRoundTrip: what is written is read back: classes, photos (names, classes, thumbnails,
// embeddings to f16's precision), settings, and the head exactly.
func TestRoundTrip(t *testing.T) {
	for _, c := range []struct {
		name   string
		hidden int
		head   bool
	}{{"no head", 0, false}, {"softmax head", 0, true}, {"hidden layer", 8, true}} {
		t.Run(c.name, func(t *testing.T) {
			p := sample(t, c.hidden, c.head)
			got, err := Decode(encode(t, p))
			if err != nil {
				t.Fatal(err)
			}
			want := p.Header
			want.Encoding = gallery.F16
			if !reflect.DeepEqual(got.Header, want) || !reflect.DeepEqual(got.Classes, p.Classes) || got.Hidden != p.Hidden || got.Seed != p.Seed {
				t.Fatalf("read %+v %q hidden %d seed %d, wrote %+v %q hidden %d seed %d", got.Header, got.Classes, got.Hidden, got.Seed, want, p.Classes, p.Hidden, p.Seed)
			}
			if len(got.Photos) != len(p.Photos) {
				t.Fatalf("%d photos read, %d written", len(got.Photos), len(p.Photos))
			}
			for i, ph := range got.Photos {
				w := p.Photos[i]
				if ph.Name != w.Name || ph.Class != w.Class || !bytes.Equal(ph.Thumb, w.Thumb) || len(ph.Embeddings) != len(w.Embeddings) {
					t.Fatalf("photo %d: read %q class %d, %d embeddings; wrote %q class %d, %d", i, ph.Name, ph.Class, len(ph.Embeddings), w.Name, w.Class, len(w.Embeddings))
				}
				for j, e := range ph.Embeddings {
					for k, v := range e {
						// f16: relative error 2^-11, and steps of 2^-24 among the subnormals
						if d := abs(v - w.Embeddings[j][k]); d > abs(w.Embeddings[j][k])/2048+6e-8 {
							t.Fatalf("photo %d embedding %d value %d: read %g, wrote %g (beyond f16's precision)", i, j, k, v, w.Embeddings[j][k])
						}
					}
				}
			}
			if !reflect.DeepEqual(got.Head, p.Head) {
				t.Fatalf("the head read back differs from the one written")
			}
		})
	}
}

func abs(v float32) float32 { return max(v, -v) }

// TestEmpty: a project of classes without photos, or of nothing, is saved too.
func TestEmpty(t *testing.T) {
	p := sample(t, 0, false)
	p.Photos = nil
	got, err := Decode(encode(t, p))
	if err != nil || len(got.Photos) != 0 || len(got.Classes) != 3 {
		t.Fatalf("empty project read as %+v, %v", got, err)
	}
	p.Classes = nil
	if _, err := Decode(encode(t, p)); err != nil {
		t.Fatal(err)
	}
}

// TestRefused: inconsistent projects are refused on writing, damaged files on reading, each
// with a message naming the problem; no length of truncation panics.
func TestRefused(t *testing.T) {
	p := sample(t, 0, true)
	for _, c := range []struct {
		name string
		edit func(*Project)
		want string
	}{
		{"photo of no class", func(p *Project) { p.Photos[0].Class = 3 }, "of class 3"},
		{"two classes of a name", func(p *Project) { p.Classes[1] = "cat"; p.Head.Classes[1] = "cat" }, "two classes"},
		{"blank class", func(p *Project) { p.Classes[1] = " " }, "class 1's name"},
		{"head of other weights", func(p *Project) { p.Head.WeightsSHA256 = strings.Repeat("0", 64) }, "the head reads"},
		{"head of other classes", func(p *Project) { p.Head.Classes = []string{"a", "b", "c"} }, "head's classes"},
		{"photo without embeddings", func(p *Project) { p.Photos[2].Embeddings = nil }, "0 embeddings"},
	} {
		q := sample(t, 0, true)
		c.edit(q)
		if err := Encode(&bytes.Buffer{}, q); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Encode says %v, want %q", c.name, err, c.want)
		}
	}
	data := encode(t, p)
	for n := range len(data) {
		if _, err := Decode(data[:n]); err == nil {
			t.Fatalf("a file cut to %d of %d bytes was read", n, len(data))
		}
	}
	if _, err := Decode(append(data, 0)); err == nil || !strings.Contains(err.Error(), "after the head") {
		t.Fatalf("a byte too many: %v", err)
	}
	if _, err := Decode([]byte("ALXG\x01\x00\x00\x00")); err != ErrNotProject {
		t.Fatalf("a gallery file: %v", err)
	}
	bad := bytes.Clone(data)
	binary.LittleEndian.PutUint32(bad[4:], 2)
	if _, err := Decode(bad); err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Fatalf("version 2: %v", err)
	}
}

// FuzzDecode: any bytes give a project or an error, never a panic; what is read is
// consistent and written back the same.
func FuzzDecode(f *testing.F) {
	f.Add(encode(f, sample(f, 0, true)))
	f.Add(encode(f, sample(f, 4, true)))
	f.Add(encode(f, &Project{Header: sample(f, 0, false).Header}))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Decode(data)
		if err != nil {
			return
		}
		again, err := Decode(encode(t, p))
		if err != nil {
			t.Fatalf("a project read from a file cannot be read back: %v", err)
		}
		if len(again.Photos) != len(p.Photos) || !reflect.DeepEqual(again.Head, p.Head) {
			t.Fatal("a project read from a file changes when written back")
		}
	})
}
