package atlas

import (
	"context"
	"errors"
	"image"
	"testing"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/engine/preprocess"
	"github.com/alexlens/alexlens/gallery"
	"github.com/alexlens/alexlens/gallery/gallerytest"
	"github.com/alexlens/alexlens/internal/testenv"
	"github.com/alexlens/alexlens/weights"
)

// fixtureAtlas lays out a synthetic SqueezeNet fire9 gallery of n items on a grid x grid map.
func fixtureAtlas(t *testing.T, n, grid int) (*engine.Model, gallery.Header, []gallery.Cell) {
	return fixtureAtlasB(t, n, grid)
}

func fixtureAtlasB(t testing.TB, n, grid int) (*engine.Model, gallery.Header, []gallery.Cell) {
	t.Helper()
	m := weights.Fixture(engine.SqueezeNet11, 1)
	h, err := gallery.HeaderFor(m, "fire9", gallery.Int8, 0, "fixture")
	if err != nil {
		t.Fatal(err)
	}
	g, err := gallery.New(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := gallerytest.Fill(g, n, 3); err != nil {
		t.Fatal(err)
	}
	vecs := g.Vectors()
	pts, err := gallery.Layout(context.Background(), vecs, gallery.LayoutOptions{Method: gallery.LayoutPCA})
	if err != nil {
		t.Fatal(err)
	}
	cells, err := gallery.GridCells(pts, vecs, grid, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m, h, cells
}

// imageTensor is the network's input for img as it is, at its own size.
func imageTensor(img *image.RGBA) *engine.Tensor {
	n := img.Rect.Dx()
	x := engine.NewTensor(1, 3, n, n)
	for p := 0; p < n*n; p++ {
		for c := 0; c < 3; c++ {
			x.Data[c*n*n+p] = (float32(img.Pix[4*p+c])/255 - preprocess.Mean[c]) / preprocess.Std[c]
		}
	}
	return x
}

// objective is the icon objective's value on img, seen by the network at img's size.
func objective(t *testing.T, m *engine.Model, o engine.Objective, img *image.RGBA) float32 {
	t.Helper()
	v, _, err := m.InputGradient(imageTensor(img), o)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestIcons: every cell with enough images gets an icon that scores its cell's objective
// far above a grey image; icons do not depend on the batch size; cells with too few images
// get none. (The fixture network's cells all point much the same way; TestIconsReal checks
// that icons tell cells apart.)
func TestIcons(t *testing.T) {
	m, h, cells := fixtureAtlas(t, 60, 3)
	opt := Options{Size: 64, Steps: 24, MinItems: 5, Batch: 2, Seed: 4}
	var calls, total int
	opt.Progress = func(done, n int, icons map[int]*image.RGBA) { calls++; total = n }
	icons, err := Icons(context.Background(), m, h, cells, opt)
	if err != nil {
		t.Fatal(err)
	}
	want := Iconed(cells, 5)
	if len(want) < 3 || len(want) == len(cells) {
		t.Fatalf("%d of %d cells hold 5 images or more: the case should have both kinds", len(want), len(cells))
	}
	if total != len(want) || calls != (len(want)+1)/2 {
		t.Errorf("progress: %d calls for %d icons in batches of 2, total %d", calls, len(want), total)
	}
	grey := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for i := range grey.Pix {
		grey.Pix[i] = 128
	}
	for i, c := range cells {
		if (icons[i] != nil) != (len(c.Members) >= 5) {
			t.Errorf("cell (%d, %d) with %d images: icon %v", c.Row, c.Col, len(c.Members), icons[i] != nil)
		}
	}
	for _, i := range want {
		o := IconObjective(h, cells[i].Mean)
		own, g := objective(t, m, o, icons[i]), objective(t, m, o, grey)
		if !(own > 4*g) {
			t.Errorf("cell (%d, %d): objective %.4g on its icon, %.4g on grey", cells[i].Row, cells[i].Col, own, g)
		}
	}

	// In batches of 5, and the last cell alone: each cell's icon is its own.
	opt.Batch, opt.Progress = 5, nil
	again, err := Icons(context.Background(), m, h, cells, opt)
	if err != nil {
		t.Fatal(err)
	}
	last := want[len(want)-1]
	alone, err := Icons(context.Background(), m, h, cells[last:last+1], opt)
	if err != nil {
		t.Fatal(err)
	}
	differ := func(a, b *image.RGBA) (worst int) {
		for p := range a.Pix {
			worst = max(worst, int(a.Pix[p])-int(b.Pix[p]), int(b.Pix[p])-int(a.Pix[p]))
		}
		return worst
	}
	for _, i := range want {
		if d := differ(icons[i], again[i]); d > 1 {
			t.Errorf("cell %d: icons in batches of 2 and of 5 differ by up to %d levels", i, d)
		}
	}
	if d := differ(icons[last], alone[0]); d > 1 {
		t.Errorf("cell %d drawn alone and with the others: icons differ by up to %d levels", last, d)
	}
}

func realSqueezeNet(t *testing.T) *engine.Model {
	t.Helper()
	m, err := weights.Load(testenv.SharedWeight(t, "squeezenet1_1-imagenet.pth"), engine.SqueezeNet11.Name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestIconsReal: with the released SqueezeNet weights, cells made of different photos get
// icons that each score their own cell's objective higher than the other cells' icons do.
func TestIconsReal(t *testing.T) {
	m := realSqueezeNet(t)
	h, err := gallery.HeaderFor(m, "fire9", gallery.Int8, 0, "squeezenet1_1-imagenet.pth")
	if err != nil {
		t.Fatal(err)
	}
	var cells []gallery.Cell
	for i, name := range []string{"chelsea.png", "coffee.png", "rocket.jpg"} {
		x, err := preprocess.Load(testenv.Photo(t, name), m.Arch.InputSize)
		if err != nil {
			t.Fatal(err)
		}
		e, _, err := gallery.Embed(m, nil, x, h, false)
		if err != nil {
			t.Fatal(err)
		}
		cells = append(cells, gallery.Cell{Row: 0, Col: i, Members: []int{i}, Mean: e[0]})
	}
	icons, err := Icons(context.Background(), m, h, cells, Options{Size: 96, Steps: 48, Batch: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range cells {
		o := IconObjective(h, cells[i].Mean)
		own := objective(t, m, o, icons[i])
		for j := range cells {
			if j == i {
				continue
			}
			other := objective(t, m, o, icons[j])
			t.Logf("cell %d objective: own icon %.4g, cell %d icon %.4g", i, own, j, other)
			if !(own > other) {
				t.Errorf("cell %d's objective: %.4g on its own icon, %.4g on cell %d's", i, own, other, j)
			}
		}
	}
}

// TestIconsErrors: a foreign model, a bad batch and cancellation are errors, not panics.
func TestIconsErrors(t *testing.T) {
	m, h, cells := fixtureAtlas(t, 20, 2)
	if _, err := Icons(context.Background(), weights.Fixture(engine.AlexNet, 1), h, cells, Options{}); !errors.Is(err, gallery.ErrIncompatible) {
		t.Errorf("AlexNet model for a SqueezeNet gallery: %v", err)
	}
	if _, err := Icons(context.Background(), m, h, cells, Options{Batch: -1}); err == nil {
		t.Error("batch -1: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Icons(ctx, m, h, cells, Options{Steps: 2}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	bad := append([]gallery.Cell(nil), cells...)
	bad[0].Mean = bad[0].Mean[:3]
	if _, err := Icons(context.Background(), m, h, bad, Options{Steps: 1}); err == nil {
		t.Error("a cell mean of 3 components: no error")
	}
}

// TestPoster: icons land in their cells' squares, empty cells stay white, and sizes are checked.
func TestPoster(t *testing.T) {
	red := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for p := 0; p < len(red.Pix); p += 4 {
		red.Pix[p], red.Pix[p+3] = 255, 255
	}
	cells := []gallery.Cell{{Row: 0, Col: 1}, {Row: 1, Col: 0}}
	p, err := Poster(cells, []*image.RGBA{red, nil}, 2, 32)
	if err != nil {
		t.Fatal(err)
	}
	if p.Rect.Dx() != 64 || p.Rect.Dy() != 64 {
		t.Fatalf("poster %v, want 64x64", p.Rect)
	}
	at := func(x, y int) [4]uint8 { o := p.PixOffset(x, y); return [4]uint8(p.Pix[o : o+4]) }
	if got := at(48, 16); got != [4]uint8{255, 0, 0, 255} {
		t.Errorf("centre of cell (0, 1): %v, want the red icon", got)
	}
	for _, xy := range [][2]int{{16, 48}, {16, 16}, {32, 0}} {
		if got := at(xy[0], xy[1]); got != [4]uint8{255, 255, 255, 255} {
			t.Errorf("(%d, %d): %v, want white (no icon, or the margin)", xy[0], xy[1], got)
		}
	}
	for _, c := range []struct {
		icons      []*image.RGBA
		grid, cell int
	}{{[]*image.RGBA{red}, 2, 32}, {[]*image.RGBA{red, nil}, 0, 32}, {[]*image.RGBA{red, nil}, 2, 1 << 14}, {[]*image.RGBA{red, nil}, 1, 32}} {
		if _, err := Poster(cells, c.icons, c.grid, c.cell); err == nil {
			t.Errorf("poster of %d icons, grid %d, %d px cells: no error", len(c.icons), c.grid, c.cell)
		}
	}
}

// BenchmarkIcons is the atlas's icon rate: 16 icons of a synthetic SqueezeNet fire9 gallery
// at the app's settings (64 px, 64 steps, 8 to a pass), on all cores.
func BenchmarkIcons(b *testing.B) {
	m, h, cells := fixtureAtlasB(b, 400, 8)
	if len(cells) < 16 {
		b.Fatalf("%d cells", len(cells))
	}
	cells = cells[:16]
	b.ResetTimer()
	for range b.N {
		if _, err := Icons(b.Context(), m, h, cells, Options{Size: 64, Steps: 64}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(16*b.N)/b.Elapsed().Seconds(), "icons/s")
}
