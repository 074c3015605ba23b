// Package gallerytest makes synthetic galleries for benchmarks of search and layout, in the
// browser and natively, so both measure the same data.
package gallerytest

import (
	"fmt"
	"math/rand"

	"github.com/alexlens/alexlens/gallery"
)

// Fill adds n items named item000000.jpg ... to g, with embeddings shaped like real ones: 16
// latent factors of decaying strength (0.7^f) mixed into every component, plus noise, through
// a ReLU. Isotropic noise would be unlike any network's embeddings (no leading directions)
// and the worst case for PCA's power iteration, which then runs to its iteration cap.
// The same seed gives the same gallery.
func Fill(g *gallery.Gallery, n int, seed int64) error {
	r := rand.New(rand.NewSource(seed))
	dim := g.Header.Dim
	load := make([][]float32, 16)
	for f := range load {
		load[f] = make([]float32, dim)
		for j := range load[f] {
			load[f][j] = float32(r.NormFloat64())
		}
	}
	v := make([]float32, dim)
	for i := range n {
		for j := range v {
			v[j] = 0.3 * float32(r.NormFloat64())
		}
		s := float32(1)
		for _, l := range load {
			z := s * float32(r.NormFloat64())
			for j := range v {
				v[j] += z * l[j]
			}
			s *= 0.7
		}
		for j := range v {
			v[j] = max(0, v[j])
		}
		if err := g.Add(gallery.Item{Name: fmt.Sprintf("item%06d.jpg", i), Class: -1}, v); err != nil {
			return err
		}
	}
	return nil
}
