package gallery

import (
	"fmt"
	"math"

	"github.com/alexlens/alexlens/engine"
)

// Classifier turns an embedding into class probabilities.
type Classifier func(embedding []float32) ([]float32, error)

// HeadClassifier runs the layers of m that follow the gallery's embedding layer (for fc7:
// fc8, then softmax), so an average embedding can be read as classes, as in an activation
// atlas. It works when every later layer accepts a single position: fully connected layers,
// 1x1 convolutions, adaptive average pools, LRN and dropout (for mean-pooled SqueezeNet fire9:
// conv10 and its global pool). For a mean-pooled embedding the result approximates the
// network's own averaging, which happens after conv10's ReLU.
func HeadClassifier(m *engine.Model, be engine.Backend, h Header) (Classifier, error) {
	if m.Arch.Name != h.Arch {
		return nil, fmt.Errorf("%w: the gallery holds %s embeddings, the model is %s", ErrIncompatible, h.Arch, m.Arch.Name)
	}
	if m.Partial != "" {
		return nil, fmt.Errorf("gallery: these %s weights stop at %s: they cannot classify", m.Arch.Name, m.Partial)
	}
	if be == nil {
		be = engine.DefaultBackend()
	}
	start := -1
	for i, l := range m.Arch.Layers {
		if l.Name == h.Layer {
			start = i + 1
		}
	}
	if start < 0 {
		return nil, fmt.Errorf("gallery: %s has no layer %q", m.Arch.Name, h.Layer)
	}
	head := m.Arch.Layers[start:]
	if len(head) == 0 {
		return nil, fmt.Errorf("gallery: %s is the last layer of %s: its embedding is already the class scores", h.Layer, m.Arch.Name)
	}
	for _, l := range head {
		switch l.Kind {
		case engine.KindLinear, engine.KindDropout, engine.KindAdaptiveAvgPool, engine.KindLRN:
		case engine.KindConv:
			c := l.Conv
			if c.KH != 1 || c.KW != 1 || c.PadT+c.PadL+c.PadB+c.PadR != 0 || c.Groups != 1 {
				return nil, fmt.Errorf("gallery: %s after %s needs positions (a %dx%d convolution): classify a later layer's embedding", l.Name, h.Layer, c.KH, c.KW)
			}
		default:
			return nil, fmt.Errorf("gallery: %s after %s needs positions: classify a later layer's embedding", l.Name, h.Layer)
		}
	}
	return func(e []float32) ([]float32, error) {
		if len(e) != h.Dim {
			return nil, fmt.Errorf("gallery: embedding has %d components, want %d", len(e), h.Dim)
		}
		shape := []int{1, h.Dim}
		if h.Pooling == PoolMean {
			shape = []int{1, h.Dim, 1, 1}
		}
		x, err := engine.FromData(append([]float32(nil), e...), shape...)
		if err != nil {
			return nil, err
		}
		for _, l := range head {
			x = m.ApplyLayer(be, l, x) // every layer works at a single position (checked above)
		}
		x.Shape = []int{1, x.Len()}
		return engine.Probabilities(x).Data, nil
	}, nil
}

// Cell is one square of a gridded map: the items that fall in it and what they share.
type Cell struct {
	Row, Col int
	Members  []int          // item indices
	Mean     []float32      // mean embedding of the members
	Top      []engine.Class // top classes of the mean embedding, when a classifier was given
}

// GridCells divides the map's bounding box into side x side squares and summarizes each
// non-empty one: its members, their mean embedding, and (with classify) that mean's topK
// classes. Cells come in row-major order, row 0 at the smallest Y.
func GridCells(points []Point, vectors [][]float32, side int, classify Classifier, topK int) ([]Cell, error) {
	if len(points) != len(vectors) {
		return nil, fmt.Errorf("gallery: %d map points for %d embeddings", len(points), len(vectors))
	}
	if side < 1 || side > 1024 {
		return nil, fmt.Errorf("gallery: grid side %d out of range 1..1024", side)
	}
	if len(points) == 0 {
		return nil, nil
	}
	minX, maxX, minY, maxY := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, p := range points {
		if math.IsNaN(p.X) || math.IsNaN(p.Y) || math.IsInf(p.X, 0) || math.IsInf(p.Y, 0) {
			return nil, fmt.Errorf("gallery: map point %v is not finite", p)
		}
		minX, maxX = min(minX, p.X), max(maxX, p.X)
		minY, maxY = min(minY, p.Y), max(maxY, p.Y)
	}
	at := func(v, lo, hi float64) int {
		if hi <= lo {
			return 0
		}
		return min(side-1, int(float64(side)*(v-lo)/(hi-lo)))
	}
	members := map[int][]int{}
	for i, p := range points {
		c := at(p.Y, minY, maxY)*side + at(p.X, minX, maxX)
		members[c] = append(members[c], i)
	}
	var cells []Cell
	for c := 0; c < side*side; c++ {
		idx := members[c]
		if len(idx) == 0 {
			continue
		}
		group := make([][]float32, len(idx))
		for i, j := range idx {
			group[i] = vectors[j]
		}
		mean, err := Mean(group)
		if err != nil {
			return nil, err
		}
		cell := Cell{Row: c / side, Col: c % side, Members: idx, Mean: mean}
		if classify != nil {
			probs, err := classify(mean)
			if err != nil {
				return nil, err
			}
			cell.Top = engine.TopK(probs, topK)
		}
		cells = append(cells, cell)
	}
	return cells, nil
}
