package session

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/engine/preprocess"
	"github.com/alexlens/alexlens/gallery"
	"github.com/alexlens/alexlens/gallery/atlas"
	"github.com/alexlens/alexlens/wasm/protocol"
	"github.com/alexlens/alexlens/weights"
)

var samplePhotos = []string{"astronaut.jpg", "chelsea.jpg", "coffee.jpg", "rocket.jpg"}

// lookWith loads SqueezeNet fixture weights (seed) and adds the bundled sample photos.
func lookWith(t *testing.T, seed int64) (*Session, *Look) {
	t.Helper()
	var buf bytes.Buffer
	if err := weights.Encode(&buf, weights.Fixture(engine.SqueezeNet11, seed), weights.FixtureSource(seed)); err != nil {
		t.Fatal(err)
	}
	s := New(DefaultCodecs(), nil)
	if _, err := s.Load(buf.Bytes(), LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	l := NewLook(s)
	for _, name := range samplePhotos {
		data, err := os.ReadFile(filepath.Join("..", "..", "ui", "samples", name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Add(data, name); err != nil {
			t.Fatalf("adding %s: %v", name, err)
		}
	}
	return s, l
}

// TestLookAddEqualsCLI: an image added in the worker has the embedding, class and thumbnail
// the CLI's `alexlens index` path gives it (preprocess.Load, gallery.Embed, Thumbnail), to
// the int8 encoding's own rounding (identical codes).
func TestLookAddEqualsCLI(t *testing.T) {
	s, l := lookWith(t, 3)
	h, err := l.Header()
	if err != nil {
		t.Fatal(err)
	}
	if h.Arch != "squeezenet1_1" || h.Layer != "fire9" || h.Pooling != gallery.PoolMean || h.Dim != 512 || h.Weights.SHA256 != gallery.Fingerprint(s.model) {
		t.Fatalf("header %+v", h)
	}
	want, err := gallery.New(h)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range samplePhotos {
		x, err := preprocess.Load(filepath.Join("..", "..", "ui", "samples", name), 224)
		if err != nil {
			t.Fatal(err)
		}
		emb, _, err := gallery.Embed(s.model, engine.DefaultBackend(), x, h, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := want.Add(gallery.Item{Name: name, Class: -1}, emb[0]); err != nil {
			t.Fatal(err)
		}
	}
	file, err := l.Export()
	if err != nil {
		t.Fatal(err)
	}
	got, err := gallery.Decode(file)
	if err != nil {
		t.Fatal(err)
	}
	if got.Len() != 4 {
		t.Fatalf("%d items", got.Len())
	}
	for i, name := range samplePhotos {
		if got.Items[i].Name != name || len(got.Items[i].Thumb) == 0 || got.Items[i].Class < 0 {
			t.Errorf("item %d: %+v", i, got.Items[i])
		}
		a, b := got.Embedding(i, nil), want.Embedding(i, nil)
		for j := range a {
			if math.Abs(float64(a[j]-b[j])) > 1e-6*math.Max(1, math.Abs(float64(b[j]))) {
				t.Fatalf("%s component %d: worker %v, CLI path %v", name, j, a[j], b[j])
			}
		}
	}
	if _, err := l.Add(mustRead(t, "chelsea.jpg"), "chelsea.jpg"); err == nil || !strings.Contains(err.Error(), "already") {
		t.Errorf("adding a name twice: %v", err)
	}
}

func readSample(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join("..", "..", "ui", "samples", name))
}

func mustRead(t *testing.T, name string) []byte {
	data, err := readSample(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestLookNeighbors: neighbours exclude the query, come nearest first and equal a search of
// the exported file; the last classified image is its own nearest neighbour.
func TestLookNeighbors(t *testing.T) {
	s, l := lookWith(t, 3)
	for _, metric := range []string{"cosine", "euclidean"} {
		ns, err := l.Neighbors(1, 10, metric)
		if err != nil {
			t.Fatal(err)
		}
		if len(ns) != 3 {
			t.Fatalf("%s: %d neighbours of 4 items less the query", metric, len(ns))
		}
		for i, n := range ns {
			if n.Item == 1 || (i > 0 && n.Distance < ns[i-1].Distance) || n.Name != samplePhotos[n.Item] {
				t.Errorf("%s: neighbours %+v", metric, ns)
			}
		}
		g := l.g
		want, _ := g.Search([][]float32{g.Embedding(1, nil)}, gallery.SearchOptions{K: 3, Metric: gallery.Metric(metric), Exclude: func(i int) bool { return i == 1 }})
		for i := range ns {
			if ns[i].Item != want[0][i].Index || ns[i].Distance != want[0][i].Distance {
				t.Errorf("%s: %+v, search %+v", metric, ns, want[0])
			}
		}
	}
	if _, err := l.Neighbors(-1, 3, "cosine"); err == nil {
		t.Error("neighbours of the last image before any was classified: no error")
	}
	if _, err := s.ClassifyImage(mustRead(t, "coffee.jpg"), nil); err != nil {
		t.Fatal(err)
	}
	ns, err := l.Neighbors(-1, 1, "euclidean")
	if err != nil {
		t.Fatal(err)
	}
	// The gallery keeps int8 codes, so the distance is the quantization error, not 0: at most
	// half a step (scale/2) per component.
	var norm float64
	for _, v := range l.g.Embedding(2, nil) {
		norm += float64(v) * float64(v)
	}
	if ns[0].Name != "coffee.jpg" || float64(ns[0].Distance) > 0.01*math.Sqrt(norm) {
		t.Errorf("the classified coffee.jpg's nearest item: %+v", ns)
	}
	if _, err := l.Neighbors(9, 3, "cosine"); err == nil {
		t.Error("an item past the end: no error")
	}
	walk, err := l.Walk(1, []int{1}, []int{2}, 5, 1, "cosine")
	if err != nil {
		t.Fatal(err)
	}
	// From chelsea towards coffee by coffee-chelsea: the walk ends on coffee itself.
	if len(walk) != 5 || walk[0].T != 0 || walk[4].T != 1 || walk[0].Neighbors[0].Name != "chelsea.jpg" || walk[4].Neighbors[0].Name != "coffee.jpg" {
		t.Errorf("walk %+v", walk)
	}
}

// TestLookLoadKeepsGalleryOnBadFiles: a corrupt, truncated or foreign file is refused with a
// reason and the gallery is unchanged; a good file replaces or joins it.
func TestLookLoadKeepsGalleryOnBadFiles(t *testing.T) {
	_, l := lookWith(t, 3)
	good, err := l.Export()
	if err != nil {
		t.Fatal(err)
	}
	_, other := lookWith(t, 4) // other weights: another fingerprint
	foreign, err := other.Export()
	if err != nil {
		t.Fatal(err)
	}
	corrupt := slices.Clone(good)
	corrupt[len(corrupt)/2] ^= 0xff
	cases := map[string][]byte{
		"truncated":     good[:len(good)/3],
		"other weights": foreign,
		"a JPEG":        mustRead(t, "rocket.jpg"),
		"empty":         nil,
		"flipped byte":  corrupt,
	}
	for name, data := range cases {
		if _, err := l.Load(data, false); err == nil {
			if name != "flipped byte" { // a flipped embedding byte is still a valid file
				t.Errorf("%s: loaded", name)
			}
			if _, err := l.Load(good, false); err != nil {
				t.Fatal(err)
			}
			continue
		} else if name == "other weights" && !errors.Is(err, gallery.ErrIncompatible) {
			t.Errorf("%s: %v", name, err)
		}
		after, _ := l.Export()
		if !bytes.Equal(after, good) {
			t.Errorf("%s: the gallery changed after a refused load", name)
		}
	}
	if err := l.Clear(); err != nil {
		t.Fatal(err)
	}
	added, err := l.Load(good, false)
	if err != nil || len(added) != 4 {
		t.Fatalf("reloading: %d items, %v", len(added), err)
	}
	added, err = l.Load(good, true)
	if err != nil || len(added) != 0 || l.g.Len() != 4 {
		t.Errorf("appending the same names: %d added, %d items, %v", len(added), l.g.Len(), err)
	}
}

// TestLookAtlas: every layout put every item in 0..1, each item in exactly one cell, and the
// cells carry classes read through the network's head.
func TestLookAtlas(t *testing.T) {
	_, l := lookWith(t, 3)
	for _, method := range []string{"pca", "tsne", "umap"} {
		var steps int
		at, err := l.Atlas(context.Background(), protocol.LookRequest{Method: method, Grid: 2, Iterations: 100}, func(protocol.Progress) { steps++ })
		if err != nil {
			t.Fatal(method, err)
		}
		seen := map[int]bool{}
		for _, c := range at.Cells {
			if len(c.Top) != 3 || c.Top[0].Label == "" {
				t.Errorf("%s: cell %+v", method, c)
			}
			for _, m := range c.Members {
				if seen[m] {
					t.Errorf("%s: item %d in two cells", method, m)
				}
				seen[m] = true
			}
		}
		if len(seen) != 4 || len(at.X) != 4 || steps == 0 {
			t.Errorf("%s: %d items in cells, %d points, %d progress messages", method, len(seen), len(at.X), steps)
		}
		for i := range at.X {
			if !(at.X[i] >= 0 && at.X[i] <= 1 && at.Y[i] >= 0 && at.Y[i] <= 1) {
				t.Errorf("%s: point %d at (%v, %v)", method, i, at.X[i], at.Y[i])
			}
		}
	}
	// A finer grid of the same map (the page zoomed in) reuses the layout.
	a, err := l.Atlas(context.Background(), protocol.LookRequest{Method: "tsne", Grid: 2, Iterations: 100}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Atlas(context.Background(), protocol.LookRequest{Method: "tsne", Grid: 3, Iterations: 100}, func(protocol.Progress) { t.Error("a new grid laid the map out again") })
	if err != nil || b.Millis != a.Millis || b.X[1] != a.X[1] || b.Grid != 3 {
		t.Errorf("grid 3 of the same map: %v, layout time %v (was %v)", err, b.Millis, a.Millis)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Atlas(ctx, protocol.LookRequest{Method: "tsne", Grid: 2, Perplexity: 2}, nil); !errors.Is(err, ErrCancelled) {
		t.Errorf("cancelled t-SNE: %v", err)
	}
}

// TestLookAtlasIcons: icons come for every cell of the last map, in progress batches and
// all at the end, the same as gallery/atlas makes for those cells (so the CLI's for the same
// map and seed); asking again answers from memory; without a map, or after the gallery
// changed, the request is refused.
func TestLookAtlasIcons(t *testing.T) {
	_, l := lookWith(t, 3)
	req := protocol.LookRequest{Size: 64, Steps: 3, Seed: 2}
	if _, err := l.AtlasIcons(context.Background(), req, nil); err == nil {
		t.Error("icons before any map: no error")
	}
	at, err := l.Atlas(context.Background(), protocol.LookRequest{Method: "pca", Grid: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var streamed []protocol.AtlasIcon
	icons, err := l.AtlasIcons(context.Background(), req, func(done, total int, batch []protocol.AtlasIcon) {
		streamed = append(streamed, batch...)
		if total != len(at.Cells) {
			t.Errorf("progress total %d, the map has %d cells", total, len(at.Cells))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(icons) != len(at.Cells) || len(streamed) != len(icons) {
		t.Fatalf("%d icons (%d streamed) for %d cells", len(icons), len(streamed), len(at.Cells))
	}
	want, err := atlas.Icons(context.Background(), l.s.model, l.g.Header, l.atlas.cells, atlas.Options{Size: 64, Steps: 3, Seed: 2, Grad: engine.GradOptions{Backend: l.s.backend}})
	if err != nil {
		t.Fatal(err)
	}
	for i, ic := range icons {
		if ic.Cell != i || ic.W != 64 || ic.H != 64 || !bytes.Equal(ic.RGBA, want[i].Pix) {
			t.Errorf("icon %d: cell %d, %dx%d, same pixels as gallery/atlas: %v", i, ic.Cell, ic.W, ic.H, bytes.Equal(ic.RGBA, want[i].Pix))
		}
	}
	// The poster: grid 2 of 64 px cells, each iconed cell's icon in its square.
	data, err := l.AtlasPoster(protocol.LookRequest{Size: 64, Steps: 3, Seed: 2, PosterCell: 64})
	if err != nil {
		t.Fatal(err)
	}
	poster, err := png.Decode(bytes.NewReader(data))
	if err != nil || poster.Bounds().Dx() != 128 {
		t.Fatalf("poster: %v, %v", poster.Bounds(), err)
	}
	if _, err := l.AtlasPoster(protocol.LookRequest{Size: 96, Steps: 3, Seed: 2, PosterCell: 64}); err == nil {
		t.Error("a poster of icons never drawn (96 px): no error")
	}
	// The atlas file, read back as the embed reads it: every cell, its icon and members.
	file, err := l.AtlasFile(req)
	if err != nil {
		t.Fatal(err)
	}
	shown, err := ShowAtlas(file)
	if err != nil {
		t.Fatal(err)
	}
	if shown.Grid != 2 || shown.Of != "gallery" || shown.Method != "pca" || len(shown.Cells) != len(at.Cells) || !shown.Fixture {
		t.Fatalf("shown atlas: grid %d of %q by %q, %d cells, fixture %v; want the 2x2 pca map's %d cells of fixture weights", shown.Grid, shown.Of, shown.Method, len(shown.Cells), shown.Fixture, len(at.Cells))
	}
	for i, c := range shown.Cells {
		ac := at.Cells[i]
		img, err := jpeg.Decode(bytes.NewReader(c.Icon))
		if err != nil || img.Bounds().Dx() != 64 {
			t.Errorf("cell %d's icon: %v, %v", i, err, img)
		}
		if c.X != ac.Col || c.Y != ac.Row || c.Count != len(ac.Members) || c.Members[0] != l.g.Items[ac.Members[0]].Name {
			t.Errorf("cell %d: (%d, %d) of %d, first %q; the map's (%d, %d) of %d", i, c.X, c.Y, c.Count, c.Members[0], ac.Col, ac.Row, len(ac.Members))
		}
	}
	if _, err := l.AtlasFile(protocol.LookRequest{Size: 96, Steps: 3, Seed: 2}); err == nil {
		t.Error("an atlas file of icons never drawn (96 px): no error")
	}
	plain, err := l.Export()
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]byte{nil, []byte("ALXG broken"), file[:len(file)/2], plain} {
		if _, err := ShowAtlas(bad); err == nil {
			t.Errorf("ShowAtlas of %d bytes (%.8q): no error", len(bad), bad)
		}
	}
	again, err := l.AtlasIcons(context.Background(), req, func(int, int, []protocol.AtlasIcon) { t.Error("a cached answer computed icons") })
	if err != nil || len(again) != len(icons) {
		t.Errorf("asking again: %d icons, %v", len(again), err)
	}
	data, err = os.ReadFile(filepath.Join("..", "..", "ui", "samples", samplePhotos[0]))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Add(data, "again.jpg"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AtlasIcons(context.Background(), req, nil); err == nil {
		t.Error("icons for a map of a gallery that has grown since: no error")
	}
}

// TestLookClassAtlas: the class atlas needs no gallery; its layout is kept for new grids;
// icons come for the cells asked, and cells drawn before come from memory.
func TestLookClassAtlas(t *testing.T) {
	s, _ := lookWith(t, 3)
	l := NewLook(s) // no gallery at all
	at, err := l.Atlas(context.Background(), protocol.LookRequest{Classes: true, Method: "pca", Grid: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	members := 0
	for _, c := range at.Cells {
		members += len(c.Members)
		if len(c.Top) == 0 || len(c.Top) > 3 || c.Top[0].Index != c.Members[0] {
			t.Errorf("cell (%d, %d): top %v for classes %v...", c.Row, c.Col, c.Top, c.Members[:1])
		}
	}
	if !at.Classes || len(at.X) != 1000 || members != 1000 {
		t.Fatalf("class atlas: classes %v, %d points, %d classes in cells", at.Classes, len(at.X), members)
	}
	req := protocol.LookRequest{Size: 64, Steps: 2, Cells: []int{0, 2}}
	icons, err := l.AtlasIcons(context.Background(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(icons) != 2 || icons[0].Cell != 0 || icons[1].Cell != 2 {
		t.Fatalf("icons for cells 0 and 2: %+v", icons)
	}
	req.Cells = nil
	var computed, steps int
	all, err := l.AtlasIcons(context.Background(), req, func(_, total int, batch []protocol.AtlasIcon) {
		computed = total
		if batch == nil {
			steps++ // a step within a batch: the worker yields there to hear a cancel
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(at.Cells) || computed != len(at.Cells)-2 || !bytes.Equal(all[2].RGBA, icons[1].RGBA) {
		t.Errorf("all icons: %d for %d cells, %d computed (2 were drawn before)", len(all), len(at.Cells), computed)
	}
	if batches := (len(at.Cells) - 2 + 7) / 8; steps != 2*batches {
		t.Errorf("%d step reports for %d batches of 2 steps", steps, batches)
	}
	file, err := l.AtlasFile(req)
	if err != nil {
		t.Fatal(err)
	}
	shown, err := ShowAtlas(file)
	if err != nil {
		t.Fatal(err)
	}
	if shown.Of != "classes" || shown.Layer != "fire9" || len(shown.Cells) != len(at.Cells) || shown.Cells[0].Top[0].Index != at.Cells[0].Members[0] {
		t.Errorf("class atlas file: %q at %s, %d cells (map %d), top %v", shown.Of, shown.Layer, len(shown.Cells), len(at.Cells), shown.Cells[0].Top)
	}
	// A finer grid of the same layout: same points, more cells.
	fine, err := l.Atlas(context.Background(), protocol.LookRequest{Classes: true, Method: "pca", Grid: 6}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(fine.Cells) <= len(at.Cells) || fine.X[7] != at.X[7] {
		t.Errorf("grid 6: %d cells (grid 3: %d), point 7 at %v (was %v)", len(fine.Cells), len(at.Cells), fine.X[7], at.X[7])
	}
	if _, err := l.AtlasIcons(context.Background(), protocol.LookRequest{Size: 64, Steps: 2, Cells: []int{len(fine.Cells)}}, nil); err == nil {
		t.Error("a cell past the map's last: no error")
	}
}

// TestLookUnits: patches are ranked by the channel's peak, which is the maximum of the
// channel's activation on each image, and each is that unit's receptive field.
func TestLookUnits(t *testing.T) {
	s, l := lookWith(t, 3)
	ps, err := l.Units(context.Background(), "conv1", 5, 10, 48, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 4 {
		t.Fatalf("%d patches", len(ps))
	}
	for i, p := range ps {
		if i > 0 && p.Value > ps[i-1].Value {
			t.Errorf("not ranked: %+v", ps)
		}
		x := preprocess.Tensor(mustDecode(t, p.Name), 224)
		res, err := s.model.Forward(x, engine.ForwardOptions{StopAfter: "conv1"})
		if err != nil {
			t.Fatal(err)
		}
		a := res.Activations["conv1"]
		h, w := a.Shape[2], a.Shape[3]
		plane := a.Data[5*h*w : 6*h*w]
		if peak := slices.Max(plane); p.Value != peak || plane[p.Y*w+p.X] != peak {
			t.Errorf("%s: value %v at (%d,%d), channel peak %v", p.Name, p.Value, p.Y, p.X, peak)
		}
		// conv1 of SqueezeNet: 3x3, stride 2, no padding.
		if p.Rect != [4]int{2 * p.X, 2 * p.Y, 2*p.X + 3, 2*p.Y + 3} || p.W != 48 || p.H != 48 || len(p.RGBA) != 4*48*48 || p.FromThumb {
			t.Errorf("%s: patch %+v", p.Name, p.Rect)
		}
	}
	// Without the kept crops, the thumbnails stand in.
	l.crops = map[int][]byte{}
	ps, err = l.Units(context.Background(), "fire5", 0, 2, 0, nil)
	if err != nil || len(ps) != 2 || !ps[0].FromThumb {
		t.Errorf("from thumbnails: %v, %+v", err, ps)
	}
	// A thumbnail that claims a huge size (a hostile gallery file) is skipped, not decoded.
	huge := slices.Clone(l.g.Items[0].Thumb)
	for i := 0; i+8 < len(huge); i++ {
		if huge[i] == 0xff && huge[i+1] == 0xc0 { // SOF0: length(2) precision(1) height(2) width(2)
			huge[i+5], huge[i+6], huge[i+7], huge[i+8] = 0xea, 0x60, 0xea, 0x60 // 60000 x 60000
			break
		}
	}
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(huge)); err != nil || cfg.Width != 60000 {
		t.Fatalf("patched thumbnail: %+v, %v", cfg, err)
	}
	l.g.Items[0].Thumb = huge
	ps, err = l.Units(context.Background(), "conv1", 0, 10, 0, nil)
	if err != nil || len(ps) != 3 {
		t.Errorf("with one hostile thumbnail: %d patches, %v", len(ps), err)
	}
	for _, p := range ps {
		if p.Item == 0 {
			t.Error("the hostile thumbnail was decoded")
		}
	}
	if _, err := l.Units(context.Background(), "conv1", 64, 2, 0, nil); err == nil {
		t.Error("channel 64 of conv1 (64 channels): no error")
	}
	if _, err := l.Units(context.Background(), "nope", 0, 2, 0, nil); err == nil {
		t.Error("an unknown layer: no error")
	}
}

func mustDecode(t *testing.T, name string) image.Image {
	img, err := preprocess.Decode(mustRead(t, name), preprocess.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestLookFeatureVis: a few steps raise the class logit, progress comes every step with a
// preview where asked, and cancelling stops the run with ErrCancelled.
func TestLookFeatureVis(t *testing.T) {
	_, l := lookWith(t, 3)
	var got []protocol.FeatureVisImg
	res, err := l.FeatureVis(context.Background(), protocol.LookRequest{Objective: "class", Channel: 7, Size: 128, Steps: 6, Preview: 3, Seed: 1},
		func(f protocol.FeatureVisImg) { got = append(got, f) })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 6 || got[2].RGBA == nil || got[1].RGBA != nil || res.W != 128 || len(res.RGBA) != 4*128*128 || len(res.Values) != 6 {
		t.Errorf("%d progress messages, result %dx%d with %d values", len(got), res.W, res.H, len(res.Values))
	}
	if !(res.Values[5] > res.Values[0]) {
		t.Errorf("gradient ascent did not raise the logit: %v", res.Values)
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, err = l.FeatureVis(ctx, protocol.LookRequest{Objective: "channel", Layer: "fire3", Channel: 2, Size: 64, Steps: 100},
		func(f protocol.FeatureVisImg) {
			if f.Step == 2 {
				cancel()
			}
		})
	if !errors.Is(err, ErrCancelled) {
		t.Errorf("cancelled run: %v", err)
	}
}
