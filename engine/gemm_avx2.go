//go:build goexperiment.simd && amd64

package engine

import (
	"fmt"
	"simd/archsimd"
)

// AVX2 + FMA micro-kernels (8 lanes) for amd64 CPUs without AVX-512, built only with
// GOEXPERIMENT=simd. They are chosen in init when AVX-512 is missing; on CPUs with both,
// tests and BenchmarkConvKernel still run them through kernelVariants.

func init() {
	if !archsimd.X86.AVX2() || !archsimd.X86.FMA() {
		return
	}
	if !archsimd.X86.AVX512() {
		activeKernel = avx2Kernel
	}
	for _, t := range []struct {
		mr, nr int
		tile   func(k int, a, b, c []float32, ldc int, ep *epilogue)
	}{{6, 16, tile6x16AVX2}, {4, 16, tile4x16AVX2}, {4, 24, tile4x24AVX2}} {
		v := avx2Kernel
		v.name, v.mr, v.nr, v.tile = fmt.Sprintf("avx2-%dx%d", t.mr, t.nr), t.mr, t.nr, t.tile
		kernelVariants = append(kernelVariants, v)
	}
}

// avx2Kernel uses the 6 x 16 tile (gemm_avx2_amd64.s): 12 accumulators, 2 B vectors and a
// broadcast fill the 16 registers. AlexNet's conv3 on a Zen 5 EPYC's AVX2 path
// (BenchmarkConvKernel, 1 thread, two runs): 84-87 GFLOP/cpu-s, 4 x 16 80-82, 4 x 24 77, where
// the 4 x 16 tile written with Go's SIMD types had run at 46.
var avx2Kernel = gemmKernel{
	name: "avx2-6x16", mr: 6, nr: 16,
	tile:   tile6x16AVX2,
	dotF32: dotF32AVX2,
	dotI8:  dotI8AVX2,
}

// dotF32AVX2 is a float32 row dot product with four independent accumulators.
func dotF32AVX2(w, x []float32) float32 {
	x = x[:len(w)]
	var s0, s1, s2, s3 archsimd.Float32x8
	for len(w) >= 32 {
		s0 = archsimd.LoadFloat32x8Slice(w[0:8]).MulAdd(archsimd.LoadFloat32x8Slice(x[0:8]), s0)
		s1 = archsimd.LoadFloat32x8Slice(w[8:16]).MulAdd(archsimd.LoadFloat32x8Slice(x[8:16]), s1)
		s2 = archsimd.LoadFloat32x8Slice(w[16:24]).MulAdd(archsimd.LoadFloat32x8Slice(x[16:24]), s2)
		s3 = archsimd.LoadFloat32x8Slice(w[24:32]).MulAdd(archsimd.LoadFloat32x8Slice(x[24:32]), s3)
		w, x = w[32:], x[32:]
	}
	return reduce8(s0.Add(s1).Add(s2.Add(s3))) + dotGeneric(w, x)
}

// dotI8AVX2 widens 8 int8 weights at a time to float32 (a quarter of float32's traffic).
func dotI8AVX2(w []int8, x []float32) float32 {
	x = x[:len(w)]
	var s0, s1 archsimd.Float32x8
	// Each load widens its low 8 bytes, so the second one starts at w[8] and needs 24
	// bytes in reach; the tail goes to the portable loop.
	for len(w) >= 24 {
		w0 := archsimd.LoadInt8x16Slice(w[0:16]).ExtendLo8ToInt32().ConvertToFloat32()
		w1 := archsimd.LoadInt8x16Slice(w[8:24]).ExtendLo8ToInt32().ConvertToFloat32()
		s0 = w0.MulAdd(archsimd.LoadFloat32x8Slice(x[0:8]), s0)
		s1 = w1.MulAdd(archsimd.LoadFloat32x8Slice(x[8:16]), s1)
		w, x = w[16:], x[16:]
	}
	return reduce8(s0.Add(s1)) + dotGeneric(w, x)
}

func reduce8(v archsimd.Float32x8) float32 {
	var buf [8]float32
	v.Store(&buf)
	var s float32
	for _, e := range buf {
		s += e
	}
	return s
}
