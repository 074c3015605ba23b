package gallery

import (
	"context"
	"fmt"
	"math"
)

// Layout methods: how a gallery is laid out in 2-D for an atlas.
const (
	LayoutPCA  = "pca"  // the first two principal components: fast, keeps global structure
	LayoutTSNE = "tsne" // t-SNE on cosine distances: keeps each image's neighbours near
	LayoutUMAP = "umap" // UMAP on cosine distances: neighbours kept as t-SNE does, in a fraction of the time
)

// LayoutOptions choose and tune a layout; zero values pick the defaults.
type LayoutOptions struct {
	Method     string  // LayoutPCA, LayoutTSNE or LayoutUMAP
	Perplexity float64 // t-SNE: default min(30, (n-1)/3)
	Iterations int     // t-SNE's steps (default 1000) or UMAP's epochs (default 500, 200 past 10,000 images)
	Progress   Progress
}

// Layout lays the vectors out in 2-D by opt.Method and scales the map into the unit square
// (each axis to [0, 1]; an axis with no spread sits at 0.5). The browser's atlas and
// `alexlens atlas` both lay galleries out here, so that the same gallery gives the same map.
func Layout(ctx context.Context, vecs [][]float32, opt LayoutOptions) ([]Point, error) {
	n := len(vecs)
	if n < 2 {
		return nil, fmt.Errorf("gallery: a layout needs at least 2 images, there are %d", n)
	}
	var pts []Point
	var err error
	switch opt.Method {
	case LayoutPCA:
		pts, err = PCA2(ctx, vecs, opt.Progress)
	case LayoutTSNE:
		if n < 4 {
			return nil, fmt.Errorf("gallery: t-SNE needs at least 4 images, there are %d", n)
		}
		if n > MaxLayoutPoints {
			return nil, fmt.Errorf("gallery: t-SNE maps at most %d images, there are %d: use PCA", MaxLayoutPoints, n)
		}
		perp := opt.Perplexity
		if perp == 0 {
			perp = 30
		}
		pts, err = TSNE(ctx, vecs, TSNEOptions{Perplexity: min(perp, float64(n-1)/3),
			Iterations: opt.Iterations, Metric: Cosine, InitPCA: true, Progress: opt.Progress})
	case LayoutUMAP:
		if n < 4 {
			return nil, fmt.Errorf("gallery: UMAP needs at least 4 images, there are %d", n)
		}
		if n > MaxLayoutPoints {
			return nil, fmt.Errorf("gallery: UMAP maps at most %d images, there are %d: use PCA", MaxLayoutPoints, n)
		}
		pts, err = UMAP(ctx, vecs, UMAPOptions{Metric: Cosine, Epochs: opt.Iterations, Progress: opt.Progress})
	default:
		return nil, fmt.Errorf("gallery: layout method must be %s, %s or %s, not %q", LayoutPCA, LayoutTSNE, LayoutUMAP, opt.Method)
	}
	if err != nil {
		return nil, err
	}
	minX, maxX, minY, maxY := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, p := range pts {
		minX, maxX, minY, maxY = min(minX, p.X), max(maxX, p.X), min(minY, p.Y), max(maxY, p.Y)
	}
	unit := func(v, lo, hi float64) float64 {
		if hi <= lo {
			return 0.5
		}
		return (v - lo) / (hi - lo)
	}
	for i, p := range pts {
		pts[i] = Point{unit(p.X, minX, maxX), unit(p.Y, minY, maxY)}
	}
	return pts, nil
}
