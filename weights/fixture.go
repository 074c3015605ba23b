package weights

import (
	"fmt"
	"math"

	"github.com/alexlens/alexlens/engine"
)

// Fixture returns deterministic untrained float32 weights for a: the same seed gives the same
// bits on every platform, so tests and demos can run without downloading anything. Weights
// are uniform in ±sqrt(6/fan_in) (He/Kaiming for ReLU networks: activations keep their scale
// from layer to layer instead of vanishing or exploding), biases uniform in ±0.01.
// Predictions are meaningless; Model.Fixture says so.
func Fixture(a *engine.Arch, seed int64) *engine.Model {
	m := &engine.Model{Arch: a, Params: map[string]*engine.Weight{}, Fixture: true}
	rng := splitMix64{state: uint64(seed)}
	for _, p := range a.Params() {
		n := 1
		for _, d := range p.Shape {
			n *= d
		}
		bound := 0.01
		if len(p.Shape) >= 2 {
			bound = math.Sqrt(6 / float64(n/p.Shape[0]))
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = float32(rng.symmetric() * bound)
		}
		m.Params[p.Name] = &engine.Weight{Shape: append([]int(nil), p.Shape...), F32: data}
	}
	return m
}

// FixtureSource is the source text Fixture models are stored with.
func FixtureSource(seed int64) string {
	return fmt.Sprintf("AlexLens fixture: untrained weights from seed %d (uniform ±sqrt(6/fan_in), splitmix64)", seed)
}

// splitMix64 is Steele, Lea and Flood's SplittableRandom generator: a tiny PRNG whose stream is
// fixed by its definition, unlike math/rand's, which may change between Go releases.
type splitMix64 struct{ state uint64 }

func (s *splitMix64) next() uint64 {
	s.state += 0x9e3779b97f4a7c15
	z := s.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// symmetric is uniform in [-1, 1) on a grid of 2^-23. Every step is exact in float64, so no
// platform's rounding or fused multiply-add can change the result.
func (s *splitMix64) symmetric() float64 {
	return float64(int64(s.next()>>40)-(1<<23)) / (1 << 23)
}
