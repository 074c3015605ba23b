//go:build js && wasm

// Command testdriver runs the WebGPU backend's checks inside a real browser page: Go test
// binaries for js/wasm cannot run in Chromium, so this program does the GPU work, compares
// it with the CPU path in the same page, and leaves a JSON report in window.alexlensReport
// for the native chromedp test (wasm/webgpu/browsertest) to assert on. It reports measured
// numbers only; the verdicts live in the native test.
//
// The page's query string picks a suite: ops, nets, grads, photos, fallback, noadapter, bench.
package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"syscall/js"
	"time"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/wasm/jsutil"
	"github.com/alexlens/alexlens/wasm/protocol"
	"github.com/alexlens/alexlens/wasm/webgpu"
	"github.com/alexlens/alexlens/wasm/webgpu/report"
	"github.com/alexlens/alexlens/weights"
)

func main() {
	q, _ := url.ParseQuery(strings.TrimPrefix(js.Global().Get("location").Get("search").String(), "?"))
	rep := &report.Report{Suite: q.Get("suite"), Extra: map[string]any{}}
	// The harness follows progress, not a fixed budget: it reads how many cases are done
	// whenever the page is between GPU calls.
	js.Global().Set("alexlensProgress", js.FuncOf(func(js.Value, []js.Value) any { return len(rep.Cases) }))
	func() {
		defer func() {
			if r := recover(); r != nil {
				rep.Fatal = fmt.Sprintf("panic: %v\n%s", r, debug.Stack())
			}
		}()
		switch rep.Suite {
		case "ops":
			runOps(rep)
		case "nets":
			runNets(rep, q.Get("arch"))
		case "grads":
			runGrads(rep, q.Get("arch"))
		case "photos":
			runPhotos(rep, q.Get("dir"), q.Get("n"))
		case "fallback":
			runFallback(rep)
		case "noadapter":
			runNoAdapter(rep)
		case "bench":
			runBench(rep, q)
		default:
			rep.Fatal = "unknown suite " + rep.Suite
		}
	}()
	b, _ := json.Marshal(rep)
	js.Global().Set("alexlensReport", string(b))
	select {} // keep the instance alive for the test to read the page
}

func compare(c *report.Case, got, want *engine.Tensor) {
	if got == nil || want == nil {
		c.Error = "missing result"
		return
	}
	if fmt.Sprint(got.Shape) != fmt.Sprint(want.Shape) && got.Len() != want.Len() {
		c.Error = fmt.Sprintf("shape %v, want %v", got.Shape, want.Shape)
		return
	}
	c.RelL2 = engine.RelL2(got.Data, want.Data)
	c.NaN = engine.HasNaN(got.Data)
	for i := range got.Data {
		c.MaxAbs = max(c.MaxAbs, math.Abs(float64(got.Data[i]-want.Data[i])))
	}
}

// rng is a small deterministic generator for test inputs.
type rng uint64

func (r *rng) next() float32 {
	*r = *r*6364136223846793005 + 1442695040888963407
	return float32(int64(*r>>11)%2000001-1000000) / 1e6
}

func randTensor(r *rng, shape ...int) *engine.Tensor {
	t := engine.NewTensor(shape...)
	for i := range t.Data {
		t.Data[i] = r.next()
	}
	return t
}

func randWeight(r *rng, shape ...int) *engine.Weight {
	t := randTensor(r, shape...)
	return &engine.Weight{Shape: t.Shape, F32: t.Data}
}

func randBias(r *rng, n int) []float32 { return randTensor(r, n).Data }

func live(d *webgpu.Device) int {
	n, _ := d.LiveBuffers()
	return n
}

// f32Bound is the float32 bound; int8's is the same because activations stay
// float32 on both sides and only the weights are int8 (equal on both sides).
const f32Bound = 1e-4

func convSpec(in, out, k, stride, pad, groups int, relu bool) engine.ConvSpec {
	return engine.ConvSpec{In: in, Out: out, KH: k, KW: k, StrideH: stride, StrideW: stride, PadT: pad, PadL: pad, PadB: pad, PadR: pad, DilH: 1, DilW: 1, Groups: groups, ReLU: relu}
}

func runOps(rep *report.Report) {
	d, err := webgpu.Open(webgpu.Options{})
	if err != nil {
		rep.Fatal = err.Error()
		return
	}
	defer d.Close()
	rep.Adapter, rep.Limits = d.Info(), d.Limits()
	ref := engine.Reference{}
	r := rng(7)
	add := func(name string, bound float64, gpu func() (*engine.Tensor, error), cpu func() *engine.Tensor) {
		c := report.Case{Name: name, Bound: bound}
		start := time.Now()
		got, err := gpu()
		c.Millis = float64(time.Since(start).Microseconds()) / 1000
		if err != nil {
			c.Error = err.Error()
		} else {
			compare(&c, got, cpu())
		}
		c.Live = live(d)
		rep.Cases = append(rep.Cases, c)
	}
	type convCase struct {
		name  string
		n     int
		h, w  int
		c     engine.ConvSpec
		noBia bool
	}
	asym := convSpec(5, 7, 3, 2, 0, 1, false)
	asym.PadT, asym.PadL, asym.PadB, asym.PadR = 1, 0, 2, 1
	dil := convSpec(6, 10, 3, 1, 2, 2, true)
	dil.DilH, dil.DilW = 2, 2
	rect := convSpec(4, 9, 1, 1, 0, 1, true)
	rect.KH, rect.KW, rect.PadT, rect.PadB = 3, 5, 1, 1
	convs := []convCase{
		{"conv alexnet-conv1 shape 3->64 k11 s4 p2 on 67x61", 1, 67, 61, convSpec(3, 64, 11, 4, 2, 1, true), false},
		{"conv grouped 96->256 g2 k5 p2 on 13x11 (bvlc conv2)", 1, 13, 11, convSpec(96, 256, 5, 1, 2, 2, true), false},
		{"conv 70->67 k3 p1 batch 2 on 9x10 (no tile multiples)", 2, 9, 10, convSpec(70, 67, 3, 1, 1, 1, true), false},
		{"conv 1x1 33->1000 no relu (squeezenet conv10 shape) on 5x5", 1, 5, 5, convSpec(33, 1000, 1, 1, 0, 1, false), false},
		{"conv asymmetric pads stride 2 no bias", 1, 17, 12, asym, true},
		{"conv dilation 2 groups 2", 1, 15, 14, dil, false},
		{"conv 3x5 kernel", 3, 7, 130, rect, false},
		{"conv depthwise 8->8 g8", 1, 11, 11, convSpec(8, 8, 3, 1, 1, 8, true), false},
	}
	for _, cc := range convs {
		x := randTensor(&r, cc.n, cc.c.In, cc.h, cc.w)
		w := randWeight(&r, cc.c.Out, cc.c.In/cc.c.Groups, cc.c.KH, cc.c.KW)
		var bias []float32
		if !cc.noBia {
			bias = randBias(&r, cc.c.Out)
		}
		for _, q := range []bool{false, true} {
			wt, name := w, cc.name+" f32"
			if q {
				wt, name = engine.QuantizeWeight(w), cc.name+" int8"
			}
			add(name, f32Bound, func() (*engine.Tensor, error) { return d.Conv2D(x, wt, bias, cc.c) },
				func() *engine.Tensor { return ref.Conv2D(x, wt, bias, cc.c) })
		}
	}
	type linCase struct {
		name       string
		n, in, out int
		relu       bool
	}
	for _, lc := range []linCase{
		{"linear batch 1 333->77 relu (matvec, int8 tail)", 1, 333, 77, true},
		{"linear batch 1 9216->300 (fc6 width)", 1, 9216, 300, false},
		{"linear batch 3 333->77 (GEMM)", 3, 333, 77, true},
		{"linear batch 70 129->65 (GEMM, partial tiles)", 70, 129, 65, false},
	} {
		x := randTensor(&r, lc.n, lc.in)
		w := randWeight(&r, lc.out, lc.in)
		bias := randBias(&r, lc.out)
		spec := engine.LinearSpec{In: lc.in, Out: lc.out, ReLU: lc.relu}
		for _, q := range []bool{false, true} {
			wt, name := w, lc.name+" f32"
			if q {
				wt, name = engine.QuantizeWeight(w), lc.name+" int8"
			}
			add(name, f32Bound, func() (*engine.Tensor, error) { return d.Linear(x, wt, bias, spec) },
				func() *engine.Tensor { return ref.Linear(x, wt, bias, spec) })
		}
	}
	pool := func(k, s, pad int, ceil, inc bool) engine.PoolSpec {
		return engine.PoolSpec{KH: k, KW: k, StrideH: s, StrideW: s, PadT: pad, PadL: pad, PadB: pad, PadR: pad, Ceil: ceil, CountIncludePad: inc}
	}
	x := randTensor(&r, 2, 5, 14, 13)
	for _, pc := range []struct {
		name string
		p    engine.PoolSpec
	}{
		{"k3 s2", pool(3, 2, 0, false, false)},
		{"k3 s2 ceil", pool(3, 2, 0, true, false)},
		{"k3 s2 pad1 ceil", pool(3, 2, 1, true, false)},
		{"k2 s3 pad1", pool(2, 3, 1, false, false)},
	} {
		p := pc.p
		add("maxpool "+pc.name, 0, func() (*engine.Tensor, error) { return d.MaxPool2D(x, p) },
			func() *engine.Tensor { return ref.MaxPool2D(x, p) })
		p2 := p
		add("avgpool "+pc.name, f32Bound, func() (*engine.Tensor, error) { return d.AvgPool2D(x, p2) },
			func() *engine.Tensor { return ref.AvgPool2D(x, p2) })
		p2.CountIncludePad = true
		add("avgpool count_include_pad "+pc.name, f32Bound, func() (*engine.Tensor, error) { return d.AvgPool2D(x, p2) },
			func() *engine.Tensor { return ref.AvgPool2D(x, p2) })
	}
	for _, ac := range [][4]int{{13, 13, 6, 6}, {5, 7, 1, 1}, {4, 3, 6, 6}, {15, 11, 4, 5}} {
		xa := randTensor(&r, 2, 3, ac[0], ac[1])
		oh, ow := ac[2], ac[3]
		add(fmt.Sprintf("adaptive avg pool %dx%d -> %dx%d", ac[0], ac[1], oh, ow), f32Bound,
			func() (*engine.Tensor, error) { return d.AdaptiveAvgPool2D(xa, oh, ow) },
			func() *engine.Tensor { return ref.AdaptiveAvgPool2D(xa, oh, ow) })
	}
	for _, l := range []engine.LRNSpec{{Size: 5, Alpha: 1e-4, Beta: 0.75, K: 1}, {Size: 4, Alpha: 0.5, Beta: 0.6, K: 2}, {Size: 3, Alpha: 2, Beta: 1, K: 0.5}} {
		xl := randTensor(&r, 2, 7, 5, 3)
		for i := range xl.Data {
			xl.Data[i] *= 10 // large enough that the normalization matters
		}
		ll := l
		add(fmt.Sprintf("lrn size %d alpha %g beta %g k %g", l.Size, l.Alpha, l.Beta, l.K), f32Bound,
			func() (*engine.Tensor, error) { return d.LRN(xl, ll) },
			func() *engine.Tensor { return ref.LRN(xl, ll) })
	}
	xr := randTensor(&r, 3, 7, 11, 13)
	add("relu 3x7x11x13", 0, func() (*engine.Tensor, error) { return d.ReLU(xr) }, func() *engine.Tensor { return ref.ReLU(xr) })
	c1, c2, c3 := randTensor(&r, 2, 3, 5, 7), randTensor(&r, 2, 1, 5, 7), randTensor(&r, 2, 6, 5, 7)
	add("concat 3+1+6 channels batch 2", 0, func() (*engine.Tensor, error) { return d.Concat(c1, c2, c3) },
		func() *engine.Tensor { return ref.Concat(c1, c2, c3) })
	for _, sc := range [][2]int{{3, 1000}, {1, 7}, {2, 257}} {
		xs := randTensor(&r, sc[0], sc[1])
		for i := range xs.Data {
			xs.Data[i] *= 20
		}
		add(fmt.Sprintf("softmax %dx%d", sc[0], sc[1]), f32Bound, func() (*engine.Tensor, error) { return d.Softmax(xs) },
			func() *engine.Tensor { return ref.Softmax(xs) })
	}
	// Bad input gets an error, not a panic or a hang.
	bad := []struct {
		name string
		run  func() (*engine.Tensor, error)
	}{
		{"error: conv with wrong weight shape", func() (*engine.Tensor, error) {
			return d.Conv2D(randTensor(&r, 1, 3, 5, 5), randWeight(&r, 4, 2, 3, 3), nil, convSpec(3, 4, 3, 1, 1, 1, false))
		}},
		{"error: conv output empty", func() (*engine.Tensor, error) {
			return d.Conv2D(randTensor(&r, 1, 3, 2, 2), randWeight(&r, 4, 3, 5, 5), nil, convSpec(3, 4, 5, 1, 0, 1, false))
		}},
		{"error: linear with wrong input width", func() (*engine.Tensor, error) {
			return d.Linear(randTensor(&r, 1, 10), randWeight(&r, 4, 11), nil, engine.LinearSpec{In: 11, Out: 4})
		}},
	}
	for _, b := range bad {
		c := report.Case{Name: b.name}
		if _, err := b.run(); err != nil {
			c.Error = err.Error()
		}
		c.Live = live(d)
		rep.Cases = append(rep.Cases, c)
	}
}

// fixture is the model for an arch at a precision; weights are generated once per page.
func fixture(arch *engine.Arch, p engine.Precision) *engine.Model {
	return weights.Fixture(arch, 1).WithPrecision(p)
}

// netCase runs one network on the GPU and on the CPU path and compares every named
// activation and the logits.
func netCase(rep *report.Report, d *webgpu.Device, m *engine.Model, label string, x *engine.Tensor) {
	start := time.Now()
	gm, err := d.Load(m)
	if err != nil {
		rep.Cases = append(rep.Cases, report.Case{Name: label + " load", Error: err.Error(), Live: live(d)})
		return
	}
	_, wbytes := d.LiveBuffers()
	rep.Extra[label+" weight bytes on GPU"] = wbytes
	want := webgpu.Want{Logits: true, Probs: true, Activations: m.Arch.LayerNames()}
	if m.Partial != "" {
		want.Activations = want.Activations[:slices.Index(want.Activations, m.Partial)+1]
	}
	out, err := gm.Forward(x, want)
	gpuMs := float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		gm.Release()
		rep.Cases = append(rep.Cases, report.Case{Name: label + " forward", Error: err.Error(), Live: live(d)})
		return
	}
	cpu, err := m.Forward(x, engine.ForwardOptions{Backend: engine.DefaultBackend()})
	if err != nil {
		gm.Release()
		rep.Cases = append(rep.Cases, report.Case{Name: label + " cpu forward", Error: err.Error()})
		return
	}
	for _, name := range want.Activations {
		c := report.Case{Name: label + " " + name, Bound: f32Bound, Precision: string(m.Precision())}
		compare(&c, out.Activations[name], cpu.Activations[name])
		rep.Cases = append(rep.Cases, c)
	}
	if cpu.Logits != nil {
		c := report.Case{Name: label + " logits", Bound: f32Bound, Millis: gpuMs, Precision: string(m.Precision())}
		compare(&c, out.Logits, cpu.Logits)
		probs := engine.Probabilities(cpu.Logits)
		pc := report.Case{Name: label + " softmax", Bound: f32Bound}
		compare(&pc, out.Probs, probs)
		pc.GPUTop5, pc.CPUTop5 = top5(out.Probs.Row(0)), top5(probs.Row(0))
		rep.Cases = append(rep.Cases, c, pc)
	}
	gm.Release()
	c := report.Case{Name: label + " release", Live: live(d)}
	rep.Cases = append(rep.Cases, c)
}

func top5(p []float32) []int {
	var out []int
	for _, c := range engine.TopK(p, 5) {
		out = append(out, c.Index)
	}
	return out
}

func runNets(rep *report.Report, archName string) {
	d, err := webgpu.Open(webgpu.Options{})
	if err != nil {
		rep.Fatal = err.Error()
		return
	}
	defer d.Close()
	rep.Adapter, rep.Limits = d.Info(), d.Limits()
	a, err := engine.LookupArch(archName)
	if err != nil {
		rep.Fatal = err.Error()
		return
	}
	r := rng(11)
	// AlexNet takes any input its adaptive pool allows, so it runs at 67x67 (fc layers are
	// the same size; SwiftShader is slow); BVLC AlexNet has no adaptive pool and needs 227.
	side := a.InputSize
	if a == engine.AlexNet {
		side = 67
	}
	x := randTensor(&r, 1, 3, side, side)
	base := weights.Fixture(a, 1)
	for _, p := range []engine.Precision{engine.F32, engine.Int8} {
		m := base.WithPrecision(p)
		netCase(rep, d, m, fmt.Sprintf("%s %s %dx%d", a.Name, p, side, side), x)
		// Odd sizes and a batch (batch 2 runs the batched GEMM for fully connected layers).
		if a != engine.AlexNetBVLC {
			xo := randTensor(&r, 2, 3, 71, 83)
			netCase(rep, d, m, fmt.Sprintf("%s %s batch 2 71x83", a.Name, p), xo)
		}
	}
}

// fetchBytes GETs a file the native test serves.
func fetchBytes(path string) ([]byte, error) { return jsutil.FetchBytes(path, 512<<20, nil) }

// fetchTensor reads a tensor the native test wrote: rank, dims, float32 values, all
// little-endian.
func fetchTensor(path string) (*engine.Tensor, error) {
	b, err := fetchBytes(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 4 {
		return nil, fmt.Errorf("%s: short", path)
	}
	rank := int(binary.LittleEndian.Uint32(b))
	if rank < 1 || rank > 4 || len(b) < 4+4*rank {
		return nil, fmt.Errorf("%s: bad rank", path)
	}
	shape := make([]int, rank)
	for i := range shape {
		shape[i] = int(binary.LittleEndian.Uint32(b[4+4*i:]))
	}
	vals := b[4+4*rank:]
	data := make([]float32, len(vals)/4)
	for i := range data {
		data[i] = math.Float32frombits(binary.LittleEndian.Uint32(vals[4*i:]))
	}
	return engine.FromData(data, shape...)
}

func runPhotos(rep *report.Report, dir, n string) {
	d, err := webgpu.Open(webgpu.Options{})
	if err != nil {
		rep.Fatal = err.Error()
		return
	}
	defer d.Close()
	rep.Adapter, rep.Limits = d.Info(), d.Limits()
	data, err := fetchBytes(dir + "/model.alxw")
	if err != nil {
		rep.Fatal = err.Error()
		return
	}
	m, err := weights.Decode(data)
	if err != nil {
		rep.Fatal = err.Error()
		return
	}
	count := 0
	fmt.Sscan(n, &count)
	for _, p := range []engine.Precision{engine.F32, engine.Int8} {
		mp := m.WithPrecision(p)
		gm, err := d.Load(mp)
		if err != nil {
			rep.Fatal = err.Error()
			return
		}
		for i := 0; i < count; i++ {
			x, err := fetchTensor(fmt.Sprintf("%s/photo%d.f32", dir, i))
			if err != nil {
				rep.Fatal = err.Error()
				return
			}
			c := report.Case{Name: fmt.Sprintf("photo %d %s", i, p), Bound: f32Bound, Precision: string(p)}
			out, err := gm.Forward(x, webgpu.Want{Logits: true, Probs: true})
			if err != nil {
				c.Error = err.Error()
			} else {
				cpu, err := mp.Forward(x, engine.ForwardOptions{})
				if err != nil {
					c.Error = err.Error()
				} else {
					compare(&c, out.Logits, cpu.Logits)
					c.GPUTop5, c.CPUTop5 = top5(out.Probs.Row(0)), top5(engine.Probabilities(cpu.Logits).Row(0))
				}
			}
			rep.Cases = append(rep.Cases, c)
		}
		gm.Release()
	}
	rep.Cases = append(rep.Cases, report.Case{Name: "photos release", Live: live(d)})
}

// fallbackCase runs the Runner with a trigger and compares its result with the CPU path.
func fallbackCase(rep *report.Report, name string, mode string, opt webgpu.Options, prepare func(), x *engine.Tensor, m *engine.Model) {
	if prepare != nil {
		prepare()
	}
	c := report.Case{Name: name}
	r := webgpu.NewRunner(m, protocol.Compute(mode), nil, opt)
	dev := r.Device()
	res, err := r.Forward(x, engine.ForwardOptions{})
	cpu, cerr := m.Forward(x, engine.ForwardOptions{})
	switch {
	case err != nil:
		c.Error = err.Error()
	case cerr != nil:
		c.Error = cerr.Error()
	default:
		compare(&c, res.Logits, cpu.Logits)
		c.GPUTop5, c.CPUTop5 = top5(engine.Probabilities(res.Logits).Row(0)), top5(engine.Probabilities(cpu.Logits).Row(0))
	}
	c.Backend, c.Reason = string(r.Compute), r.Reason
	r.Close()
	c.Live = r.LeftBuffers
	_ = dev
	rep.Cases = append(rep.Cases, c)
}

func runFallback(rep *report.Report) {
	m := fixture(engine.SqueezeNet11, engine.F32)
	r := rng(5)
	x := randTensor(&r, 1, 3, 61, 67)
	// The working path first: webgpu forces the adapter, whatever it is; auto picks it only
	// when it is not a software fallback (SwiftShader in headless Chromium is one).
	if d, err := webgpu.Open(webgpu.Options{}); err == nil {
		rep.Extra["fallbackAdapter"] = d.Fallback()
		d.Close()
	}
	fallbackCase(rep, "forced webgpu", "webgpu", webgpu.Options{}, nil, x, m)
	fallbackCase(rep, "auto with an adapter", "auto", webgpu.Options{}, nil, x, m)
	fallbackCase(rep, "forced cpu", "cpu", webgpu.Options{}, nil, x, m)
	fallbackCase(rep, "requestDevice fails", "webgpu", webgpu.Options{RequiredFeatures: []string{"alexlens-no-such-feature"}}, nil, x, m)
	fallbackCase(rep, "shader compile error", "webgpu", webgpu.Options{ShaderPatch: func(k, src string) string {
		if k == "conv" {
			return src + "\nfn broken( {\n"
		}
		return src
	}}, nil, x, m)
	// Device lost in the middle of a pass: destroyed right after the pass is submitted.
	var victim *webgpu.Runner
	lostOpt := webgpu.Options{}
	lostOpt.AfterSubmit = func() {
		if victim != nil && victim.Device() != nil {
			victim.Device().Destroy()
		}
	}
	{
		c := report.Case{Name: "device lost mid-run"}
		victim = webgpu.NewRunner(m, "webgpu", nil, lostOpt)
		dev := victim.Device()
		noteStart(&c, string(victim.Compute))
		res, err := victim.Forward(x, engine.ForwardOptions{})
		cpu, _ := m.Forward(x, engine.ForwardOptions{})
		if err != nil {
			c.Error = err.Error()
		} else {
			compare(&c, res.Logits, cpu.Logits)
			c.GPUTop5, c.CPUTop5 = top5(engine.Probabilities(res.Logits).Row(0)), top5(engine.Probabilities(cpu.Logits).Row(0))
		}
		c.Backend, c.Reason = string(victim.Compute), victim.Reason
		if dev == nil {
			c.Error += " (never ran on WebGPU)"
		}
		c.Live = victim.LeftBuffers
		// A second pass stays on the CPU.
		if res2, err := victim.Forward(x, engine.ForwardOptions{}); err != nil || engine.RelL2(res2.Logits.Data, cpu.Logits.Data) != 0 {
			c.Error += " (second pass differs from the CPU path)"
		}
		victim.Close()
		rep.Cases = append(rep.Cases, c)
	}
	// Last, because it removes WebGPU from the page: no navigator.gpu at all.
	fallbackCase(rep, "no navigator.gpu", "auto", webgpu.Options{}, func() {
		js.Global().Get("Object").Call("defineProperty", js.Global().Get("navigator"), "gpu", map[string]any{"value": js.Undefined(), "configurable": true})
	}, x, m)
}

// noteStart records which backend the Runner started on (the lost-device case must start
// on WebGPU).
func noteStart(c *report.Case, startedOn string) { c.Precision = "started on " + startedOn }

func runNoAdapter(rep *report.Report) {
	m := fixture(engine.SqueezeNet11, engine.F32)
	r := rng(5)
	x := randTensor(&r, 1, 3, 61, 67)
	rep.Extra["navigator.gpu"] = !js.Global().Get("navigator").Get("gpu").IsUndefined()
	fallbackCase(rep, "requestAdapter returns null", "auto", webgpu.Options{}, nil, x, m)
}
