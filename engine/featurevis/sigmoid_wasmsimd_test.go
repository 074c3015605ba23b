//go:build goexperiment.simd && wasm

package featurevis

import (
	"math"
	"math/rand"
	"slices"
	"testing"
)

// TestSigmoidsWasmSIMD: the SIMD sigmoids give the portable ones' values bit for bit, over
// the whole range, the far tails, infinities and NaN, with and without an odd tail.
func TestSigmoidsWasmSIMD(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	xs := []float64{0, math.Copysign(0, -1), 1e-300, -1e-20, 0.5, -0.5, math.Ln2 / 2, -math.Ln2 / 2, 36, -36,
		699.9, -699.9, 700, -700, 745, 1, -745, 2, math.Inf(1), 3, math.Inf(-1), 4, math.NaN(), 5}
	for range 100001 {
		xs = append(xs, r.NormFloat64()*4, r.NormFloat64()*100, (r.Float64()*2-1)*720)
	}
	want, got := slices.Clone(xs), slices.Clone(xs)
	sigmoids(want)
	sigmoidsWasmSIMD(got)
	for i := range xs {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			t.Fatalf("sigmoid(%v) = %v with SIMD, %v portable", xs[i], got[i], want[i])
		}
	}
}
