//go:build goexperiment.simd && wasm

package engine

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

// The SIMD max pool must give maxPoolPlane's results bit for bit (NaN for NaN), on the
// networks' pools and on odd shapes: padding wider than the kernel, ceil mode, planes
// narrower than a vector, and inputs holding NaN, infinities and signed zeros.
func TestMaxPoolWasmSIMDMatchesPortable(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	specials := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1))}
	cases := []struct {
		h, w int
		p    PoolSpec
	}{
		{55, 55, PoolSpec{KH: 3, KW: 3, StrideH: 2, StrideW: 2}},
		{111, 111, PoolSpec{KH: 3, KW: 3, StrideH: 2, StrideW: 2, Ceil: true}},
		{13, 13, PoolSpec{KH: 3, KW: 3, StrideH: 2, StrideW: 2}},
		{7, 9, PoolSpec{KH: 2, KW: 3, StrideH: 1, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 2, Ceil: true}},
		{3, 2, PoolSpec{KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadT: 4, PadL: 4, PadB: 4, PadR: 4}},
		{1, 17, PoolSpec{KH: 1, KW: 5, StrideH: 1, StrideW: 3, PadL: 2, PadR: 2}},
	}
	for _, c := range cases {
		for _, special := range []bool{false, true} {
			x := randTensor(r, 1, 3, c.h, c.w)
			if special {
				for i := range x.Data {
					if r.Intn(7) == 0 {
						x.Data[i] = specials[r.Intn(len(specials))]
					}
				}
			}
			name := fmt.Sprintf("%dx%d %+v special=%v", c.h, c.w, c.p, special)
			saved := maxPoolPlaneImpl
			maxPoolPlaneImpl = maxPoolPlane
			want := FastCPU{Threads: 1}.MaxPool2D(x, c.p)
			maxPoolPlaneImpl = saved
			got := FastCPU{Threads: 1}.MaxPool2D(x, c.p)
			for i := range want.Data {
				g, w := got.Data[i], want.Data[i]
				if math.Float32bits(g) != math.Float32bits(w) && !(g != g && w != w) {
					t.Fatalf("%s: value %d is %v, portable gives %v", name, i, g, w)
				}
			}
		}
	}
}
