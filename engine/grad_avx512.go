//go:build goexperiment.simd && amd64

package engine

import "simd/archsimd"

// AVX-512 axpy for the fully connected backward pass, used when the CPU has AVX-512 (the
// same condition as the forward micro-kernels in gemm_avx512.go).
func init() {
	if archsimd.X86.AVX512() {
		axpyF32, axpyI8 = axpyF32AVX512, axpyI8AVX512
	}
}

func axpyF32AVX512(a float32, x, y []float32) {
	y = y[:len(x)]
	av := archsimd.BroadcastFloat32x16(a)
	i := 0
	for ; i+16 <= len(x); i += 16 {
		xv := archsimd.LoadFloat32x16Slice(x[i : i+16])
		xv.MulAdd(av, archsimd.LoadFloat32x16Slice(y[i:i+16])).StoreSlice(y[i : i+16])
	}
	for ; i < len(x); i++ {
		y[i] += a * x[i]
	}
}

func axpyI8AVX512(a float32, x []int8, y []float32) {
	y = y[:len(x)]
	av := archsimd.BroadcastFloat32x16(a)
	i := 0
	for ; i+16 <= len(x); i += 16 {
		xv := archsimd.LoadInt8x16Slice(x[i : i+16]).ExtendToInt32().ConvertToFloat32()
		xv.MulAdd(av, archsimd.LoadFloat32x16Slice(y[i:i+16])).StoreSlice(y[i : i+16])
	}
	for ; i < len(x); i++ {
		y[i] += a * float32(x[i])
	}
}
