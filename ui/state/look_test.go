package state

import (
	"testing"

	"github.com/alexlens/alexlens/wasm/protocol"
)

func TestParseView(t *testing.T) {
	for in, want := range map[string]View{
		"": ViewClassify, "#": ViewClassify, "#atlas": ViewAtlas, "units": ViewUnits,
		"#embeddings": ViewEmbeddings, "#layers": ViewLayers, "#nope": ViewClassify, "#ATLAS": ViewClassify,
	} {
		if got := ParseView(in); got != want {
			t.Errorf("ParseView(%q) = %q, want %q", in, got, want)
		}
	}
	l := NewLook()
	for _, v := range Views {
		l.View = v.View
		if l.ShowsGrid() != (v.View == ViewClassify || v.View == ViewLayers) {
			t.Errorf("%s: ShowsGrid %v", v.View, l.ShowsGrid())
		}
	}
}

func TestLookGalleryState(t *testing.T) {
	l := NewLook()
	items := []protocol.GalleryItem{{Index: 0, Name: "a.jpg"}, {Index: 1, Name: "b.jpg"}}
	l.Opened(&protocol.GalleryInfo{Count: 2, Items: items}, "w1")
	if l.Gallery.Items != nil || len(l.Items) != 2 || l.OpenedFor != "w1" || l.Query != NoQuery {
		t.Fatalf("after open: %+v", l)
	}
	l.Query = 1
	if l.QueryName() != "b.jpg" {
		t.Errorf("query name %q", l.QueryName())
	}
	l.Atlas = &protocol.Atlas{}
	l.Added([]protocol.GalleryItem{{Index: 2, Name: "c.jpg"}}, &protocol.GalleryInfo{Count: 3})
	if len(l.Items) != 3 || l.Gallery.Count != 3 || l.Atlas != nil {
		t.Errorf("after add: %d items, count %d, atlas %v", len(l.Items), l.Gallery.Count, l.Atlas)
	}
	if it := l.Item(7); it.Index != -1 {
		t.Errorf("item past the end: %+v", it)
	}
	l.Query = LastImage
	if l.QueryName() != "the last classified image" {
		t.Errorf("query name %q", l.QueryName())
	}

	l.ToggleGroup(0, false)
	l.ToggleGroup(2, false)
	l.ToggleGroup(1, true)
	if !l.InGroup(0, false) || !l.InGroup(2, false) || l.InGroup(1, false) || !l.InGroup(1, true) {
		t.Errorf("groups %v %v", l.From, l.To)
	}
	l.ToggleGroup(0, false)
	if l.InGroup(0, false) || len(l.From) != 1 {
		t.Errorf("toggling off: %v", l.From)
	}
	// A new open (other weights) forgets the query, the groups and the results.
	l.Opened(&protocol.GalleryInfo{}, "w2")
	if len(l.From)+len(l.To) != 0 || l.Query != NoQuery || len(l.Items) != 0 {
		t.Errorf("after reopening: %+v", l)
	}
}

func TestLookProgressAndZoom(t *testing.T) {
	l := NewLook()
	l.Busy = "atlas"
	if l.Fraction() != -1 {
		t.Errorf("fraction before progress: %v", l.Fraction())
	}
	l.Progressed(protocol.Progress{Stage: protocol.StageLook, Layer: "tsne", Done: 250, Total: 1000})
	if l.Fraction() != 0.25 || l.Note != "tsne: 250 of 1000" {
		t.Errorf("progress %v %q", l.Fraction(), l.Note)
	}
	l.Progressed(protocol.Progress{Stage: protocol.StageLook, Layer: "step", Done: 3, Total: 64})
	if l.Note != "step 3 of 64" {
		t.Errorf("note %q", l.Note)
	}
	l.Finish("cancelled")
	if l.Busy != "" || l.Error != "cancelled" || l.Note != "" || l.Fraction() != -1 {
		t.Errorf("after finish: %+v", l)
	}

	l.ZoomBy(0.5)
	if l.Zoom != 1 {
		t.Errorf("zoomed out past fit: %v", l.Zoom)
	}
	l.PanBy(0.3, 0)
	if l.PanX != 0 {
		t.Errorf("panned at zoom 1: %v", l.PanX)
	}
	l.ZoomBy(4)
	l.PanBy(1, -1)
	if l.PanX != 0.375 || l.PanY != -0.375 {
		t.Errorf("pan at zoom 4 clamps to ±0.375: %v %v", l.PanX, l.PanY)
	}
	l.ZoomBy(100)
	if l.Zoom != 32 {
		t.Errorf("zoom %v, at most 32", l.Zoom)
	}
	c := protocol.AtlasCell{Top: []protocol.Prediction{{Label: "tabby", Prob: 0.5}, {Label: "tiger cat", Prob: 0.25}}}
	if got := CellTitle(c); got != "tabby 50% · tiger cat 25%" {
		t.Errorf("cell title %q", got)
	}
}

// TestClassAtlasGrid: the atlas's grid follows the zoom within the protocol's limits, from
// 8 a side for the classes and a few images a cell for a gallery.
func TestClassAtlasGrid(t *testing.T) {
	l := NewLook()
	l.AtlasMethod = ClassAtlas
	for _, c := range []struct {
		zoom float64
		grid int
	}{{1, 8}, {2.25, 18}, {32, protocol.MaxAtlasGrid}} {
		l.Zoom = c.zoom
		r := l.AtlasRequest()
		if !r.Look.Classes || r.Look.Grid != c.grid || r.Look.Method != "tsne" {
			t.Errorf("zoom %v: request %+v, want the class atlas at grid %d", c.zoom, *r.Look, c.grid)
		}
	}
	l.Atlas = &protocol.Atlas{Classes: true, Grid: 8}
	l.Zoom = 1
	if l.Regrid() {
		t.Error("grid 8 at zoom 1: a new grid asked for")
	}
	l.Zoom = 1.5
	if !l.Regrid() {
		t.Error("grid 8 at zoom 1.5: no new grid asked for")
	}
	l.Atlas.Classes = false
	if l.Regrid() {
		t.Error("a gallery's map on screen, the class atlas chosen: a new grid asked for")
	}
	l.AtlasMethod = "pca"
	l.Items = make([]protocol.GalleryItem, 50)
	l.Zoom = 1
	if r := l.AtlasRequest(); r.Look.Classes || r.Look.Grid != 5 || r.Look.Method != "pca" {
		t.Errorf("gallery of 50: request %+v, want PCA at grid 5", *r.Look)
	}
	l.Atlas.Grid = 5
	l.Zoom = 2.25
	if r := l.AtlasRequest(); !l.Regrid() || r.Look.Grid != 11 {
		t.Errorf("gallery of 50 at zoom 2.25: regrid %v, request grid %d, want 11", l.Regrid(), r.Look.Grid)
	}
}

// TestAtlasFilter: a filter keeps the cells that vote for a class: by their top classes on a
// gallery's map, by any of their classes on the class atlas; no filter keeps every cell.
func TestAtlasFilter(t *testing.T) {
	l := NewLook()
	tiger := protocol.AtlasCell{Members: []int{1, 2}, Top: []protocol.Prediction{{Index: 292, Label: "tiger"}}}
	cup := protocol.AtlasCell{Members: []int{3}, Top: []protocol.Prediction{{Index: 968, Label: "cup"}}}
	l.Atlas = &protocol.Atlas{Cells: []protocol.AtlasCell{tiger, cup}}
	label := func(k int) string { return map[int]string{292: "tiger", 968: "cup", 7: "cock"}[k] }
	if !l.CellShown(tiger, label) || !l.CellShown(cup, label) {
		t.Error("no filter hides a cell")
	}
	l.AtlasFilter = " Tiger"
	if !l.CellShown(tiger, label) || l.CellShown(cup, label) {
		t.Error("filter tiger: want the tiger cell only")
	}
	l.Atlas.Classes = true
	classes := protocol.AtlasCell{Members: []int{968, 292}, Top: []protocol.Prediction{{Index: 968, Label: "cup"}}}
	if !l.CellShown(classes, label) || l.CellShown(protocol.AtlasCell{Members: []int{7}}, label) {
		t.Error("class atlas, filter tiger: want the cell holding tiger among its classes only")
	}
}
