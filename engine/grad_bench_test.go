package engine

import (
	"fmt"
	"math/rand"
	"runtime"
	"testing"
	"time"

	"github.com/alexlens/alexlens/internal/testenv"
)

// BenchmarkInputGradient is one gradient computation at batch 1 and the network's input
// size: the forward pass to the objective's layer plus the backward pass to the input. The
// class logit runs the whole network; conv1 (AlexNets) or fire5 (SqueezeNet) a part, as
// feature visualization of early units does. Compare with BenchmarkForward.
func BenchmarkInputGradient(b *testing.B) {
	for _, c := range []struct {
		arch *Arch
		obj  Objective
	}{
		{SqueezeNet11, ClassLogit(1)},
		{SqueezeNet11, ChannelMean("fire5", 1)},
		{AlexNet, ClassLogit(1)},
		{AlexNet, ChannelMean("conv5", 1)},
		{AlexNetBVLC, ClassLogit(1)},
	} {
		for _, threads := range []int{1, runtime.GOMAXPROCS(0)} {
			name := fmt.Sprintf("%s/%s/threads=%d", c.arch.Name, c.obj.layerName(c.arch), threads)
			b.Run(name, func(b *testing.B) {
				m := benchModel(c.arch, F32)
				x := randTensor(rand.New(rand.NewSource(1)), 1, 3, c.arch.InputSize, c.arch.InputSize)
				opt := GradOptions{Backend: FastCPU{Threads: threads}, Threads: threads}
				if _, _, err := m.InputGradientWith(x, c.obj, opt); err != nil { // packs weights
					b.Fatal(err)
				}
				// The forward pass alone to the same layer, for the backward/forward ratio.
				fwd := ForwardOptions{Backend: FastCPU{Threads: threads}, StopAfter: c.obj.layerName(c.arch), Keep: func(string) bool { return false }}
				cpu0 := testenv.ProcessCPUTime()
				const fwdRuns = 3
				for i := 0; i < fwdRuns; i++ {
					if _, err := m.Forward(x, fwd); err != nil {
						b.Fatal(err)
					}
				}
				fwdCPU := testenv.ProcessCPUTime() - cpu0
				var total []time.Duration
				b.ResetTimer()
				cpu0 = testenv.ProcessCPUTime()
				for b.Loop() {
					start := time.Now()
					if _, _, err := m.InputGradientWith(x, c.obj, opt); err != nil {
						b.Fatal(err)
					}
					total = append(total, time.Since(start))
				}
				cpu := testenv.ProcessCPUTime() - cpu0
				b.ReportMetric(medianMS(total), "median-ms")
				if cpu > 0 {
					b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(len(total)), "cpu-ms/op")
					b.ReportMetric(float64(fwdCPU)/float64(time.Millisecond)/fwdRuns, "fwd-cpu-ms")
				}
			})
		}
	}
}
