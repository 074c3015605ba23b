package gallery

import (
	"errors"
	"fmt"
)

// Mean is the component-wise average of vectors of equal length.
func Mean(vs [][]float32) ([]float32, error) {
	if len(vs) == 0 {
		return nil, errors.New("gallery: the mean of no embeddings is undefined")
	}
	d := len(vs[0])
	sum := make([]float64, d)
	for i, v := range vs {
		if len(v) != d {
			return nil, fmt.Errorf("gallery: embedding %d has %d components, the first has %d", i, len(v), d)
		}
		for j, x := range v {
			sum[j] += float64(x)
		}
	}
	out := make([]float32, d)
	for j, s := range sum {
		out[j] = float32(s / float64(len(vs)))
	}
	return out, nil
}

// Direction is the difference of two groups' mean embeddings, mean(to) - mean(from): the
// way from one kind of image to another (a single image is a group of one).
func Direction(from, to [][]float32) ([]float32, error) {
	a, err := Mean(from)
	if err != nil {
		return nil, fmt.Errorf("gallery: direction start: %w", err)
	}
	b, err := Mean(to)
	if err != nil {
		return nil, fmt.Errorf("gallery: direction end: %w", err)
	}
	if len(a) != len(b) {
		return nil, fmt.Errorf("gallery: direction between %d- and %d-component embeddings", len(a), len(b))
	}
	for j := range b {
		b[j] -= a[j]
	}
	return b, nil
}

// Step is one point of a walk: the query moved by T times the direction, and its neighbours.
type Step struct {
	T         float32
	Point     []float32
	Neighbors []Neighbor
}

// MaxWalkSteps bounds a walk; each step is a query.
const MaxWalkSteps = 1024

// Walk moves query along direction in steps evenly spaced values of t from 0 to 1 and
// returns the neighbours at each point. All points are searched in one scan of the gallery.
func (g *Gallery) Walk(query, direction []float32, steps int, opt SearchOptions) ([]Step, error) {
	if steps < 2 || steps > MaxWalkSteps {
		return nil, fmt.Errorf("gallery: a walk needs 2..%d steps, not %d", MaxWalkSteps, steps)
	}
	if len(query) != len(direction) {
		return nil, fmt.Errorf("gallery: query has %d components, the direction %d", len(query), len(direction))
	}
	walk := make([]Step, steps)
	points := make([][]float32, steps)
	for i := range walk {
		t := float32(i) / float32(steps-1)
		p := make([]float32, len(query))
		for j := range p {
			p[j] = query[j] + t*direction[j]
		}
		walk[i] = Step{T: t, Point: p}
		points[i] = p
	}
	res, err := g.Search(points, opt)
	if err != nil {
		return nil, err
	}
	for i := range walk {
		walk[i].Neighbors = res[i]
	}
	return walk, nil
}
