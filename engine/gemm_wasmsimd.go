//go:build goexperiment.simd && wasm

package engine

import "simd/archsimd"

// WebAssembly SIMD (128-bit) micro-kernels, built only with Go 1.27's GOEXPERIMENT=simd for
// js/wasm. Every browser that runs AlexLens's wasm at all supports fixed-width SIMD
// (Chrome 91, Firefox 89, Safari 16.4), so the kernel is active unconditionally.
// TestKernelsTileContract, TestKernelsDotContract and TestSIMDKernelMatchesPortable check it
// against the portable kernel (GOOS=js GOARCH=wasm under Node).
//
// wasm has no fused multiply-add without relaxed SIMD (archsimd emulates MulAdd), so the
// kernels use a separate multiply and add. Go's wasm backend has 16 vector registers (wasm
// locals) before it spills to its stack in linear memory; a 6 x 8 tile (12 accumulators, two
// B vectors, one broadcast) measured best in Node (~24 GFLOP/s on an L1-resident panel,
// against ~23 for 4 x 8 and 3 x 8, ~14 for 4 x 4).

func init() {
	activeKernel = wasmSIMDKernel
	kernelVariants = append(kernelVariants, wasmSIMDKernel)
}

var wasmSIMDKernel = gemmKernel{
	name: "wasm-simd128-6x8", mr: 6, nr: 8,
	tile:   tile6x8WasmSIMD,
	dotF32: dotF32WasmSIMD,
	dotI8:  dotI8WasmSIMD,
}

func tile6x8WasmSIMD(k int, a, b, c []float32, ldc int, ep *epilogue) {
	a = a[:k*6]
	b = b[:k*8]
	var c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51 archsimd.Float32x4
	for len(b) >= 8 && len(a) >= 6 {
		bp := b[:8:8]
		b0 := archsimd.LoadFloat32x4(bp[0:4])
		b1 := archsimd.LoadFloat32x4(bp[4:8])
		ap := a[:6:6]
		a0 := archsimd.BroadcastFloat32x4(ap[0])
		c00 = c00.Add(a0.Mul(b0))
		c01 = c01.Add(a0.Mul(b1))
		a1 := archsimd.BroadcastFloat32x4(ap[1])
		c10 = c10.Add(a1.Mul(b0))
		c11 = c11.Add(a1.Mul(b1))
		a2 := archsimd.BroadcastFloat32x4(ap[2])
		c20 = c20.Add(a2.Mul(b0))
		c21 = c21.Add(a2.Mul(b1))
		a3 := archsimd.BroadcastFloat32x4(ap[3])
		c30 = c30.Add(a3.Mul(b0))
		c31 = c31.Add(a3.Mul(b1))
		a4 := archsimd.BroadcastFloat32x4(ap[4])
		c40 = c40.Add(a4.Mul(b0))
		c41 = c41.Add(a4.Mul(b1))
		a5 := archsimd.BroadcastFloat32x4(ap[5])
		c50 = c50.Add(a5.Mul(b0))
		c51 = c51.Add(a5.Mul(b1))
		a, b = a[6:], b[8:]
	}
	storeRow8WasmSIMD(c[0:8], c00, c01, ep, 0)
	storeRow8WasmSIMD(c[ldc:ldc+8], c10, c11, ep, 1)
	storeRow8WasmSIMD(c[2*ldc:2*ldc+8], c20, c21, ep, 2)
	storeRow8WasmSIMD(c[3*ldc:3*ldc+8], c30, c31, ep, 3)
	storeRow8WasmSIMD(c[4*ldc:4*ldc+8], c40, c41, ep, 4)
	storeRow8WasmSIMD(c[5*ldc:5*ldc+8], c50, c51, ep, 5)
}

// storeRow8WasmSIMD applies row i's epilogue (acc*scale + bias, then ReLU) to 8 values and
// stores them.
func storeRow8WasmSIMD(row []float32, lo, hi archsimd.Float32x4, ep *epilogue, i int) {
	sc, bi := archsimd.BroadcastFloat32x4(ep.scale[i]), archsimd.BroadcastFloat32x4(ep.bias[i])
	lo, hi = lo.Mul(sc).Add(bi), hi.Mul(sc).Add(bi)
	if ep.relu {
		var zero archsimd.Float32x4
		lo, hi = lo.Max(zero), hi.Max(zero)
	}
	lo.Store(row[0:4])
	hi.Store(row[4:8])
}

// dotF32WasmSIMD is a float32 row dot product with four independent vector accumulators.
func dotF32WasmSIMD(w, x []float32) float32 {
	x = x[:len(w)]
	var s0, s1, s2, s3 archsimd.Float32x4
	for len(w) >= 16 && len(x) >= 16 {
		s0 = s0.Add(archsimd.LoadFloat32x4(w[0:4]).Mul(archsimd.LoadFloat32x4(x[0:4])))
		s1 = s1.Add(archsimd.LoadFloat32x4(w[4:8]).Mul(archsimd.LoadFloat32x4(x[4:8])))
		s2 = s2.Add(archsimd.LoadFloat32x4(w[8:12]).Mul(archsimd.LoadFloat32x4(x[8:12])))
		s3 = s3.Add(archsimd.LoadFloat32x4(w[12:16]).Mul(archsimd.LoadFloat32x4(x[12:16])))
		w, x = w[16:], x[16:]
	}
	return reduce4WasmSIMD(s0.Add(s1).Add(s2.Add(s3))) + dotGeneric(w, x)
}

// dotI8WasmSIMD reads 16 int8 weights at a time and widens them to float32 (i8 -> i16 ->
// i32 -> f32) before multiplying by the float32 activations: fully connected layers are
// bandwidth bound, and int8 weights are a quarter of the traffic.
func dotI8WasmSIMD(w []int8, x []float32) float32 {
	x = x[:len(w)]
	var s0, s1, s2, s3 archsimd.Float32x4
	for len(w) >= 16 && len(x) >= 16 {
		v := archsimd.LoadInt8x16(w[0:16])
		lo, hi := v.ExtendLo8ToInt16(), v.ExtendHi8ToInt16()
		w0 := lo.ExtendLo4ToInt32().ConvertToFloat32()
		w1 := lo.ExtendHi4ToInt32().ConvertToFloat32()
		w2 := hi.ExtendLo4ToInt32().ConvertToFloat32()
		w3 := hi.ExtendHi4ToInt32().ConvertToFloat32()
		s0 = s0.Add(w0.Mul(archsimd.LoadFloat32x4(x[0:4])))
		s1 = s1.Add(w1.Mul(archsimd.LoadFloat32x4(x[4:8])))
		s2 = s2.Add(w2.Mul(archsimd.LoadFloat32x4(x[8:12])))
		s3 = s3.Add(w3.Mul(archsimd.LoadFloat32x4(x[12:16])))
		w, x = w[16:], x[16:]
	}
	return reduce4WasmSIMD(s0.Add(s1).Add(s2.Add(s3))) + dotGeneric(w, x)
}

func reduce4WasmSIMD(v archsimd.Float32x4) float32 {
	var buf [4]float32
	v.StoreArray(&buf)
	return (buf[0] + buf[1]) + (buf[2] + buf[3])
}
