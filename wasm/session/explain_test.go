package session

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/engine/explain"
	"github.com/alexlens/alexlens/engine/preprocess"
	"github.com/alexlens/alexlens/gallery"
	"github.com/alexlens/alexlens/wasm/protocol"
	"github.com/alexlens/alexlens/weights"
)

// TestExplainAndInterventions: the worker's attribution maps and knock-out are the engine's
// (the CLI's) on the same image and interventions; a rerun with an intervention changes the
// top-5 as a forward pass with that edit does; bad interventions are refused and the last
// good ones kept.
func TestExplainAndInterventions(t *testing.T) {
	file := squeezeFile(t, engine.F32)
	s := New(DefaultCodecs(), nil)
	if _, err := s.Explain(context.Background(), protocol.ExplainRequest{Method: "gradcam", Class: -1}, nil); !errors.Is(err, ErrNoModel) {
		t.Errorf("explain before a model: %v", err)
	}
	if _, err := s.Load(file, LoadOptions{Want: hash(file)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rerun(nil); !errors.Is(err, ErrNoImage) {
		t.Errorf("rerun before an image: %v", err)
	}
	img, err := os.ReadFile(photo)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.ClassifyImage(img, nil)
	if err != nil {
		t.Fatal(err)
	}
	top := c.Top[0].Index

	m, _ := weights.Decode(file)
	dec, _ := preprocess.Decode(img, preprocess.DefaultLimits)
	x := preprocess.Tensor(dec, 224)
	off := []protocol.Edit{{Op: "set", Layer: "conv10", Channel: top, Value: -50}}
	if err := s.SetEdits(off); err != nil {
		t.Fatal(err)
	}
	edits, _ := engineEdits(off)
	for _, method := range explain.Methods {
		r := protocol.ExplainRequest{Method: string(method), Class: 5, Samples: 2, Patch: 112, Stride: 112}
		got, err := s.Explain(context.Background(), r, nil)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		want, err := explain.Explain(context.Background(), m, x, explain.Options{Method: method, Class: 5, Samples: 2, Patch: 112, Stride: 112, Edits: edits})
		if err != nil {
			t.Fatal(err)
		}
		if e := engine.RelL2(got.Values, want.Values); e != 0 || got.Rows != want.Rows || got.Logit != want.Logit {
			t.Errorf("%s: the worker's map differs from the engine's by %.3g (%dx%d, logit %g vs %g)", method, e, got.Rows, got.Cols, got.Logit, want.Logit)
		}
		if got.W != 224 || len(got.Heat) != 4*224*224 || len(got.Photo) != 4*224*224 || got.Label == "" {
			t.Errorf("%s: overlay %dx%d, %d heat bytes, %d photo bytes, label %q", method, got.W, got.H, len(got.Heat), len(got.Photo), got.Label)
		}
	}
	rerun, err := s.Rerun(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rerun.Top {
		if p.Index == top {
			t.Errorf("class %d is still in the top-5 with its conv10 channel at -50", top)
		}
	}
	ko, err := s.KnockOut(context.Background(), protocol.ExplainRequest{Layer: "fire9", Class: -1, Count: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(ko.Units) != 3 || len(ko.Curve) != 4 || ko.Label == "" {
		t.Errorf("knock-out %+v", ko)
	}
	for _, bad := range []struct {
		edits []protocol.Edit
		want  string
	}{
		{[]protocol.Edit{{Op: "set", Layer: "fire99", Channel: 1}}, `no layer "fire99"`},
		{[]protocol.Edit{{Op: "scale", Layer: "fire9", Channel: 512, Value: 2}}, "fire9 has 512 channels"},
		{[]protocol.Edit{{Op: "add", Layer: "fire9", Vector: []float32{1}}}, "512 values"},
		{[]protocol.Edit{{Op: "mute", Layer: "fire9"}}, "not set, scale or add"},
	} {
		if err := s.SetEdits(bad.edits); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%+v: %v, want an error saying %q", bad.edits, err, bad.want)
		}
	}
	if again, err := s.Rerun(nil); err != nil || again.Top[0] != rerun.Top[0] {
		t.Errorf("after refused interventions the last good ones should still apply: %v, %v", again, err)
	}
	if _, err := s.Explain(context.Background(), protocol.ExplainRequest{Method: "gradcam", Class: 1000}, nil); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("class 1000: %v", err)
	}
}

// TestGalleryDirectionAsEdit: an "add" intervention naming gallery items is the direction
// mean(To) - mean(From) of their embeddings, at the gallery's layer, and it moves the
// prediction.
func TestGalleryDirectionAsEdit(t *testing.T) {
	s, l := lookWith(t, 3)
	edits, err := l.ResolveEdits([]protocol.Edit{{Op: "add", Value: 2, From: []int{0}, To: []int{1, 2}}, {Op: "set", Layer: "conv1", Channel: 1}})
	if err != nil {
		t.Fatal(err)
	}
	g, _ := l.gallery()
	want, _ := gallery.Direction([][]float32{g.Embedding(0, nil)}, [][]float32{g.Embedding(1, nil), g.Embedding(2, nil)})
	if e := edits[0]; e.Layer != g.Header.Layer || e.From != nil || engine.RelL2(e.Vector, want) != 0 || edits[1].Layer != "conv1" {
		t.Fatalf("resolved %+v, want the direction at %s", edits, g.Header.Layer)
	}
	before, err := s.ClassifyImage(mustRead(t, "chelsea.jpg"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetEdits(edits[:1]); err != nil {
		t.Fatal(err)
	}
	after, err := s.Rerun(nil)
	if err != nil {
		t.Fatal(err)
	}
	if after.Top[0] == before.Top[0] {
		t.Errorf("adding twice the direction changed nothing: %+v", after.Top[0])
	}
	if _, err := l.ResolveEdits([]protocol.Edit{{Op: "add", Value: 1, From: []int{0}, To: []int{99}}}); err == nil || !strings.Contains(err.Error(), "no item 99") {
		t.Errorf("a direction to an item the gallery lacks: %v", err)
	}
	// By name, as a shared link carries it: the same vector.
	named, err := l.ResolveEdits([]protocol.Edit{{Op: "add", Value: 2, FromNames: []string{g.Items[0].Name}, ToNames: []string{g.Items[1].Name, g.Items[2].Name}}})
	if err != nil || engine.RelL2(named[0].Vector, want) != 0 || named[0].FromNames != nil {
		t.Errorf("the direction by name: %+v, %v", named, err)
	}
	if _, err := l.ResolveEdits([]protocol.Edit{{Op: "add", Value: 1, FromNames: []string{"chelsea.jpg"}, ToNames: []string{"nowhere.jpg"}}}); err == nil || !strings.Contains(err.Error(), `"nowhere.jpg", which this browser's gallery does not hold`) {
		t.Errorf("a direction through an image the gallery lacks: %v", err)
	}
	if !NamesDirections([]protocol.Edit{{Op: "set"}, {Op: "add", ToNames: []string{"x"}}}) || NamesDirections(edits) {
		t.Error("NamesDirections")
	}
}
