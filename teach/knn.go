package teach

import (
	"fmt"
	"math"
	"slices"
)

// KNN is the zero-training classifier: an embedding takes the classes of its K nearest
// examples (cosine similarity), each neighbour's vote weighted equally.
type KNN struct {
	K        int
	Classes  int
	Examples []Example
	norms    []float64
}

// NewKNN keeps the examples at idx (all when idx is nil).
func NewKNN(examples []Example, idx []int, classes, k int) (*KNN, error) {
	if k < 1 {
		return nil, fmt.Errorf("teach: k-nearest neighbours needs k of at least 1, not %d", k)
	}
	if idx == nil {
		for i := range examples {
			idx = append(idx, i)
		}
	}
	c := &KNN{K: k, Classes: classes}
	for _, i := range idx {
		c.Examples = append(c.Examples, examples[i])
		c.norms = append(c.norms, norm(examples[i].Embedding))
	}
	if len(c.Examples) == 0 {
		return nil, fmt.Errorf("teach: k-nearest neighbours has no examples")
	}
	return c, nil
}

// Probabilities are the fractions of the K nearest examples in each class.
func (c *KNN) Probabilities(x []float32) ([]float32, error) {
	if len(x) != len(c.Examples[0].Embedding) {
		return nil, fmt.Errorf("teach: %d-value embedding for examples of %d", len(x), len(c.Examples[0].Embedding))
	}
	type scored struct {
		sim float64
		i   int
	}
	xn := norm(x)
	s := make([]scored, len(c.Examples))
	for i, e := range c.Examples {
		var dot float64
		for j, v := range e.Embedding {
			dot += float64(float64(v) * float64(x[j]))
		}
		s[i] = scored{dot / math.Max(c.norms[i]*xn, 1e-30), i}
	}
	slices.SortStableFunc(s, func(a, b scored) int {
		switch {
		case a.sim > b.sim:
			return -1
		case a.sim < b.sim:
			return 1
		}
		return a.i - b.i
	})
	p := make([]float32, c.Classes)
	k := min(c.K, len(s))
	for _, n := range s[:k] {
		p[c.Examples[n.i].Class] += 1 / float32(k)
	}
	return p, nil
}

func norm(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(float64(v) * float64(v))
	}
	return math.Sqrt(s)
}
