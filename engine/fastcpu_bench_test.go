package engine

import (
	"fmt"
	"math/rand"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/alexlens/alexlens/internal/testenv"
)

// Benchmarks of whole networks at batch 1 on the fast CPU backend, per network, weight
// precision and thread count. Besides ns/op each reports the median latency and the median
// time of every named layer (in ms) as extra metrics; bench/native.sh turns them into the
// table in BENCHMARKS.md. Weights are random: speed does not depend on their values.

// benchModel builds a model with random weights directly at precision p, so that the peak
// memory of an int8 run never held the float32 weights.
func benchModel(a *Arch, p Precision) *Model {
	r := rand.New(rand.NewSource(1))
	m := &Model{Arch: a, Params: map[string]*Weight{}, Fixture: true}
	for _, ps := range a.Params() {
		n := 1
		for _, d := range ps.Shape {
			n *= d
		}
		w := &Weight{Shape: ps.Shape}
		if p == Int8 && len(ps.Shape) >= 2 {
			w.I8, w.Scale = make([]int8, n), make([]float32, ps.Shape[0])
			for i := range w.I8 {
				w.I8[i] = int8(max(-127, min(127, r.NormFloat64()*40)))
			}
			for i := range w.Scale {
				w.Scale[i] = 0.05 / 40
			}
		} else {
			w.F32 = make([]float32, n)
			for i := range w.F32 {
				w.F32[i] = float32(r.NormFloat64() * 0.05)
			}
		}
		m.Params[ps.Name] = w
	}
	return m
}

func BenchmarkForward(b *testing.B) {
	for _, a := range []*Arch{AlexNet, AlexNetBVLC, SqueezeNet11} {
		for _, p := range []Precision{F32, Int8} {
			for _, threads := range []int{1, runtime.GOMAXPROCS(0)} {
				name := fmt.Sprintf("%s/%s/threads=%d", a.Name, p, threads)
				b.Run(name, func(b *testing.B) { benchForward(b, a, p, threads) })
			}
		}
	}
}

func benchForward(b *testing.B, a *Arch, p Precision, threads int) {
	m := benchModel(a, p)
	x := randTensor(rand.New(rand.NewSource(1)), 1, 3, a.InputSize, a.InputSize)
	opt := ForwardOptions{Backend: FastCPU{Threads: threads}, Keep: func(string) bool { return false }}
	if _, err := m.Forward(x, opt); err != nil { // packs the weights, warms the caches
		b.Fatal(err)
	}
	// The heap held by the model, its packed weights and the runtime, after a forward pass.
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var total []time.Duration
	layers := map[string][]time.Duration{}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := testenv.ProcessCPUTime()
	for b.Loop() {
		start := time.Now()
		res, err := m.Forward(x, opt)
		if err != nil {
			b.Fatal(err)
		}
		total = append(total, time.Since(start))
		for name, d := range res.LayerTimes {
			layers[name] = append(layers[name], d)
		}
	}
	cpu := testenv.ProcessCPUTime() - cpu0
	b.ReportMetric(float64(ms.HeapAlloc)/1e6, "heap-MB") // after ResetTimer, which drops metrics
	b.ReportMetric(medianMS(total), "median-ms")
	if cpu > 0 {
		b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(len(total)), "cpu-ms/op")
	}
	// Metrics are printed sorted by unit: a layer-number prefix keeps the network's order.
	for i, name := range a.LayerNames() {
		if ds := layers[name]; len(ds) > 0 {
			b.ReportMetric(medianMS(ds), fmt.Sprintf("L%02d-%s-ms", i+1, name))
		}
	}
}

func medianMS(ds []time.Duration) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[len(s)/2]) / float64(time.Millisecond)
}

// BenchmarkConvKernel measures the GEMM core alone on AlexNet's conv3 (192 -> 384, 13x13)
// with each micro-kernel this build has: the number to watch when changing one. It reports
// GFLOP/s of wall time and of process CPU time (steadier on a shared machine).
func BenchmarkConvKernel(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	spec := convSpec(192, 384, 3, 3, 1, 1, 1, true)
	x := randTensor(r, 1, 192, 13, 13)
	w := randWeight(r, false, 384, 192, 3, 3)
	bias := randBias(r, 384)
	active := activeKernel
	defer func() { activeKernel = active }()
	for _, kern := range kernelVariants {
		b.Run(kern.name, func(b *testing.B) {
			activeKernel = kern
			f := FastCPU{Threads: 1}
			f.Conv2D(x, w, bias, spec)
			b.ResetTimer()
			cpu0 := testenv.ProcessCPUTime()
			for b.Loop() {
				f.Conv2D(x, w, bias, spec)
			}
			flops := 2.0 * 384 * 192 * 9 * 13 * 13 * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			if cpu := testenv.ProcessCPUTime() - cpu0; cpu > 0 {
				b.ReportMetric(flops/cpu.Seconds()/1e9, "GFLOP/cpu-s")
			}
		})
	}
}

// BenchmarkConvSmallPlanes times single convolutions at the plane sizes feature
// visualization and attribution see at 128 px (AlexNet's conv2-conv5, SqueezeNet's
// expand3x3 layers), 1 thread, with the active kernel: where useWideGrid chooses.
func BenchmarkConvSmallPlanes(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	for _, s := range []struct{ cin, cout, k, pad, hw int }{
		{64, 192, 5, 2, 15}, {192, 384, 3, 1, 7}, {384, 256, 3, 1, 7}, {256, 256, 3, 1, 7},
		{16, 64, 3, 1, 31}, {32, 128, 3, 1, 15}, {64, 256, 3, 1, 7},
	} {
		b.Run(fmt.Sprintf("%dto%d_%dx%d_k%d", s.cin, s.cout, s.hw, s.hw, s.k), func(b *testing.B) {
			spec := convSpec(s.cin, s.cout, s.k, s.k, 1, s.pad, 1, true)
			x := randTensor(r, 1, s.cin, s.hw, s.hw)
			w := randWeight(r, false, s.cout, s.cin, s.k, s.k)
			bias := randBias(r, s.cout)
			f := FastCPU{Threads: 1}
			f.Conv2D(x, w, bias, spec)
			for b.Loop() {
				f.Conv2D(x, w, bias, spec)
			}
		})
	}
}
