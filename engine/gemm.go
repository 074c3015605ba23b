package engine

// The GEMM core of the fast CPU backend, in the GotoBLAS/BLIS shape: C = A·B where A (the
// weights) is packed once into panels of mr rows stored k-major, B (the im2col of the input)
// is packed per call into panels of nr columns stored k-major, and a register-tiled
// micro-kernel multiplies one A panel by one B panel into an mr x nr tile.
//
// Several micro-kernels exist (portable Go, and SIMD ones behind build tags); exactly one is
// active, chosen at start-up from what the CPU offers. Packed panels depend on its mr and nr,
// so packing always asks the active kernel.

// gemmKernel is one implementation of the inner loops.
type gemmKernel struct {
	name   string
	mr, nr int
	// tile sets c[i*ldc+j] = ep.apply(i, sum over p < k of a[p*mr+i] * b[p*nr+j]): one
	// mr x k panel of A times one k x nr panel of B, with the layer's epilogue fused so that
	// the tile is written once. len(a) >= k*mr, len(b) >= k*nr, len(c) >= (mr-1)*ldc+nr.
	tile func(k int, a, b, c []float32, ldc int, ep *epilogue)
	// dotF32 and dotI8 are the row dot products of fully connected layers.
	dotF32 func(w, x []float32) float32
	dotI8  func(w []int8, x []float32) float32
}

// portableKernel is pure Go and runs everywhere, js/wasm included. A 2 x 4 tile keeps its
// 8 accumulators, 4 values of B and 2 of A within the 16 registers amd64 has for floats:
// twice as fast there as a 4 x 4 tile that spills (8.4 vs 4.2 GFLOP/cpu-s on conv3), and
// no slower under Node's wasm.
var portableKernel = gemmKernel{
	name: "portable-2x4", mr: 2, nr: 4,
	tile:   tile2x4,
	dotF32: dotGeneric[float32],
	dotI8:  dotGeneric[int8],
}

// kernelVariants lists every kernel this build can run on this CPU, for tests and
// benchmarks; SIMD builds add theirs in init.
var kernelVariants = []gemmKernel{portableKernel}

// activeKernel is the micro-kernel the backend uses; SIMD builds replace it in init when
// the CPU supports them.
var activeKernel = portableKernel

// epilogue is what a convolution does to an accumulated dot product before storing it:
// per output row (channel) a scale (int8 weights' scale, 1 for float32) and a bias, then
// an optional ReLU.
type epilogue struct {
	scale, bias [maxMR]float32
	relu        bool
}

const maxMR = 12 // the largest mr of any kernel

func (ep *epilogue) apply(i int, v float32) float32 {
	v = v*ep.scale[i] + ep.bias[i]
	if ep.relu && v < 0 {
		v = 0
	}
	return v
}

func tile2x4(k int, a, b, c []float32, ldc int, ep *epilogue) {
	a = a[:k*2]
	b = b[:k*4]
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	for p := 0; p < k; p++ {
		ap := a[p*2 : p*2+2 : p*2+2]
		bp := b[p*4 : p*4+4 : p*4+4]
		b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
		a0, a1 := ap[0], ap[1]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
	}
	r := c[0:4:4]
	r[0], r[1], r[2], r[3] = ep.apply(0, c00), ep.apply(0, c01), ep.apply(0, c02), ep.apply(0, c03)
	r = c[ldc : ldc+4 : ldc+4]
	r[0], r[1], r[2], r[3] = ep.apply(1, c10), ep.apply(1, c11), ep.apply(1, c12), ep.apply(1, c13)
}

// dotGeneric is the portable row dot product for float32 and int8 weights alike (one
// generic body instead of twin copies). Four partial sums break the add dependency chain.
func dotGeneric[T float32 | int8](w []T, x []float32) float32 {
	x = x[:len(w)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(w); i += 4 {
		s0 += float32(w[i]) * x[i]
		s1 += float32(w[i+1]) * x[i+1]
		s2 += float32(w[i+2]) * x[i+2]
		s3 += float32(w[i+3]) * x[i+3]
	}
	for ; i < len(w); i++ {
		s0 += float32(w[i]) * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// packA copies rows [r0, r0+rows) of a row-major matrix with rowLen columns into one panel
// of mr rows stored k-major (dst[p*mr+i] = src[(r0+i)*rowLen+p]), padding missing rows with
// zeros. int8 weights are packed as their integer values; the scale is applied at the end.
func packA[T float32 | int8](dst []float32, src []T, r0, rows, rowLen, mr int) {
	dst = dst[:rowLen*mr]
	for i := 0; i < mr; i++ {
		if i >= rows {
			for p := 0; p < rowLen; p++ {
				dst[p*mr+i] = 0
			}
			continue
		}
		row := src[(r0+i)*rowLen : (r0+i+1)*rowLen]
		for p, v := range row {
			dst[p*mr+i] = float32(v)
		}
	}
}
