package engine

import (
	"math"
	"math/rand"
	"testing"
)

// TestAxpyKernels checks the active axpy kernels (SIMD in simd builds on AVX-512 CPUs)
// against the portable ones on lengths around the vector width.
func TestAxpyKernels(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, n := range []int{0, 1, 15, 16, 17, 33, 512, 515} {
		x := make([]float32, n)
		q := make([]int8, n)
		y := make([]float32, n)
		for i := range x {
			x[i], q[i], y[i] = float32(r.NormFloat64()), int8(r.Intn(255)-127), float32(r.NormFloat64())
		}
		for _, c := range []struct {
			name      string
			got, want func(y []float32)
		}{
			{"f32", func(y []float32) { axpyF32(0.7, x, y) }, func(y []float32) { axpyGeneric(0.7, x, y) }},
			{"int8", func(y []float32) { axpyI8(0.01, q, y) }, func(y []float32) { axpyGeneric(0.01, q, y) }},
		} {
			got, want := append([]float32(nil), y...), append([]float32(nil), y...)
			c.got(got)
			c.want(want)
			for i := range got {
				if math.Abs(float64(got[i]-want[i])) > 1e-5*(1+math.Abs(float64(want[i]))) {
					t.Fatalf("%s n=%d: y[%d] = %g, portable %g", c.name, n, i, got[i], want[i])
				}
			}
		}
	}
}
