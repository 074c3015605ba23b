package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/engine/featurevis"
	"github.com/alexlens/alexlens/engine/imagenet"
	"github.com/alexlens/alexlens/gallery"
	"github.com/alexlens/alexlens/gallery/atlas"
)

// featureVisObjective is the objective the Units view optimizes for a layer's channel or a
// class: the same choice as the app's (wasm/session), so that the CLI and the browser make
// the same image for the same seed.
func featureVisObjective(m *engine.Model, layer string, channel, class int) (engine.Objective, error) {
	switch {
	case class >= 0 && (layer != "" || channel >= 0):
		return engine.Objective{}, usagef("featurevis: give --class, or --layer and --channel, not both")
	case class >= 0:
		if m.Partial != "" {
			return engine.Objective{}, fmt.Errorf("these weights stop at %s: they have no classes", m.Partial)
		}
		if class >= m.Arch.Classes {
			return engine.Objective{}, usagef("featurevis: class %d outside 0..%d", class, m.Arch.Classes-1)
		}
		return engine.ClassLogit(class), nil
	case layer == "" || channel < 0:
		return engine.Objective{}, usagef("featurevis: give --layer and --channel (or --class)")
	}
	o := engine.ChannelMean(layer, channel)
	o.PreReLU = true // a unit that is off has no gradient after its ReLU
	return o, nil
}

func cmdFeatureVis(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("featurevis", stderr)
	var mf modelFlags
	mf.register(fs)
	layer := fs.String("layer", "", "the layer whose channel to visualize (alexlens archs lists them)")
	channel := fs.Int("channel", -1, "the channel of --layer")
	class := fs.Int("class", -1, "visualize this ImageNet class's logit instead of a channel")
	steps := fs.Int("steps", 64, "optimization steps")
	size := fs.Int("size", 128, "image side in pixels")
	seed := fs.Int64("seed", 0, "random seed (the same seed gives the same image)")
	asJSON := fs.Bool("json", false, `print {"objective": [one value a step], "ms": total}`)
	outPath := fs.String("o", "", "the PNG to write")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("featurevis: unexpected arguments %v", rest)
	}
	if *outPath == "" {
		return usagef("featurevis: -o FILE.png is required")
	}
	m, err := mf.load(stderr)
	if err != nil {
		return err
	}
	obj, err := featureVisObjective(m, *layer, *channel, *class)
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := featurevis.Run(ctx, m, featurevis.Options{Objective: obj, Size: *size, Steps: *steps, Seed: *seed,
		Grad: engine.GradOptions{Backend: mf.backend()}})
	if err != nil {
		return err
	}
	took := ms(time.Since(start))
	if err := writePNG(*outPath, res.Image); err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(struct {
			Objective []float32 `json:"objective"`
			MS        float64   `json:"ms"`
		}{res.Values, took})
	}
	fmt.Fprintf(stdout, "%v: %.4g -> %.4g in %d steps, %.0f ms; wrote %s\n", obj, res.Values[0], res.Values[len(res.Values)-1], len(res.Values), took, *outPath)
	return nil
}

// atlasCell is one cell of `alexlens atlas --json`.
type atlasCell struct {
	X     int          `json:"x"` // column
	Y     int          `json:"y"` // row, 0 at the smallest Y of the map
	Items []string     `json:"items"`
	Top   []prediction `json:"top"`
	Icon  string       `json:"icon,omitempty"` // the icon's file name under --icons
}

func cmdAtlas(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("atlas", stderr)
	var mf modelFlags
	mf.register(fs)
	galleryPath := fs.String("gallery", "", "the gallery file (.alxg) made by alexlens index")
	classes := fs.Bool("classes", false, "the class atlas: the network's classes laid out by their classifier weights (no gallery)")
	layer := fs.String("layer", "", "the layer (default and only choice: the gallery's own)")
	grid := fs.Int("grid", 20, "cells per side")
	method := fs.String("layout", gallery.LayoutTSNE, "layout: tsne, umap (fast for large galleries) or pca")
	steps := fs.Int("steps", 64, "optimization steps per icon")
	size := fs.Int("size", 64, "icon side in pixels")
	minItems := fs.Int("min-items", 1, "draw an icon for cells holding at least this many images")
	seed := fs.Int64("seed", 0, "random seed (the same seed gives the same icons)")
	cellPx := fs.Int("cell", 128, "poster pixels per cell (300 for print: a 20x20 atlas is then 6000 px)")
	iconDir := fs.String("icons", "", "also write each cell's icon to DIR/cell-X-Y.png")
	alxgPath := fs.String("alxg", "", "also write the atlas as an atlas file (.alxg: the icons, their cells and embeddings), which the embed's atlas view shows")
	asJSON := fs.Bool("json", false, `print {"cells": [...]}`)
	outPath := fs.String("o", "", "the poster PNG to write")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(rest) > 0:
		return usagef("atlas: unexpected arguments %v", rest)
	case *galleryPath == "" && !*classes:
		return usagef("atlas: --gallery or --classes is required")
	case *galleryPath != "" && *classes:
		return usagef("atlas: --gallery or --classes, not both")
	case *outPath == "":
		return usagef("atlas: -o FILE.png is required")
	case *grid < 1 || *grid > 256:
		return usagef("atlas: --grid %d, want 1 to 256", *grid)
	}
	opt := atlas.Options{Size: *size, Steps: *steps, Seed: *seed, MinItems: *minItems}
	start := time.Now()
	opt.Progress = func(done, total int, _ map[int]*image.RGBA) {
		fmt.Fprintf(stderr, "\ricons %d/%d (%.0f s)", done, total, time.Since(start).Seconds())
		if done == total {
			fmt.Fprintln(stderr)
		}
	}
	if *classes {
		m, err := mf.load(stderr)
		if err != nil {
			return err
		}
		opt.Grad = engine.GradOptions{Backend: mf.backend()}
		pts, err := atlas.ClassLayout(ctx, m, gallery.LayoutOptions{Method: *method})
		if err != nil {
			return err
		}
		cells, err := atlas.ClassCells(pts, *grid)
		if err != nil {
			return err
		}
		icons, err := atlas.ClassIcons(ctx, m, cells, opt)
		if err != nil {
			return err
		}
		if *alxgPath != "" {
			h, err := atlas.ClassHeader(m, mf.weights)
			if err != nil {
				return err
			}
			if err := atlas.ClassMeans(m, cells); err != nil {
				return err
			}
			layout := gallery.AtlasLayout{Grid: *grid, Of: gallery.AtlasOfClasses, Method: *method, Source: "ImageNet classes"}
			if err := writeAtlasFile(*alxgPath, h, layout, cells, icons, imagenet.Label); err != nil {
				return err
			}
		}
		return writeAtlas(stdout, cells, icons, imagenet.Label, *grid, *cellPx, *outPath, *iconDir, *asJSON)
	}
	g, m, _, err := galleryAndModel(&mf, *galleryPath, stderr)
	if err != nil {
		return err
	}
	if *layer != "" && *layer != g.Header.Layer {
		return fmt.Errorf("%s holds %s embeddings, not %s: index the images at %s (alexlens index --layer %s)", *galleryPath, g.Header.Layer, *layer, *layer, *layer)
	}

	vecs := g.Vectors()
	pts, err := gallery.Layout(ctx, vecs, gallery.LayoutOptions{Method: *method})
	if err != nil {
		return err
	}
	classify, err := gallery.HeadClassifier(m, mf.backend(), g.Header)
	if err != nil {
		classify = nil // cells then list their images only
		fmt.Fprintf(stderr, "cells get no classes: %v\n", err)
	}
	cells, err := gallery.GridCells(pts, vecs, *grid, classify, 3)
	if err != nil {
		return err
	}
	opt.Grad = engine.GradOptions{Backend: mf.backend()}
	icons, err := atlas.Icons(ctx, m, g.Header, cells, opt)
	if err != nil {
		return err
	}
	name := func(i int) string { return g.Items[i].Name }
	if *alxgPath != "" {
		layout := gallery.AtlasLayout{Grid: *grid, Of: gallery.AtlasOfGallery, Method: *method, Source: filepath.Base(*galleryPath)}
		if err := writeAtlasFile(*alxgPath, g.Header, layout, cells, icons, name); err != nil {
			return err
		}
	}
	return writeAtlas(stdout, cells, icons, name, *grid, *cellPx, *outPath, *iconDir, *asJSON)
}

// writeAtlasFile writes the drawn cells as an atlas file (gallery/FORMAT.md "Atlas files").
func writeAtlasFile(path string, h gallery.Header, layout gallery.AtlasLayout, cells []gallery.Cell, icons []*image.RGBA, member atlas.MemberName) error {
	g, err := atlas.File(h, layout, cells, icons, member, imagenet.Label)
	if err != nil {
		return err
	}
	return g.WriteFile(path)
}

// writeAtlas writes the poster, the icons under iconDir (when given), and the cells as JSON
// or a summary line; name names a cell's members (gallery items, or classes).
func writeAtlas(stdout io.Writer, cells []gallery.Cell, icons []*image.RGBA, name func(int) string, grid, cellPx int, outPath, iconDir string, asJSON bool) error {
	poster, err := atlas.Poster(cells, icons, grid, cellPx)
	if err != nil {
		return err
	}
	if err := writePNG(outPath, poster); err != nil {
		return err
	}
	if iconDir != "" {
		if err := os.MkdirAll(iconDir, 0o755); err != nil {
			return err
		}
	}
	out := struct {
		Cells []atlasCell `json:"cells"`
	}{Cells: []atlasCell{}}
	drawn := 0
	for i, c := range cells {
		ac := atlasCell{X: c.Col, Y: c.Row, Items: []string{}, Top: []prediction{}}
		for _, j := range c.Members {
			ac.Items = append(ac.Items, name(j))
		}
		for _, t := range c.Top[:min(3, len(c.Top))] {
			ac.Top = append(ac.Top, prediction{t.Index, imagenet.Label(t.Index), t.Prob})
		}
		if icons[i] != nil {
			drawn++
		}
		if icons[i] != nil && iconDir != "" {
			ac.Icon = fmt.Sprintf("cell-%d-%d.png", c.Col, c.Row)
			if err := writePNG(filepath.Join(iconDir, ac.Icon), icons[i]); err != nil {
				return err
			}
		}
		out.Cells = append(out.Cells, ac)
	}
	if asJSON {
		return printJSON(stdout, out)
	}
	fmt.Fprintf(stdout, "%d of %d cells drawn; wrote %s (%d px)\n", drawn, len(cells), outPath, poster.Rect.Dx())
	return nil
}

// writePNG writes img to path; Go's encoder writes an opaque image as RGB without alpha.
func writePNG(path string, img *image.RGBA) error {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return err
	}
	return writeFileAtomic(path, b.Bytes())
}
