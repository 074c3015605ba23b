package engine

import (
	"fmt"
	"math/rand"
	"testing"
)

// tileReference is the micro-kernel contract written as plainly as possible, in float64.
func tileReference(k, mr, nr int, a, b []float32) []float64 {
	c := make([]float64, mr*nr)
	for p := 0; p < k; p++ {
		for i := 0; i < mr; i++ {
			for j := 0; j < nr; j++ {
				c[i*nr+j] += float64(a[p*mr+i]) * float64(b[p*nr+j])
			}
		}
	}
	return c
}

func TestKernelsTileContract(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	for _, kern := range kernelVariants {
		for _, k := range []int{0, 1, 2, 7, 64, 363, 1001} {
			a := randTensor(r, k*kern.mr+1).Data // one spare value: kernels must not read past k
			b := randTensor(r, k*kern.nr+1).Data
			for _, relu := range []bool{false, true} {
				// The tile is written with a row stride (ldc) wider than nr; the gaps
				// between rows must be left alone.
				ldc := kern.nr + 3
				c := randTensor(r, kern.mr*ldc).Data
				orig := append([]float32(nil), c...)
				ep := &epilogue{relu: relu}
				for i := 0; i < kern.mr; i++ {
					ep.scale[i], ep.bias[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
				}
				kern.tile(k, a, b, c, ldc, ep)
				sums := tileReference(k, kern.mr, kern.nr, a, b)
				want := append([]float32(nil), orig...)
				for i := 0; i < kern.mr; i++ {
					for j := 0; j < kern.nr; j++ {
						v := sums[i*kern.nr+j]*float64(ep.scale[i]) + float64(ep.bias[i])
						if relu && v < 0 {
							v = 0
						}
						want[i*ldc+j] = float32(v)
					}
				}
				if e := RelL2(c, want); e > 1e-6 {
					t.Errorf("%s k=%d relu=%v: relative L2 error %.3g", kern.name, k, relu, e)
				}
			}
		}
	}
}

func TestKernelsDotContract(t *testing.T) {
	r := rand.New(rand.NewSource(6))
	for _, kern := range kernelVariants {
		for _, n := range []int{0, 1, 15, 16, 17, 63, 64, 65, 1000, 9216} {
			x := randTensor(r, n).Data
			wf := randTensor(r, n).Data
			wi := make([]int8, n)
			var wantF, wantI float64
			for i := range wi {
				wi[i] = int8(r.Intn(255) - 127)
				wantF += float64(wf[i]) * float64(x[i])
				wantI += float64(wi[i]) * float64(x[i])
			}
			for _, c := range []struct {
				name      string
				got, want float64
			}{{"f32", float64(kern.dotF32(wf, x)), wantF}, {"int8", float64(kern.dotI8(wi, x)), wantI}} {
				// Error bound of a float32 sum of n products of magnitude ~|w||x|.
				bound := 1e-6 * float64(n+1)
				if c.name == "int8" {
					bound *= 127
				}
				if d := c.got - c.want; d > bound || d < -bound {
					t.Errorf("%s dot%s n=%d: %v, want %v", kern.name, c.name, n, c.got, c.want)
				}
			}
		}
	}
}

// TestSIMDKernelMatchesPortable runs convolutions and linear layers through every kernel
// this build has (the SIMD ones exist with GOEXPERIMENT=simd on amd64 with AVX2 or
// AVX-512) and compares each with the portable kernel.
func TestSIMDKernelMatchesPortable(t *testing.T) {
	if len(kernelVariants) == 1 {
		t.Skip("only the portable kernel is built in (build with GOEXPERIMENT=simd on amd64 with AVX2 or AVX-512 to compare SIMD kernels)")
	}
	active := activeKernel
	defer func() { activeKernel = active }()
	r := rand.New(rand.NewSource(11))
	for _, q := range []bool{false, true} {
		spec := convSpec(6, 70, 5, 3, 2, 1, 2, true)
		x := randTensor(r, 2, 6, 17, 19)
		w := randWeight(r, q, 70, 3, 5, 3)
		b := randBias(r, 70)
		lw := randWeight(r, q, 45, 300)
		lx := randTensor(r, 2, 300)
		lspec := LinearSpec{In: 300, Out: 45}
		run := func(k gemmKernel) (*Tensor, *Tensor) {
			activeKernel = k
			return FastCPU{Threads: 2}.Conv2D(x, w, b, spec), FastCPU{Threads: 2}.Linear(lx, lw, b[:45], lspec)
		}
		c0, l0 := run(portableKernel)
		for _, k := range kernelVariants[1:] {
			c1, l1 := run(k)
			checkClose(t, fmt.Sprintf("conv int8=%v %s vs portable", q, k.name), c1, c0, 1e-6)
			checkClose(t, fmt.Sprintf("linear int8=%v %s vs portable", q, k.name), l1, l0, 1e-6)
		}
	}
}
