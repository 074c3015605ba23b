package gallery

import (
	"math"
	"testing"
)

// TestPowPositive: powPositive agrees with math.Pow to 1e-9 relative over the distances a
// map holds (from 1e-12 to 1e12) and the powers UMAP uses, and beyond.
func TestPowPositive(t *testing.T) {
	rng := splitMix(7)
	worst := 0.0
	for _, p := range []float64{umapB, umapB - 1, 0.5, 1, 2, -1.3} {
		for range 100000 {
			x := math.Pow(10, 24*rng.uniform()-12)
			want := math.Pow(x, p)
			got := powPositive(x, p)
			rel := math.Abs(got-want) / want
			worst = max(worst, rel)
			if !(rel < 1e-9) {
				t.Fatalf("powPositive(%g, %g) = %g, math.Pow %g (relative error %.2g)", x, p, got, want, rel)
			}
		}
	}
	for _, x := range []float64{1, 2, math.Sqrt2, 0.5, math.SmallestNonzeroFloat64 * 1e10, 1e300} {
		want, got := math.Pow(x, umapB), powPositive(x, umapB)
		if rel := math.Abs(got-want) / want; !(rel < 1e-9) {
			t.Errorf("powPositive(%g, b) = %g, math.Pow %g", x, got, want)
		}
	}
	t.Logf("worst relative error %.2g", worst)
}

func BenchmarkPow(b *testing.B) {
	x := 0.0
	b.Run("math.Pow", func(b *testing.B) {
		for i := range b.N {
			x += math.Pow(float64(i%1000)+0.5, umapB)
		}
	})
	b.Run("powPositive", func(b *testing.B) {
		for i := range b.N {
			x += powPositive(float64(i%1000)+0.5, umapB)
		}
	})
	_ = x
}
