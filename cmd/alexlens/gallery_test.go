package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexlens/alexlens/engine/preprocess"
	"github.com/alexlens/alexlens/gallery"
	"github.com/alexlens/alexlens/internal/testenv"
)

// galleryDir makes a folder of skimage photos plus a mirrored and a JPEG re-encoded copy of
// chelsea and coffee (made with Go's image packages), and one file that is not an image.
func galleryDir(t *testing.T) string {
	dir := t.TempDir()
	for _, p := range photos(t, "chelsea.png", "coffee.png", "rocket.jpg", "astronaut.png", "camera.png", "horse.png") {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(p)
		os.MkdirAll(filepath.Join(dir, "photos"), 0o755)
		os.WriteFile(filepath.Join(dir, "photos", base), data, 0o644)
		if base != "chelsea.png" && base != "coffee.png" {
			continue
		}
		img, err := preprocess.Decode(data, preprocess.DefaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		b := img.Bounds()
		flip := image.NewRGBA(b)
		for y := 0; y < b.Dy(); y++ {
			for x := 0; x < b.Dx(); x++ {
				flip.Set(b.Dx()-1-x, y, img.At(x, y))
			}
		}
		os.MkdirAll(filepath.Join(dir, "variants"), 0o755)
		for name, m := range map[string]image.Image{"flip-": flip, "q40-": img} {
			var buf bytes.Buffer
			if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: 40}); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, "variants", name+strings.TrimSuffix(base, ".png")+".jpg"), buf.Bytes(), 0o644)
		}
	}
	os.WriteFile(filepath.Join(dir, "photos", "broken.jpg"), []byte("\xff\xd8not a jpeg"), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not an image"), 0o644)
	return dir
}

type neighborsJSON struct {
	Image     string `json:"image"`
	Neighbors []struct {
		Item     string  `json:"item"`
		Distance float64 `json:"distance"`
	} `json:"neighbors"`
}

// The whole path with the real SqueezeNet: index a folder, check the stored embeddings
// against `alexlens embed` on the same files, then ask for neighbours of the originals.
func TestIndexAndNeighborsSqueezeNet(t *testing.T) {
	w := testenv.SharedWeight(t, "squeezenet1_1-imagenet.pth")
	dir := galleryDir(t)
	out := filepath.Join(t.TempDir(), "g.alxg")
	_, stderr, err := runCLI(t, "index", "--arch", "squeezenet1_1", "--weights", w, "--encoding", "f16", dir, "-o", out)
	if err != nil {
		t.Fatalf("index: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "warning: skipping") || !strings.Contains(stderr, "broken.jpg") || !strings.Contains(stderr, "[11/11]") {
		t.Errorf("index progress/warnings:\n%s", stderr)
	}
	g, err := gallery.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if g.Len() != 10 || g.Header.Layer != "fire9" || g.Header.Dim != 512 || g.Header.Pooling != gallery.PoolMean {
		t.Fatalf("gallery: %d items, header %+v", g.Len(), g.Header)
	}
	i := g.Find("photos/coffee.png")
	if i < 0 || g.Items[i].Label != "espresso" {
		t.Fatalf("coffee item %d: %+v", i, g.Items)
	}
	th, err := jpeg.Decode(bytes.NewReader(g.Items[i].Thumb))
	if err != nil || th.Bounds().Dx() != 64 || th.Bounds().Dy() != 64 {
		t.Fatalf("thumbnail: %v %v", th, err)
	}
	// The stored embeddings are the engine's fire9 activations averaged over positions,
	// within f16 rounding.
	imgs := []string{filepath.Join(dir, "photos", "coffee.png"), filepath.Join(dir, "variants", "flip-chelsea.jpg")}
	js, stderr, err := runCLI(t, append([]string{"embed", "--arch", "squeezenet1_1", "--weights", w, "--layer", "fire9", "--json"}, imgs...)...)
	if err != nil {
		t.Fatalf("embed: %v\n%s", err, stderr)
	}
	var rows []struct {
		Image     string    `json:"image"`
		Embedding []float32 `json:"embedding"`
	}
	if err := json.Unmarshal([]byte(js), &rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		rel, _ := filepath.Rel(dir, r.Image)
		stored := g.Embedding(g.Find(filepath.ToSlash(rel)), nil)
		plane := len(r.Embedding) / 512
		for c := range stored {
			var s float64
			for _, v := range r.Embedding[c*plane : (c+1)*plane] {
				s += float64(v)
			}
			want := s / float64(plane)
			if math.Abs(float64(stored[c])-want) > math.Abs(want)/2048+1e-7 {
				t.Fatalf("%s channel %d: stored %v, embed gives %v", rel, c, stored[c], want)
			}
		}
	}
	// Each original's nearest items are its mirrored and re-encoded copies (and itself).
	for _, metric := range []string{"cosine", "euclidean"} {
		queries := photos(t, "chelsea.png", "coffee.png")
		js, stderr, err = runCLI(t, append([]string{"neighbors", "--weights", w, "--gallery", out, "--k", "3", "--metric", metric, "--json"}, queries...)...)
		if err != nil {
			t.Fatalf("neighbors: %v\n%s", err, stderr)
		}
		var res []neighborsJSON
		if err := json.Unmarshal([]byte(js), &res); err != nil {
			t.Fatalf("%v\n%s", err, js)
		}
		for qi, r := range res {
			stem := strings.TrimSuffix(filepath.Base(queries[qi]), ".png")
			if r.Image != queries[qi] || len(r.Neighbors) != 3 {
				t.Fatalf("%+v", r)
			}
			for _, n := range r.Neighbors {
				if !strings.Contains(n.Item, stem) {
					t.Errorf("%s %s: neighbour %s (%.4f) is not a copy", metric, stem, n.Item, n.Distance)
				}
			}
			// Itself, at the distance f16 rounding of the stored copy leaves.
			if r.Neighbors[0].Item != "photos/"+stem+".png" || r.Neighbors[0].Distance > 0.01*r.Neighbors[1].Distance {
				t.Errorf("%s %s: nearest %+v, want itself at ~0", metric, stem, r.Neighbors[0])
			}
			t.Logf("%-9s %s: %+v", metric, stem, r.Neighbors)
		}
	}
}

// Galleries are refused, with a message saying why, when they were made by another network,
// other weights, or are not galleries at all; --append adds only new images.
func TestNeighborsRefusesForeignGalleries(t *testing.T) {
	dir := galleryDir(t)
	out := filepath.Join(t.TempDir(), "fixture.alxg")
	imgs := photos(t, "coffee.png")
	_, stderr, err := runCLI(t, "index", "--arch", "squeezenet1_1", "--weights", "fixture:3", "--thumb", "0", dir, "-o", out)
	if err != nil {
		t.Fatalf("index: %v\n%s", err, stderr)
	}
	text, stderr, err := runCLI(t, "neighbors", "--weights", "fixture:3", "--gallery", out, "--k", "2", imgs[0])
	if err != nil || strings.Count(text, "\n") != 3 {
		t.Fatalf("neighbors: %v\n%s%s", err, text, stderr)
	}
	corrupt := filepath.Join(t.TempDir(), "corrupt.alxg")
	data, _ := os.ReadFile(out)
	os.WriteFile(corrupt, data[:len(data)-7], 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--arch", "alexnet", "--weights", "fixture:3", "--gallery", out}, "holds squeezenet1_1 fire9 embeddings, the model is alexnet"},
		{[]string{"--weights", "fixture:4", "--gallery", out}, "other squeezenet1_1 weights"},
		{[]string{"--weights", "fixture:3", "--gallery", corrupt}, "truncated"},
		{[]string{"--weights", "fixture:3", "--gallery", imgs[0]}, "no ALXG magic"},
		{[]string{"--weights", "fixture:3", "--gallery", out, "--metric", "manhattan"}, "unknown metric"},
		{[]string{"--weights", "fixture:3", "--gallery", out, "--k", "0"}, "--k"},
	} {
		_, stderr, err := runCLI(t, append(append([]string{"neighbors"}, c.args...), imgs[0])...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("neighbors %v: error %v, want one saying %q\n%s", c.args, err, c.want, stderr)
		}
	}
	// Appending: a new image is added, the others are not embedded again.
	os.WriteFile(filepath.Join(dir, "photos", "late.png"), mustRead(t, photos(t, "coins.png")[0]), 0o644)
	_, stderr, err = runCLI(t, "index", "--arch", "squeezenet1_1", "--weights", "fixture:3", "--thumb", "0", "--append", dir, "-o", out)
	if err != nil || !strings.Contains(stderr, "11 items (1 new") {
		t.Fatalf("append: %v\n%s", err, stderr)
	}
	_, _, err = runCLI(t, "index", "--arch", "alexnet", "--weights", "fixture", "--append", dir, "-o", out)
	if err == nil || !strings.Contains(err.Error(), "cannot append") {
		t.Errorf("appending alexnet embeddings to a squeezenet gallery: %v", err)
	}
	if _, _, err := runCLI(t, "index", "--weights", "fixture:3", "--arch", "squeezenet1_1", t.TempDir(), "-o", out); err == nil || !strings.Contains(err.Error(), "no images") {
		t.Errorf("empty folder: %v", err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
