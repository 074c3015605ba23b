package engine

import "math"

// maxF32 is the builtin max of two float32 values (NaN if either is NaN, +0 over -0),
// written out with comparisons. On js/wasm Go compiles the builtin to a call of
// runtime.fmax32, and a call is expensive there: max pooling spent most of its time in it
// (SqueezeNet's pool1 took 66 ms in Node with the builtin). Elsewhere the builtin compiles to
// a few instructions and stays in use (fmax_other.go).
func maxF32Compare(a, b float32) float32 {
	switch {
	case a > b:
		return a
	case b > a:
		return b
	case a != a:
		return a
	case b != b:
		return b
	case a == 0: // +0 and -0 compare equal: +0 wins unless both are -0
		return math.Float32frombits(math.Float32bits(a) & math.Float32bits(b))
	default:
		return a
	}
}
