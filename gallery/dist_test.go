package gallery

import (
	"math"
	"slices"
	"testing"
)

// TestSquaredDistance: the build's squaredDistance (SIMD in the WebAssembly build) equals
// squaredDistanceGo bit for bit, and both are within float32 rounding of the float64 sum.
func TestSquaredDistance(t *testing.T) {
	rng := splitMix(3)
	for _, d := range []int{1, 3, 4, 50, 64, 513} {
		rows := make([][]float64, 2)
		for i := range rows {
			rows[i] = make([]float64, d)
			for j := range rows[i] {
				rows[i][j] = rng.normal() * 10
			}
		}
		p := packRows(rows)
		got, want := squaredDistance(p.row(0), p.row(1)), squaredDistanceGo(p.row(0), p.row(1))
		if math.Float32bits(got) != math.Float32bits(want) {
			t.Errorf("%d components: %v, the Go loop %v", d, got, want)
		}
		var exact float64
		for j := range d {
			e := float64(float32(rows[0][j])) - float64(float32(rows[1][j]))
			exact += e * e
		}
		if rel := math.Abs(float64(got)-exact) / exact; rel > 1e-5 {
			t.Errorf("%d components: %v, float64 %v", d, got, exact)
		}
	}
}

// TestDot64Axpy64: the build's dot64 and axpy64 (SIMD in the WebAssembly build) equal the Go
// loops bit for bit, at even and odd lengths.
func TestDot64Axpy64(t *testing.T) {
	rng := splitMix(5)
	for _, d := range []int{1, 2, 7, 50, 512} {
		a, b := make([]float64, d), make([]float64, d)
		for j := range a {
			a[j], b[j] = rng.normal(), rng.normal()*3
		}
		if got, want := dot64(a, b), dot64Go(a, b); math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("%d components: dot64 %v, the Go loop %v", d, got, want)
		}
		y1, y2 := slices.Clone(b), slices.Clone(b)
		axpy64(0.37, a, y1)
		axpy64Go(0.37, a, y2)
		if !slices.Equal(y1, y2) {
			t.Errorf("%d components: axpy64 differs from the Go loop", d)
		}
	}
}
