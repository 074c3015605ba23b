package gallery

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
)

// MaxTSNEPoints bounds exact t-SNE: it keeps an n x n float32 affinity matrix (64 MiB at
// this size) and does n^2/2 pair updates per iteration. Larger maps, up to
// MaxLayoutPoints, run Barnes-Hut t-SNE (bhtsne.go).
const MaxTSNEPoints = 4096

// initPCAIterations bounds the PCA that places t-SNE's starting points.
const initPCAIterations = 50

// exactTSNELimit is where TSNE turns to Barnes-Hut: MaxTSNEPoints, lowered by tests.
var exactTSNELimit = MaxTSNEPoints

// TSNEOptions tune TSNE. Zero values pick the usual defaults.
type TSNEOptions struct {
	Perplexity   float64 // effective neighbours per point; default 30, at most (n-1)/3
	Iterations   int     // gradient steps; default 1000
	LearningRate float64 // default max(n/48, 50)
	// Metric for the input distances: Euclidean (default) or Cosine (Euclidean distance of
	// the unit-length vectors, which orders pairs as the cosine distance does).
	Metric Metric
	Seed   uint64 // start positions: seeded Gaussian noise (std 1e-4), unless InitPCA
	// InitPCA starts from the first two principal components (scaled to std 1e-4), which
	// keeps more of the global arrangement; the seed is then unused.
	InitPCA  bool
	Progress Progress
}

// TSNE lays the vectors out in 2-D so that each one's near neighbours stay near
// (van der Maaten and Hinton, 2008): Gaussian affinities at the given perplexity in the input
// space, Student-t affinities on the map, gradient descent on their KL divergence with early
// exaggeration (12 for the first 250 steps), momentum (0.5, then 0.8) and per-coordinate gains.
// Up to MaxTSNEPoints points this is exact t-SNE, O(n^2) per step; beyond, up to
// MaxLayoutPoints, Barnes-Hut t-SNE (affinities over nearest neighbours, repulsion through a
// quadtree). The result depends only on the input and options. ctx cancels between steps.
func TSNE(ctx context.Context, x [][]float32, opt TSNEOptions) ([]Point, error) {
	n, _, err := checkVectors(x)
	if err != nil {
		return nil, err
	}
	if n > MaxLayoutPoints {
		return nil, fmt.Errorf("gallery: t-SNE handles at most %d points, not %d (use PCA, or a sample)", MaxLayoutPoints, n)
	}
	if opt.Metric == "" {
		opt.Metric = Euclidean
	}
	if _, err := ParseMetric(string(opt.Metric)); err != nil {
		return nil, err
	}
	perp := opt.Perplexity
	if perp == 0 {
		perp = 30
	}
	if !(perp > 0) {
		return nil, fmt.Errorf("gallery: perplexity %v must be positive", opt.Perplexity)
	}
	perp = min(perp, float64(n-1)/3)
	perp = max(perp, 1)
	iters := opt.Iterations
	if iters == 0 {
		iters = 1000
	}
	if iters < 0 || iters > 100000 {
		return nil, fmt.Errorf("gallery: %d t-SNE iterations out of range 1..100000", iters)
	}
	lr := opt.LearningRate
	if lr == 0 {
		lr = max(float64(n)/48, 50)
	}
	if !(lr > 0) || math.IsInf(lr, 0) {
		return nil, fmt.Errorf("gallery: learning rate %v must be positive", opt.LearningRate)
	}
	report := func(stage string, done, total int) {
		if opt.Progress != nil {
			opt.Progress(stage, done, total)
		}
	}

	// The gradient: exact over all pairs, or Barnes-Hut for large maps.
	var gradient func(y []float64, exag float64, grad []float64)
	if n <= exactTSNELimit {
		P, err := affinities(ctx, x, opt.Metric, perp, report)
		if err != nil {
			return nil, err
		}
		gradient = func(y []float64, exag float64, grad []float64) { exactGradient(P, y, exag, grad) }
	} else {
		P, err := sparseAffinities(ctx, x, opt.Metric, perp, report)
		if err != nil {
			return nil, err
		}
		var tree quadtree
		gradient = func(y []float64, exag float64, grad []float64) { bhGradient(P, y, exag, grad, &tree) }
	}

	// Start positions.
	y := make([]float64, 2*n)
	if opt.InitPCA {
		// A start needs the leading plane, not converged axes: a capped PCA (on embeddings
		// with no clear second direction, full convergence took 40 s of a 20,000-item map).
		pc, err := pca(ctx, x, 2, initPCAIterations, nil)
		if err != nil {
			return nil, err
		}
		var s float64
		for i, r := range pc {
			y[2*i], y[2*i+1] = r[0], r[1]
			s += r[0] * r[0]
		}
		scale := 1e-4 / math.Sqrt(s/float64(n)+1e-300)
		for i := range y {
			y[i] *= scale
		}
	} else {
		rng := splitMix(opt.Seed)
		for i := range y {
			y[i] = 1e-4 * rng.normal()
		}
	}

	const exaggerationSteps, exaggeration = 250, 12.0
	grad := make([]float64, 2*n)
	update := make([]float64, 2*n)
	gains := make([]float64, 2*n)
	for i := range gains {
		gains[i] = 1
	}
	for it := 0; it < iters; it++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		exag, momentum := 1.0, 0.8
		if it < exaggerationSteps {
			exag, momentum = exaggeration, 0.5
		}
		gradient(y, exag, grad)
		for i := range y {
			// Gains grow where the gradient keeps pushing the same way and shrink where it
			// flips, as in the reference implementation.
			if (grad[i] > 0) != (update[i] > 0) {
				gains[i] += 0.2
			} else {
				gains[i] *= 0.8
			}
			gains[i] = max(gains[i], 0.01)
			update[i] = momentum*update[i] - lr*gains[i]*grad[i]
			y[i] += update[i]
		}
		// Keep the map centred; the cost ignores translation.
		var mx, my float64
		for i := 0; i < n; i++ {
			mx += y[2*i]
			my += y[2*i+1]
		}
		mx /= float64(n)
		my /= float64(n)
		for i := 0; i < n; i++ {
			y[2*i] -= mx
			y[2*i+1] -= my
		}
		if it%10 == 9 || it == iters-1 {
			report("tsne", it+1, iters)
		}
	}
	pts := make([]Point, n)
	for i := range pts {
		pts[i] = Point{y[2*i], y[2*i+1]}
	}
	return pts, nil
}

// exactGradient computes the t-SNE gradient in one pass over the pairs i < j, using
// dC/dy_i = 4 (exag · Σ_j p_ij q_ij (y_i - y_j) - (1/Z) Σ_j q_ij² (y_i - y_j)), q_ij = 1/(1+|y_i-y_j|²)
// and Z = Σ_{i≠j} q_ij, so Z is not needed until the end.
func exactGradient(P []float32, y []float64, exag float64, grad []float64) {
	n := len(y) / 2
	attr := make([]float64, 2*n)
	rep := make([]float64, 2*n)
	var z float64
	for i := 0; i < n; i++ {
		yix, yiy := y[2*i], y[2*i+1]
		prow := P[i*n : (i+1)*n]
		var ax, ay, rx, ry float64
		for j := i + 1; j < n; j++ {
			dx, dy := yix-y[2*j], yiy-y[2*j+1]
			q := 1 / (1 + dx*dx + dy*dy)
			z += 2 * q
			pq := float64(prow[j]) * q
			qq := q * q
			ax += pq * dx
			ay += pq * dy
			rx += qq * dx
			ry += qq * dy
			attr[2*j] -= pq * dx
			attr[2*j+1] -= pq * dy
			rep[2*j] -= qq * dx
			rep[2*j+1] -= qq * dy
		}
		attr[2*i] += ax
		attr[2*i+1] += ay
		rep[2*i] += rx
		rep[2*i+1] += ry
	}
	for i := range grad {
		grad[i] = 4 * (exag*attr[i] - rep[i]/z)
	}
}

// unitRows returns the vectors scaled to unit length (zero vectors stay zero): Euclidean
// distances between them order pairs as cosine distances do.
func unitRows(x [][]float32) [][]float32 {
	rows := make([][]float32, len(x))
	for i, v := range x {
		nv := norm(v)
		u := make([]float32, len(v))
		if nv > 0 {
			for j := range v {
				u[j] = v[j] / nv
			}
		}
		rows[i] = u
	}
	return rows
}

// affinities returns the symmetric joint probabilities P (n x n, row-major): for each point a
// Gaussian over the others whose width is found by bisection to give the wanted perplexity,
// then P = (P_j|i + P_i|j) / 2n.
func affinities(ctx context.Context, x [][]float32, metric Metric, perp float64, report Progress) ([]float32, error) {
	n := len(x)
	rows := x
	if metric == Cosine {
		rows = unitRows(x)
	}
	sq := make([]float64, n)
	for i, v := range rows {
		sq[i] = float64(dotF32(v, v))
	}
	// Squared distances, rows shared out among cores.
	D := make([]float32, n*n)
	threads := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var done int
	var cancelled error
	for t := 0; t < threads; t++ {
		wg.Add(1)
		go func(t int) {
			defer wg.Done()
			for i := t; i < n; i += threads {
				if ctx.Err() != nil {
					mu.Lock()
					cancelled = ctx.Err()
					mu.Unlock()
					return
				}
				for j := i + 1; j < n; j++ {
					d := max(0, sq[i]+sq[j]-2*float64(dotF32(rows[i], rows[j])))
					D[i*n+j] = float32(d)
					D[j*n+i] = float32(d)
				}
				mu.Lock()
				done++
				if done%64 == 0 || done == n {
					report("distances", done, n)
				}
				mu.Unlock()
			}
		}(t)
	}
	wg.Wait()
	if cancelled != nil {
		return nil, cancelled
	}

	P := D // reuse: row i of D is read before row i of P is written
	d := make([]float64, n-1)
	cond := make([]float64, n-1)
	for i := 0; i < n; i++ {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		row := D[i*n : (i+1)*n]
		d = d[:0]
		for j, v := range row {
			if j != i {
				d = append(d, float64(v))
			}
		}
		calibrate(d, perp, cond)
		for j, q := 0, 0; j < n; j++ {
			if j == i {
				row[j] = 0
				continue
			}
			row[j] = float32(cond[q])
			q++
		}
		if i%64 == 63 || i == n-1 {
			report("affinities", i+1, n)
		}
	}
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			p := max((P[i*n+j]+P[j*n+i])/float32(2*n), 1e-12)
			P[i*n+j], P[j*n+i] = p, p
		}
		P[i*n+i] = 0
	}
	return P, nil
}
