package gallery

import (
	"math"
	"testing"
)

// relErr is |got - want| / |want|, or |got| where want is 0.
func relErr(got, want float64) float64 {
	if want == 0 {
		return math.Abs(got)
	}
	return math.Abs(got-want) / math.Abs(want)
}

// TestPowPositive: powPositive agrees with math.Pow to 1e-9 relative over the distances a
// map holds (from 1e-12 to 1e12) and the powers UMAP uses, and beyond.
func TestPowPositive(t *testing.T) {
	rng := splitMix(7)
	worst := 0.0
	for _, p := range []float64{umapB, umapB - 1, 0.5, 1, 2, -1.3} {
		for range 100000 {
			x := math.Pow(10, 24*rng.uniform()-12)
			got, want := powPositive(x, p), math.Pow(x, p)
			worst = max(worst, relErr(got, want))
			if !(relErr(got, want) < 1e-9) {
				t.Fatalf("powPositive(%g, %g) = %g, math.Pow %g", x, p, got, want)
			}
		}
	}
	for _, x := range []float64{1, 2, math.Sqrt2, 0.5, 0x1p-1022, 1e300, math.MaxFloat64} {
		if got, want := powPositive(x, umapB), math.Pow(x, umapB); !(relErr(got, want) < 1e-9) {
			t.Errorf("powPositive(%g, b) = %g, math.Pow %g", x, got, want)
		}
	}
	t.Logf("worst relative error %.2g", worst)
}

// TestExpLogPortable: expPortable and log2Portable agree with math.Exp and math.Log2 to
// 1e-9 relative (log2 absolutely near 1), exp2Portable at its ends included.
func TestExpLogPortable(t *testing.T) {
	rng := splitMix(9)
	for range 100000 {
		x := 1400*rng.uniform() - 700
		if got, want := expPortable(x), math.Exp(x); !(relErr(got, want) < 1e-9) {
			t.Fatalf("expPortable(%g) = %g, math.Exp %g", x, got, want)
		}
		y := math.Pow(10, 600*rng.uniform()-300)
		if got, want := log2Portable(y), math.Log2(y); !(math.Abs(got-want) < 1e-9*max(1, math.Abs(want))) {
			t.Fatalf("log2Portable(%g) = %g, math.Log2 %g", y, got, want)
		}
	}
	for _, c := range []struct{ t, want float64 }{
		{0, 1}, {1, 2}, {-1, 0.5}, {10, 1024}, {-1022, 0x1p-1022}, {-1023, 0}, {1023.9, math.Pow(2, 1023.9)}, {1024, math.Inf(1)}, {math.Inf(-1), 0},
	} {
		if got := exp2Portable(c.t); !(relErr(got, c.want) < 1e-9) && got != c.want {
			t.Errorf("exp2Portable(%v) = %g, want %g", c.t, got, c.want)
		}
	}
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
