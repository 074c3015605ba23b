package gallery

import (
	"context"
	"fmt"
	"math"
	"slices"
)

// UMAP (McInnes, Healy and Melville, 2018) lays large galleries out in a fraction of t-SNE's
// time: a fuzzy graph over each point's few nearest neighbours, then a map fitted to it by
// stochastic gradient descent that samples each edge as often as it is strong and pushes a
// few random points away at each sample. Its cost a step is the graph's edges, not a tree
// walk per point: a 20,000-image gallery lays out in about half a minute in a tab, where
// Barnes-Hut t-SNE takes two (BENCHMARKS.md).

const (
	umapNeighbours = 15 // the graph's neighbours per point (umap-learn's default)
	// umapA and umapB shape the map's affinity 1/(1 + a·d^(2b)): the least-squares fit to 1
	// within min_dist 0.1 of a point and exp(-(d - 0.1)) beyond (spread 1), so that a
	// point's neighbours settle about 0.1 apart. TestUMAPCurveFit checks that it is the fit.
	umapA = 1.576943460405378
	umapB = 0.8950608781227859
	// umapNegatives random points repel at every sample of an edge.
	umapNegatives = 5
	// umapClip bounds a coordinate's move at one sample, as the method prescribes, so that a
	// pair that lands very close cannot fling a point across the map.
	umapClip = 4.0
	// umapInitSpread is the starting map's half width: the first two principal components
	// scaled so that the farthest coordinate is this far out.
	umapInitSpread = 10.0
)

// UMAPOptions tune UMAP. Zero values pick the defaults.
type UMAPOptions struct {
	Neighbours int // the fuzzy graph's neighbours per point; default 15, at most n-1
	// Epochs of the descent; default 500 up to 10,000 points and 200 beyond (a large graph
	// has more samples an epoch).
	Epochs   int
	Metric   Metric // as in TSNEOptions: Euclidean (default) or Cosine
	Seed     uint64 // the negative samples' and the start's jitter; the result depends only on input and options
	Progress Progress
}

// UMAP lays the vectors out in 2-D. It starts from the first two principal components; its
// descent runs on one goroutine and its arithmetic is portable (fastpow.go), so the map is the
// same natively and in the browser (TestLayoutsSameEverywhere). ctx cancels between epochs.
func UMAP(ctx context.Context, x [][]float32, opt UMAPOptions) ([]Point, error) {
	n, _, err := checkVectors(x)
	if err != nil {
		return nil, err
	}
	if n < 3 {
		return nil, fmt.Errorf("gallery: UMAP needs at least 3 points, not %d", n)
	}
	if n > MaxLayoutPoints {
		return nil, fmt.Errorf("gallery: UMAP handles at most %d points, not %d (use PCA, or a sample)", MaxLayoutPoints, n)
	}
	if opt.Metric == "" {
		opt.Metric = Euclidean
	}
	if _, err := ParseMetric(string(opt.Metric)); err != nil {
		return nil, err
	}
	k := opt.Neighbours
	if k == 0 {
		k = umapNeighbours
	}
	if k < 2 {
		return nil, fmt.Errorf("gallery: UMAP needs at least 2 neighbours a point, not %d", opt.Neighbours)
	}
	k = min(k, n-1)
	epochs := opt.Epochs
	if epochs == 0 {
		epochs = 500
		if n > 10000 {
			epochs = 200
		}
	}
	if epochs < 1 || epochs > 10000 {
		return nil, fmt.Errorf("gallery: %d UMAP epochs out of range 1..10000", opt.Epochs)
	}
	report := func(stage string, done, total int) {
		if opt.Progress != nil {
			opt.Progress(stage, done, total)
		}
	}

	red, err := reduced(ctx, x, opt.Metric)
	if err != nil {
		return nil, err
	}
	nbr, dist, err := nearestNeighbours(ctx, red, k, report)
	if err != nil {
		return nil, err
	}
	g := fuzzyGraph(n, k, nbr, dist)

	// The start: the leading plane of the distances' space (the reduction's first two
	// components, when it reduced), scaled to umapInitSpread, with a little seeded jitter so
	// that duplicates (which the descent cannot tell apart) start apart.
	pc := red
	if len(x[0]) <= bhDims { // red is the rows themselves
		rows := x
		if opt.Metric == Cosine {
			rows = unitRows(x)
		}
		if pc, err = pca(ctx, rows, 2, initPCAIterations, nil); err != nil {
			return nil, err
		}
	}
	y := make([]float64, 2*n)
	var far float64
	for i, r := range pc {
		y[2*i], y[2*i+1] = r[0], r[1]
		far = max(far, math.Abs(r[0]), math.Abs(r[1]))
	}
	scale := 0.0
	if far > 0 {
		scale = umapInitSpread / far
	}
	rng := splitMix(opt.Seed)
	for i := range y {
		y[i] = y[i]*scale + 1e-3*(rng.uniform()-0.5)
	}

	if err := g.descend(ctx, y, epochs, &rng, report); err != nil {
		return nil, err
	}
	pts := make([]Point, n)
	for i := range pts {
		pts[i] = Point{y[2*i], y[2*i+1]}
	}
	return pts, nil
}

// umapGraph is the fuzzy graph as directed edges (each pair both ways), sorted by head then
// tail, with each edge's membership strength.
type umapGraph struct {
	head, tail []int32
	weight     []float64
}

// fuzzyGraph turns each point's k nearest neighbours (squared distances, nearest first) into
// memberships exp(-(d - rho)/sigma), rho the distance to the nearest other point and sigma
// set so that the memberships sum to log2(k), then joins the two directions of a pair as a
// fuzzy union: w_ij + w_ji - w_ij·w_ji.
func fuzzyGraph(n, k int, nbr []int32, dist2 []float64) *umapGraph {
	type pair struct{ i, j int32 }
	w := make(map[pair]float64, n*k)
	d := make([]float64, k)
	target := log2Portable(float64(k))
	for i := range n {
		for q := range k {
			d[q] = math.Sqrt(dist2[i*k+q])
		}
		rho, sigma := smoothDistances(d, target)
		for q := range k {
			m := expPortable(-max(0, d[q]-rho) / sigma)
			w[pair{int32(i), nbr[i*k+q]}] = m
		}
	}
	var g umapGraph
	keys := make([]pair, 0, 2*len(w))
	for p := range w {
		keys = append(keys, p)
		if _, ok := w[pair{p.j, p.i}]; !ok {
			keys = append(keys, pair{p.j, p.i}) // a one-way neighbour still joins both ways
		}
	}
	slices.SortFunc(keys, func(a, b pair) int {
		if a.i != b.i {
			return int(a.i - b.i)
		}
		return int(a.j - b.j)
	})
	for _, p := range keys {
		a, b := w[p], w[pair{p.j, p.i}]
		g.head = append(g.head, p.i)
		g.tail = append(g.tail, p.j)
		g.weight = append(g.weight, a+b-a*b)
	}
	return &g
}

// smoothDistances returns one point's rho (its nearest non-zero distance: every point is
// fully connected to at least one other) and sigma, found by bisection so that
// sum exp(-(d - rho)/sigma) over the neighbours is target, and no smaller than a thousandth of
// their mean distance (a point amid duplicates would otherwise get a vanishing width).
func smoothDistances(d []float64, target float64) (rho, sigma float64) {
	var mean float64
	for _, v := range d {
		if rho == 0 && v > 0 {
			rho = v
		}
		mean += v
	}
	mean /= float64(len(d))
	lo, hi, s := 0.0, math.Inf(1), 1.0
	for range 64 {
		var sum float64
		for _, v := range d {
			sum += expPortable(-max(0, v-rho) / s)
		}
		if math.Abs(sum-target) < 1e-5 {
			break
		}
		if sum > target { // too wide
			hi = s
			s = (lo + hi) / 2
		} else {
			lo = s
			if math.IsInf(hi, 1) {
				s *= 2
			} else {
				s = (lo + hi) / 2
			}
		}
	}
	return rho, max(s, 1e-3*mean, 1e-300)
}

// descend fits the map y to the graph: at each epoch every edge whose turn has come pulls
// its two ends together and pushes its head away from umapNegatives random points, with a
// learning rate falling linearly from 1 to 0. An edge of weight w is sampled w/max(w) of
// the epochs; edges too weak to be sampled once are dropped.
func (g *umapGraph) descend(ctx context.Context, y []float64, epochs int, rng *splitMix, report Progress) error {
	n := uint64(len(y) / 2)
	var top float64
	for _, w := range g.weight {
		top = max(top, w)
	}
	every := make([]float64, len(g.weight)) // epochs between an edge's samples
	next := make([]float64, len(g.weight))  // the epoch of its next sample
	nextNeg := make([]float64, len(g.weight))
	for e, w := range g.weight {
		every[e] = math.Inf(1)
		if w >= top/float64(epochs) {
			every[e] = top / w
		}
		next[e], nextNeg[e] = every[e], every[e]/umapNegatives
	}
	clip := func(v float64) float64 { return max(-umapClip, min(umapClip, v)) }
	for epoch := 1; epoch <= epochs; epoch++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		alpha := 1 - float64(epoch-1)/float64(epochs)
		at := float64(epoch)
		for e := range g.weight {
			if next[e] > at {
				continue
			}
			i, j := int(g.head[e]), int(g.tail[e])
			// Attraction: the gradient of log(1/(1 + a·d^(2b))) pulls i and j together.
			dx, dy := y[2*i]-y[2*j], y[2*i+1]-y[2*j+1]
			d2 := dx*dx + dy*dy
			if d2 > 0 {
				p := powPositive(d2, umapB) // d^(2b)
				c := -2 * umapA * umapB * p / d2 / (umapA*p + 1)
				gx, gy := clip(c*dx)*alpha, clip(c*dy)*alpha
				y[2*i] += gx
				y[2*i+1] += gy
				y[2*j] -= gx
				y[2*j+1] -= gy
			}
			next[e] += every[e]
			// Repulsion: random points stand for the non-edges, umapNegatives per sample.
			negatives := int((at - nextNeg[e]) / (every[e] / umapNegatives))
			for range negatives {
				o := int(rng.next() % n)
				if o == i {
					continue
				}
				dx, dy := y[2*i]-y[2*o], y[2*i+1]-y[2*o+1]
				d2 := dx*dx + dy*dy
				if d2 == 0 {
					continue // no direction to push in
				}
				c := 2 * umapB / ((0.001 + d2) * (umapA*powPositive(d2, umapB) + 1))
				y[2*i] += clip(c*dx) * alpha
				y[2*i+1] += clip(c*dy) * alpha
			}
			nextNeg[e] += float64(negatives) * every[e] / umapNegatives
		}
		if epoch%10 == 0 || epoch == epochs {
			report("umap", epoch, epochs)
		}
	}
	return nil
}
