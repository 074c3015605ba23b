//go:build goexperiment.simd && wasm

package featurevis

import (
	"math/rand"
	"slices"
	"testing"
)

// TestButterflyRowsWasmSIMD: the SIMD butterfly gives the portable one's values bit for bit,
// for row lengths with and without a tail.
func TestButterflyRowsWasmSIMD(t *testing.T) {
	r := rand.New(rand.NewSource(6))
	for _, n := range []int{0, 1, 2, 3, 8, 65} {
		var want, got [4][]float64
		for i := range want {
			want[i] = make([]float64, n)
			for j := range want[i] {
				want[i][j] = r.NormFloat64()
			}
			got[i] = slices.Clone(want[i])
		}
		tr, ti := r.NormFloat64(), r.NormFloat64()
		butterflyRows(want[0], want[1], want[2], want[3], tr, ti)
		butterflyRowsWasmSIMD(got[0], got[1], got[2], got[3], tr, ti)
		for i := range want {
			if !slices.Equal(got[i], want[i]) {
				t.Fatalf("n=%d: row part %d is %v with SIMD, %v portable", n, i, got[i], want[i])
			}
		}
	}
}
