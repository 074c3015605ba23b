package split

import "github.com/alexlens/alexlens/engine"

// View is Slice without the copies: part p's rows share memory with m. The part that must
// keep the whole model anyway (the app's first worker, which also draws kernels, embeds
// galleries and runs feature visualization on it) runs its share of split passes on a view
// at no extra weight memory. The view's weights are distinct *engine.Weight values that live
// as long as the view, so the fast CPU backend packs each once, as it does for any model.
func View(m *engine.Model, p, n int) (*engine.Model, error) {
	return slice(m, p, n, viewRows)
}

func viewRows(w *engine.Weight, lo, hi int) *engine.Weight {
	shape := append([]int{hi - lo}, w.Shape[1:]...)
	n := w.RowLen()
	if w.Quantized() {
		return &engine.Weight{Shape: shape, I8: w.I8[lo*n : hi*n : hi*n], Scale: w.Scale[lo:hi:hi]}
	}
	return &engine.Weight{Shape: shape, F32: w.F32[lo*n : hi*n : hi*n]}
}

// MaxParts bounds the workers one pass is split over: each is a wasm instance with its own
// memory, and every part adds a message per layer to every exchange.
const MaxParts = 8

// PartsFor is the number of workers the app runs an architecture's forward passes on when
// the visitor did not choose (?threads=), for cores logical cores. Only AlexNet is split by
// default: in Chromium on 2 cores it ran 1.7x faster on 2 workers, while SqueezeNet ran
// slower, since each of its 26 split layers waits for an exchange between workers (0.2-1 ms
// each) that costs more than its small layers save (BENCHMARKS.md, Browser CPU). The
// original AlexNet's grouped convolutions are not split (Slice), so it is left at one
// worker until measured.
func PartsFor(arch string, cores int) int {
	if arch == engine.AlexNet.Name {
		return DefaultParts(cores)
	}
	return 1
}
