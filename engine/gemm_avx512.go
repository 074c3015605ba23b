//go:build goexperiment.simd && amd64

package engine

import (
	"fmt"
	"simd/archsimd"
)

// AVX-512 micro-kernels, built only with GOEXPERIMENT=simd on amd64 and used only when the
// CPU has AVX-512; otherwise the portable kernel stays active. TestSIMDKernelMatchesPortable
// checks both give the same results.

func init() {
	if archsimd.X86.AVX512() {
		activeKernel = avx512Kernel
		for _, t := range []struct {
			mr, nr int
			tile   func(k int, a, b, c []float32, ldc int, ep *epilogue)
		}{{8, 32, tile8x32AVX512}, {12, 32, tile12x32AVX512}, {6, 64, tile6x64AVX512}, {4, 32, tile4x32AVX512}} {
			v := avx512Kernel
			v.name, v.mr, v.nr, v.tile = fmt.Sprintf("avx512-%dx%d", t.mr, t.nr), t.mr, t.nr, t.tile
			kernelVariants = append(kernelVariants, v)
		}
	}
}

//go:generate go run gemm_gen.go

// avx512Kernel uses the 8 x 32 tile (gemm_avx512_amd64.s): 16 accumulators, and 32 columns,
// which fill AlexNet's 7 x 7 planes at 128 px better than 64 do. On AlexNet's conv3 on a Zen 5
// EPYC (BenchmarkConvKernel, 1 thread, two runs) the assembly tiles ran at 143-150 GFLOP/cpu-s
// (8 x 32), 143-158 (12 x 32), 145-159 (6 x 64) and 134-144 (4 x 32), where the 4 x 32 tile
// written with Go's SIMD types had run at 99: 32 columns with any of the first three is
// within noise, and 8 rows divide every layer's channel count.
var avx512Kernel = gemmKernel{
	name: "avx512-8x32", mr: 8, nr: 32,
	tile:   tile8x32AVX512,
	dotF32: dotF32AVX512,
	dotI8:  dotI8AVX512,
}

// dotF32AVX512 is a float32 row dot product with four independent accumulators.
func dotF32AVX512(w, x []float32) float32 {
	x = x[:len(w)]
	var s0, s1, s2, s3 archsimd.Float32x16
	for len(w) >= 64 {
		s0 = archsimd.LoadFloat32x16Slice(w[0:16]).MulAdd(archsimd.LoadFloat32x16Slice(x[0:16]), s0)
		s1 = archsimd.LoadFloat32x16Slice(w[16:32]).MulAdd(archsimd.LoadFloat32x16Slice(x[16:32]), s1)
		s2 = archsimd.LoadFloat32x16Slice(w[32:48]).MulAdd(archsimd.LoadFloat32x16Slice(x[32:48]), s2)
		s3 = archsimd.LoadFloat32x16Slice(w[48:64]).MulAdd(archsimd.LoadFloat32x16Slice(x[48:64]), s3)
		w, x = w[64:], x[64:]
	}
	for len(w) >= 16 {
		s0 = archsimd.LoadFloat32x16Slice(w[0:16]).MulAdd(archsimd.LoadFloat32x16Slice(x[0:16]), s0)
		w, x = w[16:], x[16:]
	}
	return reduce16(s0.Add(s1).Add(s2.Add(s3))) + dotGeneric(w, x)
}

// dotI8AVX512 reads 16 int8 weights at a time, widens them to float32 and multiplies them
// by the float32 activations: a quarter of the memory traffic of float32 weights.
func dotI8AVX512(w []int8, x []float32) float32 {
	x = x[:len(w)]
	var s0, s1, s2, s3 archsimd.Float32x16
	for len(w) >= 64 {
		w0 := archsimd.LoadInt8x16Slice(w[0:16]).ExtendToInt32().ConvertToFloat32()
		w1 := archsimd.LoadInt8x16Slice(w[16:32]).ExtendToInt32().ConvertToFloat32()
		w2 := archsimd.LoadInt8x16Slice(w[32:48]).ExtendToInt32().ConvertToFloat32()
		w3 := archsimd.LoadInt8x16Slice(w[48:64]).ExtendToInt32().ConvertToFloat32()
		s0 = w0.MulAdd(archsimd.LoadFloat32x16Slice(x[0:16]), s0)
		s1 = w1.MulAdd(archsimd.LoadFloat32x16Slice(x[16:32]), s1)
		s2 = w2.MulAdd(archsimd.LoadFloat32x16Slice(x[32:48]), s2)
		s3 = w3.MulAdd(archsimd.LoadFloat32x16Slice(x[48:64]), s3)
		w, x = w[64:], x[64:]
	}
	for len(w) >= 16 {
		w0 := archsimd.LoadInt8x16Slice(w[0:16]).ExtendToInt32().ConvertToFloat32()
		s0 = w0.MulAdd(archsimd.LoadFloat32x16Slice(x[0:16]), s0)
		w, x = w[16:], x[16:]
	}
	return reduce16(s0.Add(s1).Add(s2.Add(s3))) + dotGeneric(w, x)
}

func reduce16(v archsimd.Float32x16) float32 {
	var buf [16]float32
	v.Store(&buf)
	var s float32
	for _, e := range buf {
		s += e
	}
	return s
}
