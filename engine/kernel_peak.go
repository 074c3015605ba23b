package engine

import "time"

// KernelPeakGFLOPS measures the active GEMM micro-kernel alone, on one panel pair small
// enough to stay in the L1 cache, for about d on one thread: the most a convolution can
// reach on this machine with this kernel. Benchmark reports divide achieved GFLOP/s by it.
// It is the best of several rounds, so that a JIT tiering up (wasm engines compile hot
// functions twice) or other load on the machine counts as little as possible.
func KernelPeakGFLOPS(d time.Duration) float64 {
	kern := activeKernel
	const k = 256 // A and B panels of k*mr and k*nr floats: a few KB each
	a := make([]float32, k*kern.mr)
	b := make([]float32, k*kern.nr)
	for i := range a {
		a[i] = float32(i%7) * 0.25
	}
	for i := range b {
		b[i] = float32(i%5) * 0.5
	}
	c := make([]float32, kern.mr*kern.nr)
	ep := &epilogue{}
	for i := range ep.scale {
		ep.scale[i] = 1
	}
	const calls = 2000
	flopsPerRound := 2 * float64(k*kern.mr*kern.nr) * calls
	best := 0.0
	deadline := time.Now().Add(d)
	for round := 0; round < 3 || time.Now().Before(deadline); round++ {
		start := time.Now()
		for i := 0; i < calls; i++ {
			kern.tile(k, a, b, c, kern.nr, ep)
		}
		if el := time.Since(start).Seconds(); el > 0 {
			best = max(best, flopsPerRound/el/1e9)
		}
	}
	return best
}
