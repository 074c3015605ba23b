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

// TestAdamPartsWasmSIMD: the SIMD Adam step gives the portable one's parameters and moments
// bit for bit, over several steps, with and without an odd tail.
func TestAdamPartsWasmSIMD(t *testing.T) {
	r := rand.New(rand.NewSource(8))
	for _, n := range []int{0, 1, 2, 7, 130} {
		var want, got [4][]float64 // p, g, m, v
		for i := range want {
			want[i] = make([]float64, n)
			for j := range want[i] {
				want[i][j] = r.NormFloat64()
			}
			if i == 3 {
				for j := range want[i] {
					want[i][j] *= want[i][j] // v is a mean of squares
				}
			}
			got[i] = slices.Clone(want[i])
		}
		for step := 1; step <= 3; step++ {
			c1, c2 := 1-math.Pow(0.9, float64(step)), 1-math.Pow(0.999, float64(step))
			adamParts(want[0], want[1], want[2], want[3], 0.05, 0.9, 0.999, c1, c2)
			adamPartsWasmSIMD(got[0], got[1], got[2], got[3], 0.05, 0.9, 0.999, c1, c2)
		}
		for i := range want {
			if !slices.Equal(got[i], want[i]) {
				t.Fatalf("n=%d: part %d is %v with SIMD, %v portable", n, i, got[i], want[i])
			}
		}
	}
}
