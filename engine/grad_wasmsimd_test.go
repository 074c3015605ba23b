//go:build goexperiment.simd && wasm

package engine

import (
	"math"
	"math/rand"
	"testing"
)

// The SIMD ReLU mask must give reluMaskSlice's products bit for bit, NaN for NaN, on
// lengths that end mid-vector and on outputs and gradients holding NaN, infinities and
// signed zeros.
func TestReluMaskWasmSIMDMatchesPortable(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	specials := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32}
	for _, n := range []int{0, 1, 3, 4, 7, 8, 9, 31, 1000} {
		out, g := make([]float32, n), make([]float32, n)
		for i := range out {
			out[i], g[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
			if r.Intn(4) == 0 {
				out[i] = specials[r.Intn(len(specials))]
			}
			if r.Intn(6) == 0 {
				g[i] = specials[r.Intn(len(specials))]
			}
		}
		want, got := append([]float32(nil), g...), append([]float32(nil), g...)
		reluMaskSlice(want, out)
		reluMaskWasmSIMD(got, out)
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
				t.Fatalf("n=%d: value %d (out %v, g %v) is %v, portable gives %v", n, i, out[i], g[i], got[i], want[i])
			}
		}
	}
}
