//go:build goexperiment.simd && amd64

package engine

import "simd/archsimd"

// AVX-512 micro-kernels, built only with GOEXPERIMENT=simd on amd64 and used only when the
// CPU has AVX-512; otherwise the portable kernel stays active. TestSIMDKernelMatchesPortable
// checks both give the same results.

func init() {
	if archsimd.X86.AVX512() {
		activeKernel = avx512Kernel
	}
}

var avx512Kernel = gemmKernel{
	name: "avx512-6x32", mr: 6, nr: 32,
	tile:   tile6x32AVX512,
	dotF32: dotF32AVX512,
	dotI8:  dotI8AVX512,
}

// tile8x32AVX512 keeps the 8 x 32 tile in 16 zmm accumulators: per k step it loads two
// vectors of B and broadcasts eight values of A, 16 fused multiply-adds.
func tile8x32AVX512(k int, a, b, c []float32, ldc int, ep *epilogue) {
	a = a[:k*8]
	b = b[:k*32]
	var c00, c01, c10, c11, c20, c21, c30, c31 archsimd.Float32x16
	var c40, c41, c50, c51, c60, c61, c70, c71 archsimd.Float32x16
	for len(b) >= 32 && len(a) >= 8 {
		b0 := archsimd.LoadFloat32x16Slice(b[0:16])
		b1 := archsimd.LoadFloat32x16Slice(b[16:32])
		ap := a[:8:8]
		a0 := archsimd.BroadcastFloat32x16(ap[0])
		c00 = a0.MulAdd(b0, c00)
		c01 = a0.MulAdd(b1, c01)
		a1 := archsimd.BroadcastFloat32x16(ap[1])
		c10 = a1.MulAdd(b0, c10)
		c11 = a1.MulAdd(b1, c11)
		a2 := archsimd.BroadcastFloat32x16(ap[2])
		c20 = a2.MulAdd(b0, c20)
		c21 = a2.MulAdd(b1, c21)
		a3 := archsimd.BroadcastFloat32x16(ap[3])
		c30 = a3.MulAdd(b0, c30)
		c31 = a3.MulAdd(b1, c31)
		a4 := archsimd.BroadcastFloat32x16(ap[4])
		c40 = a4.MulAdd(b0, c40)
		c41 = a4.MulAdd(b1, c41)
		a5 := archsimd.BroadcastFloat32x16(ap[5])
		c50 = a5.MulAdd(b0, c50)
		c51 = a5.MulAdd(b1, c51)
		a6 := archsimd.BroadcastFloat32x16(ap[6])
		c60 = a6.MulAdd(b0, c60)
		c61 = a6.MulAdd(b1, c61)
		a7 := archsimd.BroadcastFloat32x16(ap[7])
		c70 = a7.MulAdd(b0, c70)
		c71 = a7.MulAdd(b1, c71)
		a, b = a[8:], b[32:]
	}
	// Epilogue per row i: acc*scale[i] + bias[i], then ReLU, stored at c[i*ldc:].
	var zero archsimd.Float32x16
	store := func(i int, lo, hi archsimd.Float32x16) {
		sc, bi := archsimd.BroadcastFloat32x16(ep.scale[i]), archsimd.BroadcastFloat32x16(ep.bias[i])
		lo, hi = lo.MulAdd(sc, bi), hi.MulAdd(sc, bi)
		if ep.relu {
			lo, hi = lo.Max(zero), hi.Max(zero)
		}
		row := c[i*ldc : i*ldc+32]
		lo.StoreSlice(row[:16])
		hi.StoreSlice(row[16:])
	}
	store(0, c00, c01)
	store(1, c10, c11)
	store(2, c20, c21)
	store(3, c30, c31)
	store(4, c40, c41)
	store(5, c50, c51)
	store(6, c60, c61)
	store(7, c70, c71)
}

// tile6x32AVX512 keeps the 6 x 32 tile in 12 zmm accumulators: per k step it loads two
// vectors of B and broadcasts six values of A, 12 fused multiply-adds.
func tile6x32AVX512(k int, a, b, c []float32, ldc int, ep *epilogue) {
	a = a[:k*6]
	b = b[:k*32]
	var c00, c01, c10, c11, c20, c21, c30, c31 archsimd.Float32x16
	var c40, c41, c50, c51 archsimd.Float32x16
	for len(b) >= 32 && len(a) >= 6 {
		b0 := archsimd.LoadFloat32x16Slice(b[0:16])
		b1 := archsimd.LoadFloat32x16Slice(b[16:32])
		ap := a[:6:6]
		a0 := archsimd.BroadcastFloat32x16(ap[0])
		c00 = a0.MulAdd(b0, c00)
		c01 = a0.MulAdd(b1, c01)
		a1 := archsimd.BroadcastFloat32x16(ap[1])
		c10 = a1.MulAdd(b0, c10)
		c11 = a1.MulAdd(b1, c11)
		a2 := archsimd.BroadcastFloat32x16(ap[2])
		c20 = a2.MulAdd(b0, c20)
		c21 = a2.MulAdd(b1, c21)
		a3 := archsimd.BroadcastFloat32x16(ap[3])
		c30 = a3.MulAdd(b0, c30)
		c31 = a3.MulAdd(b1, c31)
		a4 := archsimd.BroadcastFloat32x16(ap[4])
		c40 = a4.MulAdd(b0, c40)
		c41 = a4.MulAdd(b1, c41)
		a5 := archsimd.BroadcastFloat32x16(ap[5])
		c50 = a5.MulAdd(b0, c50)
		c51 = a5.MulAdd(b1, c51)
		a, b = a[6:], b[32:]
	}
	// Epilogue per row i: acc*scale[i] + bias[i], then ReLU, stored at c[i*ldc:].
	var zero archsimd.Float32x16
	store := func(i int, lo, hi archsimd.Float32x16) {
		sc, bi := archsimd.BroadcastFloat32x16(ep.scale[i]), archsimd.BroadcastFloat32x16(ep.bias[i])
		lo, hi = lo.MulAdd(sc, bi), hi.MulAdd(sc, bi)
		if ep.relu {
			lo, hi = lo.Max(zero), hi.Max(zero)
		}
		row := c[i*ldc : i*ldc+32]
		lo.StoreSlice(row[:16])
		hi.StoreSlice(row[16:])
	}
	store(0, c00, c01)
	store(1, c10, c11)
	store(2, c20, c21)
	store(3, c30, c31)
	store(4, c40, c41)
	store(5, c50, c51)
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
