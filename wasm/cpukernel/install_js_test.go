//go:build js && wasm

package cpukernel

import (
	"math"
	"math/rand/v2"
	"syscall/js"
	"testing"
	"time"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/weights"
)

// These tests run the installed module inside a Go wasm program under Node
// (scripts/test-wasm.sh runs them through scripts/wasm-node-exec, which hands the program
// its memory as the pages do) and compare it with the engine's Go kernels.

// install returns the fast CPU backend on the installed module.
func install(t *testing.T) engine.FastCPU {
	t.Helper()
	if js.Global().Get(MemoryGlobal).IsUndefined() {
		t.Skip("the runner did not hand over the Go memory: run with -exec scripts/wasm-node-exec")
	}
	be, err := Backend()
	if err != nil {
		t.Fatal(err)
	}
	if got := be.KernelName(); got != Name {
		t.Fatalf("KernelName = %q after Install, want %q", got, Name)
	}
	t.Cleanup(Uninstall)
	return be
}

func randTensor(r *rand.Rand, shape ...int) *engine.Tensor {
	x := engine.NewTensor(shape...)
	for i := range x.Data {
		x.Data[i] = float32(r.NormFloat64())
	}
	return x
}

func randWeight(r *rand.Rand, int8W bool, shape ...int) *engine.Weight {
	w := &engine.Weight{Shape: shape, F32: randTensor(r, shape...).Data}
	if int8W {
		w = engine.QuantizeWeight(w)
	}
	return w
}

// withAndWithout runs f on the backend with the module and on the one with the Go kernels.
func withAndWithout(t *testing.T, f func(be engine.FastCPU) *engine.Tensor) (module, goKernels *engine.Tensor) {
	return f(install(t)), f(engine.FastCPU{})
}

func TestInstalledConvEqualsGoKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	specs := []struct {
		name string
		c    engine.ConvSpec
		h    int
	}{
		{"alexnet-conv1-like", engine.ConvSpec{In: 3, Out: 16, KH: 11, KW: 11, StrideH: 4, StrideW: 4, PadT: 2, PadL: 2, PadB: 2, PadR: 2, DilH: 1, DilW: 1, Groups: 1, ReLU: true}, 63},
		{"5x5-pad2", engine.ConvSpec{In: 12, Out: 21, KH: 5, KW: 5, StrideH: 1, StrideW: 1, PadT: 2, PadL: 2, PadB: 2, PadR: 2, DilH: 1, DilW: 1, Groups: 1, ReLU: true}, 13},
		{"3x2-k-across-KC", engine.ConvSpec{In: 40, Out: 7, KH: 3, KW: 2, StrideH: 1, StrideW: 1, PadT: 1, PadL: 1, PadB: 1, PadR: 1, DilH: 1, DilW: 1, Groups: 1}, 9},
		{"1x1-squeeze", engine.ConvSpec{In: 64, Out: 16, KH: 1, KW: 1, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, Groups: 1, ReLU: true}, 11},
		{"dilated-stride2", engine.ConvSpec{In: 5, Out: 6, KH: 3, KW: 2, StrideH: 2, StrideW: 1, PadT: 2, PadL: 1, PadB: 0, PadR: 3, DilH: 2, DilW: 3, Groups: 1}, 12},
		{"grouped", engine.ConvSpec{In: 8, Out: 12, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadT: 1, PadL: 1, PadB: 1, PadR: 1, DilH: 1, DilW: 1, Groups: 2, ReLU: true}, 10},
	}
	for _, s := range specs {
		if s.c.KH == 3 && s.c.KW == 3 && s.c.StrideH == 1 && s.c.StrideW == 1 && s.c.DilH == 1 && s.c.DilW == 1 {
			t.Fatalf("%s runs as Winograd, not bit-exact: test it in TestInstalledWinogradConvMatchesGoKernels", s.name)
		}
		for _, int8W := range []bool{false, true} {
			for _, batch := range []int{1, 2} {
				x := randTensor(r, batch, s.c.In, s.h, s.h)
				w := randWeight(r, int8W, s.c.Out, s.c.In/s.c.Groups, s.c.KH, s.c.KW)
				bias := randTensor(r, s.c.Out).Data
				got, want := withAndWithout(t, func(be engine.FastCPU) *engine.Tensor { return be.Conv2D(x, w, bias, s.c) })
				for i := range want.Data {
					if math.Float32bits(got.Data[i]) != math.Float32bits(want.Data[i]) {
						t.Fatalf("%s int8=%v batch %d: output %d = %v with the module, %v with the Go kernel %q (want bit-exact)",
							s.name, int8W, batch, i, got.Data[i], want.Data[i], engine.KernelName())
					}
				}
			}
		}
	}
}

// TestInstalledWinogradConvMatchesGoKernels: 3x3 stride-1 convolutions run as Winograd
// F(2x2,3x3) in the module, which rounds differently from the direct convolution: the
// outputs must match the Go kernels within a relative L2 error of 1e-5, and each output
// within 1e-5 of the sum of |w*x| over its window (the scale of its rounding error).
func TestInstalledWinogradConvMatchesGoKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	conv3 := func(in, out, groups, pad int, relu bool) engine.ConvSpec {
		return engine.ConvSpec{In: in, Out: out, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadT: pad, PadL: pad, PadB: pad, PadR: pad, DilH: 1, DilW: 1, Groups: groups, ReLU: relu}
	}
	specs := []struct {
		name string
		c    engine.ConvSpec
		h, w int
	}{
		{"alexnet-conv4-like", conv3(48, 40, 1, 1, true), 13, 13},
		{"cin3-27x27", conv3(3, 7, 1, 1, false), 27, 27},
		{"squeezenet-expand-55x55", conv3(8, 12, 1, 1, true), 55, 55},
		{"grouped", conv3(8, 12, 2, 1, false), 10, 9},
		{"k-across-KC", conv3(KC+9, 6, 1, 1, true), 5, 6},
		{"pad0", conv3(5, 6, 1, 0, false), 12, 7},
		{"1x1-plane", conv3(4, 5, 1, 1, true), 1, 1},
	}
	for _, s := range specs {
		for _, int8W := range []bool{false, true} {
			for _, batch := range []int{1, 2} {
				x := randTensor(r, batch, s.c.In, s.h, s.w)
				w := randWeight(r, int8W, s.c.Out, s.c.In/s.c.Groups, 3, 3)
				bias := randTensor(r, s.c.Out).Data
				got, want := withAndWithout(t, func(be engine.FastCPU) *engine.Tensor { return be.Conv2D(x, w, bias, s.c) })
				// mag: the convolution of |x| by |w|, each output's sum of |w*x|.
				ax, aw := randTensor(r, x.Shape...), &engine.Weight{Shape: w.Shape, F32: make([]float32, len(w.F32)+len(w.I8))}
				for i, v := range x.Data {
					ax.Data[i] = float32(math.Abs(float64(v)))
				}
				row := make([]float32, w.RowLen())
				for o := range w.Rows() {
					for i, v := range w.RowF32(o, row) {
						aw.F32[o*w.RowLen()+i] = float32(math.Abs(float64(v)))
					}
				}
				ac := s.c
				ac.ReLU = false
				mag := engine.Reference{}.Conv2D(ax, aw, nil, ac)
				var num, den, worst float64
				for i := range want.Data {
					d := float64(got.Data[i]) - float64(want.Data[i])
					num, den = num+d*d, den+float64(want.Data[i])*float64(want.Data[i])
					worst = max(worst, math.Abs(d)/(float64(mag.Data[i])+1e-30))
				}
				rel := math.Sqrt(num / den)
				if rel > 1e-5 || worst > 1e-5 {
					t.Errorf("%s int8=%v batch %d: rel L2 %.2g, max error / sum|w*x| %.2g (limit 1e-5)", s.name, int8W, batch, rel, worst)
				} else if batch == 2 {
					t.Logf("%s int8=%v: rel L2 %.2g, max error / sum|w*x| %.2g", s.name, int8W, rel, worst)
				}
			}
		}
	}
}

func TestInstalledMaxPoolEqualsGoKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, c := range []struct {
		p    engine.PoolSpec
		h, w int
	}{
		{engine.PoolSpec{KH: 3, KW: 3, StrideH: 2, StrideW: 2}, 55, 55},               // AlexNet pool1
		{engine.PoolSpec{KH: 3, KW: 3, StrideH: 2, StrideW: 2, Ceil: true}, 111, 111}, // SqueezeNet pool1
		{engine.PoolSpec{KH: 3, KW: 3, StrideH: 2, StrideW: 2, Ceil: true}, 14, 9},
		{engine.PoolSpec{KH: 2, KW: 3, StrideH: 1, StrideW: 2, Ceil: true}, 5, 4},
		{engine.PoolSpec{KH: 3, KW: 3, StrideH: 2, StrideW: 2}, 3, 3},
	} {
		x := randTensor(r, 2, 3, c.h, c.w)
		x.Data[7], x.Data[40] = float32(math.NaN()), float32(math.Inf(1)) // NaN wins, as in the Go pools
		got, want := withAndWithout(t, func(be engine.FastCPU) *engine.Tensor { return be.MaxPool2D(x, c.p) })
		for i := range want.Data {
			g, w := got.Data[i], want.Data[i]
			if math.Float32bits(g) != math.Float32bits(w) && !(g != g && w != w) { // NaN payloads may differ
				t.Fatalf("maxpool %+v on %dx%d: output %d = %v with the module, %v with the Go kernels", c.p, c.h, c.w, i, got.Data[i], want.Data[i])
			}
		}
	}
}

// TestInstalledMaxPoolBackwardRoutesToFirstMaximum: the module's max-pool backward pass adds
// each output's gradient at its window's first element equal to the maximum, row-major,
// the first NaN for a NaN maximum (PyTorch's routing; the engine's Go loops are checked
// against PyTorch), on windows clipped at the edges, with ties from rounded inputs.
func TestInstalledMaxPoolBackwardRoutesToFirstMaximum(t *testing.T) {
	be := install(t)
	r := rand.New(rand.NewPCG(7, 8))
	for _, c := range []struct {
		p    engine.PoolSpec
		h, w int
	}{
		{engine.PoolSpec{KH: 3, KW: 3, StrideH: 2, StrideW: 2}, 55, 55},
		{engine.PoolSpec{KH: 3, KW: 3, StrideH: 2, StrideW: 2, Ceil: true}, 14, 9},
		{engine.PoolSpec{KH: 2, KW: 3, StrideH: 1, StrideW: 2, Ceil: true}, 5, 4},
		{engine.PoolSpec{KH: 3, KW: 3, StrideH: 2, StrideW: 2}, 3, 3},
	} {
		const planes = 3
		x := randTensor(r, 1, planes, c.h, c.w)
		for i := range x.Data {
			x.Data[i] = float32(math.Round(float64(x.Data[i]))) // ties
		}
		n := len(x.Data)
		x.Data[7%n], x.Data[9%n], x.Data[40%n] = float32(math.NaN()), float32(math.NaN()), float32(math.Inf(1))
		y := be.MaxPool2D(x, c.p)
		oh, ow := y.Shape[2], y.Shape[3]
		g := randTensor(r, 1, planes, oh, ow)
		got := make([]float32, len(x.Data))
		be.Block.MaxPoolK3S2Backward(got, g.Data, x.Data, y.Data, planes, c.h, c.w, oh, ow, c.p.KH, c.p.StrideH)
		want := make([]float32, len(x.Data))
		for pl := range planes {
			for oy := range oh {
				for ox := range ow {
					m := y.Data[(pl*oh+oy)*ow+ox]
				search:
					for iy := oy * c.p.StrideH; iy < min(oy*c.p.StrideH+c.p.KH, c.h); iy++ {
						for ix := 2 * ox; ix < min(2*ox+3, c.w); ix++ {
							if v := x.Data[(pl*c.h+iy)*c.w+ix]; v == m || (m != m && v != v) {
								want[(pl*c.h+iy)*c.w+ix] += g.Data[(pl*oh+oy)*ow+ox]
								break search
							}
						}
					}
				}
			}
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("maxpool backward %+v on %dx%d: input gradient %d = %v from the module, want %v", c.p, c.h, c.w, i, got[i], want[i])
			}
		}
	}
}

func TestInstalledLinearMatchesGoKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, int8W := range []bool{false, true} {
		for _, l := range []engine.LinearSpec{{In: 9216, Out: 37, ReLU: true}, {In: 301, Out: 6}, {In: 5, Out: 3}} {
			x := randTensor(r, 2, l.In)
			w := randWeight(r, int8W, l.Out, l.In)
			bias := randTensor(r, l.Out).Data
			got, want := withAndWithout(t, func(be engine.FastCPU) *engine.Tensor { return be.Linear(x, w, bias, l) })
			for i := range want.Data {
				tol := 1e-5 * math.Sqrt(float64(l.In)) * 4
				if d := math.Abs(float64(got.Data[i] - want.Data[i])); d > tol*max(1, math.Abs(float64(want.Data[i]))) {
					t.Fatalf("linear %v int8=%v: output %d = %v with the module, %v with the Go kernels", l, int8W, i, got.Data[i], want.Data[i])
				}
			}
		}
	}
}

func TestInstalledNetworksMatchGoKernels(t *testing.T) {
	for _, name := range []string{"squeezenet1_1", "alexnet"} {
		arch, err := engine.LookupArch(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []engine.Precision{engine.F32, engine.Int8} {
			m := weights.Fixture(arch, 7).WithPrecision(p)
			x := randTensor(rand.New(rand.NewPCG(9, 9)), 1, 3, arch.InputSize, arch.InputSize)
			got, want := withAndWithout(t, func(be engine.FastCPU) *engine.Tensor {
				res, err := m.Forward(x, engine.ForwardOptions{Backend: be})
				if err != nil {
					t.Fatal(err)
				}
				return res.Logits
			})
			var num, den float64
			for i := range want.Data {
				d := float64(got.Data[i] - want.Data[i])
				num, den = num+d*d, den+float64(want.Data[i])*float64(want.Data[i])
			}
			if rel := math.Sqrt(num / den); rel > 1e-5 {
				t.Errorf("%s %s: logits rel L2 %.2g between the module and the Go kernels (limit 1e-5)", name, p, rel)
			} else {
				t.Logf("%s %s: logits rel L2 %.2g between the module and the Go kernels", name, p, rel)
			}
		}
	}
}

func TestInstallRefusesAForeignMemory(t *testing.T) {
	own := js.Global().Get(MemoryGlobal)
	if own.IsUndefined() {
		t.Skip("the runner did not hand over the Go memory: run with -exec scripts/wasm-node-exec")
	}
	defer js.Global().Set(MemoryGlobal, own)
	js.Global().Set(MemoryGlobal, js.Global().Get("WebAssembly").Get("Memory").New(map[string]any{"initial": 1}))
	if _, err := Install(); err == nil {
		Uninstall()
		t.Fatal("Install accepted a memory that is not the program's")
	} else if Installed() {
		t.Fatalf("Install failed (%v) but left the module installed", err)
	}
	js.Global().Delete(MemoryGlobal)
	if _, err := Install(); err == nil {
		Uninstall()
		t.Fatal("Install succeeded with no memory handed over")
	}
}

// BenchmarkForward times whole forward passes with the module and with the Go kernels:
//
//	GOOS=js GOARCH=wasm go test -run XXX -bench Forward -exec "$PWD/scripts/wasm-node-exec" ./wasm/cpukernel
func BenchmarkForward(b *testing.B) {
	for _, name := range []string{"alexnet", "squeezenet1_1"} {
		arch, err := engine.LookupArch(name)
		if err != nil {
			b.Fatal(err)
		}
		m := weights.Fixture(arch, 7)
		x := randTensor(rand.New(rand.NewPCG(9, 9)), 1, 3, arch.InputSize, arch.InputSize)
		for _, kernel := range []string{"module", "go"} {
			b.Run(name+"/"+kernel, func(b *testing.B) {
				be := engine.FastCPU{}
				if kernel == "module" {
					if js.Global().Get(MemoryGlobal).IsUndefined() {
						b.Skip("no memory handed over: run with -exec scripts/wasm-node-exec")
					}
					var err error
					if be, err = Backend(); err != nil {
						b.Fatal(err)
					}
					defer Uninstall()
				}
				for b.Loop() {
					if _, err := m.Forward(x, engine.ForwardOptions{Backend: be, Keep: func(string) bool { return false }}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func TestPeakGFLOPSRunsTheModule(t *testing.T) {
	install(t)
	if g := PeakGFLOPS(10 * time.Millisecond); !(g > 0) {
		t.Fatalf("PeakGFLOPS = %v with the module installed", g)
	}
	Uninstall()
	if g := PeakGFLOPS(time.Millisecond); g != 0 {
		t.Fatalf("PeakGFLOPS = %v with nothing installed, want 0", g)
	}
}

// TestInstalledInputGradientMatchesGoKernels: the gradient pass on the module (convolutions'
// input gradients: the strided first layer's product and packing through gemm and pack_b,
// stride-1 ones as forward convolutions) against the Go kernels, to an early and a late
// layer's channel.
func TestInstalledInputGradientMatchesGoKernels(t *testing.T) {
	for _, name := range []string{"squeezenet1_1", "alexnet"} {
		arch, err := engine.LookupArch(name)
		if err != nil {
			t.Fatal(err)
		}
		m := weights.Fixture(arch, 8)
		x := randTensor(rand.New(rand.NewPCG(10, 10)), 1, 3, 67, 67)
		names := arch.LayerNames()
		for _, obj := range []engine.Objective{engine.ChannelMean(names[0], 1), engine.ChannelMean(names[min(len(names)/2, 4)], 1)} {
			var values [2]float32
			grads := [2]*engine.Tensor{}
			for i, be := range []engine.FastCPU{install(t), {}} {
				v, g, err := m.InputGradientWith(x, obj, engine.GradOptions{Backend: be})
				if err != nil {
					t.Fatal(err)
				}
				values[i], grads[i] = v, g
			}
			if e := engine.RelL2(grads[0].Data, grads[1].Data); !(e < 1e-5) {
				t.Errorf("%s %v: input gradient rel L2 %.3g between the module and the Go kernels (limit 1e-5)", name, obj, e)
			} else {
				t.Logf("%s %v: input gradient rel L2 %.2g, objective %g and %g", name, obj, e, values[0], values[1])
			}
		}
	}
}
