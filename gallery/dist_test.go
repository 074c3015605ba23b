package gallery

import (
	"math"
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
