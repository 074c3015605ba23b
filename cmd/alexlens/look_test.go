package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/gallery"
	"github.com/alexlens/alexlens/gallery/gallerytest"
	"github.com/alexlens/alexlens/weights"
)

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// TestFeatureVisCLI: the JSON has one objective value a step, the PNG is the asked size in
// RGB, the same seed gives the same image and another seed another; bad requests are errors.
func TestFeatureVisCLI(t *testing.T) {
	dir := t.TempDir()
	args := []string{"featurevis", "--arch", "squeezenet1_1", "--weights", "fixture", "--layer", "fire3", "--channel", "2",
		"--steps", "5", "--size", "64", "--seed", "3", "--json"}
	var pix [][]byte
	for i, seed := range []string{"3", "3", "4"} {
		out := filepath.Join(dir, seed+"-"+string(rune('a'+i))+".png")
		a := append(append([]string(nil), args...), "--seed", seed, "-o", out)
		stdout, stderr, err := runCLI(t, a...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", a, err, stderr)
		}
		if !strings.Contains(stderr, "UNTRAINED") {
			t.Errorf("fixture weights without a warning: %q", stderr)
		}
		var res struct {
			Objective []float32 `json:"objective"`
			MS        float64   `json:"ms"`
		}
		if err := json.Unmarshal([]byte(stdout), &res); err != nil || len(res.Objective) != 5 || !(res.MS > 0) {
			t.Fatalf("JSON %q: %v", stdout, err)
		}
		img, ok := readPNG(t, out).(*image.RGBA) // what Go's decoder makes of 8-bit RGB
		if !ok || img.Rect.Dx() != 64 || img.Rect.Dy() != 64 {
			t.Fatalf("%s: want a 64x64 RGB image", out)
		}
		data, _ := os.ReadFile(out)
		if data[25] != 2 { // IHDR colour type: 2 is truecolour without alpha
			t.Errorf("%s: PNG colour type %d, want 2 (RGB)", out, data[25])
		}
		pix = append(pix, img.Pix)
	}
	if !bytes.Equal(pix[0], pix[1]) || bytes.Equal(pix[0], pix[2]) {
		t.Error("seed 3 twice should give one image, seed 4 another")
	}
	for _, bad := range [][]string{
		{"featurevis", "--arch", "squeezenet1_1", "--weights", "fixture", "--layer", "fire3", "--channel", "2"},
		{"featurevis", "--arch", "squeezenet1_1", "--weights", "fixture", "--layer", "fire3", "--channel", "2", "--class", "3", "-o", filepath.Join(dir, "x.png")},
		{"featurevis", "--arch", "squeezenet1_1", "--weights", "fixture", "--layer", "nope", "--channel", "2", "-o", filepath.Join(dir, "x.png")},
		{"featurevis", "--arch", "squeezenet1_1", "--weights", "fixture", "--layer", "fire3", "--channel", "9999", "-o", filepath.Join(dir, "x.png")},
		{"featurevis", "--arch", "squeezenet1_1", "--weights", "fixture", "--class", "1000", "-o", filepath.Join(dir, "x.png")},
		{"featurevis", "--arch", "squeezenet1_1", "--weights", "fixture", "--class", "1", "--size", "5000", "-o", filepath.Join(dir, "x.png")},
	} {
		if _, _, err := runCLI(t, bad...); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.png")); err == nil {
		t.Error("a failed run wrote its PNG")
	}
}

// TestAtlasCLI: a gallery's atlas as a poster, per-cell icons named cell-X-Y.png, and JSON
// cells naming their images, top classes and icon; a gallery of other weights or another
// layer is refused.
func TestAtlasCLI(t *testing.T) {
	dir := t.TempDir()
	m := weights.Fixture(engine.SqueezeNet11, 1)
	h, err := gallery.HeaderFor(m, "fire9", gallery.Int8, 0, weights.FixtureSource(1))
	if err != nil {
		t.Fatal(err)
	}
	g, err := gallery.New(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := gallerytest.Fill(g, 30, 5); err != nil {
		t.Fatal(err)
	}
	gp := filepath.Join(dir, "g.alxg")
	if err := g.WriteFile(gp); err != nil {
		t.Fatal(err)
	}
	icons, poster := filepath.Join(dir, "icons"), filepath.Join(dir, "atlas.png")
	stdout, stderr, err := runCLI(t, "atlas", "--weights", "fixture", "--gallery", gp, "--grid", "3", "--layout", "pca",
		"--steps", "3", "--size", "64", "--min-items", "2", "--cell", "40", "--icons", icons, "--json", "-o", poster, "--alxg", filepath.Join(dir, "atlas.alxg"))
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var res struct {
		Cells []struct {
			X, Y  int
			Items []string
			Top   []prediction
			Icon  string
		} `json:"cells"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("JSON %q: %v", stdout, err)
	}
	seen, iconed := 0, 0
	for _, c := range res.Cells {
		seen += len(c.Items)
		if len(c.Top) != 3 || c.X < 0 || c.X > 2 || c.Y < 0 || c.Y > 2 {
			t.Errorf("cell %+v: want 3 classes and a place on the 3x3 grid", c)
		}
		if (c.Icon != "") != (len(c.Items) >= 2) {
			t.Errorf("cell (%d, %d) with %d images: icon %q", c.X, c.Y, len(c.Items), c.Icon)
		}
		if c.Icon == "" {
			continue
		}
		iconed++
		if want := "cell-" + string(rune('0'+c.X)) + "-" + string(rune('0'+c.Y)) + ".png"; c.Icon != want {
			t.Errorf("icon %q, want %q", c.Icon, want)
		}
		if b := readPNG(t, filepath.Join(icons, c.Icon)).Bounds(); b.Dx() != 64 || b.Dy() != 64 {
			t.Errorf("%s is %v, want 64x64", c.Icon, b)
		}
	}
	if seen != 30 || iconed == 0 {
		t.Errorf("cells hold %d of 30 images, %d icons", seen, iconed)
	}
	if b := readPNG(t, poster).Bounds(); b.Dx() != 120 || b.Dy() != 120 {
		t.Errorf("poster %v, want 120x120 (3 cells of 40 px)", b)
	}
	// The atlas file: one item per drawn cell, in the JSON's order, with its icon.
	af, err := gallery.ReadFile(filepath.Join(dir, "atlas.alxg"))
	if err != nil {
		t.Fatal(err)
	}
	if af.Header.Atlas == nil || af.Len() != iconed || af.Header.Thumb != 64 || af.Header.Atlas.Of != gallery.AtlasOfGallery || af.Header.Atlas.Source != "g.alxg" {
		t.Fatalf("atlas file: %d items, header %+v; want the %d drawn cells of g.alxg, 64 px icons", af.Len(), af.Header, iconed)
	}
	k := 0
	for _, c := range res.Cells {
		if c.Icon == "" {
			continue
		}
		ac := af.Header.Atlas.Cells[k]
		if ac.X != c.X || ac.Y != c.Y || ac.Count != len(c.Items) || af.Items[k].Label != c.Top[0].Label {
			t.Errorf("atlas file item %d: cell (%d, %d) of %d, label %q; JSON cell (%d, %d) of %d, top %q", k, ac.X, ac.Y, ac.Count, af.Items[k].Label, c.X, c.Y, len(c.Items), c.Top[0].Label)
		}
		k++
	}
	// The class atlas: the 1000 classes on the map, no gallery.
	stdout, stderr, err = runCLI(t, "atlas", "--arch", "squeezenet1_1", "--weights", "fixture", "--classes", "--grid", "2", "--layout", "pca",
		"--steps", "1", "--size", "64", "--cell", "40", "--json", "-o", poster, "--alxg", filepath.Join(dir, "classes.alxg"))
	if err != nil {
		t.Fatalf("--classes: %v\n%s", err, stderr)
	}
	res.Cells = nil
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("JSON %q: %v", stdout, err)
	}
	classes := 0
	for _, c := range res.Cells {
		classes += len(c.Items)
		if len(c.Top) == 0 || c.Items[0] != c.Top[0].Label {
			t.Errorf("class cell (%d, %d): classes %v, top %v", c.X, c.Y, c.Items[:min(3, len(c.Items))], c.Top)
		}
	}
	if classes != 1000 {
		t.Errorf("the class atlas holds %d classes, want 1000", classes)
	}
	cf, err := gallery.ReadFile(filepath.Join(dir, "classes.alxg"))
	if err != nil {
		t.Fatal(err)
	}
	if a := cf.Header.Atlas; a == nil || a.Of != gallery.AtlasOfClasses || cf.Len() != len(res.Cells) || cf.Header.Layer != "fire9" || a.Cells[0].Members[0] != res.Cells[0].Items[0] {
		t.Errorf("class atlas file: %d items at %s, header atlas %+v; want %d cells of fire9", cf.Len(), cf.Header.Layer, a, len(res.Cells))
	}
	for _, bad := range [][]string{
		{"atlas", "--weights", "fixture", "--arch", "squeezenet1_1", "--gallery", gp, "--classes", "-o", poster},
		{"atlas", "--weights", "fixture:2", "--gallery", gp, "-o", poster},
		{"atlas", "--weights", "fixture", "--gallery", gp, "--layer", "fire5", "-o", poster},
		{"atlas", "--weights", "fixture", "--arch", "alexnet", "--gallery", gp, "-o", poster},
		{"atlas", "--weights", "fixture", "--gallery", gp, "--layout", "umbrella", "-o", poster},
		{"atlas", "--weights", "fixture", "--gallery", filepath.Join(dir, "none.alxg"), "-o", poster},
		{"atlas", "--weights", "fixture", "--gallery", gp},
	} {
		if _, _, err := runCLI(t, bad...); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}
