package atlas

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"slices"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/gallery"
)

// The class atlas: an atlas that needs no gallery. The network's classes are laid out by
// their classifier weights (AlexNet's fc8 rows, SqueezeNet's conv10 filters: the direction
// in the last hidden layer that each class's score reads), so classes the network tells
// apart by similar evidence land close together, and each cell is drawn as the feature
// visualization of its classes' mean score.

// Classifier is the layer whose weights score the classes: the last layer with weights.
func Classifier(a *engine.Arch) (engine.Layer, error) {
	for i := len(a.Layers) - 1; i >= 0; i-- {
		if l := a.Layers[i]; l.Kind == engine.KindLinear || l.Kind == engine.KindConv {
			return l, nil
		}
	}
	return engine.Layer{}, fmt.Errorf("atlas: %s has no layer with weights", a.Name)
}

// ClassVectors are the classifier's weight rows, one per class.
func ClassVectors(m *engine.Model) ([][]float32, error) {
	if m == nil {
		return nil, errors.New("atlas: no model")
	}
	if m.Partial != "" {
		return nil, fmt.Errorf("atlas: these %s weights stop at %s: they have no classes", m.Arch.Name, m.Partial)
	}
	l, err := Classifier(m.Arch)
	if err != nil {
		return nil, err
	}
	w := m.Params[l.Key+".weight"]
	if w == nil {
		return nil, fmt.Errorf("atlas: %s has no weights for %s", m.Arch.Name, l.Name)
	}
	rows := make([][]float32, w.Rows())
	for o := range rows {
		rows[o] = w.RowF32(o, make([]float32, w.RowLen()))
	}
	return rows, nil
}

// ClassLayout lays the classes out (gallery.Layout on ClassVectors: t-SNE keeps each class's
// nearest classes near). Point i is class i.
func ClassLayout(ctx context.Context, m *engine.Model, opt gallery.LayoutOptions) ([]gallery.Point, error) {
	vecs, err := ClassVectors(m)
	if err != nil {
		return nil, err
	}
	return gallery.Layout(ctx, vecs, opt)
}

// ClassCells cuts a class layout into a grid x grid map; a cell's Members are class indices
// and its Top the classes nearest its centre first (prob 1/len), with no mean embedding.
func ClassCells(points []gallery.Point, grid int) ([]gallery.Cell, error) {
	cells, err := gallery.GridCells(points, make([][]float32, len(points)), grid, nil, 0)
	if err != nil {
		return nil, err
	}
	for i := range cells {
		c := &cells[i]
		c.Mean = nil
		// The layout fills the unit square, so a cell's centre is its grid position's.
		cx, cy := (float64(c.Col)+0.5)/float64(grid), (float64(c.Row)+0.5)/float64(grid)
		dist := func(k int) float64 { return math.Hypot(points[k].X-cx, points[k].Y-cy) }
		slices.SortStableFunc(c.Members, func(a, b int) int { return cmp.Compare(dist(a), dist(b)) })
		for _, k := range c.Members {
			c.Top = append(c.Top, engine.Class{Index: k, Prob: 1 / float32(len(c.Members))})
		}
	}
	return cells, nil
}

// ClassObjective is what a class cell's icon maximizes: the mean score of its classes, read
// before the classifier's ReLU (SqueezeNet's conv10 has one; a class it switches off would
// give no gradient).
func ClassObjective(m *engine.Model, classes []int) (engine.Objective, error) {
	l, err := Classifier(m.Arch)
	if err != nil {
		return engine.Objective{}, err
	}
	v := make([]float32, m.Arch.Classes)
	for _, c := range classes {
		if c < 0 || c >= len(v) {
			return engine.Objective{}, fmt.Errorf("atlas: %s has no class %d", m.Arch.Name, c)
		}
		v[c] += 1 / float32(len(classes))
	}
	o := engine.Direction(l.Name, v)
	o.PreReLU = true
	return o, nil
}

// ClassIcons optimizes an icon for every cell of a class atlas (ClassCells) that holds at
// least opt.MinItems classes; icons[i] belongs to cells[i].
func ClassIcons(ctx context.Context, m *engine.Model, cells []gallery.Cell, opt Options) ([]*image.RGBA, error) {
	if err := opt.defaults(); err != nil {
		return nil, err
	}
	objs := make([]*engine.Objective, len(cells))
	for _, c := range Iconed(cells, opt.MinItems) {
		o, err := ClassObjective(m, cells[c].Members)
		if err != nil {
			return nil, err
		}
		objs[c] = &o
	}
	return optimize(ctx, m, cells, objs, opt)
}
