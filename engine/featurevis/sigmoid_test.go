package featurevis

import (
	"math"
	"math/rand"
	"testing"
)

// TestSigmoids: within 4 units in the last place of 1/(1+math.Exp(-x)) over the whole range,
// exactly 0 and 1 far out, NaN for NaN.
func TestSigmoids(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	xs := []float64{0, -0.0, 1e-300, -1e-20, 0.5, -0.5, math.Ln2 / 2, -math.Ln2 / 2, 36, -36, 699.9, -699.9, 700, -700, 745, -745, 800, -800, math.Inf(1), math.Inf(-1)}
	for range 100000 {
		xs = append(xs, r.NormFloat64()*4, r.NormFloat64()*100, (r.Float64()*2-1)*720)
	}
	got := append([]float64(nil), xs...)
	sigmoids(got)
	for i, x := range xs {
		got, want := got[i], 1/(1+math.Exp(-x))
		if want == 0 || want == 1 {
			if got != want {
				t.Errorf("sigmoid(%v) = %v, want %v", x, got, want)
			}
			continue
		}
		if ulp := math.Abs(got-want) / (math.Nextafter(want, 2) - want); ulp > 4 {
			t.Errorf("sigmoid(%v) = %v, want %v (%.1f ulp)", x, got, want, ulp)
		}
	}
	nan := []float64{math.NaN()}
	if sigmoids(nan); !math.IsNaN(nan[0]) {
		t.Errorf("sigmoid(NaN) = %v", nan[0])
	}
}
