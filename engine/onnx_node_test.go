package engine_test

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/weights/onnx"
)

// The ONNX backend node tests (Debian's libonnx-testdata) are an independent reference for
// operator semantics: each is a one-node model with inputs and expected outputs computed by
// the ONNX reference implementation. This test runs every case for the operators the engine
// has through the Reference backend. The harness only translates ONNX attributes into the
// engine's specs and adapts layouts (reshapes, transposes); the arithmetic is the engine's.

const onnxTestData = "/usr/share/libonnx-testdata/data"

// onnxSuites are the one-operator suites: ONNX's own node tests, and PyTorch modules
// exported to ONNX with PyTorch's outputs (grouped, depthwise and dilated convolutions).
var onnxSuites = []string{"node", "pytorch-converted", "pytorch-operator"}

// onnxOpsUnderTest are the operator types whose node tests must pass.
var onnxOpsUnderTest = map[string]bool{
	"Conv": true, "MaxPool": true, "LRN": true, "Gemm": true, "Relu": true, "Softmax": true,
	"AveragePool": true, "GlobalAveragePool": true, "Flatten": true, "Concat": true, "Dropout": true,
}

// onnxUnsupported lists, with the reason, every case of those operators that uses a feature
// the engine does not have. A listed case must fail to map (so the list cannot hide a case
// that would pass), and a case that fails to map must be listed.
var onnxUnsupported = map[string]string{
	"node/test_averagepool_3d_default":                         "3-D pooling: the engine's operators are 2-D (NCHW)",
	"node/test_maxpool_3d_default":                             "3-D pooling: the engine's operators are 2-D (NCHW)",
	"node/test_maxpool_2d_dilations":                           "dilated pooling: PoolSpec has no dilation (no network uses it)",
	"node/test_maxpool_with_argmax_2d_precomputed_pads":        "second output Indices (argmax): the engine's MaxPool2D returns values only",
	"node/test_maxpool_with_argmax_2d_precomputed_strides":     "second output Indices (argmax, storage_order): the engine's MaxPool2D returns values only",
	"pytorch-converted/test_AvgPool3d":                         "3-D pooling: the engine's operators are 2-D (NCHW)",
	"pytorch-converted/test_AvgPool3d_stride":                  "3-D pooling: the engine's operators are 2-D (NCHW)",
	"pytorch-converted/test_AvgPool3d_stride1_pad0_gpu_input":  "3-D pooling: the engine's operators are 2-D (NCHW)",
	"pytorch-converted/test_MaxPool3d":                         "3-D pooling: the engine's operators are 2-D (NCHW)",
	"pytorch-converted/test_MaxPool3d_stride":                  "3-D pooling: the engine's operators are 2-D (NCHW)",
	"pytorch-converted/test_MaxPool3d_stride_padding":          "3-D pooling: the engine's operators are 2-D (NCHW)",
	"pytorch-converted/test_Conv3d":                            "3-D convolution: the engine's operators are 2-D (NCHW)",
	"pytorch-converted/test_Conv3d_dilated":                    "3-D convolution: the engine's operators are 2-D (NCHW)",
	"pytorch-converted/test_Conv3d_dilated_strided":            "3-D convolution: the engine's operators are 2-D (NCHW)",
	"pytorch-converted/test_Conv3d_groups":                     "3-D convolution: the engine's operators are 2-D (NCHW)",
	"pytorch-converted/test_Conv3d_no_bias":                    "3-D convolution: the engine's operators are 2-D (NCHW)",
	"pytorch-converted/test_Conv3d_stride":                     "3-D convolution: the engine's operators are 2-D (NCHW)",
	"pytorch-converted/test_Conv3d_stride_padding":             "3-D convolution: the engine's operators are 2-D (NCHW)",
	"pytorch-converted/test_MaxPool1d_stride_padding_dilation": "dilated pooling: PoolSpec has no dilation (no network uses it)",
	"pytorch-converted/test_MaxPool2d_stride_padding_dilation": "dilated pooling: PoolSpec has no dilation (no network uses it)",
	"node/test_training_dropout":                               "Dropout in training mode: random masks, the engine only runs inference",
	"node/test_training_dropout_default":                       "Dropout in training mode: random masks, the engine only runs inference",
	"node/test_training_dropout_default_mask":                  "Dropout in training mode: random masks, the engine only runs inference",
	"node/test_training_dropout_mask":                          "Dropout in training mode: random masks, the engine only runs inference",
	"node/test_gemm_default_matrix_bias":                       "bias C of shape [M, N]: Linear adds one bias per output feature, the same for every row",
}

// errUnsupported marks a feature the engine does not have.
type errUnsupported struct{ what string }

func (e errUnsupported) Error() string { return "unsupported: " + e.what }

func unsupported(format string, a ...any) error { return errUnsupported{fmt.Sprintf(format, a...)} }

func TestONNXNodeTests(t *testing.T) {
	if _, err := os.Stat(filepath.Join(onnxTestData, "node")); err != nil {
		t.Skipf("ONNX node tests not found in %s (apt-get install libonnx-testdata, or scripts/install-test-deps.sh)", onnxTestData)
	}
	seen := map[string]bool{}
	perOp := map[string]int{}
	passed, skipped := 0, 0
	for _, suite := range onnxSuites {
		entries, _ := os.ReadDir(filepath.Join(onnxTestData, suite))
		for _, e := range entries {
			name := suite + "/" + e.Name()
			dir := filepath.Join(onnxTestData, name)
			data, err := os.ReadFile(filepath.Join(dir, "model.onnx"))
			if err != nil {
				continue
			}
			m, err := onnx.ReadModel(data)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if len(m.Graph.Nodes) != 1 || !onnxOpsUnderTest[m.Graph.Nodes[0].OpType] {
				continue // other operators, and multi-node graphs such as the "_expanded" variants
			}
			seen[name] = true
			perOp[m.Graph.Nodes[0].OpType]++
			t.Run(name, func(t *testing.T) {
				err := runNodeTest(dir, m)
				reason, listed := onnxUnsupported[name]
				var un errUnsupported
				switch {
				case errors.As(err, &un) && listed:
					skipped++
					t.Skipf("%s (%s)", reason, un.what)
				case errors.As(err, &un):
					t.Errorf("%v, and the case is not listed in onnxUnsupported", err)
				case listed:
					t.Errorf("listed as unsupported (%s) but mapped: err = %v; remove it from the list", reason, err)
				case err != nil:
					t.Error(err)
				default:
					passed++
				}
			})
		}
	}
	for name := range onnxUnsupported {
		if !seen[name] {
			t.Errorf("onnxUnsupported lists %s, which is not among the test cases", name)
		}
	}
	t.Logf("ONNX backend tests: %d passed, %d unsupported (listed), cases per operator %v", passed, skipped, perOp)
	if len(perOp) != len(onnxOpsUnderTest) {
		t.Errorf("found cases for %d of the %d operators: %v", len(perOp), len(onnxOpsUnderTest), perOp)
	}
}

// runNodeTest runs every test_data_set_* of one case.
func runNodeTest(dir string, m *onnx.Model) error {
	sets, _ := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
	if len(sets) == 0 {
		return fmt.Errorf("no test_data_set_* in %s", dir)
	}
	g := m.Graph
	for _, set := range sets {
		// Initializers (weights, in the PyTorch exports) are inputs too; input_N.pb
		// holds the other graph inputs, in order.
		env := map[string]*onnx.Tensor{}
		for _, tp := range g.Initializers {
			env[tp.Name] = tp
		}
		i := 0
		for _, in := range g.Inputs {
			if env[in.Name] != nil {
				continue
			}
			tp, err := readPB(filepath.Join(set, fmt.Sprintf("input_%d.pb", i)))
			if err != nil {
				return err
			}
			env[in.Name] = tp
			i++
		}
		outs, err := runNode(g.Nodes[0], env, m.Opsets[""])
		if err != nil {
			return err
		}
		for i, o := range g.Outputs {
			want, err := readPB(filepath.Join(set, fmt.Sprintf("output_%d.pb", i)))
			if err != nil {
				return err
			}
			got, ok := outs[o.Name]
			if !ok {
				return fmt.Errorf("output %q not computed", o.Name)
			}
			if err := compareONNX(got, want); err != nil {
				return fmt.Errorf("%s output %q: %w", filepath.Base(set), o.Name, err)
			}
		}
	}
	return nil
}

func readPB(path string) (*onnx.Tensor, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return onnx.ReadTensor(data)
}

// compareONNX checks shape and values with the ONNX backend test tolerance.
func compareONNX(got *engine.Tensor, want *onnx.Tensor) error {
	const rtol, atol = 1e-3, 1e-7
	ws, err := want.Shape()
	if err != nil {
		return err
	}
	if fmt.Sprint(ws) != fmt.Sprint(got.Shape) {
		return fmt.Errorf("shape %v, want %v", got.Shape, ws)
	}
	wv, err := want.Float32s()
	if err != nil {
		return err
	}
	bad := 0
	first := ""
	for i, w := range wv {
		g := got.Data[i]
		if math.Abs(float64(g)-float64(w)) > atol+rtol*math.Abs(float64(w)) || math.IsNaN(float64(g)) != math.IsNaN(float64(w)) {
			if bad == 0 {
				first = fmt.Sprintf("at %d: got %g, want %g", i, g, w)
			}
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d values differ beyond rtol %g atol %g, first %s", bad, len(wv), rtol, atol, first)
	}
	return nil
}

// runNode maps one ONNX node onto the engine's Reference operators.
func runNode(n *onnx.Node, env map[string]*onnx.Tensor, opset int64) (map[string]*engine.Tensor, error) {
	in := make([]*engine.Tensor, len(n.Inputs))
	for i, name := range n.Inputs {
		if name == "" {
			continue // omitted optional input
		}
		tp, ok := env[name]
		if !ok {
			return nil, fmt.Errorf("input %q missing", name)
		}
		et, err := tp.Engine()
		if err != nil {
			return nil, err
		}
		in[i] = et
	}
	var ref engine.Reference
	out := map[string]*engine.Tensor{}
	var y *engine.Tensor
	var err error
	switch n.OpType {
	case "Conv":
		y, err = onnxConv(n, in)
	case "MaxPool", "AveragePool":
		if len(n.Outputs) > 1 && n.Outputs[1] != "" {
			return nil, unsupported("MaxPool Indices output")
		}
		y, err = onnxPool(n, in[0])
	case "GlobalAveragePool":
		if len(in[0].Shape) != 4 {
			return nil, unsupported("%d-D GlobalAveragePool", len(in[0].Shape)-2)
		}
		y = ref.AdaptiveAvgPool2D(in[0], 1, 1)
	case "LRN":
		y, err = onnxLRN(n, in[0])
	case "Gemm":
		y, err = onnxGemm(n, in)
	case "Relu":
		y = ref.ReLU(in[0])
	case "Softmax":
		y, err = onnxSoftmax(n, in[0], opset)
	case "Flatten":
		var axis int64
		if axis, err = n.AttrInt("axis", 1); err == nil {
			y = engine.Flatten(in[0], normAxis(int(axis), len(in[0].Shape)))
		}
	case "Concat":
		y, err = onnxConcat(n, in)
	case "Dropout":
		y, err = onnxDropout(n, in, out)
	default:
		return nil, unsupported("operator %s", n.OpType)
	}
	if err != nil {
		return nil, err
	}
	out[n.Outputs[0]] = y
	return out, nil
}

func normAxis(axis, rank int) int {
	if axis < 0 {
		return axis + rank
	}
	return axis
}

// spatial reads the attributes shared by Conv and the pools for a 2-D kernel: kernel size,
// strides, dilations and pads, with auto_pad resolved against the input size.
type spatial struct {
	kh, kw, sh, sw, dh, dw int
	pads                   [4]int // top, left, bottom, right
}

// With oneD, the node's attributes are for a 1-D kernel and are read as those of a 1 x k
// kernel.
func readSpatial(n *onnx.Node, h, w int, kernel []int64, oneD bool) (spatial, error) {
	s := spatial{kh: int(kernel[0]), kw: int(kernel[1])}
	dims := 2
	if oneD {
		dims = 1
	}
	ones, zeros := make([]int64, dims), make([]int64, 2*dims)
	for i := range ones {
		ones[i] = 1
	}
	strides, err := n.AttrInts("strides", ones)
	if err != nil {
		return s, err
	}
	dil, err := n.AttrInts("dilations", ones)
	if err != nil {
		return s, err
	}
	pads, err := n.AttrInts("pads", zeros)
	if err != nil {
		return s, err
	}
	if oneD && len(strides) == 1 && len(dil) == 1 && len(pads) == 2 {
		strides, dil, pads = []int64{1, strides[0]}, []int64{1, dil[0]}, []int64{0, pads[0], 0, pads[1]}
	}
	autoPad, err := n.AttrString("auto_pad", "NOTSET")
	if err != nil {
		return s, err
	}
	if len(strides) != 2 || len(dil) != 2 || len(pads) != 4 {
		return s, fmt.Errorf("strides %v, dilations %v, pads %v do not fit a 2-D kernel", strides, dil, pads)
	}
	s.sh, s.sw, s.dh, s.dw = int(strides[0]), int(strides[1]), int(dil[0]), int(dil[1])
	// ONNX pads are [x1_begin, x2_begin, x1_end, x2_end] = top, left, bottom, right.
	s.pads = [4]int{int(pads[0]), int(pads[1]), int(pads[2]), int(pads[3])}
	switch autoPad {
	case "NOTSET":
	case "VALID":
		s.pads = [4]int{}
	case "SAME_UPPER", "SAME_LOWER":
		// Output size ceil(in/stride); the total padding is split evenly, the odd pixel
		// going at the end (UPPER) or the beginning (LOWER).
		split := func(in, k, st, d int) (int, int) {
			out := (in + st - 1) / st
			total := max(0, (out-1)*st+(k-1)*d+1-in)
			if autoPad == "SAME_UPPER" {
				return total / 2, total - total/2
			}
			return total - total/2, total / 2
		}
		s.pads[0], s.pads[2] = split(h, s.kh, s.sh, s.dh)
		s.pads[1], s.pads[3] = split(w, s.kw, s.sw, s.dw)
	default:
		return s, fmt.Errorf("unknown auto_pad %q", autoPad)
	}
	return s, nil
}

func onnxConv(n *onnx.Node, in []*engine.Tensor) (*engine.Tensor, error) {
	x, w := in[0], in[1]
	oneD := len(x.Shape) == 3 && len(w.Shape) == 3
	if oneD {
		// A 1-D convolution over [N, C, L] is the 2-D one over [N, C, 1, L], 1 x k kernel.
		x = &engine.Tensor{Shape: []int{x.Shape[0], x.Shape[1], 1, x.Shape[2]}, Data: x.Data}
		w = &engine.Tensor{Shape: []int{w.Shape[0], w.Shape[1], 1, w.Shape[2]}, Data: w.Data}
	} else if len(x.Shape) != 4 {
		return nil, unsupported("%d-D convolution", len(x.Shape)-2)
	}
	group, err := n.AttrInt("group", 1)
	if err != nil {
		return nil, err
	}
	kernel := []int64{int64(w.Shape[2]), int64(w.Shape[3])}
	s, err := readSpatial(n, x.Shape[2], x.Shape[3], kernel, oneD)
	if err != nil {
		return nil, err
	}
	spec := engine.ConvSpec{In: x.Shape[1], Out: w.Shape[0], KH: s.kh, KW: s.kw, StrideH: s.sh, StrideW: s.sw,
		PadT: s.pads[0], PadL: s.pads[1], PadB: s.pads[2], PadR: s.pads[3], DilH: s.dh, DilW: s.dw, Groups: int(group)}
	var bias []float32
	if len(in) > 2 && in[2] != nil {
		bias = in[2].Data
	}
	y := engine.Reference{}.Conv2D(x, &engine.Weight{Shape: w.Shape, F32: w.Data}, bias, spec)
	if oneD {
		y = &engine.Tensor{Shape: []int{y.Shape[0], y.Shape[1], y.Shape[3]}, Data: y.Data}
	}
	return y, nil
}

func onnxPool(n *onnx.Node, x *engine.Tensor) (*engine.Tensor, error) {
	kernel, err := n.AttrInts("kernel_shape", nil)
	if err != nil {
		return nil, err
	}
	rank := len(x.Shape)
	oneD := rank == 3 && len(kernel) == 1
	if oneD {
		// A 1-D pool over [N, C, L] is the 2-D pool over [N, C, 1, L] with a 1 x k kernel.
		x = &engine.Tensor{Shape: []int{x.Shape[0], x.Shape[1], 1, x.Shape[2]}, Data: x.Data}
		kernel = []int64{1, kernel[0]}
	} else if rank != 4 {
		return nil, unsupported("%d-D pooling", rank-2)
	}
	s, err := readSpatial(n, x.Shape[2], x.Shape[3], kernel, oneD)
	if err != nil {
		return nil, err
	}
	if s.dh != 1 || s.dw != 1 {
		return nil, unsupported("dilated pooling %dx%d", s.dh, s.dw)
	}
	ceil, err := n.AttrInt("ceil_mode", 0)
	if err != nil {
		return nil, err
	}
	includePad, err := n.AttrInt("count_include_pad", 0)
	if err != nil {
		return nil, err
	}
	p := engine.PoolSpec{KH: s.kh, KW: s.kw, StrideH: s.sh, StrideW: s.sw,
		PadT: s.pads[0], PadL: s.pads[1], PadB: s.pads[2], PadR: s.pads[3], Ceil: ceil == 1, CountIncludePad: includePad == 1}
	var y *engine.Tensor
	if n.OpType == "MaxPool" {
		y = engine.Reference{}.MaxPool2D(x, p)
	} else {
		y = engine.Reference{}.AvgPool2D(x, p)
	}
	if oneD {
		y = &engine.Tensor{Shape: []int{y.Shape[0], y.Shape[1], y.Shape[3]}, Data: y.Data}
	}
	return y, nil
}

func onnxLRN(n *onnx.Node, x *engine.Tensor) (*engine.Tensor, error) {
	size, err := n.AttrInt("size", 0)
	if err != nil {
		return nil, err
	}
	if size < 1 {
		return nil, fmt.Errorf("LRN size %d", size)
	}
	alpha, err1 := n.AttrFloat("alpha", 1e-4)
	beta, err2 := n.AttrFloat("beta", 0.75)
	bias, err3 := n.AttrFloat("bias", 1)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	return engine.Reference{}.LRN(x, engine.LRNSpec{Size: int(size), Alpha: alpha, Beta: beta, K: bias}), nil
}

// onnxGemm maps Y = alpha * A' B' + beta * C onto Linear (y = x W^T + b): x = A', W = B'^T
// scaled by alpha, b = beta * C when C is one bias per output column.
func onnxGemm(n *onnx.Node, in []*engine.Tensor) (*engine.Tensor, error) {
	alpha, err1 := n.AttrFloat("alpha", 1)
	beta, err2 := n.AttrFloat("beta", 1)
	transA, err3 := n.AttrInt("transA", 0)
	transB, err4 := n.AttrInt("transB", 0)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, err
	}
	a, b := in[0], in[1]
	if transA == 1 {
		a = transpose2(a)
	}
	w := b // Linear wants W as [out, in], which is B' transposed
	if transB == 0 {
		w = transpose2(b)
	}
	w = w.Clone()
	for i := range w.Data {
		w.Data[i] *= alpha
	}
	out := w.Shape[0]
	var bias []float32
	if len(in) > 2 && in[2] != nil {
		c := in[2]
		rows := 1
		if len(c.Shape) == 2 {
			rows = c.Shape[0]
		}
		if rows != 1 || (c.Len() != out && c.Len() != 1) {
			return nil, unsupported("Gemm bias C of shape %v", c.Shape)
		}
		bias = make([]float32, out)
		for j := range bias {
			bias[j] = beta * c.Data[j%c.Len()]
		}
	}
	l := engine.LinearSpec{In: a.Shape[1], Out: out}
	return engine.Reference{}.Linear(a, &engine.Weight{Shape: w.Shape, F32: w.Data}, bias, l), nil
}

func transpose2(x *engine.Tensor) *engine.Tensor {
	r, c := x.Shape[0], x.Shape[1]
	y := engine.NewTensor(c, r)
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			y.Data[j*r+i] = x.Data[i*c+j]
		}
	}
	return y
}

// onnxSoftmax: from opset 13 the softmax runs along one axis, which the harness moves to
// the end for the engine's last-dimension Softmax and back; before 13 the input is
// flattened to 2-D at the axis and the softmax runs over the whole second dimension.
func onnxSoftmax(n *onnx.Node, x *engine.Tensor, opset int64) (*engine.Tensor, error) {
	def := int64(-1)
	if opset < 13 {
		def = 1
	}
	axis64, err := n.AttrInt("axis", def)
	if err != nil {
		return nil, err
	}
	rank := len(x.Shape)
	axis := normAxis(int(axis64), rank)
	if opset < 13 {
		y := engine.Reference{}.Softmax(engine.Flatten(x, axis))
		return &engine.Tensor{Shape: x.Shape, Data: y.Data}, nil
	}
	outer, mid, inner := splitAt(x.Shape, axis)
	moved := engine.NewTensor(outer, inner, mid) // axis last
	for o := 0; o < outer; o++ {
		for m := 0; m < mid; m++ {
			for i := 0; i < inner; i++ {
				moved.Data[(o*inner+i)*mid+m] = x.Data[(o*mid+m)*inner+i]
			}
		}
	}
	s := engine.Reference{}.Softmax(moved)
	y := engine.NewTensor(x.Shape...)
	for o := 0; o < outer; o++ {
		for m := 0; m < mid; m++ {
			for i := 0; i < inner; i++ {
				y.Data[(o*mid+m)*inner+i] = s.Data[(o*inner+i)*mid+m]
			}
		}
	}
	return y, nil
}

// splitAt returns the products of the dimensions before, at and after axis.
func splitAt(shape []int, axis int) (outer, mid, inner int) {
	outer, mid, inner = 1, shape[axis], 1
	for i, d := range shape {
		if i < axis {
			outer *= d
		} else if i > axis {
			inner *= d
		}
	}
	return
}

// onnxConcat: concatenation along any axis is the engine's channel concatenation of the
// inputs viewed as [outer, axis, inner, 1].
func onnxConcat(n *onnx.Node, in []*engine.Tensor) (*engine.Tensor, error) {
	axis64, err := n.AttrInt("axis", 0)
	if err != nil {
		return nil, err
	}
	axis := normAxis(int(axis64), len(in[0].Shape))
	views := make([]*engine.Tensor, len(in))
	shape := append([]int(nil), in[0].Shape...)
	shape[axis] = 0
	for i, x := range in {
		outer, mid, inner := splitAt(x.Shape, axis)
		views[i] = &engine.Tensor{Shape: []int{outer, mid, inner, 1}, Data: x.Data}
		shape[axis] += mid
	}
	y := engine.Reference{}.Concat(views...)
	return &engine.Tensor{Shape: shape, Data: y.Data}, nil
}

// onnxDropout: at inference (training_mode absent or false) Dropout is the identity, as in
// the engine's forward pass, and its optional mask is all true. So is training with ratio 0.
func onnxDropout(n *onnx.Node, in []*engine.Tensor, out map[string]*engine.Tensor) (*engine.Tensor, error) {
	ratio, err := n.AttrFloat("ratio", 0.5) // before opset 12 the ratio is an attribute
	if err != nil {
		return nil, err
	}
	if len(in) > 1 && in[1] != nil {
		ratio = in[1].Data[0]
	}
	if len(in) > 2 && in[2] != nil && in[2].Data[0] != 0 && ratio != 0 {
		return nil, unsupported("Dropout in training mode with ratio %g", ratio)
	}
	if len(n.Outputs) > 1 && n.Outputs[1] != "" {
		mask := engine.NewTensor(in[0].Shape...)
		for i := range mask.Data {
			mask.Data[i] = 1
		}
		out[n.Outputs[1]] = mask
	}
	return in[0].Clone(), nil
}
