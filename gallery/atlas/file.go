package atlas

import (
	"errors"
	"fmt"
	"image"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/gallery"
)

// An atlas file keeps a drawn atlas as a gallery (gallery/FORMAT.md "Atlas files"): one
// item per cell that has an icon, the icon as its thumbnail and, as its embedding, the
// activation the icon was optimized for (the cell's mean embedding; for the class atlas,
// the mean of its classes' classifier weights, which live in the same space as the
// classifier's input).

// Names of a cell's members and of classes, for the file's text.
type (
	MemberName func(member int) string
	ClassLabel func(class int) string
)

// File makes the atlas file of cells and their icons (icons[i] belongs to cells[i]; cells
// without one are left out). h describes the embeddings (the gallery's header, or
// ClassHeader's); layout gives the grid, what was laid out and how (its Cells are filled
// here). Each icon must be a square of the same side, which becomes the file's thumbnail
// size.
func File(h gallery.Header, layout gallery.AtlasLayout, cells []gallery.Cell, icons []*image.RGBA, member MemberName, label ClassLabel) (*gallery.Gallery, error) {
	if len(icons) != len(cells) {
		return nil, fmt.Errorf("atlas: %d icons for %d cells", len(icons), len(cells))
	}
	side := 0
	for _, ic := range icons {
		if ic == nil {
			continue
		}
		if d := ic.Rect.Dx(); d != ic.Rect.Dy() || (side != 0 && d != side) {
			return nil, fmt.Errorf("atlas: icons of %dx%d and %d px: want squares of one side", d, ic.Rect.Dy(), side)
		}
		side = ic.Rect.Dx()
	}
	if side == 0 {
		return nil, errors.New("atlas: no cell has an icon yet: draw the icons first")
	}
	h.Thumb, h.Atlas = side, nil
	g, err := gallery.New(h)
	if err != nil {
		return nil, err
	}
	layout.Cells = nil
	for i, c := range cells {
		if icons[i] == nil {
			continue
		}
		if len(c.Mean) != h.Dim {
			return nil, fmt.Errorf("atlas: cell (%d, %d) has a %d-component mean, the file's %s embeddings %d", c.Col, c.Row, len(c.Mean), h.Layer, h.Dim)
		}
		jpg, err := gallery.Thumbnail(icons[i], side)
		if err != nil {
			return nil, err
		}
		ac := gallery.AtlasCell{X: c.Col, Y: c.Row, Count: len(c.Members), Members: []string{}, Top: []gallery.AtlasClass{}}
		for _, k := range c.Members[:min(len(c.Members), gallery.MaxAtlasMembers)] {
			ac.Members = append(ac.Members, member(k))
		}
		for _, t := range c.Top[:min(len(c.Top), gallery.MaxAtlasTop)] {
			ac.Top = append(ac.Top, gallery.AtlasClass{Index: t.Index, Label: label(t.Index), Prob: t.Prob})
		}
		it := gallery.Item{Name: fmt.Sprintf("cell-%d-%d", c.Col, c.Row), Class: -1, Thumb: jpg}
		if len(ac.Top) > 0 {
			it.Class, it.Label = ac.Top[0].Index, ac.Top[0].Label
		}
		if err := g.Add(it, c.Mean); err != nil {
			return nil, err
		}
		layout.Cells = append(layout.Cells, ac)
	}
	g.Header.Atlas = &layout
	return g, nil
}

// ClassHeader describes a class atlas file's embeddings: the classifier's input layer (AlexNet
// fc7, SqueezeNet fire9 averaged over positions), where each class's classifier weights are
// a direction.
func ClassHeader(m *engine.Model, source string) (gallery.Header, error) {
	l, err := Classifier(m.Arch)
	if err != nil {
		return gallery.Header{}, err
	}
	i := m.Arch.LayerIndex(l.Name)
	if i < 1 {
		return gallery.Header{}, fmt.Errorf("atlas: %s's classifier %s reads no named layer", m.Arch.Name, l.Name)
	}
	return gallery.HeaderFor(m, m.Arch.LayerNames()[i-1], gallery.Int8, 0, source)
}

// ClassMeans sets each class cell's Mean to the mean of its classes' classifier weights.
func ClassMeans(m *engine.Model, cells []gallery.Cell) error {
	vecs, err := ClassVectors(m)
	if err != nil {
		return err
	}
	for i := range cells {
		c := &cells[i]
		if len(c.Members) == 0 {
			continue
		}
		c.Mean = make([]float32, len(vecs[0]))
		for _, k := range c.Members {
			if k < 0 || k >= len(vecs) {
				return fmt.Errorf("atlas: %s has no class %d", m.Arch.Name, k)
			}
			for j, v := range vecs[k] {
				c.Mean[j] += v / float32(len(c.Members))
			}
		}
	}
	return nil
}
