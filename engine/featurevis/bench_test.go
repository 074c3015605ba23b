package featurevis

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/internal/testenv"
	"github.com/alexlens/alexlens/weights"
)

// BenchmarkStep is one feature-visualization step of a 128 px image (the app's size): render the
// Fourier image, transform, forward and backward through the network to the objective's
// layer, back to the spectrum, Adam. Objectives: a mid-network channel and a class logit.
func BenchmarkStep(b *testing.B) {
	for _, c := range []struct {
		arch *engine.Arch
		obj  engine.Objective
	}{
		{engine.SqueezeNet11, engine.ChannelMean("fire6", 1)},
		{engine.SqueezeNet11, preReLU(engine.ChannelMean("fire6", 1))},
		{engine.SqueezeNet11, engine.ClassLogit(1)},
		{engine.AlexNet, engine.ChannelMean("conv4", 1)},
		{engine.AlexNet, preReLU(engine.ChannelMean("conv4", 1))},
		{engine.AlexNet, engine.ClassLogit(1)},
	} {
		for _, threads := range []int{1, runtime.GOMAXPROCS(0)} {
			b.Run(fmt.Sprintf("%s/%s/threads=%d", c.arch.Name, c.obj, threads), func(b *testing.B) {
				m := weights.Fixture(c.arch, 1)
				opt := Options{Objective: c.obj, Steps: 1, Size: 128, Grad: engine.GradOptions{Backend: engine.FastCPU{Threads: threads}, Threads: threads}}
				if _, err := Run(context.Background(), m, opt); err != nil { // packs weights
					b.Fatal(err)
				}
				opt.Steps = b.N
				b.ResetTimer()
				cpu0 := testenv.ProcessCPUTime()
				if _, err := Run(context.Background(), m, opt); err != nil {
					b.Fatal(err)
				}
				if cpu := testenv.ProcessCPUTime() - cpu0; cpu > 0 {
					b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
				}
			})
		}
	}
}

func preReLU(o engine.Objective) engine.Objective { o.PreReLU = true; return o }
