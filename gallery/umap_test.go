package gallery

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"
)

// TestUMAPSeparatesClusters: ten clusters in 64 dimensions, which a linear map mixes, come
// out as ten groups, through the neighbour search and the descent's progress stages.
func TestUMAPSeparatesClusters(t *testing.T) {
	x, labels := clusters(10, 60, 64, 0.8, 11)
	rec := &progressRecorder{t: t}
	pts, err := UMAP(context.Background(), x, UMAPOptions{Metric: Cosine, Seed: 3, Progress: rec.report})
	if err != nil {
		t.Fatal(err)
	}
	umap := knnPurity(pts, labels, 5)
	pca, err := PCA2(context.Background(), x, nil)
	if err != nil {
		t.Fatal(err)
	}
	pcaPurity := knnPurity(pca, labels, 5)
	t.Logf("5-NN label purity: input space %.3f, UMAP map %.3f, PCA map %.3f; stages %v",
		knnPurityHighDim(x, labels, 5), umap, pcaPurity, rec.stages)
	if umap < 0.9 || umap < pcaPurity+0.2 {
		t.Errorf("UMAP map 5-NN purity %.3f: want at least 0.9 and 0.2 above PCA's %.3f", umap, pcaPurity)
	}
	rec.check("neighbours", "umap")
	for i, p := range pts {
		if math.IsNaN(p.X) || math.IsNaN(p.Y) || math.IsInf(p.X, 0) || math.IsInf(p.Y, 0) {
			t.Fatalf("point %d at %v", i, p)
		}
	}
}

// TestUMAPDeterministic: the same input, options and seed give the same map; another seed
// another one.
func TestUMAPDeterministic(t *testing.T) {
	x, _ := clusters(4, 40, 16, 2, 5)
	run := func(seed uint64) []Point {
		pts, err := UMAP(context.Background(), x, UMAPOptions{Epochs: 50, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		return pts
	}
	a := run(1)
	if !slices.Equal(a, run(1)) {
		t.Error("two runs with one seed differ")
	}
	if slices.Equal(a, run(2)) {
		t.Error("two seeds gave the same map")
	}
}

// TestUMAPDuplicates: copies of one vector (a gallery with the same photo twice, or all
// photos alike) lay out without NaNs, and land together.
func TestUMAPDuplicates(t *testing.T) {
	x, _ := clusters(2, 20, 8, 3, 9)
	for range 10 {
		x = append(x, slices.Clone(x[0]))
	}
	same := make([][]float32, 12)
	for i := range same {
		same[i] = []float32{1, 2, 3}
	}
	for _, in := range [][][]float32{x, same} {
		pts, err := UMAP(context.Background(), in, UMAPOptions{Epochs: 100})
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range pts {
			if math.IsNaN(p.X) || math.IsNaN(p.Y) || math.IsInf(p.X, 0) || math.IsInf(p.Y, 0) {
				t.Fatalf("%d points: point %d at %v", len(in), i, p)
			}
		}
	}
}

func TestUMAPBadInput(t *testing.T) {
	x, _ := clusters(2, 5, 4, 1, 1)
	for _, c := range []struct {
		name string
		x    [][]float32
		opt  UMAPOptions
	}{
		{"too few points", x[:2], UMAPOptions{}},
		{"one neighbour", x, UMAPOptions{Neighbours: 1}},
		{"negative epochs", x, UMAPOptions{Epochs: -1}},
		{"unknown metric", x, UMAPOptions{Metric: "manhattan"}},
		{"ragged", append(slices.Clone(x), []float32{1}), UMAPOptions{}},
	} {
		if _, err := UMAP(context.Background(), c.x, c.opt); err == nil {
			t.Errorf("%s: no error", c.name)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
}

func TestUMAPCancel(t *testing.T) {
	x, _ := clusters(4, 50, 16, 2, 5)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := UMAP(ctx, x, UMAPOptions{Progress: func(s string, done, total int) {
		if s == "umap" && done >= 20 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled UMAP returned %v", err)
	}
}

// TestUMAPCurveFit: umapA and umapB are the least-squares fit of 1/(1 + a·d^(2b)) to the
// curve that min_dist 0.1 and spread 1 ask for (1 to 0.1, exp(-(d - 0.1)) beyond), on 300
// points from 0 to 3: any small change of either raises the squared error.
func TestUMAPCurveFit(t *testing.T) {
	sse := func(a, b float64) float64 {
		var s float64
		for i := range 300 {
			d := 3 * float64(i) / 299
			want := 1.0
			if d > 0.1 {
				want = math.Exp(-(d - 0.1))
			}
			e := 1/(1+a*math.Pow(d, 2*b)) - want
			s += e * e
		}
		return s
	}
	best := sse(umapA, umapB)
	for _, step := range []float64{1e-2, 1e-3} {
		for _, d := range [][2]float64{{step, 0}, {-step, 0}, {0, step}, {0, -step}, {step, step}, {-step, -step}, {step, -step}, {-step, step}} {
			if e := sse(umapA+d[0], umapB+d[1]); e < best {
				t.Errorf("a %+g, b %+g fits better: %g < %g", d[0], d[1], e, best)
			}
		}
	}
}
