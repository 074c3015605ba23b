package explain

import (
	"context"
	"fmt"
	"testing"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/weights"
)

// BenchmarkExplain times each method on SqueezeNet (fixture weights: the cost is the real
// weights') at the batch sizes a pass can take, one thread.
func BenchmarkExplain(b *testing.B) {
	m := weights.Fixture(engine.SqueezeNet11, 1)
	x := photo(b, "chelsea.png", 224)
	be := engine.DefaultBackend()
	if f, ok := be.(engine.FastCPU); ok {
		f.Threads = 1
		be = f
	}
	for _, c := range []struct {
		method Method
		batch  int
	}{{SmoothGrad, 2}, {SmoothGrad, 4}, {SmoothGrad, 8}, {SmoothGrad, 16}, {Occlusion, 4}, {Occlusion, 16}} {
		b.Run(fmt.Sprintf("%s/batch%d", c.method, c.batch), func(b *testing.B) {
			for b.Loop() {
				if _, err := Explain(context.Background(), m, x, Options{Method: c.method, Class: 1, Batch: c.batch, Backend: be, Threads: 1}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
