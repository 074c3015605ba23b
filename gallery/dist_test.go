package gallery

import (
	"cmp"
	"context"
	"math"
	"runtime"
	"slices"
	"testing"
)

// TestSquaredDistance: the build's squaredDistances (SIMD in the WebAssembly build) equal
// squaredDistanceGo's bit for bit, and are within float32 rounding of the float64 sum.
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
		out := make([]float32, 1)
		squaredDistances(p.row(0), p, 1, 2, out)
		got, want := out[0], squaredDistanceGo(p.row(0), p.row(1))
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

// TestNearestNeighbours: the search (each pair once, candidates per thread) lists the same
// neighbours as sorting every other point by squaredDistanceGo, ties to the lower index, at
// one thread and at three; duplicate rows make ties.
func TestNearestNeighbours(t *testing.T) {
	rng := splitMix(8)
	red := make([][]float64, 300)
	for i := range red {
		red[i] = make([]float64, 7)
		for j := range red[i] {
			red[i][j] = math.Round(rng.normal() * 2) // coarse values: many equal distances
		}
	}
	red[5] = slices.Clone(red[4])
	const k = 10
	p := packRows(red)
	for _, threads := range []int{1, 3} {
		prev := runtime.GOMAXPROCS(threads)
		nbr, dist, err := nearestNeighbours(context.Background(), red, k, func(string, int, int) {})
		runtime.GOMAXPROCS(prev)
		if err != nil {
			t.Fatal(err)
		}
		for i := range red {
			type cand struct {
				d float32
				j int
			}
			var all []cand
			for j := range red {
				if j != i {
					all = append(all, cand{squaredDistanceGo(p.row(i), p.row(j)), j})
				}
			}
			slices.SortFunc(all, func(a, b cand) int {
				if a.d != b.d {
					return cmp.Compare(a.d, b.d)
				}
				return a.j - b.j
			})
			for q := range k {
				if int(nbr[i*k+q]) != all[q].j || dist[i*k+q] != float64(all[q].d) {
					t.Fatalf("%d threads: point %d's neighbour %d is %d at %v, want %d at %v", threads, i, q, nbr[i*k+q], dist[i*k+q], all[q].j, all[q].d)
				}
			}
		}
	}
}
