package gallery

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"
)

// clusters makes k Gaussian clusters of m points each in d dimensions: centres drawn with
// spread sep, points with unit noise around them. labels[i] is point i's cluster.
func clusters(k, m, d int, sep float64, seed uint64) (x [][]float32, labels []int) {
	rng := splitMix(seed)
	for c := 0; c < k; c++ {
		centre := make([]float64, d)
		for j := range centre {
			centre[j] = sep * rng.normal()
		}
		for i := 0; i < m; i++ {
			v := make([]float32, d)
			for j := range v {
				v[j] = float32(centre[j] + rng.normal())
			}
			x = append(x, v)
			labels = append(labels, c)
		}
	}
	return x, labels
}

// knnPurity is the fraction of each point's k nearest map neighbours that share its label.
func knnPurity(pts []Point, labels []int, k int) float64 {
	same, total := 0, 0
	for i, p := range pts {
		type nd struct {
			j int
			d float64
		}
		var ds []nd
		for j, q := range pts {
			if j != i {
				ds = append(ds, nd{j, math.Hypot(p.X-q.X, p.Y-q.Y)})
			}
		}
		slices.SortFunc(ds, func(a, b nd) int {
			if a.d < b.d {
				return -1
			}
			if a.d > b.d {
				return 1
			}
			return a.j - b.j
		})
		for _, n := range ds[:k] {
			if labels[n.j] == labels[i] {
				same++
			}
			total++
		}
	}
	return float64(same) / float64(total)
}

// progressRecorder is a layout's Progress that fails the test when a stage's count goes
// backwards, and keeps the stages in the order they began and each one's last report.
type progressRecorder struct {
	t      *testing.T
	stages []string
	last   map[string][2]int
}

func (r *progressRecorder) report(s string, done, total int) {
	if r.last == nil {
		r.last = map[string][2]int{}
	}
	if p, ok := r.last[s]; ok && done <= p[0] {
		r.t.Errorf("%s progress went from %d to %d", s, p[0], done)
	}
	if !slices.Contains(r.stages, s) {
		r.stages = append(r.stages, s)
	}
	r.last[s] = [2]int{done, total}
}

// check fails the test unless the stages were these and each ran to its total.
func (r *progressRecorder) check(stages ...string) {
	if !slices.Equal(r.stages, stages) {
		r.t.Errorf("progress stages %v, want %v", r.stages, stages)
	}
	for s, p := range r.last {
		if p[0] != p[1] {
			r.t.Errorf("%s progress ended at %d of %d", s, p[0], p[1])
		}
	}
}

func TestTSNESeparatesClusters(t *testing.T) {
	x, labels := clusters(10, 30, 64, 0.8, 11)
	rec := &progressRecorder{t: t}
	pts, err := TSNE(context.Background(), x, TSNEOptions{Iterations: 500, Seed: 1, Progress: rec.report})
	if err != nil {
		t.Fatal(err)
	}
	tsne := knnPurity(pts, labels, 5)
	// Neighbours in the input share their cluster; the 2-D map must keep that (chance: 1/10).
	// A linear map (PCA) of ten clusters in 64 dimensions mixes them, for contrast.
	input := knnPurityHighDim(x, labels, 5)
	pca, err := PCA2(context.Background(), x, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("5-NN label purity: input space %.3f, t-SNE map %.3f, PCA map %.3f; stages %v", input, tsne, knnPurity(pca, labels, 5), rec.stages)
	if tsne < 0.9 {
		t.Errorf("t-SNE map 5-NN purity %.3f < 0.9", tsne)
	}
	rec.check("distances", "affinities", "tsne")
}

// TestBarnesHutTSNE: the Barnes-Hut map (forced here below its usual size) separates the
// clusters as the exact one does, through its own progress stages, and is deterministic.
func TestBarnesHutTSNE(t *testing.T) {
	defer func(l int) { exactTSNELimit = l }(exactTSNELimit)
	exactTSNELimit = 100
	x, labels := clusters(10, 60, 64, 0.8, 11)
	var stages []string
	run := func() []Point {
		stages = nil
		pts, err := TSNE(context.Background(), x, TSNEOptions{Iterations: 500, InitPCA: true, Metric: Cosine, Progress: func(s string, done, total int) {
			if !slices.Contains(stages, s) {
				stages = append(stages, s)
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		return pts
	}
	a := run()
	purity := knnPurity(a, labels, 5)
	t.Logf("Barnes-Hut t-SNE of 600 points: 5-NN label purity %.3f; stages %v", purity, stages)
	if purity < 0.9 {
		t.Errorf("Barnes-Hut t-SNE map 5-NN purity %.3f < 0.9", purity)
	}
	if !slices.Equal(stages, []string{"neighbours", "tsne"}) {
		t.Errorf("progress stages %v", stages)
	}
	if b := run(); !slices.Equal(a, b) {
		t.Error("two Barnes-Hut runs on the same input differ")
	}
}

func knnPurityHighDim(x [][]float32, labels []int, k int) float64 {
	g := &Gallery{Header: Header{Dim: len(x[0])}}
	same, total := 0, 0
	for i := range x {
		var ds []Neighbor
		for j := range x {
			if j == i {
				continue
			}
			var s float64
			for c := range x[i] {
				d := float64(x[i][c] - x[j][c])
				s += d * d
			}
			ds = append(ds, Neighbor{j, float32(s)})
		}
		slices.SortFunc(ds, cmpNeighbor)
		for _, n := range ds[:k] {
			if labels[n.Index] == labels[i] {
				same++
			}
			total++
		}
	}
	_ = g
	return float64(same) / float64(total)
}

func TestTSNEDeterministic(t *testing.T) {
	x, _ := clusters(3, 20, 16, 3, 12)
	run := func(opt TSNEOptions) []Point {
		opt.Iterations = 120
		p, err := TSNE(context.Background(), x, opt)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b, c := run(TSNEOptions{Seed: 5}), run(TSNEOptions{Seed: 5}), run(TSNEOptions{Seed: 6})
	if !slices.Equal(a, b) {
		t.Error("same seed, different maps")
	}
	if slices.Equal(a, c) {
		t.Error("different seeds, the same map")
	}
	p1, p2 := run(TSNEOptions{InitPCA: true, Seed: 1, Metric: Cosine}), run(TSNEOptions{InitPCA: true, Seed: 2, Metric: Cosine})
	if !slices.Equal(p1, p2) {
		t.Error("PCA start: the map depends on the unused seed")
	}
}

func TestTSNECancel(t *testing.T) {
	x, _ := clusters(3, 30, 8, 3, 13)
	ctx, cancel := context.WithCancel(context.Background())
	steps := 0
	_, err := TSNE(ctx, x, TSNEOptions{Iterations: 100000, Progress: func(s string, done, total int) {
		if s == "tsne" {
			steps = done
			if done >= 50 {
				cancel()
			}
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if steps > 60 {
		t.Fatalf("ran %d steps after cancelling at 50", steps)
	}
	for _, c := range []struct {
		x   [][]float32
		opt TSNEOptions
	}{
		{x[:1], TSNEOptions{}},
		{append(x[:2:2], x[2][:3]), TSNEOptions{}},
		{x, TSNEOptions{Perplexity: -1}},
		{x, TSNEOptions{Iterations: -5}},
		{x, TSNEOptions{Metric: "hamming"}},
		{[][]float32{{1, float32(math.NaN())}, {1, 2}}, TSNEOptions{}},
	} {
		if _, err := TSNE(context.Background(), c.x, c.opt); err == nil {
			t.Errorf("TSNE accepted %d points, %+v", len(c.x), c.opt)
		}
	}
}

// PCA finds the directions of a Gaussian whose axes (variances 100, 25, 4, 1, ...) were
// rotated at random, in order; it agrees with a direct eigen decomposition of the sample
// covariance, and is deterministic.
func TestPCARecoversAxes(t *testing.T) {
	const n, d = 3000, 40
	rng := splitMix(14)
	// A random orthonormal basis.
	basis := make([][]float64, d)
	for i := range basis {
		basis[i] = make([]float64, d)
		for j := range basis[i] {
			basis[i][j] = rng.normal()
		}
	}
	orthonormalize(basis)
	sd := []float64{10, 5, 2}
	coords := make([][]float64, n)
	x := make([][]float32, n)
	for r := range x {
		coords[r] = make([]float64, d)
		x[r] = make([]float32, d)
		for a := 0; a < d; a++ {
			s := 1.0
			if a < len(sd) {
				s = sd[a]
			}
			coords[r][a] = s * rng.normal()
			for j := 0; j < d; j++ {
				x[r][j] += float32(coords[r][a] * basis[a][j])
			}
		}
		for j := range x[r] {
			x[r][j] += 7 // an offset PCA must remove
		}
	}
	calls := 0
	y, err := PCA(context.Background(), x, 3, func(string, int, int) { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	for c := 0; c < 3; c++ {
		// Correlation of the recovered coordinate with the true one.
		var sxy, sxx, syy float64
		for r := range y {
			sxy += y[r][c] * coords[r][c]
			sxx += y[r][c] * y[r][c]
			syy += coords[r][c] * coords[r][c]
		}
		corr := math.Abs(sxy / math.Sqrt(sxx*syy))
		t.Logf("component %d: |correlation| with the true axis %.4f", c, corr)
		if corr < 0.99 {
			t.Errorf("component %d correlates %.4f with the true axis", c, corr)
		}
	}
	if calls == 0 {
		t.Error("no progress reported")
	}
	// The same components from the full d x d sample covariance, diagonalized directly.
	mean := make([]float64, d)
	for _, r := range x {
		for j, v := range r {
			mean[j] += float64(v) / n
		}
	}
	cov := make([][]float64, d)
	for i := range cov {
		cov[i] = make([]float64, d)
	}
	for _, r := range x {
		for i := 0; i < d; i++ {
			for j := 0; j < d; j++ {
				cov[i][j] += (float64(r[i]) - mean[i]) * (float64(r[j]) - mean[j])
			}
		}
	}
	vals, vecs := jacobiEigen(cov)
	order := make([]int, d)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return int(math.Copysign(1, vals[b]-vals[a])) })
	for c := 0; c < 3; c++ {
		var sxy, sxx, syy float64
		for r := range x {
			var ref float64
			for j := 0; j < d; j++ {
				ref += (float64(x[r][j]) - mean[j]) * vecs[j][order[c]]
			}
			sxy += y[r][c] * ref
			sxx += y[r][c] * y[r][c]
			syy += ref * ref
		}
		if corr := math.Abs(sxy / math.Sqrt(sxx*syy)); corr < 1-1e-9 {
			t.Errorf("component %d: |correlation| %.12f with the direct eigenvector", c, corr)
		}
	}
	y2, _ := PCA(context.Background(), x, 3, nil)
	for r := range y {
		if !slices.Equal(y[r], y2[r]) {
			t.Fatal("PCA is not deterministic")
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := PCA(ctx, x, 2, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled PCA: %v", err)
	}
	// Rank-deficient data (all points on a line) still gives finite coordinates.
	line := [][]float32{{1, 1, 1}, {2, 2, 2}, {3, 3, 3}}
	p, err := PCA2(context.Background(), line, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range p {
		if math.IsNaN(q.X) || math.IsNaN(q.Y) || math.Abs(q.Y) > 1e-9 {
			t.Fatalf("line: %+v", p)
		}
	}
}

func TestPCASeparatesClusters(t *testing.T) {
	x, labels := clusters(4, 30, 32, 4, 15)
	pts, err := PCA2(context.Background(), x, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := knnPurity(pts, labels, 5)
	t.Logf("PCA map 5-NN purity %.3f", p)
	if p < 0.8 {
		t.Errorf("PCA map 5-NN purity %.3f < 0.8", p)
	}
}

func TestGridCells(t *testing.T) {
	pts := []Point{{0, 0}, {0.1, 0.1}, {1, 1}, {0.9, 0.05}}
	vecs := [][]float32{{1, 0}, {3, 0}, {0, 4}, {5, 5}}
	cells, err := GridCells(pts, vecs, 2, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []Cell{
		{Row: 0, Col: 0, Members: []int{0, 1}, Mean: []float32{2, 0}},
		{Row: 0, Col: 1, Members: []int{3}, Mean: []float32{5, 5}},
		{Row: 1, Col: 1, Members: []int{2}, Mean: []float32{0, 4}},
	}
	if len(cells) != len(want) {
		t.Fatalf("cells %+v", cells)
	}
	for i := range want {
		c, w := cells[i], want[i]
		if c.Row != w.Row || c.Col != w.Col || !slices.Equal(c.Members, w.Members) || !slices.Equal(c.Mean, w.Mean) {
			t.Errorf("cell %d: %+v, want %+v", i, c, w)
		}
	}
	if _, err := GridCells(pts, vecs[:3], 2, nil, 0); err == nil {
		t.Error("mismatched points and vectors accepted")
	}
	if _, err := GridCells([]Point{{math.NaN(), 0}}, vecs[:1], 2, nil, 0); err == nil {
		t.Error("NaN point accepted")
	}
}
