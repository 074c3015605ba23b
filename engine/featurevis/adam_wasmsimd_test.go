//go:build goexperiment.simd && wasm

package featurevis

import (
	"math"
	"math/rand"
	"slices"
	"testing"
)

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
