package session

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/alexlens/alexlens/engine"
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
	// The other views read a taught class: attribution of its probability, feature
	// visualization of its logit.
	ex, err := s.Explain(context.Background(), protocol.ExplainRequest{Method: "gradcam", Class: 1, Taught: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var grassProb float32
	for _, p := range c.Taught {
		if p.Label == "grass" {
			grassProb = p.Prob
		}
	}
	if ex.Label != "grass" || !ex.Taught || math.Abs(float64(ex.Prob-grassProb)) > 1e-5 || len(ex.Values) != ex.Rows*ex.Cols {
		t.Errorf("attribution of the taught class grass: %s, taught %v, probability %g (the pass said %g)", ex.Label, ex.Taught, ex.Prob, grassProb)
	}
	fv, err := NewLook(s).FeatureVis(context.Background(), protocol.LookRequest{Objective: "taught", Channel: 0, Size: 64, Steps: 8}, nil)
	if err != nil || len(fv.Values) != 8 || !(fv.Values[7] > fv.Values[0]) {
		t.Errorf("feature visualization of the taught class brick: %v (values %v)", err, fv.Values)
	}
	if _, err := NewLook(s).FeatureVis(context.Background(), protocol.LookRequest{Objective: "taught", Channel: 2, Size: 64, Steps: 1}, nil); err == nil {
		t.Error("feature visualization of a third class of two: no error")
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
	if _, err := s.Explain(context.Background(), protocol.ExplainRequest{Method: "saliency", Class: 0, Taught: true}, nil); err == nil || !strings.Contains(err.Error(), "train a head") {
		t.Errorf("attribution of a class of a stale head: %v", err)
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

// fingerprintMap is a FingerprintCache in memory.
type fingerprintMap map[string]string

func (m fingerprintMap) Fingerprint(file string) (string, bool) { fp, ok := m[file]; return fp, ok }
func (m fingerprintMap) KeepFingerprint(file, fp string)        { m[file] = fp }

// TestTeacherProject: a project saved from one session opens in another with the same
// weights at the other precision: the same classes, photos, thumbnails and head, whose
// predictions follow; a project of other weights and a damaged file are refused and change
// nothing.
func TestTeacherProject(t *testing.T) {
	s := New(DefaultCodecs(), nil)
	if _, err := s.Load(squeezeFile(t, "f32"), LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	tc := s.Teacher()
	for c, name := range []string{"brick", "grass"} {
		if _, err := tc.Class(" "+name+" ", false, 0); err != nil {
			t.Fatal(err)
		}
		for i, data := range tiles(t, name, 3) {
			if _, err := tc.Add(c, data, fmt.Sprintf("%s %d.png", name, i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := tc.Train(context.Background(), protocol.TeachRequest{Hidden: 4, Seed: 9}, nil); err != nil {
		t.Fatal(err)
	}
	saved, err := tc.Save()
	if err != nil {
		t.Fatal(err)
	}
	want := tc.Info()

	cache := fingerprintMap{}
	s2 := New(DefaultCodecs(), nil)
	s2.SetFingerprintCache(cache)
	if _, err := s2.Load(squeezeFile(t, "int8"), LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := s2.Teacher().Open(saved)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || want.Classes[0].Name != "brick" || !got.Trained || got.Hidden != 4 || got.Seed != 9 {
		t.Fatalf("opened %+v, saved %+v", got, want)
	}
	if len(cache) != 1 {
		t.Errorf("the fingerprint was not kept in the cache: %v", cache)
	}
	c, err := s2.ClassifyImage(tiles(t, "grass", 4)[3], nil)
	if err != nil || len(c.Taught) != 2 {
		t.Fatalf("the opened head predicts %+v (%v)", c, err)
	}

	other, _ := lookWith(t, 4) // other weights
	before, err := other.Teacher().Class("pebbles", false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Teacher().Open(saved); err == nil || !strings.Contains(err.Error(), "load those weights") {
		t.Errorf("a project of other weights: %v", err)
	}
	for _, bad := range [][]byte{saved[:len(saved)/2], []byte("not a project"), nil} {
		if _, err := s2.Teacher().Open(bad); err == nil {
			t.Errorf("a damaged file of %d bytes was opened", len(bad))
		}
	}
	if !reflect.DeepEqual(other.Teacher().Info(), before) || !reflect.DeepEqual(s2.Teacher().Info(), want) {
		t.Error("a refused project changed the Teach view")
	}

	// The cache is read before hashing: a session given a fingerprint for the file uses it.
	s3 := New(DefaultCodecs(), nil)
	file := squeezeFile(t, "int8")
	s3.SetFingerprintCache(fingerprintMap{hash(file): strings.Repeat("ab", 32)})
	if _, err := s3.Load(file, LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	if fp, _ := s3.Fingerprint(); fp != strings.Repeat("ab", 32) {
		t.Errorf("the cached fingerprint was not used: %s", fp)
	}
}

// TestTeacherFromGallery: gallery items become photos of a class as the network saw them when
// they were added: the same embedding as adding the photo file itself; an unknown item and a
// gallery not yet open are refused.
func TestTeacherFromGallery(t *testing.T) {
	s, l := lookWith(t, 3)
	tc := s.Teacher()
	for _, name := range []string{"space", "mug"} {
		if _, err := tc.Class(name, false, 0); err != nil {
			t.Fatal(err)
		}
	}
	x, img, name, err := l.ItemInput(2) // coffee.jpg
	if err != nil || name != "coffee.jpg" || img.Bounds().Dx() != 224 {
		t.Fatalf("item 2: %q, %v", name, err)
	}
	info, err := tc.AddInput(1, x, img, name)
	if err != nil || len(info.Classes[1].Photos) != 1 || info.Classes[1].Photos[0].Name != "coffee.jpg" || len(info.Classes[1].Photos[0].Thumb) == 0 {
		t.Fatalf("%+v, %v", info, err)
	}
	data, err := os.ReadFile(filepath.Join("..", "..", "ui", "samples", "coffee.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tc.Add(0, data, "coffee.jpg"); err != nil {
		t.Fatal(err)
	}
	if a, b := tc.photos[0].emb, tc.photos[1].emb; len(a) != 2 || engine.RelL2(a[0], b[0]) > 1e-5 || engine.RelL2(a[1], b[1]) > 1e-5 {
		t.Error("a gallery item's embeddings differ from its photo file's")
	}
	if _, _, _, err := l.ItemInput(99); err == nil || !strings.Contains(err.Error(), "no item 99") {
		t.Errorf("item 99: %v", err)
	}
	if _, _, _, err := NewLook(s).ItemInput(0); err == nil || !strings.Contains(err.Error(), "not open") {
		t.Errorf("a gallery not open: %v", err)
	}
}

// TestLoadHead: a head file made for the loaded weights scores the passes that name it
// (the embeds' saved heads), as the head itself scores the pass's embedding; a file for
// other weights, a broken file and an unknown key are refused with a message.
func TestLoadHead(t *testing.T) {
	s, _ := lookWith(t, 3)
	m := s.model
	rng := rand.New(rand.NewSource(1))
	h := &teach.Head{Arch: m.Arch.Name, Layer: "fire9", WeightsSHA256: gallery.Fingerprint(m), Classes: []string{"cup", "cat", "rocket"}, Dim: 512}
	for range 3 * 512 {
		h.W1 = append(h.W1, float32(rng.NormFloat64()))
	}
	h.B1 = []float32{0, 0.5, -0.5}
	var buf bytes.Buffer
	if err := weights.EncodeHead(&buf, h, "test"); err != nil {
		t.Fatal(err)
	}
	info, err := s.LoadHead(buf.Bytes())
	if err != nil || len(info.Key) != 64 || !slices.Equal(info.Classes, h.Classes) {
		t.Fatalf("%+v, %v", info, err)
	}
	if err := s.UseHead(info.Key); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join("..", "..", "ui", "samples", "coffee.jpg"))
	c, err := s.ClassifyImage(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := h.Probabilities(embedding(s.last.Activations["fire9"]))
	if len(c.Taught) != 3 {
		t.Fatalf("taught %+v", c.Taught)
	}
	for _, p := range c.Taught {
		if p.Label != h.Classes[p.Index] || p.Prob != want[p.Index] {
			t.Errorf("%+v, the head says %g", p, want[p.Index])
		}
	}
	if err := s.UseHead(""); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.ClassifyImage(data, nil); c.Taught != nil {
		t.Errorf("no head named, no head trained: taught %+v", c.Taught)
	}

	other := *h
	other.WeightsSHA256 = strings.Repeat("0", 64)
	buf.Reset()
	weights.EncodeHead(&buf, &other, "test")
	if _, err := s.LoadHead(buf.Bytes()); err == nil || !strings.Contains(err.Error(), "other squeezenet1_1 weights") {
		t.Errorf("a head for other weights: %v", err)
	}
	if _, err := s.LoadHead([]byte("ALXW not really")); err == nil {
		t.Error("a broken head file was loaded")
	}
	if err := s.UseHead(strings.Repeat("a", 64)); err == nil || !strings.Contains(err.Error(), "load its file first") {
		t.Errorf("an unknown head: %v", err)
	}
	s2, _ := lookWith(t, 4) // other weights: the key no longer applies once they are loaded
	if _, err := s2.LoadHead(buf.Bytes()); err == nil {
		t.Error("a head for seed 3's weights loaded on seed 4's")
	}
}
