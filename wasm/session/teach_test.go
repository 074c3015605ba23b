package session

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/alexlens/alexlens/engine/preprocess"
	"github.com/alexlens/alexlens/gallery"
	"github.com/alexlens/alexlens/internal/testenv"
	"github.com/alexlens/alexlens/teach"
	"github.com/alexlens/alexlens/wasm/protocol"
	"github.com/alexlens/alexlens/weights"
)

// tiles are n 128 x 128 tiles of a skimage texture, as PNG files' bytes.
func tiles(t *testing.T, name string, n int) [][]byte { return testenv.TextureTiles(t, name, n, 128) }

// TestTeacher: the worker's Teach view state: classes filled with photos, a head trained on
// them that equals the one teach.Train makes from the same embeddings and seed (the CLI's
// path), its predictions beside the top-5 of the next pass, its export; bad requests refused.
func TestTeacher(t *testing.T) {
	file := squeezeFile(t, "f32")
	s := New(DefaultCodecs(), nil)
	tc := s.Teacher()
	if _, err := tc.Class("cat", false, 0); err != ErrNoModel {
		t.Errorf("a class before a model: %v", err)
	}
	if _, err := s.Load(file, LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	m, _ := weights.Decode(file)
	classes := []string{"brick", "grass"}
	var examples []teach.Example
	for c, name := range classes {
		if _, err := tc.Class(name, false, 0); err != nil {
			t.Fatal(err)
		}
		for _, data := range tiles(t, name, 8) {
			if _, err := tc.Add(c, data, name); err != nil {
				t.Fatal(err)
			}
			img, _ := preprocess.Decode(data, preprocess.DefaultLimits)
			emb, _ := gallery.EmbedLayer(m, nil, teach.Augment(preprocess.Tensor(img, 224)), "fire9")
			for _, e := range emb {
				examples = append(examples, teach.Example{Embedding: e, Class: c, Source: len(examples) / 2})
			}
		}
	}
	if _, err := tc.Class("grass", false, 0); err == nil || !strings.Contains(err.Error(), "already") {
		t.Errorf("a second class grass: %v", err)
	}
	info := tc.Info()
	if info.Layer != "fire9" || info.Dim != 512 || len(info.Classes) != 2 || len(info.Classes[1].Photos) != 8 || len(info.Classes[1].Photos[0].Thumb) == 0 {
		t.Fatalf("info %+v", info)
	}
	var epochs int
	rep, err := tc.Train(context.Background(), protocol.TeachRequest{Seed: 3}, func(protocol.TeachEpoch) { epochs++ })
	if err != nil {
		t.Fatal(err)
	}
	if epochs != len(rep.Epochs) || rep.Held == 0 || rep.Accuracy < 0 || len(rep.Confusion) != 2 {
		t.Errorf("report %+v after %d epochs of progress", rep, epochs)
	}
	want, _, err := teach.Train(context.Background(), examples, classes, teach.Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	data, err := tc.Export("alxw")
	if err != nil {
		t.Fatal(err)
	}
	got, err := weights.DecodeHead(data)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.W1, want.W1) || !slices.Equal(got.B1, want.B1) || got.Layer != "fire9" || got.WeightsSHA256 != gallery.Fingerprint(m) {
		t.Error("the worker's head differs from teach.Train's on the same embeddings and seed")
	}
	if _, err := tc.Export("onnx"); err != nil {
		t.Fatal(err)
	}
	c, err := s.ClassifyImage(tiles(t, "grass", 16)[15], nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Taught) != 2 || (c.Taught[0].Label != "grass" && c.Taught[0].Label != "brick") {
		t.Errorf("taught predictions %+v", c.Taught)
	}
	if _, err := tc.Remove(12345); err == nil {
		t.Error("removing a photo that is not there")
	}
	if _, err := tc.Add(5, tiles(t, "brick", 1)[0], "x"); err == nil || !strings.Contains(err.Error(), "no class 5") {
		t.Errorf("a photo of class 5: %v", err)
	}
	if _, err := tc.Add(0, []byte("not an image"), "x"); err == nil {
		t.Error("a broken image was added")
	}
	if _, err := tc.Class("", true, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.Train(context.Background(), protocol.TeachRequest{}, nil); err == nil || !strings.Contains(err.Error(), "two classes") {
		t.Errorf("training one class: %v", err)
	}
	if c, _ := s.ClassifyImage(tiles(t, "grass", 1)[0], nil); c.Taught != nil {
		t.Errorf("predictions of a head that a change made stale: %+v", c.Taught)
	}
}

// TestTeacherLayer: the photos are embedded at the chosen layer; an unknown layer is refused.
func TestTeacherLayer(t *testing.T) {
	file := squeezeFile(t, "f32")
	s := New(DefaultCodecs(), nil)
	if _, err := s.Load(file, LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	tc := s.Teacher()
	if _, err := tc.Reset("conv99"); err == nil {
		t.Error("an unknown layer was accepted")
	}
	info, err := tc.Reset("fire5")
	if err != nil || info.Layer != "fire5" || info.Dim != 256 {
		t.Fatalf("reset to fire5: %+v, %v", info, err)
	}
	tc.Class("a", false, 0)
	info, err = tc.Add(0, tiles(t, "brick", 1)[0], "b")
	if err != nil || len(tc.photos[0].emb[0]) != 256 {
		t.Fatalf("a photo at fire5: %+v, %v", info, err)
	}
}

// TestTeacherNewWeights: loading other weights forgets the classes and photos, as the page
// does.
func TestTeacherNewWeights(t *testing.T) {
	s := New(DefaultCodecs(), nil)
	file := squeezeFile(t, "f32")
	if _, err := s.Load(file, LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Teacher().Class("cat", false, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(squeezeFile(t, "int8"), LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	info, err := s.Teacher().Class("cat", false, 0)
	if err != nil || len(info.Classes) != 1 {
		t.Errorf("after new weights: %+v, %v (want the class list to start afresh)", info, err)
	}
}
