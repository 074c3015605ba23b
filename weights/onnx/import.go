package onnx

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/alexlens/alexlens/engine"
)

// zooNaming describes how a published ONNX model names an architecture's weights, and the
// input convention those weights expect.
type zooNaming struct {
	source string
	// names maps the zoo's initializer names to the engine's state_dict keys.
	names map[string]string
	// caffeInput: the first convolution expects Caffe's input (BGR, 0-255, minus the
	// ILSVRC channel means) and is folded to take torchvision-normalized RGB.
	caffeInput bool
}

// zooNamings lists the ONNX model zoo files ImportModel recognises, by architecture.
var zooNamings = map[string]zooNaming{
	// bvlcalexnet-12.onnx (and -3 to -9): BVLC's Caffe AlexNet via Caffe2. Initializers
	// conv1_w_0 [96,3,11,11], conv2_w_0 [256,48,5,5] (two groups), ..., fc6_w_0
	// [4096,9216] used by Gemm with transB=1; the graph declares a 1x3x224x224 input
	// data_0. The weights are those of the 227x227 Caffe network the engine describes.
	engine.AlexNetBVLC.Name: {
		source: "ONNX model zoo bvlcalexnet",
		names: map[string]string{
			"conv1_w_0": "features.0.weight", "conv1_b_0": "features.0.bias",
			"conv2_w_0": "features.4.weight", "conv2_b_0": "features.4.bias",
			"conv3_w_0": "features.8.weight", "conv3_b_0": "features.8.bias",
			"conv4_w_0": "features.10.weight", "conv4_b_0": "features.10.bias",
			"conv5_w_0": "features.12.weight", "conv5_b_0": "features.12.bias",
			"fc6_w_0": "classifier.1.weight", "fc6_b_0": "classifier.1.bias",
			"fc7_w_0": "classifier.4.weight", "fc7_b_0": "classifier.4.bias",
			"fc8_w_0": "classifier.6.weight", "fc8_b_0": "classifier.6.bias",
		},
		caffeInput: true,
	},
}

// ImportModel reads the weights arch needs from an ONNX model and returns them by the
// engine's state_dict keys (arch.Params()), ready for engine.NewModel. The initializers may
// be named with those keys (a torch.onnx.export of the matching module) or as in a known
// ONNX model zoo file (bvlcalexnet for engine.AlexNetBVLC), whose Caffe input convention is
// then folded into the first convolution (see FoldCaffeInput), so that the result takes
// torchvision-normalized RGB like every other weight file.
//
// The graph is checked where it says something about the weights: a Conv using a weight
// must have the architecture's kernel, strides, pads, dilations and groups, and a Gemm or
// MatMul that stores a weight as [in, out] has it transposed. Other initializers (shape
// constants and the like) are ignored.
func ImportModel(data []byte, arch *engine.Arch) (map[string]*engine.Tensor, error) {
	return importModel(data, arch, true)
}

// ImportAnyArch is ImportModel for the first architecture (in engine.ArchNames order)
// whose weights the model holds, by engine names or a known zoo naming.
func ImportAnyArch(data []byte) (*engine.Arch, map[string]*engine.Tensor, error) {
	if _, err := ReadModel(data); err != nil {
		return nil, nil, err
	}
	var errs []string
	for _, name := range engine.ArchNames() {
		a := engine.Archs[name]
		ts, err := ImportModel(data, a)
		if err == nil {
			return a, ts, nil
		}
		errs = append(errs, err.Error())
	}
	return nil, nil, fmt.Errorf("onnx: the model holds the weights of none of %v:\n%s", engine.ArchNames(), strings.Join(errs, "\n"))
}

func importModel(data []byte, arch *engine.Arch, fold bool) (map[string]*engine.Tensor, error) {
	m, err := ReadModel(data)
	if err != nil {
		return nil, err
	}
	inits := map[string]*Tensor{}
	for _, t := range m.Graph.Initializers {
		if _, dup := inits[t.Name]; dup {
			return nil, fmt.Errorf("onnx: two initializers named %q", t.Name)
		}
		inits[t.Name] = t
	}
	params := arch.Params()

	// Which naming does the file use? rename maps file names to engine keys.
	rename := map[string]string{}
	var missingCanon []string
	for _, p := range params {
		if inits[p.Name] == nil {
			missingCanon = append(missingCanon, p.Name)
		}
		rename[p.Name] = p.Name
	}
	zoo, hasZoo := zooNamings[arch.Name]
	caffe := false
	if len(missingCanon) > 0 {
		var missingZoo []string
		if hasZoo {
			for name := range zoo.names {
				if inits[name] == nil {
					missingZoo = append(missingZoo, name)
				}
			}
			sort.Strings(missingZoo)
		}
		if !hasZoo || len(missingZoo) > 0 {
			msg := fmt.Sprintf("onnx: model does not hold the weights of %s: missing %s", arch.Name, listSome(missingCanon))
			if hasZoo {
				msg += fmt.Sprintf(", and not the %s names either (missing %s)", zoo.source, listSome(missingZoo))
			}
			return nil, fmt.Errorf("%s; its initializers are %s", msg, listSome(initNames(m.Graph)))
		}
		rename = zoo.names
		caffe = zoo.caffeInput
	}

	layout, err := weightLayouts(m.Graph, arch, rename)
	if err != nil {
		return nil, err
	}
	want := map[string][]int{}
	for _, p := range params {
		want[p.Name] = p.Shape
	}
	out := map[string]*engine.Tensor{}
	for from, key := range rename {
		et, err := inits[from].Engine()
		if err != nil {
			return nil, fmt.Errorf("onnx: %w", err)
		}
		if layout[from] == transposed {
			et = transpose(et)
		}
		if !slices.Equal(et.Shape, want[key]) {
			return nil, fmt.Errorf("onnx: initializer %q (%s) has shape %v, want %v (weights for another architecture?)", from, key, et.Shape, want[key])
		}
		out[key] = et
	}
	if caffe && fold {
		first := arch.FirstConv()
		c := first.Conv
		if c.PadT != 0 || c.PadL != 0 || c.PadB != 0 || c.PadR != 0 {
			return nil, fmt.Errorf("onnx: cannot fold Caffe input into %s: its first convolution pads, so the fold would not be exact", arch.Name)
		}
		wk, bk := first.Key+".weight", first.Key+".bias"
		out[wk], out[bk], err = FoldCaffeInput(out[wk], out[bk])
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

type weightLayout int

const (
	asStored   weightLayout = iota
	transposed              // stored [in, out]: Gemm with transB=0, or MatMul
)

// weightLayouts checks the nodes that consume the weights against the architecture and
// says which linear weights are stored transposed.
func weightLayouts(g *Graph, arch *engine.Arch, rename map[string]string) (map[string]weightLayout, error) {
	convs := map[string]engine.ConvSpec{}
	for _, l := range arch.Layers {
		if l.Kind == engine.KindConv {
			convs[l.Key+".weight"] = l.Conv
		}
	}
	layout := map[string]weightLayout{}
	for _, n := range g.Nodes {
		for i, in := range n.Inputs {
			key, ok := rename[in]
			if !ok {
				continue
			}
			switch {
			case n.OpType == "Conv" && i == 1:
				if c, ok := convs[key]; ok {
					if err := checkConvNode(n, c, in); err != nil {
						return nil, err
					}
				}
			case n.OpType == "Gemm" && i == 1:
				tb, err := n.AttrInt("transB", 0)
				if err != nil {
					return nil, fmt.Errorf("onnx: %w", err)
				}
				alpha, err := n.AttrFloat("alpha", 1)
				if err != nil {
					return nil, fmt.Errorf("onnx: %w", err)
				}
				if alpha != 1 {
					return nil, fmt.Errorf("onnx: Gemm %q scales weight %q by alpha=%g, which the engine's linear layer does not", n.Name, in, alpha)
				}
				if tb == 0 {
					layout[in] = transposed
				}
			case n.OpType == "MatMul" && i == 1:
				layout[in] = transposed
			}
		}
	}
	return layout, nil
}

func checkConvNode(n *Node, c engine.ConvSpec, weight string) error {
	group, err1 := n.AttrInt("group", 1)
	strides, err2 := n.AttrInts("strides", []int64{1, 1})
	dil, err3 := n.AttrInts("dilations", []int64{1, 1})
	pads, err4 := n.AttrInts("pads", []int64{0, 0, 0, 0})
	autoPad, err5 := n.AttrString("auto_pad", "NOTSET")
	for _, err := range []error{err1, err2, err3, err4, err5} {
		if err != nil {
			return fmt.Errorf("onnx: %w", err)
		}
	}
	got := fmt.Sprintf("group %d, strides %v, dilations %v", group, strides, dil)
	want := fmt.Sprintf("group %d, strides [%d %d], dilations [%d %d]", c.Groups, c.StrideH, c.StrideW, c.DilH, c.DilW)
	if autoPad == "NOTSET" {
		got += fmt.Sprintf(", pads %v", pads)
		want += fmt.Sprintf(", pads [%d %d %d %d]", c.PadT, c.PadL, c.PadB, c.PadR)
	}
	if got != want {
		return fmt.Errorf("onnx: Conv %q using %q has %s; the architecture wants %s", n.Name, weight, got, want)
	}
	return nil
}

// The two input conventions of FoldCaffeInput.
var (
	// CaffeMeanBGR is the ILSVRC 2012 mean pixel Caffe's AlexNet subtracts, in BGR order
	// (recovered exactly from the raw and folded conv1 in bvlc_alexnet_conv1.pth).
	CaffeMeanBGR = [3]float64{103.939, 116.779, 123.68}
	// torchvision's normalization, RGB.
	torchMean = [3]float64{0.485, 0.456, 0.406}
	torchStd  = [3]float64{0.229, 0.224, 0.225}
)

// FoldCaffeInput turns a first convolution trained on Caffe input (BGR channels, 0-255
// pixel values minus CaffeMeanBGR) into one that takes torchvision-normalized RGB input
// ((p/255 - mean) / std), with the same outputs. Pixel p in [0,255] reaches the Caffe
// network as p - caffe_mean = 255*std*x + 255*mean - caffe_mean for the torchvision value
// x, so with W in RGB channel order:
//
//	W'[o,c] = W[o,c] * 255 * std[c]
//	b'[o]   = b[o] + sum over c,h,w of W[o,c,h,w] * (255*mean[c] - caffe_mean[c])
//
// exact when the convolution does not pad (a padded zero would mean different pixels).
// The shift 255*mean[c] - caffe_mean[c] is computed in float32 as the reference fold in
// bvlc_alexnet_conv1.pth was (its bias matches to 5e-8 relative this way, 4e-6 with a
// float64 shift); the sums run in float64.
func FoldCaffeInput(w, b *engine.Tensor) (*engine.Tensor, *engine.Tensor, error) {
	if len(w.Shape) != 4 || w.Shape[1] != 3 {
		return nil, nil, fmt.Errorf("onnx: Caffe input fold wants a [out, 3, kh, kw] weight, got %v", w.Shape)
	}
	out, plane := w.Shape[0], w.Shape[2]*w.Shape[3]
	if len(b.Shape) != 1 || b.Shape[0] != out {
		return nil, nil, fmt.Errorf("onnx: Caffe input fold: bias shape %v does not match weight %v", b.Shape, w.Shape)
	}
	fw, fb := engine.NewTensor(w.Shape...), engine.NewTensor(out)
	for o := 0; o < out; o++ {
		acc := float64(b.Data[o])
		for c := 0; c < 3; c++ { // c: RGB channel of the folded weight; 2-c: its BGR source
			src := w.Data[(o*3+2-c)*plane : (o*3+3-c)*plane]
			dst := fw.Data[(o*3+c)*plane : (o*3+c+1)*plane]
			shift := float64(255*float32(torchMean[c]) - float32(CaffeMeanBGR[2-c]))
			for i, v := range src {
				dst[i] = float32(float64(v) * 255 * torchStd[c])
				acc += float64(v) * shift
			}
		}
		fb.Data[o] = float32(acc)
	}
	return fw, fb, nil
}

func transpose(x *engine.Tensor) *engine.Tensor {
	if len(x.Shape) != 2 {
		return x // the shape check reports it
	}
	r, c := x.Shape[0], x.Shape[1]
	y := engine.NewTensor(c, r)
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			y.Data[j*r+i] = x.Data[i*c+j]
		}
	}
	return y
}

func initNames(g *Graph) []string {
	var names []string
	for _, t := range g.Initializers {
		names = append(names, t.Name)
	}
	return names
}

// listSome quotes up to five names, then says how many more.
func listSome(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	var q []string
	for i, n := range names {
		if i == 5 {
			q = append(q, fmt.Sprintf("and %d more", len(names)-5))
			break
		}
		q = append(q, fmt.Sprintf("%q", n))
	}
	return strings.Join(q, ", ")
}
