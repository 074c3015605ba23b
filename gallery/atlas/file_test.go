package atlas

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"strings"
	"testing"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/gallery"
)

// solidIcons gives every other cell a flat icon of side px, its colour naming the cell.
func solidIcons(cells []gallery.Cell, side int) []*image.RGBA {
	icons := make([]*image.RGBA, len(cells))
	for i := 0; i < len(cells); i += 2 {
		img := image.NewRGBA(image.Rect(0, 0, side, side))
		for p := 0; p < len(img.Pix); p += 4 {
			img.Pix[p], img.Pix[p+1], img.Pix[p+2], img.Pix[p+3] = uint8(20*i), 128, 200, 255
		}
		icons[i] = img
	}
	return icons
}

// checkFile decodes an atlas file and checks it against the cells and icons it was made of.
func checkFile(t *testing.T, g *gallery.Gallery, cells []gallery.Cell, icons []*image.RGBA, member MemberName) {
	t.Helper()
	var b bytes.Buffer
	if err := g.Encode(&b); err != nil {
		t.Fatal(err)
	}
	back, err := gallery.Decode(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	a := back.Header.Atlas
	if a == nil {
		t.Fatal("no atlas layout in the file")
	}
	item := 0
	for i, c := range cells {
		if icons[i] == nil {
			continue
		}
		it, ac := back.Items[item], a.Cells[item]
		if ac.X != c.Col || ac.Y != c.Row || ac.Count != len(c.Members) || it.Name != fmt.Sprintf("cell-%d-%d", c.Col, c.Row) {
			t.Fatalf("item %d: %q at (%d, %d) of %d members; want cell (%d, %d) of %d", item, it.Name, ac.X, ac.Y, ac.Count, c.Col, c.Row, len(c.Members))
		}
		if len(ac.Members) != min(len(c.Members), gallery.MaxAtlasMembers) || (len(c.Members) > 0 && ac.Members[0] != member(c.Members[0])) {
			t.Errorf("item %d: members %v", item, ac.Members)
		}
		if len(c.Top) > 0 && (it.Class != c.Top[0].Index || ac.Top[0].Index != c.Top[0].Index) {
			t.Errorf("item %d: class %d, top %v; the cell's top class is %d", item, it.Class, ac.Top, c.Top[0].Index)
		}
		// The embedding is the cell's mean, within int8's error (half a step of max|v|/127).
		emb, scale := back.Embedding(item, nil), float32(0)
		for _, v := range c.Mean {
			scale = max(scale, float32(math.Abs(float64(v)))/127)
		}
		for j := range emb {
			if d := math.Abs(float64(emb[j] - c.Mean[j])); d > float64(scale)/2+1e-7 {
				t.Fatalf("item %d component %d: %v, the cell's mean %v", item, j, emb[j], c.Mean[j])
			}
		}
		img, err := jpeg.Decode(bytes.NewReader(it.Thumb))
		if err != nil {
			t.Fatalf("item %d's icon: %v", item, err)
		}
		want := icons[i].RGBAAt(3, 3)
		r, _, _, _ := img.At(3, 3).RGBA()
		if img.Bounds().Dx() != icons[i].Rect.Dx() || math.Abs(float64(r>>8)-float64(want.R)) > 8 {
			t.Errorf("item %d's icon: %v px, red %d; want %d px, red %d", item, img.Bounds(), r>>8, icons[i].Rect.Dx(), want.R)
		}
		item++
	}
	if item != back.Len() || item == 0 {
		t.Errorf("%d items in the file, %d cells have icons", back.Len(), item)
	}
}

// TestFile: a gallery atlas and a class atlas become atlas files that decode to their
// cells, members, top classes, icons and embeddings; cells without icons are left out.
func TestFile(t *testing.T) {
	m, h, cells := fixtureAtlas(t, 40, 4)
	icons := solidIcons(cells, 24)
	member := func(k int) string { return fmt.Sprintf("img%03d.jpg", k) }
	label := func(c int) string { return fmt.Sprintf("class %d", c) }
	for i := range cells {
		cells[i].Top = []engine.Class{{Index: 7 * i, Prob: 0.5}, {Index: 1, Prob: 0.25}}
	}
	g, err := File(h, gallery.AtlasLayout{Grid: 4, Of: gallery.AtlasOfGallery, Method: "pca"}, cells, icons, member, label)
	if err != nil {
		t.Fatal(err)
	}
	if g.Header.Thumb != 24 || g.Header.Layer != "fire9" {
		t.Errorf("header %+v: want 24 px thumbnails of fire9", g.Header)
	}
	checkFile(t, g, cells, icons, member)

	vecs, err := ClassVectors(m)
	if err != nil {
		t.Fatal(err)
	}
	pts, err := gallery.Layout(context.Background(), vecs, gallery.LayoutOptions{Method: gallery.LayoutPCA})
	if err != nil {
		t.Fatal(err)
	}
	ccells, err := ClassCells(pts, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := ClassMeans(m, ccells); err != nil {
		t.Fatal(err)
	}
	ch, err := ClassHeader(m, "fixture")
	if err != nil {
		t.Fatal(err)
	}
	if ch.Layer != "fire9" || ch.Dim != 512 {
		t.Errorf("class atlas embeddings: %s, %d components; want fire9's 512 (conv10 reads them)", ch.Layer, ch.Dim)
	}
	cicons := solidIcons(ccells, 16)
	cg, err := File(ch, gallery.AtlasLayout{Grid: 3, Of: gallery.AtlasOfClasses, Method: "pca", Source: "classes"}, ccells, cicons, label, label)
	if err != nil {
		t.Fatal(err)
	}
	checkFile(t, cg, ccells, cicons, label)

	if _, err := File(h, gallery.AtlasLayout{Grid: 4, Of: gallery.AtlasOfGallery}, cells, make([]*image.RGBA, len(cells)), member, label); err == nil || !strings.Contains(err.Error(), "no cell has an icon") {
		t.Errorf("no icons: %v", err)
	}
	mixed := solidIcons(cells, 24)
	mixed[2] = image.NewRGBA(image.Rect(0, 0, 16, 16))
	if _, err := File(h, gallery.AtlasLayout{Grid: 4, Of: gallery.AtlasOfGallery}, cells, mixed, member, label); err == nil || !strings.Contains(err.Error(), "one side") {
		t.Errorf("icons of two sizes: %v", err)
	}
}
