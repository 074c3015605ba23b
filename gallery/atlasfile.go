package gallery

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// An atlas file is a gallery whose items are the cells of an activation atlas: item i is the
// icon of cell Header.Atlas.Cells[i] (its thumbnail the icon, its embedding the activation
// the icon was optimized for, its label the cell's top class). Any reader of the format
// sees a searchable gallery of icons; one that knows Header.Atlas draws them on the grid
// (the embed's atlas view, FORMAT.md "Atlas files").

// AtlasLayout places a gallery's items on a Grid x Grid map.
type AtlasLayout struct {
	Grid int `json:"grid"`
	// Of says what was laid out: AtlasOfGallery (images) or AtlasOfClasses (the network's
	// classes, by their classifier weights).
	Of     string `json:"of"`
	Method string `json:"method"` // the layout: pca, tsne or umap
	// Source is free text naming what was laid out, e.g. the gallery file.
	Source string      `json:"source,omitempty"`
	Cells  []AtlasCell `json:"cells"` // one per item, in item order
}

// AtlasCell is one item's place on the map and what fell in its cell.
type AtlasCell struct {
	X int `json:"x"` // column
	Y int `json:"y"` // row, 0 at the map's smallest Y
	// Count is how many images (or classes) fell in the cell; Members names the first
	// MaxAtlasMembers of them.
	Count   int          `json:"count"`
	Members []string     `json:"members"`
	Top     []AtlasClass `json:"top"` // the cell's top classes, best first
}

// AtlasClass is one of a cell's top classes.
type AtlasClass struct {
	Index int     `json:"index"`
	Label string  `json:"label"`
	Prob  float32 `json:"prob"`
}

// What an atlas lays out.
const (
	AtlasOfGallery = "gallery"
	AtlasOfClasses = "classes"
)

// Limits of an atlas header, which must fit the 1 MiB header with the rest.
const (
	MaxAtlasGrid    = 1024
	MaxAtlasMembers = 16
	MaxAtlasTop     = 5
)

// checkAtlas checks the atlas layout (when there is one) against the gallery's items.
func (g *Gallery) checkAtlas() error {
	a := g.Header.Atlas
	if a == nil {
		return nil
	}
	if a.Grid < 1 || a.Grid > MaxAtlasGrid {
		return fmt.Errorf("gallery: atlas grid %d out of range 1..%d", a.Grid, MaxAtlasGrid)
	}
	if a.Of != AtlasOfGallery && a.Of != AtlasOfClasses {
		return fmt.Errorf("gallery: atlas of %q: want %q or %q", a.Of, AtlasOfGallery, AtlasOfClasses)
	}
	if len(a.Method) > 64 || len(a.Source) > MaxLabelBytes || !utf8.ValidString(a.Method+a.Source) {
		return errors.New("gallery: atlas method or source is not short UTF-8 text")
	}
	if len(a.Cells) != g.Len() {
		return fmt.Errorf("gallery: the atlas places %d cells but the gallery has %d items (an atlas file cannot be appended to)", len(a.Cells), g.Len())
	}
	seen := make(map[[2]int]bool, len(a.Cells))
	for i, c := range a.Cells {
		if c.X < 0 || c.Y < 0 || c.X >= a.Grid || c.Y >= a.Grid {
			return fmt.Errorf("gallery: atlas cell %d at (%d, %d) is off the %dx%d grid", i, c.X, c.Y, a.Grid, a.Grid)
		}
		if seen[[2]int{c.X, c.Y}] {
			return fmt.Errorf("gallery: two atlas items in cell (%d, %d)", c.X, c.Y)
		}
		seen[[2]int{c.X, c.Y}] = true
		if c.Count < len(c.Members) || len(c.Members) > MaxAtlasMembers || len(c.Top) > MaxAtlasTop {
			return fmt.Errorf("gallery: atlas cell (%d, %d): %d members named of %d (at most %d), %d top classes (at most %d)",
				c.X, c.Y, len(c.Members), c.Count, MaxAtlasMembers, len(c.Top), MaxAtlasTop)
		}
		for _, m := range c.Members {
			if len(m) > MaxNameBytes || !utf8.ValidString(m) {
				return fmt.Errorf("gallery: atlas cell (%d, %d): a member name is not UTF-8 of at most %d bytes", c.X, c.Y, MaxNameBytes)
			}
		}
		for _, t := range c.Top {
			if t.Index < 0 || len(t.Label) > MaxLabelBytes || !utf8.ValidString(t.Label) || !(t.Prob >= 0 && t.Prob <= 1) {
				return fmt.Errorf("gallery: atlas cell (%d, %d): top class %d (%q, %v) out of range", c.X, c.Y, t.Index, t.Label, t.Prob)
			}
		}
	}
	return nil
}
