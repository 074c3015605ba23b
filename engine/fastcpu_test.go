package engine

import (
	"fmt"
	"math"
	"math/rand"
	"runtime"
	"slices"
	"testing"
	"time"
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
	if !slices.Equal(got.Shape, want.Shape) {
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
			withWideGrid(func() {
				got := FastCPU{Threads: 2}.Conv2D(x, w, b, c.spec)
				checkClose(t, fmt.Sprintf("%s int8=%v on the wide grid", c.name, q), got, want, fastTol)
			})
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
		if got, want := f.MaxPool2D(x, wide), ref.MaxPool2D(x, wide); !slices.Equal(got.Shape, want.Shape) || !slices.Equal(got.Data, want.Data) {
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

// withWideGrid runs f with every stride-1 convolution on the wide grid (wideGridPanel).
func withWideGrid(f func()) {
	defer func(r func(ConvSpec, int, int, int, int) bool) { wideGridRule = r }(wideGridRule)
	wideGridRule = alwaysWideGrid
	f()
}

// FuzzFastCPUConv is a differential fuzz target: any small convolution the fuzzer can
// describe (sizes, strides, pads wider than the kernel, dilation, groups, batch, int8)
// must give Reference's result, and never panic inside the fast path.
func FuzzFastCPUConv(f *testing.F) {
	f.Add([]byte{3, 5, 7, 9, 3, 3, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 2}, int64(1))
	f.Add([]byte{2, 6, 4, 11, 11, 11, 4, 3, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1}, int64(2))
	f.Fuzz(func(t *testing.T, b []byte, seed int64) {
		at := func(i, lo, hi int) int { // byte i mapped into [lo, hi]
			if i >= len(b) {
				return lo
			}
			return lo + int(b[i])%(hi-lo+1)
		}
		groups := at(0, 1, 3)
		spec := ConvSpec{
			In: groups * at(1, 1, 4), Out: groups * at(2, 1, 9),
			KH: at(3, 1, 5), KW: at(4, 1, 5),
			StrideH: at(5, 1, 4), StrideW: at(6, 1, 4),
			PadT: at(7, 0, 6), PadL: at(8, 0, 6), PadB: at(9, 0, 6), PadR: at(10, 0, 6),
			DilH: at(11, 1, 3), DilW: at(12, 1, 3), Groups: groups, ReLU: at(13, 0, 1) == 1,
		}
		n, h, w := at(14, 1, 3), at(15, 1, 19), at(16, 1, 19)
		quant := at(17, 0, 1) == 1
		r := rand.New(rand.NewSource(seed))
		x := randTensor(r, n, spec.In, h, w)
		wt := randWeight(r, quant, spec.Out, spec.In/groups, spec.KH, spec.KW)
		bias := randBias(r, spec.Out)
		want := Reference{}.Conv2D(x, wt, bias, spec)
		got := FastCPU{Threads: 2}.Conv2D(x, wt, bias, spec)
		wide := got
		if seed%2 == 1 { // odd seeds take the wide grid wherever the stride allows
			withWideGrid(func() { wide = FastCPU{Threads: 2}.Conv2D(x, wt, bias, spec) })
		}
		if !slices.Equal(wide.Data, got.Data) {
			t.Errorf("the wide grid's result differs from the compact im2col's")
		}
		what := fmt.Sprintf("%+v n=%d h=%d w=%d int8=%v", spec, n, h, w, quant)
		if !slices.Equal(got.Shape, want.Shape) || HasNaN(got.Data) {
			t.Fatalf("%s: shape %v (want %v) or NaN", what, got.Shape, want.Shape)
		}
		// A handful of terms can cancel to nearly nothing, where a relative error means
		// little: bound the error by the size of the terms, the same convolution of |x|,
		// |w| and |bias|, which float32 rounding error is proportional to.
		absSpec := spec
		absSpec.ReLU = false
		scale := Reference{}.Conv2D(absTensor(x), absWeight(wt), absSlice(bias), absSpec)
		if e := RelL2(got.Data, want.Data) * l2(want.Data) / max(l2(scale.Data), 1e-30); e > fastTol {
			t.Errorf("%s: error %.3g of the terms' size > %.3g", what, e, fastTol)
		}
	})
}

// FuzzFastCPUMaxPool does the same for max pooling, ceil mode and wide pads included.
func FuzzFastCPUMaxPool(f *testing.F) {
	f.Add(uint8(3), uint8(3), uint8(2), uint8(2), uint8(0), uint8(0), uint8(0), uint8(0), true, uint8(13), uint8(11))
	f.Add(uint8(2), uint8(2), uint8(1), uint8(1), uint8(3), uint8(0), uint8(4), uint8(5), false, uint8(5), uint8(7))
	f.Fuzz(func(t *testing.T, kh, kw, sh, sw, pt, pl, pb, pr uint8, ceil bool, h, w uint8) {
		p := PoolSpec{KH: 1 + int(kh)%5, KW: 1 + int(kw)%5, StrideH: 1 + int(sh)%4, StrideW: 1 + int(sw)%4,
			PadT: int(pt) % 6, PadL: int(pl) % 6, PadB: int(pb) % 6, PadR: int(pr) % 6, Ceil: ceil}
		x := randTensor(rand.New(rand.NewSource(int64(h)*256+int64(w))), 2, 3, 1+int(h)%20, 1+int(w)%20)
		got, want := FastCPU{Threads: 2}.MaxPool2D(x, p), Reference{}.MaxPool2D(x, p)
		if !slices.Equal(got.Shape, want.Shape) || !slices.Equal(got.Data, want.Data) {
			t.Errorf("%+v on %v: differs from Reference", p, x.Shape)
		}
	})
}

func absSlice(v []float32) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(math.Abs(float64(x)))
	}
	return out
}

func absTensor(t *Tensor) *Tensor { return &Tensor{Shape: t.Shape, Data: absSlice(t.Data)} }

func absWeight(w *Weight) *Weight {
	if !w.Quantized() {
		return &Weight{Shape: w.Shape, F32: absSlice(w.F32)}
	}
	q := &Weight{Shape: w.Shape, I8: make([]int8, len(w.I8)), Scale: w.Scale}
	for i, v := range w.I8 {
		q.I8[i] = max(v, -v) // int8 weights are in [-127, 127], so -v fits
	}
	return q
}

func l2(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// TestPackCacheReleasesWeights checks that packed weights do not outlive their Weight: a
// server loading and dropping models must not grow the cache forever.
func TestPackCacheReleasesWeights(t *testing.T) {
	count := func() (n int) {
		packCache.Range(func(_, _ any) bool { n++; return true })
		return n
	}
	before := count()
	func() {
		r := rand.New(rand.NewSource(4))
		for i := 0; i < 5; i++ {
			w := randWeight(r, i%2 == 1, 6, 3, 3, 3)
			FastCPU{}.Conv2D(randTensor(r, 1, 3, 5, 5), w, nil, convSpec(3, 6, 3, 3, 1, 1, 1, false))
		}
	}()
	if got := count(); got < before+5 {
		t.Fatalf("cache holds %d entries after packing 5 weights, had %d", got, before)
	}
	deadline := time.Now().Add(5 * time.Second)
	for count() > before && time.Now().Before(deadline) {
		runtime.GC() // cleanups run after the weights are found unreachable
		time.Sleep(10 * time.Millisecond)
	}
	if got := count(); got > before {
		t.Errorf("cache still holds %d entries for dropped weights", got-before)
	}
}

// TestFastCPUConcurrentUse runs one model's convolutions from several goroutines at once,
// as a server does: results must not depend on sharing the packed weights.
func TestFastCPUConcurrentUse(t *testing.T) {
	r := rand.New(rand.NewSource(12))
	spec := convSpec(8, 12, 3, 3, 1, 1, 2, true)
	w := randWeight(r, true, 12, 4, 3, 3)
	xs := []*Tensor{randTensor(r, 1, 8, 9, 9), randTensor(r, 2, 8, 7, 11), randTensor(r, 1, 8, 5, 6)}
	done := make(chan error)
	for i := 0; i < 6; i++ {
		go func() {
			x := xs[i%len(xs)]
			got, want := FastCPU{Threads: 2}.Conv2D(x, w, nil, spec), Reference{}.Conv2D(x, w, nil, spec)
			if e := RelL2(got.Data, want.Data); e > fastTol {
				done <- fmt.Errorf("goroutine %d: relative L2 error %.3g", i, e)
				return
			}
			done <- nil
		}()
	}
	for i := 0; i < 6; i++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// Forward hands unkept intermediate tensors back to the activation free list and later
// passes reuse them: results must not change, and tensors a caller kept must never be
// overwritten by a later pass.
func TestForwardRecyclesOnlyUnkeptTensors(t *testing.T) {
	for i, a := range []*Arch{SqueezeNet11, AlexNet} {
		m, err := NewModel(a, randomTensors(a, int64(20+i), 0))
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewSource(int64(30 + i)))
		x1 := randTensor(r, 1, 3, a.InputSize, a.InputSize)
		x2 := randTensor(r, 1, 3, a.InputSize, a.InputSize)
		in1, in2 := x1.Clone(), x2.Clone()
		all, err := m.Forward(x1, ForwardOptions{}) // keeps everything: recycles nothing
		if err != nil {
			t.Fatal(err)
		}
		mid := all.Order[len(all.Order)/2]
		kept, err := m.Forward(x1, ForwardOptions{Keep: func(n string) bool { return n == mid }})
		if err != nil {
			t.Fatal(err)
		}
		snapshot := kept.Activations[mid].Clone()
		for pass := 0; pass < 3; pass++ { // other inputs, nothing kept: buffers cycle through
			for _, x := range []*Tensor{x1, x2} { // x2 last: a recycled kept tensor would now hold its values
				res, err := m.Forward(x, ForwardOptions{Keep: func(string) bool { return false }})
				if err != nil {
					t.Fatal(err)
				}
				if x == x1 {
					checkClose(t, a.Name+" logits after recycling", res.Logits, all.Logits, 0)
				}
			}
		}
		checkClose(t, a.Name+" kept "+mid, kept.Activations[mid], snapshot, 0)
		checkClose(t, a.Name+" logits of the keeping pass", kept.Logits, all.Logits, 0)
		checkClose(t, a.Name+" input 1", x1, in1, 0) // the caller's inputs are never recycled
		checkClose(t, a.Name+" input 2", x2, in2, 0)
	}
}

// A result released before the next pass lends that pass its buffers: a caller that keeps
// every activation of every pass (the app) allocates none, and results are unchanged.
func TestReleasedResultLendsItsBuffers(t *testing.T) {
	for i, a := range []*Arch{SqueezeNet11, AlexNet} {
		m, err := NewModel(a, randomTensors(a, int64(40+i), 0))
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewSource(int64(50 + i)))
		x1 := randTensor(r, 1, 3, a.InputSize, a.InputSize)
		x2 := randTensor(r, 1, 3, a.InputSize, a.InputSize)
		in1 := x1.Clone()
		first, err := m.Forward(x1, ForwardOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]*Tensor{}
		for name, act := range first.Activations {
			want[name] = act.Clone()
		}
		buffers := map[*float32]bool{}
		for _, act := range first.Activations {
			buffers[&act.Data[0]] = true
		}
		last := first
		reused := 0
		for pass := 0; pass < 4; pass++ {
			x := []*Tensor{x2, x1}[pass%2] // x1 last
			last.Release()
			if last.Activations != nil {
				t.Fatalf("%s: a released result still lists its activations", a.Name)
			}
			if d := duplicateFreeBuffer(); d != "" {
				t.Fatalf("%s pass %d: %s", a.Name, pass, d)
			}
			res, err := m.Forward(x, ForwardOptions{})
			if err != nil {
				t.Fatal(err)
			}
			seen := map[*float32]string{}
			for name, act := range res.Activations {
				p := &act.Data[0]
				if other, ok := seen[p]; ok {
					t.Fatalf("%s pass %d: %s and %s share one buffer", a.Name, pass, name, other)
				}
				seen[p] = name
				if buffers[p] {
					reused++
				}
			}
			last = res
		}
		for name, act := range last.Activations {
			checkClose(t, a.Name+" "+name+" after recycling", act, want[name], 0)
		}
		checkClose(t, a.Name+" input", x1, in1, 0)
		if reused == 0 {
			t.Errorf("%s: no pass reused a released buffer", a.Name)
		}
	}
}

// Two names of one result may share a tensor (a layer that passes its input on); Release
// gives it back once, or two later tensors would share memory.
func TestReleaseGivesSharedTensorBackOnce(t *testing.T) {
	shared := newOutput(3, 1000003) // a length no other test allocates
	res := &Result{Activations: map[string]*Tensor{"a": shared, "b": shared, "c": Flatten(shared, 1)}, recyclable: true}
	res.Release()
	if d := duplicateFreeBuffer(); d != "" {
		t.Fatal(d)
	}
	x, y := newOutput(3, 1000003), newOutput(3, 1000003)
	if &x.Data[0] == &y.Data[0] {
		t.Fatal("two new tensors share one buffer")
	}
	(&Result{Activations: map[string]*Tensor{"x": x}}).Release() // not recyclable: kept out of the list
	if n := len(activationBuffers.free[3*1000003]); n != 0 {
		t.Errorf("a result of another backend was recycled (%d buffers listed)", n)
	}
}

// duplicateFreeBuffer describes a buffer listed twice in the activation free list ("" when
// none is): two later tensors would share it.
func duplicateFreeBuffer() string {
	a := &activationBuffers
	a.Lock()
	defer a.Unlock()
	seen := map[*float32]bool{}
	for n, l := range a.free {
		for _, d := range l {
			if seen[&d[0]] {
				return fmt.Sprintf("a buffer of %d values is in the free list twice", n)
			}
			seen[&d[0]] = true
		}
	}
	return ""
}
