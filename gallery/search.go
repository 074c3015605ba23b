package gallery

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// Metric is how distances between embeddings are measured.
type Metric string

const (
	// Cosine distance is 1 - cos(angle): 0 for the same direction, 2 for opposite ones; it
	// ignores the embeddings' lengths. An all-zero embedding is at distance 1 from everything.
	Cosine Metric = "cosine"
	// Euclidean is the straight-line (L2) distance.
	Euclidean Metric = "euclidean"
)

// ParseMetric reads a metric name.
func ParseMetric(s string) (Metric, error) {
	switch m := Metric(s); m {
	case Cosine, Euclidean:
		return m, nil
	}
	return "", fmt.Errorf("gallery: unknown metric %q (want cosine or euclidean)", s)
}

// Neighbor is one search result: a gallery item and its distance from the query.
type Neighbor struct {
	Index    int
	Distance float32
}

// SearchOptions tune a search.
type SearchOptions struct {
	K       int    // neighbours per query; more than Len() gives all items
	Metric  Metric // Cosine when empty
	Exclude func(item int) bool
	Threads int // 0: all cores (GOMAXPROCS)
}

// Search returns, for each query, the K items nearest to it, nearest first (ties go to the
// lower index, so results are deterministic). It is exact: every item is compared with every
// query. Distances are between the query and the item's stored (decoded) embedding.
//
// The scan streams the compact encoding once per batch of queries: items are split into
// chunks that workers take in turn, and each item's row is decoded once and multiplied with
// four queries at a time, so batches of queries (a walk along a direction, many images) cost
// little more than one.
func (g *Gallery) Search(queries [][]float32, opt SearchOptions) ([][]Neighbor, error) {
	if opt.K < 1 {
		return nil, fmt.Errorf("gallery: k must be at least 1, not %d", opt.K)
	}
	if opt.Metric == "" {
		opt.Metric = Cosine
	}
	if _, err := ParseMetric(string(opt.Metric)); err != nil {
		return nil, err
	}
	qnorm := make([]float32, len(queries))
	for i, q := range queries {
		if len(q) != g.Header.Dim {
			return nil, fmt.Errorf("%w: query %d has %d components, the gallery's %s %s embeddings have %d",
				ErrIncompatible, i, len(q), g.Header.Arch, g.Header.Layer, g.Header.Dim)
		}
		for j, v := range q {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("gallery: query %d component %d is %v", i, j, v)
			}
		}
		qnorm[i] = norm(q)
	}
	k := min(opt.K, g.Len())
	out := make([][]Neighbor, len(queries))
	if k == 0 || len(queries) == 0 {
		for i := range out {
			out[i] = []Neighbor{}
		}
		return out, nil
	}

	threads := opt.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	const chunk = 256
	nChunks := (g.Len() + chunk - 1) / chunk
	// Small scans are not worth a goroutine each.
	if work := g.Len() * g.Header.Dim * len(queries); work < 1<<18 {
		threads = 1
	}
	threads = max(1, min(threads, nChunks))
	partial := make([][]topK, threads)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < threads; w++ {
		heaps := make([]topK, len(queries))
		for i := range heaps {
			heaps[i] = topK{k: k, items: make([]Neighbor, 0, k)}
		}
		partial[w] = heaps
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := scanner{g: g, queries: queries, qnorm: qnorm, metric: opt.Metric, exclude: opt.Exclude, heaps: heaps}
			for {
				c := int(next.Add(1) - 1)
				if c >= nChunks {
					return
				}
				s.scan(c*chunk, min((c+1)*chunk, g.Len()))
			}
		}()
	}
	wg.Wait()

	buf := make([]float32, g.Header.Dim)
	for qi := range queries {
		var all []Neighbor
		for w := range partial {
			all = append(all, partial[w][qi].items...)
		}
		slices.SortFunc(all, cmpNeighbor)
		all = all[:min(k, len(all))]
		// The scan ranks by an expanded formula (|q|^2 + |x|^2 - 2 q.x for Euclidean) that
		// loses digits for near-identical vectors; report distances computed directly.
		for j := range all {
			all[j].Distance = g.distance(queries[qi], qnorm[qi], all[j].Index, opt.Metric, buf)
		}
		slices.SortStableFunc(all, cmpNeighbor)
		out[qi] = all
	}
	return out, nil
}

// distance computes one query-item distance in float64.
func (g *Gallery) distance(q []float32, qn float32, i int, m Metric, buf []float32) float32 {
	x := g.Embedding(i, buf)
	if m == Euclidean {
		var s float64
		for j, v := range x {
			d := float64(q[j]) - float64(v)
			s += d * d
		}
		return float32(math.Sqrt(s))
	}
	var dot float64
	for j, v := range x {
		dot += float64(q[j]) * float64(v)
	}
	return cosineDistance(dot, float64(qn), float64(g.norm[i]))
}

func cosineDistance(dot, qn, xn float64) float32 {
	if qn == 0 || xn == 0 {
		return 1
	}
	c := dot / (qn * xn)
	return float32(1 - max(-1, min(1, c)))
}

func cmpNeighbor(a, b Neighbor) int {
	switch {
	case a.Distance < b.Distance:
		return -1
	case a.Distance > b.Distance:
		return 1
	}
	return a.Index - b.Index
}

// scanner is one worker's state.
type scanner struct {
	g       *Gallery
	queries [][]float32
	qnorm   []float32
	metric  Metric
	exclude func(int) bool
	heaps   []topK
	row     []float32 // a decoded f16 row
	dots    []float32
}

func (s *scanner) scan(lo, hi int) {
	g, d := s.g, s.g.Header.Dim
	nq := len(s.queries)
	if cap(s.dots) < nq {
		s.dots = make([]float32, nq)
		s.row = make([]float32, d)
	}
	dots := s.dots[:nq]
	for i := lo; i < hi; i++ {
		if s.exclude != nil && s.exclude(i) {
			continue
		}
		switch g.Header.Encoding {
		case Int8:
			x := g.q[i*d : (i+1)*d]
			qi := 0
			for ; qi+4 <= nq; qi += 4 {
				dots[qi], dots[qi+1], dots[qi+2], dots[qi+3] = dot4I8(s.queries[qi], s.queries[qi+1], s.queries[qi+2], s.queries[qi+3], x)
			}
			for ; qi < nq; qi++ {
				dots[qi] = dotI8(s.queries[qi], x)
			}
			sc := g.scale[i]
			for qi := range dots {
				dots[qi] *= sc
			}
		case F16:
			x := s.row
			for j, h := range g.half[i*d : (i+1)*d] {
				x[j] = halfTable[h]
			}
			qi := 0
			for ; qi+4 <= nq; qi += 4 {
				dots[qi], dots[qi+1], dots[qi+2], dots[qi+3] = dot4F32(s.queries[qi], s.queries[qi+1], s.queries[qi+2], s.queries[qi+3], x)
			}
			for ; qi < nq; qi++ {
				dots[qi] = dotF32(s.queries[qi], x)
			}
		}
		xn := g.norm[i]
		for qi, dot := range dots {
			var dist float32
			if s.metric == Euclidean {
				// Squared distance ranks the same as the distance.
				dist = max(0, s.qnorm[qi]*s.qnorm[qi]+xn*xn-2*dot)
			} else {
				dist = cosineDistance(float64(dot), float64(s.qnorm[qi]), float64(xn))
			}
			s.heaps[qi].push(Neighbor{i, dist})
		}
	}
}

// topK keeps the k smallest neighbours seen, as a max-heap on (distance, index).
type topK struct {
	k     int
	items []Neighbor
}

func (t *topK) push(n Neighbor) {
	h := t.items
	if len(h) < t.k {
		h = append(h, n)
		for c := len(h) - 1; c > 0; {
			p := (c - 1) / 2
			if cmpNeighbor(h[p], h[c]) >= 0 {
				break
			}
			h[p], h[c] = h[c], h[p]
			c = p
		}
		t.items = h
		return
	}
	if cmpNeighbor(n, h[0]) >= 0 {
		return
	}
	h[0] = n
	for p := 0; ; {
		c := 2*p + 1
		if c >= len(h) {
			break
		}
		if c+1 < len(h) && cmpNeighbor(h[c+1], h[c]) > 0 {
			c++
		}
		if cmpNeighbor(h[p], h[c]) >= 0 {
			break
		}
		h[p], h[c] = h[c], h[p]
		p = c
	}
}
