package webgpu

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/weights"
)

func TestUniformsArePaddedLittleEndian(t *testing.T) {
	u := uniforms(1, 2, true, float32(0.5), 7)
	if len(u) != 32 {
		t.Fatalf("length %d, want 32 (padded to 16)", len(u))
	}
	if binary.LittleEndian.Uint32(u[8:]) != 1 || binary.LittleEndian.Uint32(u[12:]) != 0x3f000000 || binary.LittleEndian.Uint32(u[16:]) != 7 {
		t.Fatalf("bytes %v", u)
	}
}

func TestPackInt8RowsStartOnWords(t *testing.T) {
	w := &engine.Weight{Shape: []int{2, 5}, I8: []int8{1, -2, 3, -4, 5, -6, 7, -8, 9, -10}, Scale: []float32{1, 1}}
	b := packInt8(w)
	want := []byte{1, 0xfe, 3, 0xfc, 5, 0, 0, 0, 0xfa, 7, 0xf8, 9, 0xf6, 0, 0, 0}
	if !slices.Equal(b, want) {
		t.Fatalf("packed %v, want %v", b, want)
	}
	if weightBytes(w) != int64(len(b)) {
		t.Fatalf("weightBytes %d, packed %d", weightBytes(w), len(b))
	}
}

func TestFlatGroupsGoTwoDimensional(t *testing.T) {
	lim := Limits{MaxWorkgroupsPerDimension: 10}
	g, err := flatGroups(256*25, lim)
	if err != nil || g != [3]int{10, 3, 1} {
		t.Fatalf("got %v %v", g, err)
	}
	if _, err := flatGroups(256*101, lim); err == nil {
		t.Fatal("no error past the limit")
	}
}

// The plan's named activations have the shapes the engine's description gives.
func TestPlanShapesMatchArch(t *testing.T) {
	for _, a := range []*engine.Arch{engine.AlexNet, engine.AlexNetBVLC, engine.SqueezeNet11} {
		m := weights.Fixture(a, 1).WithPrecision(engine.Int8)
		p, err := buildPlan(m, 1, a.InputSize, a.InputSize, "", DefaultLimits)
		if err != nil {
			t.Fatalf("%s: %v", a.Name, err)
		}
		want, _ := a.Shapes(a.InputSize, a.InputSize)
		if !slices.Equal(p.order, a.LayerNames()) {
			t.Fatalf("%s: order %v", a.Name, p.order)
		}
		for name, sh := range want {
			got := p.tensors[p.named[name]]
			if got.len() != (tensorSpec{shape: sh}).len() {
				t.Errorf("%s %s: plan shape %v, engine %v", a.Name, name, got.shape, sh)
			}
		}
		if p.probs < 0 || p.tensors[p.probs].len() != a.Classes {
			t.Errorf("%s: no softmax over %d classes", a.Name, a.Classes)
		}
		for _, o := range p.ops {
			if strings.HasPrefix(o.kernel, "conv") || strings.HasPrefix(o.kernel, "matvec") {
				if !strings.HasSuffix(o.kernel, "_i8") {
					t.Errorf("%s: int8 model runs %s", a.Name, o.kernel)
				}
			}
		}
	}
}

func TestPlanErrors(t *testing.T) {
	m := weights.Fixture(engine.SqueezeNet11, 1)
	if _, err := buildPlan(m, 1, 8, 8, "", DefaultLimits); err == nil {
		t.Error("an 8x8 input planned without error")
	}
	small := Limits{MaxWorkgroupsPerDimension: 65535, MaxStorageBufferBinding: 1 << 20, MaxBufferSize: 1 << 30}
	_, err := buildPlan(m, 4, 224, 224, "", small)
	if err == nil || !strings.Contains(err.Error(), "more than this GPU binds") {
		t.Errorf("over the binding limit: %v", err)
	}
	p, err := buildPlan(m, 1, 224, 224, "fire3", DefaultLimits)
	if err != nil || p.order[len(p.order)-1] != "fire3" || p.probs != -1 {
		t.Errorf("stop after fire3: %v %v", p, err)
	}
}

func TestShadersGenerate(t *testing.T) {
	for _, k := range append(KernelNames(), BackwardKernelNames()...) {
		src, err := Shader(k)
		if err != nil || !strings.Contains(src, "@compute") {
			t.Errorf("%s: %v", k, err)
		}
		b := bindingsOf(k)
		declared := func(i int) bool { return strings.Contains(src, fmt.Sprintf("@binding(%d)", i)) }
		if declared(2) != b.weights || declared(3) != b.bias || declared(4) != b.scale ||
			declared(6) != (b.aux > 0) || declared(7) != (b.aux > 1) || declared(8) {
			t.Errorf("%s: the shader's bindings and bindingsOf (%+v) disagree", k, b)
		}
	}
}

// TestLayerCosts logs each layer's arithmetic and bytes at batch 1 (for DESIGN.md).
func TestLayerCosts(t *testing.T) {
	for _, a := range []*engine.Arch{engine.AlexNet, engine.AlexNetBVLC, engine.SqueezeNet11} {
		for _, prec := range []engine.Precision{engine.F32, engine.Int8} {
			m := weights.Fixture(a, 1).WithPrecision(prec)
			p, err := buildPlan(m, 1, a.InputSize, a.InputSize, "", DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			var lines []string
			var flops, wb int64
			var acc, accW, accA int64
			for _, o := range p.ops {
				acc += o.flops
				if o.param != "" {
					accW += weightBytes(m.Params[o.param+".weight"])
				}
				accA += int64(4 * (p.tensors[o.in].len() + p.tensors[o.out].len()))
				if o.layer != "" {
					lines = append(lines, fmt.Sprintf("| %s | %.1f | %.2f | %.2f |", o.layer, float64(acc)/1e6, float64(accW)/1e6, float64(accA)/1e6))
					flops += acc
					wb += accW
					acc, accW, accA = 0, 0, 0
				}
			}
			t.Logf("%s %s: %.2f GFLOP, %.1f MB weights\n| layer | MFLOP | weight MB | activation MB read+written |\n|---|---|---|---|\n%s",
				a.Name, prec, float64(flops)/1e9, float64(wb)/1e6, strings.Join(lines, "\n"))
		}
	}
}

// TestGradPlan checks the recorded gradient programs' shape: forward to the objectives'
// layer, then backward kernels only, ending in the input's gradient, every op binding what
// its kernel declares.
func TestGradPlan(t *testing.T) {
	backward := map[string]bool{}
	for _, k := range BackwardKernelNames() {
		backward[k] = true
	}
	for _, c := range []struct {
		arch       *engine.Arch
		target, at string
		preReLU    bool
		want       []string // backward kernels that must appear
	}{
		{engine.SqueezeNet11, "avgpool10", "", false, []string{kAdaptiveDx, kConvDx, kReLUMask, kMaxPoolDx}},
		{engine.SqueezeNet11, "fire5", "", true, []string{kConvDx, kMaxPoolDx}},
		{engine.AlexNet, "fc8", "", false, []string{kLinearDx, kReLUMask, kAdaptiveDx, kMaxPoolDx, kConvDx}},
		{engine.AlexNetBVLC, "conv3", "", true, []string{kLRNDx, kMaxPoolDx, kConvDx}},
		{engine.AlexNet, "fc8", "conv5", false, []string{kLinearDx, kAdaptiveDx, kMaxPoolDx}}, // Grad-CAM's
		{engine.AlexNet, "conv5", "conv5", false, nil},
	} {
		for _, prec := range []engine.Precision{engine.F32, engine.Int8} {
			m := weights.Fixture(c.arch, 1).WithPrecision(prec)
			p, err := buildGradPlan(m, 2, c.arch.InputSize, c.arch.InputSize, c.target, c.preReLU, c.at, DefaultLimits)
			if err != nil {
				t.Fatalf("%s %s: %v", c.arch.Name, c.target, err)
			}
			name := fmt.Sprintf("%s %s to %q %s", c.arch.Name, c.target, c.at, prec)
			wantDx := []int{2, 3, c.arch.InputSize, c.arch.InputSize}
			if c.at != "" {
				shapes, _ := c.arch.Shapes(c.arch.InputSize, c.arch.InputSize)
				wantDx = append([]int{2}, shapes[c.at][1:]...)
				if p.atAct < 0 || !slices.Equal(p.tensors[p.atAct].shape, wantDx) {
					t.Errorf("%s: no activation at %s", name, c.at)
				}
			}
			if !slices.Equal(p.tensors[p.dx].shape, wantDx) || p.dx == p.input {
				t.Errorf("%s: dx is %v, want %v", name, p.tensors[p.dx].shape, wantDx)
			}
			if c.at == c.target {
				if p.backwardFrom != len(p.ops) || p.dx != p.seed {
					t.Errorf("%s: a gradient at the objectives' own layer needs no backward step", name)
				}
				continue
			}
			seen := map[string]bool{}
			for i, o := range p.ops {
				if backward[o.kernel] != (i >= p.backwardFrom) {
					t.Errorf("%s: op %d (%s) on the wrong side of %d", name, i, o.kernel, p.backwardFrom)
				}
				if len(o.aux) != bindingsOf(o.kernel).aux {
					t.Errorf("%s: op %d (%s) binds %d extra tensors", name, i, o.kernel, len(o.aux))
				}
				if prec == engine.Int8 && (o.kernel == kConvDx || o.kernel == kLinearDx) {
					t.Errorf("%s: float32 kernel %s on int8 weights", name, o.kernel)
				}
				seen[strings.TrimSuffix(o.kernel, "_i8")] = true
			}
			for _, k := range c.want {
				if !seen[k] {
					t.Errorf("%s: no %s in the backward pass", name, k)
				}
			}
			if p.ops[p.backwardFrom].in != p.seed && !(p.ops[p.backwardFrom].kernel == kReLUMask && p.ops[p.backwardFrom].out == p.seed) {
				t.Errorf("%s: the backward pass does not start from the seed", name)
			}
		}
	}
	m := weights.Fixture(engine.SqueezeNet11, 1)
	if _, err := buildGradPlan(m, 1, 224, 224, "fc9", false, "", DefaultLimits); err == nil || !strings.Contains(err.Error(), "no layer") {
		t.Errorf("unknown layer: %v", err)
	}
	if _, err := buildGradPlan(m, 1, 224, 224, "fire5", false, "fire7", DefaultLimits); err == nil || !strings.Contains(err.Error(), "comes after") {
		t.Errorf("a layer after the objectives': %v", err)
	}
}
