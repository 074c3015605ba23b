package atlas

import (
	"context"
	"slices"
	"testing"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/gallery"
	"github.com/alexlens/alexlens/weights"
)

// TestClassCells: every class lands in one cell, cells list their classes nearest the
// centre first, and the classifier rows are the vectors laid out.
func TestClassCells(t *testing.T) {
	m := weights.Fixture(engine.SqueezeNet11, 1)
	vecs, err := ClassVectors(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(vecs) != 1000 || len(vecs[0]) != 512 {
		t.Fatalf("%d class vectors of %d, want 1000 of 512 (conv10's filters)", len(vecs), len(vecs[0]))
	}
	pts, err := gallery.Layout(context.Background(), vecs, gallery.LayoutOptions{Method: gallery.LayoutPCA})
	if err != nil {
		t.Fatal(err)
	}
	cells, err := ClassCells(pts, 4)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, c := range cells {
		if len(c.Top) != len(c.Members) || c.Mean != nil {
			t.Errorf("cell (%d, %d): %d classes listed for %d members", c.Row, c.Col, len(c.Top), len(c.Members))
		}
		cx, cy := (float64(c.Col)+0.5)/4, (float64(c.Row)+0.5)/4
		last := -1.0
		for _, k := range c.Members {
			seen[k] = true
			d := (pts[k].X-cx)*(pts[k].X-cx) + (pts[k].Y-cy)*(pts[k].Y-cy)
			if d < last {
				t.Errorf("cell (%d, %d): class %d is nearer the centre than the one before it", c.Row, c.Col, k)
			}
			last = d
		}
	}
	if len(seen) != 1000 {
		t.Errorf("%d classes in cells, want 1000", len(seen))
	}
	partial := &engine.Model{Arch: m.Arch, Params: m.Params, Partial: "conv1"}
	if _, err := ClassVectors(partial); err == nil {
		t.Error("weights up to conv1: no error")
	}
	if _, err := ClassObjective(m, []int{1000}); err == nil {
		t.Error("class 1000: no error")
	}
}

// TestClassIconsReal: with the released SqueezeNet weights a class cell's icon scores its
// classes above another cell's icon does, and the network reads it as its class.
func TestClassIconsReal(t *testing.T) {
	m := realSqueezeNet(t)
	cells := []gallery.Cell{{Members: []int{281, 285}}, {Members: []int{817}}, {Members: []int{949}}} // tabby & Egyptian cat, sports car, strawberry
	icons, err := ClassIcons(context.Background(), m, cells, Options{Size: 128, Steps: 64, Batch: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cells {
		o, err := ClassObjective(m, c.Members)
		if err != nil {
			t.Fatal(err)
		}
		own := objective(t, m, o, icons[i])
		res, err := m.Forward(imageTensor(icons[i]), engine.ForwardOptions{})
		if err != nil {
			t.Fatal(err)
		}
		top := engine.TopK(engine.Probabilities(res.Logits).Data, 5)
		found := false
		for _, k := range top {
			found = found || slices.Contains(c.Members, k.Index)
		}
		if !found {
			t.Errorf("classes %v: the network reads their icon as %v", c.Members, top)
		}
		for j := range cells {
			if j != i {
				if other := objective(t, m, o, icons[j]); !(own > other) {
					t.Errorf("classes %v: score %.3g on their icon, %.3g on the icon of %v", c.Members, own, other, cells[j].Members)
				}
			}
		}
	}
}

// TestClassLayoutReal: on the released SqueezeNet's class map, dogs (ImageNet classes 151 to
// 268) have dogs as their nearest neighbours: the map groups what the network groups.
func TestClassLayoutReal(t *testing.T) {
	m := realSqueezeNet(t)
	pts, err := ClassLayout(context.Background(), m, gallery.LayoutOptions{Method: gallery.LayoutTSNE})
	if err != nil {
		t.Fatal(err)
	}
	dog := func(k int) bool { return k >= 151 && k <= 268 }
	near := 0
	for i := 151; i <= 268; i++ {
		best, bd := -1, 0.0
		for j := range pts {
			if d := (pts[i].X-pts[j].X)*(pts[i].X-pts[j].X) + (pts[i].Y-pts[j].Y)*(pts[i].Y-pts[j].Y); j != i && (best < 0 || d < bd) {
				best, bd = j, d
			}
		}
		if dog(best) {
			near++
		}
	}
	t.Logf("%d of 118 dog classes have a dog class nearest on the map", near)
	if near < 90 {
		t.Errorf("%d of 118 dog classes have a dog class nearest on the map, want at least 90", near)
	}
}
