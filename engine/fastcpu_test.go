package engine

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"
)

// The fast backend must agree with Reference on every operator; these tests use odd sizes
// so that no dimension is a multiple of a kernel tile, and run with several thread counts.

const fastTol = 1e-5 // relative L2 against Reference, float32 and int8 weights alike

func randTensor(r *rand.Rand, shape ...int) *Tensor {
	t := NewTensor(shape...)
	for i := range t.Data {
		t.Data[i] = float32(r.NormFloat64())
	}
	return t
}

func randWeight(r *rand.Rand, quantized bool, shape ...int) *Weight {
	w := &Weight{Shape: shape, F32: randTensor(r, shape...).Data}
	if quantized {
		return QuantizeWeight(w)
	}
	return w
}

func randBias(r *rand.Rand, n int) []float32 { return randTensor(r, n).Data }

func checkClose(t *testing.T, what string, got, want *Tensor, tol float64) {
	t.Helper()
	if !sameShape(got.Shape, want.Shape) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape, want.Shape)
	}
	if HasNaN(got.Data) {
		t.Fatalf("%s: NaN or Inf in output", what)
	}
	if e := RelL2(got.Data, want.Data); e > tol {
		t.Errorf("%s: relative L2 error %.3g > %.3g", what, e, tol)
	}
}

func convSpec(in, out, kh, kw, stride, pad, groups int, relu bool) ConvSpec {
	return ConvSpec{In: in, Out: out, KH: kh, KW: kw, StrideH: stride, StrideW: stride,
		PadT: pad, PadL: pad, PadB: pad, PadR: pad, DilH: 1, DilW: 1, Groups: groups, ReLU: relu}
}

func TestFastCPUConvMatchesReference(t *testing.T) {
	asym := convSpec(5, 7, 3, 2, 2, 0, 1, false)
	asym.PadT, asym.PadL, asym.PadB, asym.PadR = 1, 0, 2, 1
	asym.StrideW = 3
	dilated := convSpec(4, 9, 3, 3, 1, 2, 1, true)
	dilated.DilH, dilated.DilW = 2, 3
	cases := []struct {
		name    string
		n, h, w int
		spec    ConvSpec
		noBias  bool
	}{
		{"stride4-k11-pad2", 1, 31, 29, convSpec(3, 13, 11, 11, 4, 2, 1, true), false},
		{"groups2-k5-pad2-batch3", 3, 9, 11, convSpec(6, 10, 5, 5, 1, 2, 2, true), false},
		{"k3-pad1-odd", 1, 13, 13, convSpec(17, 37, 3, 3, 1, 1, 1, true), false},
		{"1x1-squeeze", 2, 7, 5, convSpec(19, 11, 1, 1, 1, 0, 1, true), true},
		{"1x1-stride2-pad1", 1, 8, 9, convSpec(5, 6, 1, 1, 2, 1, 1, false), false},
		{"asymmetric-pad-and-stride", 2, 10, 12, asym, false},
		{"dilated", 1, 12, 11, dilated, true},
		{"groups3-no-relu", 1, 6, 7, convSpec(9, 6, 3, 3, 2, 1, 3, false), false},
		{"output-larger-than-tile", 1, 40, 3, convSpec(2, 70, 3, 3, 1, 1, 1, true), false},
	}
	r := rand.New(rand.NewSource(7))
	for _, c := range cases {
		for _, q := range []bool{false, true} {
			x := randTensor(r, c.n, c.spec.In, c.h, c.w)
			w := randWeight(r, q, c.spec.Out, c.spec.In/c.spec.Groups, c.spec.KH, c.spec.KW)
			var b []float32
			if !c.noBias {
				b = randBias(r, c.spec.Out)
			}
			want := Reference{}.Conv2D(x, w, b, c.spec)
			for _, threads := range []int{1, 3} {
				got := FastCPU{Threads: threads}.Conv2D(x, w, b, c.spec)
				checkClose(t, fmt.Sprintf("%s int8=%v threads=%d", c.name, q, threads), got, want, fastTol)
			}
		}
	}
}

func TestFastCPUConvEmptyOutput(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	spec := convSpec(3, 4, 5, 5, 1, 0, 1, true)
	y := FastCPU{}.Conv2D(randTensor(r, 1, 3, 3, 3), randWeight(r, false, 4, 3, 5, 5), nil, spec)
	if y.Len() != 0 || y.Shape[1] != 4 {
		t.Errorf("3x3 input through a 5x5 kernel gave shape %v", y.Shape)
	}
}

func TestFastCPULinearMatchesReference(t *testing.T) {
	r := rand.New(rand.NewSource(8))
	for _, c := range []struct{ n, in, out int }{{1, 37, 19}, {3, 101, 33}, {1, 9216, 67}, {2, 5, 1}} {
		for _, q := range []bool{false, true} {
			for _, relu := range []bool{false, true} {
				x := randTensor(r, c.n, c.in)
				w := randWeight(r, q, c.out, c.in)
				b := randBias(r, c.out)
				spec := LinearSpec{In: c.in, Out: c.out, ReLU: relu}
				want := Reference{}.Linear(x, w, b, spec)
				for _, threads := range []int{1, 4} {
					got := FastCPU{Threads: threads}.Linear(x, w, b, spec)
					checkClose(t, fmt.Sprintf("linear %v int8=%v relu=%v threads=%d", c, q, relu, threads), got, want, fastTol)
				}
			}
		}
	}
}

func TestFastCPUSmallOpsMatchReference(t *testing.T) {
	r := rand.New(rand.NewSource(9))
	x := randTensor(r, 3, 13, 15, 11)
	ceil := PoolSpec{KH: 3, KW: 3, StrideH: 2, StrideW: 2, Ceil: true}
	padded := PoolSpec{KH: 3, KW: 2, StrideH: 2, StrideW: 1, PadT: 1, PadL: 1, PadB: 1, PadR: 0, CountIncludePad: true}
	// Pads wider than the kernel leave windows wholly in the padding.
	wide := PoolSpec{KH: 2, KW: 2, StrideH: 1, StrideW: 1, PadT: 3, PadL: 0, PadB: 4, PadR: 5}
	for _, threads := range []int{1, 3} {
		f := FastCPU{Threads: threads}
		ref := Reference{}
		tag := fmt.Sprintf(" threads=%d", threads)
		// Those windows hold -Inf, as in Reference, so compare values exactly.
		if got, want := f.MaxPool2D(x, wide), ref.MaxPool2D(x, wide); !sameShape(got.Shape, want.Shape) || !slices.Equal(got.Data, want.Data) {
			t.Errorf("maxpool wide pads%s differs from Reference", tag)
		}
		checkClose(t, "maxpool ceil"+tag, f.MaxPool2D(x, ceil), ref.MaxPool2D(x, ceil), fastTol)
		checkClose(t, "maxpool padded"+tag, f.MaxPool2D(x, padded), ref.MaxPool2D(x, padded), fastTol)
		checkClose(t, "avgpool padded"+tag, f.AvgPool2D(x, padded), ref.AvgPool2D(x, padded), fastTol)
		checkClose(t, "adaptive avgpool"+tag, f.AdaptiveAvgPool2D(x, 4, 3), ref.AdaptiveAvgPool2D(x, 4, 3), fastTol)
		for _, l := range []LRNSpec{{Size: 5, Alpha: 1e-4, Beta: 0.75, K: 1}, {Size: 4, Alpha: 0.5, Beta: 0.6, K: 2}, {Size: 31, Alpha: 1, Beta: 0.75, K: 1}} {
			checkClose(t, fmt.Sprintf("lrn %+v%s", l, tag), f.LRN(x, l), ref.LRN(x, l), fastTol)
		}
		checkClose(t, "relu"+tag, f.ReLU(x), ref.ReLU(x), 0)
		y := randTensor(r, 3, 4, 15, 11)
		checkClose(t, "concat"+tag, f.Concat(x, y), ref.Concat(x, y), 0)
		checkClose(t, "softmax"+tag, f.Softmax(x), ref.Softmax(x), fastTol)
	}
}

// TestFastCPUNetworks runs each network with random weights on both backends and compares
// the logits and every named activation, with the same bound as single operators: float32
// accumulation errors do not grow enough through eight layers to need a looser one.
func TestFastCPUNetworks(t *testing.T) {
	const netTol = 1e-5
	for i, a := range []*Arch{AlexNet, AlexNetBVLC, SqueezeNet11} {
		for _, prec := range []Precision{F32, Int8} {
			if testing.Short() && prec == Int8 {
				continue
			}
			t.Run(a.Name+"/"+string(prec), func(t *testing.T) {
				m, err := NewModel(a, randomTensors(a, int64(10+i), 0))
				if err != nil {
					t.Fatal(err)
				}
				m = m.WithPrecision(prec)
				x := randTensor(rand.New(rand.NewSource(int64(i))), 1, 3, a.InputSize, a.InputSize)
				want, err := m.Forward(x, ForwardOptions{Backend: Reference{}})
				if err != nil {
					t.Fatal(err)
				}
				got, err := m.Forward(x, ForwardOptions{}) // the default backend is FastCPU
				if err != nil {
					t.Fatal(err)
				}
				for _, name := range want.Order {
					checkClose(t, name, got.Activations[name], want.Activations[name], netTol)
				}
				checkClose(t, "logits", got.Logits, want.Logits, netTol)
			})
		}
	}
}

func TestDefaultBackendIsFastCPU(t *testing.T) {
	if _, ok := DefaultBackend().(FastCPU); !ok {
		t.Errorf("default backend is %s, want fastcpu", DefaultBackend().Name())
	}
}

// TestPackCacheFollowsWeight checks that a weight packed for one group count and then used
// with another is repacked, not misread.
func TestPackCacheFollowsWeight(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	w := randWeight(r, false, 8, 2, 3, 3)
	x4 := randTensor(r, 1, 4, 6, 6)
	x2 := randTensor(r, 1, 2, 6, 6)
	s2, s1 := convSpec(4, 8, 3, 3, 1, 1, 2, false), convSpec(2, 8, 3, 3, 1, 1, 1, false)
	for i := 0; i < 2; i++ {
		checkClose(t, "groups 2", FastCPU{}.Conv2D(x4, w, nil, s2), Reference{}.Conv2D(x4, w, nil, s2), fastTol)
		checkClose(t, "groups 1", FastCPU{}.Conv2D(x2, w, nil, s1), Reference{}.Conv2D(x2, w, nil, s1), fastTol)
	}
}
