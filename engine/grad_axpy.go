package engine

// axpy kernels for the fully connected backward pass (y += a*x over a row of weights). The
// portable ones run everywhere; SIMD builds replace them in init (grad_avx512.go).
var (
	axpyF32 = axpyGeneric[float32]
	axpyI8  = axpyGeneric[int8]
)

func axpyGeneric[T float32 | int8](a float32, x []T, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += a * float32(v)
	}
}
