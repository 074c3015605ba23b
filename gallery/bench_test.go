package gallery

import (
	"fmt"
	"testing"
)

// syntheticGallery fills n items of dim components directly in the compact encoding (fast
// to build at 100k x 4096), ReLU-like: about half the components zero.
func syntheticGallery(b *testing.B, e Encoding, n, dim int) *Gallery {
	h := Header{Arch: "alexnet", Layer: "fc7", Pooling: PoolNone, Dim: dim, Encoding: e,
		Weights: WeightsInfo{SHA256: fmt.Sprintf("%064d", 0)}}
	g := &Gallery{Header: h, Items: make([]Item, n), norm: make([]float32, n)}
	rng := splitMix(1)
	switch e {
	case Int8:
		g.q = make([]int8, n*dim)
		g.scale = make([]float32, n)
		for i := range g.q {
			if r := rng.next(); r&1 == 0 {
				g.q[i] = int8(r >> 57)
			}
		}
		for i := range g.scale {
			g.scale[i] = 0.05
		}
	case F16:
		g.half = make([]uint16, n*dim)
		for i := range g.half {
			if r := rng.next(); r&1 == 0 {
				g.half[i] = toHalf(float32(r>>40) / (1 << 22))
			}
		}
	}
	buf := make([]float32, dim)
	for i := range g.Items {
		g.Items[i] = Item{Name: fmt.Sprint(i), Class: -1}
		g.norm[i] = norm(g.Embedding(i, buf))
	}
	return g
}

// BenchmarkSearch is one exact k=5 cosine query against n items of 4096 components (AlexNet
// fc7), all cores; and a batch of 16 queries (a walk along a direction) as queries/op.
func BenchmarkSearch(b *testing.B) {
	for _, e := range []Encoding{Int8, F16} {
		for _, n := range []int{1000, 10000, 100000} {
			if e == F16 && n == 100000 {
				continue // 800 MB; int8 shows the large case
			}
			g := syntheticGallery(b, e, n, 4096)
			for _, nq := range []int{1, 16} {
				qs := make([][]float32, nq)
				for i := range qs {
					qs[i] = g.Embedding((i*7919)%n, nil)
				}
				b.Run(fmt.Sprintf("%s/items=%d/queries=%d", e, n, nq), func(b *testing.B) {
					b.SetBytes(int64(len(g.q) + 2*len(g.half)))
					for i := 0; i < b.N; i++ {
						if _, err := g.Search(qs, SearchOptions{K: 5}); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// BenchmarkSearchOneThread is the browser's case (one Go instance, no threads) at 10k items.
func BenchmarkSearchOneThread(b *testing.B) {
	for _, e := range []Encoding{Int8, F16} {
		g := syntheticGallery(b, e, 10000, 4096)
		q := [][]float32{g.Embedding(1, nil)}
		b.Run(string(e), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				g.Search(q, SearchOptions{K: 5, Threads: 1})
			}
		})
	}
}

func BenchmarkTSNE1000(b *testing.B) {
	x, _ := clusters(10, 100, 64, 1, 3)
	for i := 0; i < b.N; i++ {
		TSNE(b.Context(), x, TSNEOptions{Iterations: 1000})
	}
}

// BenchmarkLayout is an atlas's layout time as gallery.Layout runs it, on synthetic
// SqueezeNet-sized (512-component) embeddings: t-SNE (cosine distances, PCA start, 1000
// steps; exact at 1,000 items, Barnes-Hut at 10,000 and 20,000) and UMAP (its defaults).
func BenchmarkLayout(b *testing.B) {
	for _, method := range []string{LayoutTSNE, LayoutUMAP} {
		for _, n := range []int{1000, 10000, 20000} {
			b.Run(fmt.Sprintf("%s/items=%d", method, n), func(b *testing.B) {
				x := syntheticGallery(b, F16, n, 512).Vectors()
				b.ResetTimer()
				for range b.N {
					if _, err := Layout(b.Context(), x, LayoutOptions{Method: method}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
