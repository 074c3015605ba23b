package gallery

// Dot products of the search scan, unrolled with independent accumulators so the loop is
// limited by loads rather than by the latency of one chain of additions. Plain Go, so the
// same code runs natively and in WebAssembly.

func dotF32(q, x []float32) float32 {
	x = x[:len(q)]
	var s0, s1, s2, s3 float32
	j := 0
	for ; j+4 <= len(q); j += 4 {
		s0 += q[j] * x[j]
		s1 += q[j+1] * x[j+1]
		s2 += q[j+2] * x[j+2]
		s3 += q[j+3] * x[j+3]
	}
	for ; j < len(q); j++ {
		s0 += q[j] * x[j]
	}
	return (s0 + s1) + (s2 + s3)
}

func dotI8(q []float32, x []int8) float32 {
	x = x[:len(q)]
	var s0, s1, s2, s3 float32
	j := 0
	for ; j+4 <= len(q); j += 4 {
		s0 += q[j] * float32(x[j])
		s1 += q[j+1] * float32(x[j+1])
		s2 += q[j+2] * float32(x[j+2])
		s3 += q[j+3] * float32(x[j+3])
	}
	for ; j < len(q); j++ {
		s0 += q[j] * float32(x[j])
	}
	return (s0 + s1) + (s2 + s3)
}

// dot4F32 is four queries against one row: each x[j] is loaded once for four products.
func dot4F32(q0, q1, q2, q3, x []float32) (s0, s1, s2, s3 float32) {
	n := len(x)
	q0, q1, q2, q3 = q0[:n], q1[:n], q2[:n], q3[:n]
	for j := 0; j < n; j++ {
		v := x[j]
		s0 += q0[j] * v
		s1 += q1[j] * v
		s2 += q2[j] * v
		s3 += q3[j] * v
	}
	return
}

func dot4I8(q0, q1, q2, q3 []float32, x []int8) (s0, s1, s2, s3 float32) {
	n := len(x)
	q0, q1, q2, q3 = q0[:n], q1[:n], q2[:n], q3[:n]
	for j := 0; j < n; j++ {
		v := float32(x[j])
		s0 += q0[j] * v
		s1 += q1[j] * v
		s2 += q2[j] * v
		s3 += q3[j] * v
	}
	return
}
