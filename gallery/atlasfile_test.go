package gallery

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// atlasGallery is a 4-item gallery laid out as an atlas on a 3x3 grid.
func atlasGallery(t testing.TB) *Gallery {
	t.Helper()
	g, _ := randomGallery(t, Int8, 4, 7)
	g.Header.Atlas = &AtlasLayout{Grid: 3, Of: AtlasOfGallery, Method: "tsne", Source: "photos.alxg", Cells: []AtlasCell{
		{X: 0, Y: 0, Count: 2, Members: []string{"a.jpg", "b.jpg"}, Top: []AtlasClass{{Index: 281, Label: "tabby", Prob: 0.5}}},
		{X: 2, Y: 0, Count: 1, Members: []string{"c.jpg"}, Top: []AtlasClass{}},
		{X: 1, Y: 1, Count: 30, Members: []string{"d.jpg"}},
		{X: 2, Y: 2, Count: 1, Members: []string{"e.jpg"}},
	}}
	return g
}

// TestAtlasFile: an atlas layout survives the round trip, a reader that does not know it
// still reads the gallery, and layouts that do not fit the items are refused on writing and
// on reading, as is adding images to an atlas.
func TestAtlasFile(t *testing.T) {
	g := atlasGallery(t)
	data := encode(t, g)
	back, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	a := back.Header.Atlas
	if a == nil || a.Grid != 3 || a.Of != AtlasOfGallery || len(a.Cells) != 4 || a.Cells[0].Top[0].Label != "tabby" || a.Cells[2].Count != 30 || a.Cells[3].X != 2 {
		t.Fatalf("atlas after the round trip: %+v", a)
	}
	if string(encode(t, back)) != string(data) {
		t.Error("re-encoding the decoded atlas file gives other bytes")
	}
	if err := back.Add(Item{Name: "x.jpg", Class: -1}, make([]float32, back.Header.Dim)); err == nil || !strings.Contains(err.Error(), "atlas file") {
		t.Errorf("adding an image to an atlas file: %v", err)
	}

	for _, c := range []struct {
		name string
		edit func(*AtlasLayout)
		want string
	}{
		{"fewer cells than items", func(a *AtlasLayout) { a.Cells = a.Cells[:3] }, "places 3 cells but the gallery has 4 items"},
		{"cell off the grid", func(a *AtlasLayout) { a.Cells[1].X = 3 }, "off the 3x3 grid"},
		{"negative row", func(a *AtlasLayout) { a.Cells[1].Y = -1 }, "off the 3x3 grid"},
		{"two items in a cell", func(a *AtlasLayout) { a.Cells[1] = a.Cells[0] }, "two atlas items in cell (0, 0)"},
		{"grid 0", func(a *AtlasLayout) { a.Grid = 0 }, "grid 0 out of range"},
		{"unknown kind", func(a *AtlasLayout) { a.Of = "planets" }, `atlas of "planets"`},
		{"more members than counted", func(a *AtlasLayout) { a.Cells[0].Count = 1 }, "2 members named of 1"},
		{"probability above 1", func(a *AtlasLayout) { a.Cells[0].Top[0].Prob = 2 }, "top class 281"},
		{"negative class", func(a *AtlasLayout) { a.Cells[0].Top[0].Index = -4 }, "top class -4"},
	} {
		t.Run(c.name, func(t *testing.T) {
			bad := atlasGallery(t)
			c.edit(bad.Header.Atlas)
			if err := bad.Encode(&strings.Builder{}); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("encode: %v, want %q", err, c.want)
			}
			// The same layout in a file written by someone else: refused on reading.
			good := atlasGallery(t)
			raw := encodeHeaderAs(t, good, bad.Header)
			if _, err := Decode(raw); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("decode: %v, want ErrFormat and %q", err, c.want)
			}
		})
	}
}

// encodeHeaderAs encodes g with header h in place of its own, bypassing Encode's checks of
// the atlas layout (as a file from another writer would).
func encodeHeaderAs(t *testing.T, g *Gallery, h Header) []byte {
	t.Helper()
	g.Header.Atlas = nil
	data := encode(t, g)
	hdr, err := json.Marshal(wireHeader{h, g.Len()})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.Write(data[:8])
	b.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(hdr))))
	b.Write(hdr)
	for b.Len()%8 != 0 {
		b.WriteByte(0)
	}
	b.Write(data[align8(12+int64(binary.LittleEndian.Uint32(data[8:]))):])
	return b.Bytes()
}
