package engine

import (
	"math"
	"testing"
)

// maxF32Compare must be the builtin max exactly, special values included, on every platform.
func TestMaxF32MatchesBuiltin(t *testing.T) {
	nan := float32(math.NaN())
	negZero := float32(math.Copysign(0, -1))
	vals := []float32{0, negZero, 1, -1, 2.5, -3.25, nan, float32(math.Inf(1)), float32(math.Inf(-1)),
		math.MaxFloat32, math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32}
	for _, a := range vals {
		for _, b := range vals {
			want := max(a, b)
			for name, got := range map[string]float32{"maxF32Compare": maxF32Compare(a, b), "maxF32": maxF32(a, b)} {
				if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
					t.Errorf("%s(%v, %v) = %v (bits %#x), builtin max gives %v (bits %#x)", name, a, b, got, math.Float32bits(got), want, math.Float32bits(want))
				}
			}
		}
	}
}
