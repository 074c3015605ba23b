package engine

// The backward pass against PyTorch autograd (testdata/gradref.py, in float64 from the same
// float32 values): each operator alone on odd sizes, then whole networks and objectives.

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// gradTol is the relative L2 error an input gradient must stay under against PyTorch.
const gradTol = 1e-4

// fastGradTol bounds the error when the forward pass runs on the fast backend, whose float32
// sums may flip a ReLU decision on a value within rounding of zero (see
// TestInputGradientTorch).
const fastGradTol = 1e-2

const gradPython = "/usr/bin/python3" // the Debian interpreter with torch

func requireGradTorch(t *testing.T) {
	t.Helper()
	if out, err := exec.Command(gradPython, "-c", "import torch, torchvision").CombinedOutput(); err != nil {
		t.Skipf("gradient cross-check needs %s with python3-torch and python3-torchvision (scripts/install-test-deps.sh installs them): %v: %s", gradPython, err, out)
	}
}

type gradDump struct {
	dir string
	man struct {
		Tensors map[string]struct {
			File  string
			Shape []int
		}
		Objectives []struct {
			Value   float64
			Grad    string
			Channel int // the channel PyTorch chose for a neuron objective with channel -1
		}
	}
}

func runGradRef(t *testing.T, args ...string) *gradDump {
	t.Helper()
	requireGradTorch(t)
	d := &gradDump{dir: t.TempDir()}
	for i, a := range args {
		if a == "OUT" {
			args[i] = d.dir
		}
	}
	cmd := exec.Command(gradPython, append([]string{filepath.Join("testdata", "gradref.py")}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testdata/gradref.py %s: %v\n%s", args[0], err, out)
	}
	b, err := os.ReadFile(filepath.Join(d.dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &d.man); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d *gradDump) tensor(t *testing.T, name string) *Tensor {
	t.Helper()
	e, ok := d.man.Tensors[name]
	if !ok {
		t.Fatalf("gradref dump has no tensor %q", name)
	}
	b, err := os.ReadFile(filepath.Join(d.dir, e.File))
	if err != nil {
		t.Fatal(err)
	}
	data := make([]float32, len(b)/4)
	for i := range data {
		data[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	x, err := FromData(data, e.Shape...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// gradCase is one operator case; the JSON names are gradref.py's.
type gradCase struct {
	Name   string  `json:"name"`
	Op     string  `json:"op"`
	Shape  []int   `json:"shape"`
	Scale  float64 `json:"scale,omitempty"`
	Round  bool    `json:"round,omitempty"`
	Out    int     `json:"out,omitempty"`
	Groups int     `json:"groups,omitempty"`
	KH     int     `json:"kh,omitempty"`
	KW     int     `json:"kw,omitempty"`
	Stride []int   `json:"stride,omitempty"`
	Pad    []int   `json:"pad,omitempty"` // conv: top, left, bottom, right
	Dil    []int   `json:"dil,omitempty"`
	ReLU   bool    `json:"relu,omitempty"`
	Kernel []int   `json:"kernel,omitempty"` // max pool
	PPad   []int   `json:"ppad,omitempty"`   // max pool: symmetric pad, h and w
	Ceil   bool    `json:"ceil,omitempty"`
	Size   int     `json:"size,omitempty"` // LRN
	Alpha  float64 `json:"alpha,omitempty"`
	Beta   float64 `json:"beta,omitempty"`
	K      float64 `json:"k,omitempty"`
	OutHW  []int   `json:"outsize,omitempty"` // adaptive average pool
}

func convCase(name string, shape []int, out, groups, kh, kw, stride, dil int, pad [4]int, relu bool) gradCase {
	return gradCase{Name: name, Op: "conv", Shape: shape, Out: out, Groups: groups, KH: kh, KW: kw,
		Stride: []int{stride, stride}, Dil: []int{dil, dil}, Pad: pad[:], ReLU: relu}
}

func (c gradCase) convSpec() ConvSpec {
	return ConvSpec{In: c.Shape[1], Out: c.Out, KH: c.KH, KW: c.KW, StrideH: c.Stride[0], StrideW: c.Stride[1],
		PadT: c.Pad[0], PadL: c.Pad[1], PadB: c.Pad[2], PadR: c.Pad[3], DilH: c.Dil[0], DilW: c.Dil[1], Groups: c.Groups, ReLU: c.ReLU}
}

var gradOpCases = []gradCase{
	convCase("conv_odd_relu", []int{2, 5, 13, 11}, 7, 1, 3, 3, 1, 1, [4]int{1, 1, 1, 1}, true),
	convCase("conv_5x4_stride2_asympad", []int{1, 3, 17, 19}, 6, 1, 5, 4, 2, 1, [4]int{1, 2, 0, 1}, false),
	convCase("conv_groups2", []int{1, 6, 15, 15}, 8, 2, 3, 3, 2, 1, [4]int{1, 1, 1, 1}, true),
	convCase("conv_dilation2", []int{1, 4, 12, 13}, 5, 1, 3, 3, 1, 2, [4]int{2, 2, 2, 2}, false),
	convCase("conv_11x11_stride4", []int{1, 3, 39, 39}, 16, 1, 11, 11, 4, 1, [4]int{2, 2, 2, 2}, true),
	convCase("conv_1x1", []int{1, 32, 7, 9}, 24, 1, 1, 1, 1, 1, [4]int{}, true),
	convCase("conv_groups2_odd_channels", []int{1, 70, 9, 9}, 40, 2, 3, 3, 1, 1, [4]int{1, 1, 1, 1}, true),
	// Stride 1 with uneven, narrow and no padding: transposedConv's bottom and right padding.
	convCase("conv_5x4_stride1_asympad", []int{1, 3, 10, 12}, 6, 1, 5, 4, 1, 1, [4]int{2, 0, 1, 3}, true),
	convCase("conv_3x3_valid", []int{1, 8, 9, 10}, 5, 1, 3, 3, 1, 1, [4]int{}, false),
	convCase("conv_5x5_groups2_alexnet_conv2", []int{1, 8, 11, 11}, 12, 2, 5, 5, 1, 1, [4]int{2, 2, 2, 2}, true),
	{Name: "maxpool_floor", Op: "maxpool", Shape: []int{2, 3, 13, 13}, Kernel: []int{3, 3}, Stride: []int{2, 2}, PPad: []int{0, 0}},
	{Name: "maxpool_ceil_partial", Op: "maxpool", Shape: []int{1, 4, 14, 14}, Kernel: []int{3, 3}, Stride: []int{2, 2}, PPad: []int{0, 0}, Ceil: true},
	{Name: "maxpool_ceil_pad", Op: "maxpool", Shape: []int{1, 2, 10, 11}, Kernel: []int{3, 3}, Stride: []int{2, 2}, PPad: []int{1, 1}, Ceil: true},
	{Name: "maxpool_2x2_ceil_odd", Op: "maxpool", Shape: []int{1, 3, 9, 9}, Kernel: []int{2, 2}, Stride: []int{2, 2}, PPad: []int{0, 0}, Ceil: true},
	{Name: "maxpool_ties", Op: "maxpool", Shape: []int{1, 3, 11, 12}, Round: true, Kernel: []int{3, 3}, Stride: []int{2, 2}, PPad: []int{0, 0}, Ceil: true},
	{Name: "lrn_alexnet", Op: "lrn", Shape: []int{1, 12, 5, 6}, Scale: 100, Size: 5, Alpha: 1e-4, Beta: 0.75, K: 1},
	{Name: "lrn_strong", Op: "lrn", Shape: []int{2, 7, 4, 3}, Size: 3, Alpha: 2, Beta: 0.75, K: 2},
	{Name: "lrn_window_wider_than_channels", Op: "lrn", Shape: []int{1, 3, 4, 4}, Size: 5, Alpha: 1, Beta: 0.6, K: 1.5},
	{Name: "adaptive_7_to_6", Op: "adaptive", Shape: []int{1, 3, 7, 7}, OutHW: []int{6, 6}},
	{Name: "adaptive_global", Op: "adaptive", Shape: []int{1, 2, 13, 13}, OutHW: []int{1, 1}},
	{Name: "adaptive_5x8_to_3x3", Op: "adaptive", Shape: []int{2, 2, 5, 8}, OutHW: []int{3, 3}},
	{Name: "linear_relu", Op: "linear", Shape: []int{2, 37}, Out: 19, ReLU: true},
	{Name: "linear", Op: "linear", Shape: []int{1, 50}, Out: 7},
}

// TestGradOpsTorch checks each backward operator against PyTorch autograd: given x and an
// upstream gradient gy, the gradient of sum(op(x) * gy) with respect to x.
func TestGradOpsTorch(t *testing.T) {
	cases, err := json.Marshal(gradOpCases)
	if err != nil {
		t.Fatal(err)
	}
	d := runGradRef(t, "ops", "OUT", string(cases))
	for _, c := range gradOpCases {
		t.Run(c.Name, func(t *testing.T) {
			x, gy, want := d.tensor(t, c.Name+"/x"), d.tensor(t, c.Name+"/gy"), d.tensor(t, c.Name+"/gx")
			yWant := d.tensor(t, c.Name+"/y")
			// Thread counts 1, 2 and 3 cover the serial loop, even and uneven work splits
			// (and the conv backward's column chunks); the block GEMM (threads 0 and -1
			// below, without and with its own PackB) the browser's path: its col2im and its
			// Winograd forward pass for transposedConv.
			// Threads 4 runs every stride-1 convolution on the wide grid.
			for _, threads := range []int{1, 2, 3, 0, -1, 4} {
				f := FastCPU{Threads: max(threads, 1)}
				switch threads {
				case 0:
					f.Block = goWinograd(5, 8)
				case -1:
					f.Block = withPackB(goWinograd(5, 8))
				case 4:
					defer func(r func(ConvSpec, int, int, int, int) bool) { wideGridRule = r }(wideGridRule)
					wideGridRule = alwaysWideGrid
				}
				var y, got *Tensor
				g := gy.Clone()
				switch c.Op {
				case "conv":
					w := &Weight{Shape: d.tensor(t, c.Name+"/w").Shape, F32: d.tensor(t, c.Name+"/w").Data}
					spec := c.convSpec()
					y = Reference{}.Conv2D(x, w, d.tensor(t, c.Name+"/b").Data, spec)
					got = f.ConvBackward(g, y, w, spec, x.Shape)
				case "maxpool":
					p := PoolSpec{KH: c.Kernel[0], KW: c.Kernel[1], StrideH: c.Stride[0], StrideW: c.Stride[1],
						PadT: c.PPad[0], PadL: c.PPad[1], PadB: c.PPad[0], PadR: c.PPad[1], Ceil: c.Ceil}
					y = Reference{}.MaxPool2D(x, p)
					got = f.MaxPoolBackward(g, x, y, p)
				case "lrn":
					l := LRNSpec{Size: c.Size, Alpha: float32(c.Alpha), Beta: float32(c.Beta), K: float32(c.K)}
					y = Reference{}.LRN(x, l)
					got = f.LRNBackward(g, x, l)
				case "adaptive":
					y = Reference{}.AdaptiveAvgPool2D(x, c.OutHW[0], c.OutHW[1])
					got = f.AdaptiveAvgPoolBackward(g, x.Shape)
				case "linear":
					w := &Weight{Shape: d.tensor(t, c.Name+"/w").Shape, F32: d.tensor(t, c.Name+"/w").Data}
					l := LinearSpec{In: c.Shape[1], Out: c.Out, ReLU: c.ReLU}
					y = Reference{}.Linear(x, w, d.tensor(t, c.Name+"/b").Data, l)
					got = f.LinearBackward(g, y, w, l, x.Shape)
				}
				if e := RelL2(y.Data, yWant.Data); !slices.Equal(y.Shape, yWant.Shape) || !(e < gradTol) {
					t.Fatalf("forward output %v differs from PyTorch's %v (rel L2 %.3g): the case is set up wrong", y.Shape, yWant.Shape, e)
				}
				e := RelL2(got.Data, want.Data)
				if threads == 1 {
					t.Logf("input gradient %v: rel L2 %.2e", got.Shape, e)
				}
				if !slices.Equal(got.Shape, want.Shape) || !(e < gradTol) {
					t.Errorf("threads=%d (0: the block GEMM): input gradient %v, rel L2 error %.3g against PyTorch %v, want < %g", threads, got.Shape, e, want.Shape, gradTol)
				}
			}
		})
	}
}

// gradObjective is an objective as gradref.py reads it.
type gradObjective struct {
	Kind    string    `json:"kind"`
	Layer   string    `json:"layer,omitempty"`
	Channel int       `json:"channel"`
	Y       int       `json:"y"`
	X       int       `json:"x"`
	Vector  []float32 `json:"vector,omitempty"`
	PreReLU bool      `json:"prerelu,omitempty"`
	CosPow  float64   `json:"cospow,omitempty"`
}

func (o gradObjective) engine() Objective {
	var obj Objective
	switch o.Kind {
	case "class":
		obj = ClassLogit(o.Channel)
	case "channel":
		obj = ChannelMean(o.Layer, o.Channel)
	case "neuron":
		obj = Neuron(o.Layer, o.Channel, o.Y, o.X)
	default:
		obj = Direction(o.Layer, o.Vector)
		obj.CosPow = o.CosPow
	}
	obj.PreReLU = o.PreReLU
	return obj
}

func randVector(seed int64, n int) []float32 {
	r := rand.New(rand.NewSource(seed))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// TestInputGradientTorch computes input gradients of whole networks with PyTorch-seeded
// He-normal weights for objectives on early, late and classifier layers, and requires the
// engine's to match autograd's.
func TestInputGradientTorch(t *testing.T) {
	for _, c := range []struct {
		arch *Arch
		side int
		objs []gradObjective
	}{
		{AlexNet, 224, []gradObjective{
			{Kind: "class", Channel: 3},
			{Kind: "channel", Layer: "conv1", Channel: 5},
			{Kind: "channel", Layer: "conv5", Channel: 7},
			{Kind: "neuron", Layer: "conv5", Channel: -1, Y: 6, X: 7},
			{Kind: "neuron", Layer: "pool5", Channel: -1, Y: 0, X: 5},
			{Kind: "direction", Layer: "fc7", Vector: randVector(1, 4096)},
			{Kind: "direction", Layer: "conv4", Vector: randVector(3, 256), CosPow: 2, PreReLU: true},
			{Kind: "direction", Layer: "fc6", Vector: randVector(4, 4096), CosPow: 1},
			{Kind: "channel", Layer: "conv5", Channel: 7, PreReLU: true},
			{Kind: "channel", Layer: "fc6", Channel: 11, PreReLU: true},
		}},
		{AlexNetBVLC, 227, []gradObjective{
			{Kind: "class", Channel: 500},
			{Kind: "channel", Layer: "conv1", Channel: 40},
			{Kind: "channel", Layer: "norm2", Channel: 100},
			{Kind: "channel", Layer: "conv5", Channel: 200},
			{Kind: "neuron", Layer: "conv4", Channel: -1, Y: 12, X: 0},
		}},
		{SqueezeNet11, 224, []gradObjective{
			{Kind: "class", Channel: 999},
			{Kind: "channel", Layer: "conv1", Channel: 0},
			{Kind: "channel", Layer: "fire9", Channel: 300},
			{Kind: "channel", Layer: "fire9", Channel: 10}, // the expand1x1 half
			{Kind: "neuron", Layer: "fire9", Channel: -1, Y: 6, X: 6},
			{Kind: "direction", Layer: "fire5", Vector: randVector(2, 256)},
			{Kind: "direction", Layer: "fire7", Vector: randVector(5, 384), CosPow: 4},
			{Kind: "channel", Layer: "fire9", Channel: 300, PreReLU: true},
			{Kind: "neuron", Layer: "fire4", Channel: 3, Y: 0, X: 26, PreReLU: true},
		}},
		// At 227 SqueezeNet's pool3 and pool5 have partial last windows (ceil mode); at 256
		// AlexNet's adaptive pool averages overlapping windows of a 7x7 input.
		{SqueezeNet11, 227, []gradObjective{{Kind: "class", Channel: 1}, {Kind: "channel", Layer: "fire7", Channel: 5}}},
		{AlexNet, 256, []gradObjective{{Kind: "class", Channel: 7}}},
	} {
		t.Run(fmt.Sprintf("%s@%d", c.arch.Name, c.side), func(t *testing.T) {
			objs, _ := json.Marshal(c.objs)
			d := runGradRef(t, "net", c.arch.Name, "7", fmt.Sprint(c.side), "OUT", string(objs))
			params := map[string]*Tensor{}
			for name := range d.man.Tensors {
				if len(name) > 6 && name[:6] == "param/" {
					params[name[6:]] = d.tensor(t, name)
				}
			}
			m, err := NewModel(c.arch, params)
			if err != nil {
				t.Fatal(err)
			}
			x := d.tensor(t, "input")
			for i, o := range c.objs {
				o.Channel = d.man.Objectives[i].Channel
				obj := o.engine()
				want := d.tensor(t, d.man.Objectives[i].Grad)
				wantV := d.man.Objectives[i].Value
				if norm(want.Data) == 0 {
					t.Errorf("%v: PyTorch's gradient is zero, so the case tests nothing", obj)
				}
				// The fast forward pass rounds its sums in float32, and a ReLU whose input lies
				// within that rounding of zero may decide the other way than PyTorch's: the
				// gradient is discontinuous there, and one such decision moves it by up to
				// ~1e-3 (seen in BVLC AlexNet's conv4 with these weights). When the fast path
				// misses gradTol, the Reference forward pass (float64 sums) must meet it, and
				// the fast path must still be within fastGradTol.
				v, g, err := m.InputGradient(x, obj)
				if err != nil {
					t.Fatalf("%v: %v", obj, err)
				}
				e := RelL2(g.Data, want.Data)
				t.Logf("%-30v value %10.4f (torch %10.4f), gradient rel L2 %.2e", obj, v, wantV, e)
				if math.Abs(float64(v)-wantV) > 1e-4*math.Max(1, math.Abs(wantV)) {
					t.Errorf("%v: value %g, PyTorch %g", obj, v, wantV)
				}
				if !slices.Equal(g.Shape, want.Shape) || !(e < fastGradTol) {
					t.Errorf("%v: input gradient %v, rel L2 error %.3g against PyTorch %v, want < %g", obj, g.Shape, e, want.Shape, fastGradTol)
				}
				if e < gradTol {
					continue
				}
				_, g, err = m.InputGradientWith(x, obj, GradOptions{Backend: Reference{}})
				if err != nil {
					t.Fatal(err)
				}
				eRef := RelL2(g.Data, want.Data)
				t.Logf("%-30v with the Reference forward pass: gradient rel L2 %.2e", obj, eRef)
				if !(eRef < gradTol) {
					t.Errorf("%v with the Reference forward pass: input gradient rel L2 error %.3g against PyTorch, want < %g", obj, eRef, gradTol)
				}
			}
		})
	}
}

func norm(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s)
}

// TestInputGradientBatchAndInt8: a batch's gradient is each item's own gradient (objective
// values add up), and an int8 model's gradient is that of its dequantized float32 weights.
func TestInputGradientBatchAndInt8(t *testing.T) {
	m := randomModel(SqueezeNet11, 5)
	r := rand.New(rand.NewSource(6))
	side := 67
	x := NewTensor(2, 3, side, side)
	for i := range x.Data {
		x.Data[i] = float32(r.NormFloat64())
	}
	obj := ChannelMean("fire7", 33)
	v, g, err := m.InputGradientWith(x, obj, GradOptions{Backend: Reference{}})
	if err != nil {
		t.Fatal(err)
	}
	var sum float32
	for b := 0; b < 2; b++ {
		item, _ := FromData(append([]float32(nil), x.Row(b)...), 1, 3, side, side)
		vb, gb, err := m.InputGradientWith(item, obj, GradOptions{Backend: Reference{}})
		if err != nil {
			t.Fatal(err)
		}
		sum += vb
		if e := RelL2(g.Row(b), gb.Data); !(e < 1e-6) {
			t.Errorf("batch item %d: gradient differs from its own by rel L2 %.3g", b, e)
		}
	}
	if math.Abs(float64(v-sum)) > 1e-5*math.Abs(float64(sum)) {
		t.Errorf("batch value %g, items sum to %g", v, sum)
	}

	// Each item its own objective: an atlas's icons in one pass.
	objs := []Objective{ChannelMean("fire7", 33), Direction("fire7", randVector(8, 384))}
	objs[1].CosPow = 2
	values, g, err := m.InputGradientBatch(x, objs, GradOptions{Backend: Reference{}})
	if err != nil {
		t.Fatal(err)
	}
	for b, o := range objs {
		item, _ := FromData(append([]float32(nil), x.Row(b)...), 1, 3, side, side)
		vb, gb, err := m.InputGradientWith(item, o, GradOptions{Backend: Reference{}})
		if err != nil {
			t.Fatal(err)
		}
		if e := RelL2(g.Row(b), gb.Data); !(e < 1e-6) || values[b] != vb {
			t.Errorf("batch item %d (%v): value %g (alone %g), gradient differs from its own by rel L2 %.3g", b, o, values[b], vb, e)
		}
	}
	for _, bad := range [][]Objective{objs[:1], {objs[0], ChannelMean("fire6", 1)}, {objs[0], {Kind: ObjectiveChannel, Layer: "fire7", PreReLU: true}}, {objs[0], ChannelMean("fire7", 999)}} {
		if _, _, err := m.InputGradientBatch(x, bad, GradOptions{}); err == nil {
			t.Errorf("objectives %v for a batch of 2: no error", bad)
		}
	}

	q := m.WithPrecision(Int8)
	deq := q.WithPrecision(F32)
	for _, obj := range []Objective{ClassLogit(3), ChannelMean("conv1", 2)} {
		_, gq, err := q.InputGradient(x, obj)
		if err != nil {
			t.Fatal(err)
		}
		_, gd, err := deq.InputGradient(x, obj)
		if err != nil {
			t.Fatal(err)
		}
		if e := RelL2(gq.Data, gd.Data); !(e < 1e-4) || norm(gd.Data) == 0 {
			t.Errorf("%v: int8 model gradient vs dequantized float32: rel L2 %.3g", obj, e)
		}
	}
}

// TestInputGradientErrors: bad inputs and objectives are errors, not panics.
func TestInputGradientErrors(t *testing.T) {
	m := randomModel(SqueezeNet11, 1)
	good := NewTensor(1, 3, 64, 64)
	for _, c := range []struct {
		x   *Tensor
		obj Objective
	}{
		{nil, ClassLogit(0)},
		{NewTensor(1, 4, 64, 64), ClassLogit(0)},
		{&Tensor{Shape: []int{1, 3, 64, 64}, Data: make([]float32, 5)}, ClassLogit(0)},
		{NewTensor(1, 3, 8, 8), ClassLogit(0)},
		{good, ClassLogit(1000)},
		{good, ChannelMean("fc7", 0)},
		{good, ChannelMean("fire2", -1)},
		{good, Neuron("fire2", 0, 0, 100)},
		{good, Direction("fire2", make([]float32, 3))},
		{good, Direction("fire2", append(make([]float32, 127), float32(math.NaN())))},
		{good, Objective{Kind: ObjectiveDirection, Layer: "fire2", Vector: make([]float32, 128), CosPow: -1}},
		{good, Objective{Kind: ObjectiveDirection, Layer: "conv1", Vector: make([]float32, 64*31*31), CosPow: 1}},
		{good, Objective{Kind: 42, Layer: "fire2"}},
	} {
		if _, _, err := m.InputGradient(c.x, c.obj); err == nil {
			t.Errorf("InputGradient(%v, %v): want an error", c.x, c.obj)
		}
	}
	partial := &Model{Arch: m.Arch, Params: m.Params, Partial: "conv1"}
	if _, _, err := partial.InputGradient(good, ChannelMean("fire2", 0)); err == nil {
		t.Error("partial model up to conv1, objective on fire2: want an error")
	}
}

// TestInputGradientOnBlockGEMM: with a block GEMM installed (the browser's generated module;
// here goWinograd with PackB, a plain-Go one written from BlockGEMM's contract),
// convolutions' input gradients run their products through it and equal the Go kernels',
// for every kind of convolution in the three networks (strided, padded, grouped, 1x1),
// float32 and int8.
func TestInputGradientOnBlockGEMM(t *testing.T) {
	block, err := FastCPU{}.WithBlock(withPackB(goWinograd(5, 8)))
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range []*Arch{AlexNet, AlexNetBVLC, SqueezeNet11} {
		m := randomModel(a, int64(60+i))
		r := rand.New(rand.NewSource(int64(70 + i)))
		n, side := 2, 67
		if a == AlexNetBVLC { // no adaptive pooling: its own input size only
			n, side = 1, a.InputSize
		}
		x := NewTensor(n, 3, side, side)
		for j := range x.Data {
			x.Data[j] = float32(r.NormFloat64())
		}
		names := a.LayerNames()
		for _, obj := range []Objective{ChannelMean(names[min(len(names)/2, 4)], 1), ChannelMean(names[0], 0)} {
			models := []*Model{m, m.WithPrecision(Int8)}
			if a == AlexNetBVLC {
				models = models[:1] // int8 takes the same path; its 227 px input is slow here
			}
			for _, mm := range models {
				v0, g0, err := mm.InputGradientWith(x, obj, GradOptions{Backend: FastCPU{}})
				if err != nil {
					t.Fatal(err)
				}
				v1, g1, err := mm.InputGradientWith(x, obj, GradOptions{Backend: block})
				if err != nil {
					t.Fatal(err)
				}
				if e := RelL2(g1.Data, g0.Data); !(e < 1e-5) || norm(g0.Data) == 0 || math.Abs(float64(v1-v0)) > 1e-4*math.Abs(float64(v0)) {
					t.Errorf("%s %s %v: block GEMM gradient rel L2 %.3g from the Go kernels' (values %g, %g)", a.Name, mm.Precision(), obj, e, v1, v0)
				}
			}
		}
	}
}

// TestInputGradientBuffersReused: the gradient pass hands its buffers back for the next pass
// (feature visualization runs hundreds); what it returned, and the caller's input, must
// stay untouched by the passes after it, and the same pass must give the same gradient.
func TestInputGradientBuffersReused(t *testing.T) {
	for _, a := range []*Arch{SqueezeNet11, AlexNet} {
		m := randomModel(a, 3)
		x := NewTensor(2, 3, 96, 96)
		r := rand.New(rand.NewSource(1))
		for i := range x.Data {
			x.Data[i] = float32(r.NormFloat64())
		}
		x0 := x.Clone()
		obj := ClassLogit(5)
		_, g1, err := m.InputGradient(x, obj)
		if err != nil {
			t.Fatal(err)
		}
		keep := g1.Clone()
		for _, o := range []Objective{ChannelMean(a.Layers[0].Name, 1), obj, ClassLogit(9)} {
			if _, _, err := m.InputGradient(x, o); err != nil {
				t.Fatal(err)
			}
		}
		_, g2, err := m.InputGradient(x, obj)
		if err != nil {
			t.Fatal(err)
		}
		if RelL2(g1.Data, keep.Data) != 0 || RelL2(g2.Data, keep.Data) != 0 || RelL2(x.Data, x0.Data) != 0 {
			t.Errorf("%s: a returned gradient changed (rel L2 %g), the same pass differs (%g), or the input changed (%g)",
				a.Name, RelL2(g1.Data, keep.Data), RelL2(g2.Data, keep.Data), RelL2(x.Data, x0.Data))
		}
	}
}

// linearEmbedding is w · e, the embedding function a head without hidden units has.
type linearEmbedding []float32

func (l linearEmbedding) Dim() int { return len(l) }
func (l linearEmbedding) ValueGrad(e, g []float32) float64 {
	var v float64
	for i, w := range l {
		v += float64(w) * float64(e[i])
		g[i] = w
	}
	return v
}

// squaredEmbedding is sum e_i^2 / 2: its gradient is e itself, so a wrong spreading of the
// gradient over positions shows.
type squaredEmbedding int

func (s squaredEmbedding) Dim() int { return int(s) }
func (s squaredEmbedding) ValueGrad(e, g []float32) float64 {
	var v float64
	for i, x := range e {
		v += float64(x) * float64(x) / 2
		g[i] = x
	}
	return v
}

// TestEmbeddingObjective: a function of a layer's embedding (its activation averaged over
// positions) is differentiated through the averaging: a linear one equals the per-position
// direction objective, a quadratic one has the gradient of its embedding's direction, and a
// missing or mis-sized function is an error.
func TestEmbeddingObjective(t *testing.T) {
	m := randomModel(SqueezeNet11, 7)
	r := rand.New(rand.NewSource(8))
	x := NewTensor(1, 3, 67, 67)
	for i := range x.Data {
		x.Data[i] = float32(r.NormFloat64())
	}
	w := randVector(9, 384)
	vd, gd, err := m.InputGradientWith(x, Direction("fire7", w), GradOptions{Backend: Reference{}})
	if err != nil {
		t.Fatal(err)
	}
	ve, ge, err := m.InputGradientWith(x, OfEmbedding("fire7", linearEmbedding(w)), GradOptions{Backend: Reference{}})
	if err != nil {
		t.Fatal(err)
	}
	if e := RelL2(ge.Data, gd.Data); !(e < 1e-6) || math.Abs(float64(ve-vd)) > 1e-5*math.Abs(float64(vd)) {
		t.Errorf("a linear embedding function: value %g (direction %g), gradient rel L2 %.3g from the direction's", ve, vd, e)
	}

	// The quadratic's gradient at x is the direction of x's own embedding.
	res, err := m.Forward(x, ForwardOptions{Backend: Reference{}, Keep: func(n string) bool { return n == "fire7" }})
	if err != nil {
		t.Fatal(err)
	}
	act := res.Activations["fire7"]
	hw := act.Shape[2] * act.Shape[3]
	e := make([]float32, 384)
	for c := range e {
		var s float64
		for _, v := range act.Data[c*hw : (c+1)*hw] {
			s += float64(v)
		}
		e[c] = float32(s / float64(hw))
	}
	_, gd, err = m.InputGradientWith(x, Direction("fire7", e), GradOptions{Backend: Reference{}})
	if err != nil {
		t.Fatal(err)
	}
	vq, gq, err := m.InputGradientWith(x, OfEmbedding("fire7", squaredEmbedding(384)), GradOptions{Backend: Reference{}})
	if err != nil {
		t.Fatal(err)
	}
	want := float64(squaredEmbedding(384).ValueGrad(e, make([]float32, 384)))
	if e := RelL2(gq.Data, gd.Data); !(e < 1e-5) || math.Abs(float64(vq)-want) > 1e-5*want {
		t.Errorf("a quadratic embedding function: value %g (want %g), gradient rel L2 %.3g from its embedding's direction", vq, want, e)
	}

	for _, bad := range []Objective{OfEmbedding("fire7", nil), OfEmbedding("fire7", squaredEmbedding(383))} {
		if _, _, err := m.InputGradient(x, bad); err == nil {
			t.Errorf("%v: want an error", bad)
		}
	}
}
