// Package atlas draws activation atlases (Carter, Armstrong, Schubert, Johnson, Olah,
// "Activation Atlas", Distill 2019): a gallery laid out in 2-D (gallery.Layout), cut into a
// grid (gallery.GridCells), and every cell with enough images drawn as the feature
// visualization of its images' mean activation, so that neighbourhoods of the map show what
// the network sees there. The icons are optimized many cells to a pass (featurevis.RunBatch).
package atlas

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/engine/featurevis"
	"github.com/alexlens/alexlens/engine/preprocess"
	"github.com/alexlens/alexlens/gallery"
)

// IconCosPow is the cosine power of the icons' objective (engine.Objective.CosPow): the
// icon is pushed towards the cell's direction in activation space, not merely towards more
// activation that leans its way, which would make neighbouring cells' icons alike.
const IconCosPow = 2

// IconObjective is what a cell's icon maximizes: its mean embedding as a direction in the
// gallery's layer, applied at every position and averaged (a mean-pooled embedding is the
// layer's activation averaged over positions), weighted by cosine similarity.
func IconObjective(h gallery.Header, mean []float32) engine.Objective {
	o := engine.Direction(h.Layer, mean)
	o.CosPow = IconCosPow
	return o
}

// Options tune the icons; zero values pick the defaults.
type Options struct {
	Size     int   // icon side in pixels; default 64
	Steps    int   // optimization steps per icon; default 64
	Seed     int64 // the icon of the cell at (row, col) gets seed Seed + row<<10 + col, however batched
	MinItems int   // a cell gets an icon when it holds at least this many images; default 1
	Batch    int   // icons optimized together in one pass; default 8
	Grad     engine.GradOptions
	// Progress, if set, is called after each batch with the icons done so far and the
	// total, and the batch's icons (index into the cells given, and image).
	Progress func(done, total int, icons map[int]*image.RGBA)
	// Step, if set, is called after every optimization step of a batch: a batch takes
	// seconds, and the browser's engine worker must yield between steps to hear a cancel.
	Step func()
}

func (o *Options) defaults() error {
	if o.Size == 0 {
		o.Size = 64
	}
	if o.Steps == 0 {
		o.Steps = 64
	}
	if o.MinItems == 0 {
		o.MinItems = 1
	}
	if o.Batch == 0 {
		o.Batch = 8
	}
	switch {
	case o.MinItems < 1:
		return fmt.Errorf("atlas: at least %d images per cell: want 1 or more", o.MinItems)
	case o.Batch < 1 || o.Batch > featurevis.MaxBatch:
		return fmt.Errorf("atlas: batch of %d icons, want 1 to %d", o.Batch, featurevis.MaxBatch)
	}
	return nil
}

// Iconed reports which cells get an icon: those holding at least opt.MinItems images.
func Iconed(cells []gallery.Cell, minItems int) []int {
	var idx []int
	for i, c := range cells {
		if len(c.Members) >= max(1, minItems) {
			idx = append(idx, i)
		}
	}
	return idx
}

// Icons optimizes an icon for every cell with enough images (Iconed) on m, whose weights
// must be the gallery's (h). icons[i] belongs to cells[i] and is nil for a cell without one.
// When ctx is cancelled it returns the icons finished so far with ctx's error.
func Icons(ctx context.Context, m *engine.Model, h gallery.Header, cells []gallery.Cell, opt Options) ([]*image.RGBA, error) {
	if m == nil {
		return nil, errors.New("atlas: no model")
	}
	if m.Arch.Name != h.Arch {
		return nil, fmt.Errorf("atlas: %w: the gallery holds %s embeddings, the model is %s", gallery.ErrIncompatible, h.Arch, m.Arch.Name)
	}
	if err := opt.defaults(); err != nil {
		return nil, err
	}
	objs := make([]*engine.Objective, len(cells))
	for _, c := range Iconed(cells, opt.MinItems) {
		if len(cells[c].Mean) != h.Dim {
			return nil, fmt.Errorf("atlas: cell (%d, %d) has a %d-component mean, the gallery's embeddings have %d", cells[c].Row, cells[c].Col, len(cells[c].Mean), h.Dim)
		}
		o := IconObjective(h, cells[c].Mean)
		objs[c] = &o
	}
	return optimize(ctx, m, cells, objs, opt)
}

// optimize makes the icon of every cell with an objective, opt.Batch to a pass, each with
// its cell's own seed (Options.Seed), so that an icon does not depend on which other cells
// were drawn with it.
func optimize(ctx context.Context, m *engine.Model, cells []gallery.Cell, objs []*engine.Objective, opt Options) ([]*image.RGBA, error) {
	var todo []int
	for i, o := range objs {
		if o != nil {
			todo = append(todo, i)
		}
	}
	icons := make([]*image.RGBA, len(objs))
	for start := 0; start < len(todo); start += opt.Batch {
		batch := todo[start:min(start+opt.Batch, len(todo))]
		bo, seeds := make([]engine.Objective, len(batch)), make([]int64, len(batch))
		for i, c := range batch {
			bo[i], seeds[i] = *objs[c], opt.Seed+int64(cells[c].Row<<10+cells[c].Col)
		}
		fo := featurevis.Options{Size: opt.Size, Steps: opt.Steps, Seeds: seeds, Grad: opt.Grad}
		if opt.Step != nil {
			fo.Progress = func(p featurevis.Progress) {
				if p.Item == 0 {
					opt.Step()
				}
			}
		}
		res, err := featurevis.RunBatch(ctx, m, fo, bo)
		if err != nil {
			return icons, err
		}
		done := map[int]*image.RGBA{}
		for i, c := range batch {
			icons[c] = res[i].Image
			done[c] = res[i].Image
		}
		if opt.Progress != nil {
			opt.Progress(start+len(batch), len(todo), done)
		}
	}
	return icons, nil
}

// MaxPosterSide bounds a poster's side in pixels (16384² RGBA is 1 GiB).
const MaxPosterSide = 16384

// Poster draws the atlas as one picture, grid x grid cells of cellPx pixels on a white
// ground, each iconed cell's icon scaled into its square with a thin margin, row 0 (the
// smallest Y of the map) at the top. A 20x20 atlas at 300 px a cell is a 6000 px poster,
// 50 cm across at 300 dpi.
func Poster(cells []gallery.Cell, icons []*image.RGBA, grid, cellPx int) (*image.RGBA, error) {
	if len(icons) != len(cells) {
		return nil, fmt.Errorf("atlas: %d icons for %d cells", len(icons), len(cells))
	}
	if grid < 1 || cellPx < 4 || grid*cellPx > MaxPosterSide {
		return nil, fmt.Errorf("atlas: a poster of %d cells of %d px a side: want at least 1 cell of 4 px and at most %d px", grid, cellPx, MaxPosterSide)
	}
	side := grid * cellPx
	out := image.NewRGBA(image.Rect(0, 0, side, side))
	draw.Draw(out, out.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	margin := max(1, cellPx/32)
	for i, c := range cells {
		if icons[i] == nil {
			continue
		}
		if c.Row < 0 || c.Row >= grid || c.Col < 0 || c.Col >= grid {
			return nil, fmt.Errorf("atlas: cell (%d, %d) outside a %dx%d grid", c.Row, c.Col, grid, grid)
		}
		r := image.Rect(c.Col*cellPx+margin, c.Row*cellPx+margin, (c.Col+1)*cellPx-margin, (c.Row+1)*cellPx-margin)
		if err := scaleInto(out, r, icons[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// scaleInto draws src into dst's rectangle r, resampled as photos are (preprocess.ResizeRGB).
func scaleInto(dst *image.RGBA, r image.Rectangle, src *image.RGBA) error {
	rgb := preprocess.ToRGB(src)
	pix, err := preprocess.ResizeRGB(rgb.Pix, rgb.W, rgb.H, r.Dx(), r.Dy())
	if err != nil {
		return err
	}
	for y := 0; y < r.Dy(); y++ {
		for x := 0; x < r.Dx(); x++ {
			o, p := dst.PixOffset(r.Min.X+x, r.Min.Y+y), 3*(y*r.Dx()+x)
			copy(dst.Pix[o:o+3], pix[p:p+3])
			dst.Pix[o+3] = 255
		}
	}
	return nil
}
