package engine

import (
	"fmt"
	"sort"
)

// Kind is the operator a layer applies.
type Kind int

const (
	KindConv Kind = iota
	KindMaxPool
	KindLRN
	KindAdaptiveAvgPool
	KindDropout
	KindLinear
	KindFire
)

// FireSpec is SqueezeNet's fire module: a 1x1 squeeze conv + ReLU feeding a 1x1 and a 3x3
// (pad 1) expand conv, each + ReLU, concatenated on channels with the 1x1 branch first.
type FireSpec struct {
	In, Squeeze, Expand1x1, Expand3x3 int
	// NoExpandReLU leaves out the expand convolutions' ReLU (Layer.WithoutReLU).
	NoExpandReLU bool
}

// Layer is one step of a network description. Name is the activation's name (conv1, fc7,
// fire2, ...), Key the parameter prefix in the torchvision-style state_dict (features.0).
type Layer struct {
	Name   string
	Kind   Kind
	Key    string
	Conv   ConvSpec
	Pool   PoolSpec
	LRN    LRNSpec
	Linear LinearSpec
	Fire   FireSpec
	OutH   int // adaptive average pool output size
	OutW   int
}

// Arch is a network description: the layers in order, read top to bottom like the paper's
// figure. Every layer with a Name leaves a named activation.
type Arch struct {
	Name      string
	Title     string
	InputSize int // square input side
	Classes   int
	Embedding string // the layer whose output is the image embedding
	Layers    []Layer
}

// Archs lists the architectures by name.
var Archs = map[string]*Arch{
	AlexNet.Name:      AlexNet,
	AlexNetBVLC.Name:  AlexNetBVLC,
	SqueezeNet11.Name: SqueezeNet11,
}

// ArchNames lists the known architecture names, sorted.
func ArchNames() []string {
	var names []string
	for n := range Archs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LookupArch finds an architecture by name.
func LookupArch(name string) (*Arch, error) {
	if a, ok := Archs[name]; ok {
		return a, nil
	}
	return nil, fmt.Errorf("unknown architecture %q (known: %v)", name, ArchNames())
}

// AlexNet is torchvision's AlexNet, the "one weird trick" variant of the paper's network:
// 64-192-384-256-256 channels, no groups, no LRN, 224x224 input, 61.1M parameters.
var AlexNet = &Arch{
	Name: "alexnet", Title: "AlexNet (torchvision)", InputSize: 224, Classes: 1000, Embedding: "fc7",
	Layers: []Layer{
		conv("conv1", "features.0", 3, 64, 11, 4, 2, 1),
		maxPool("pool1", 3, 2, false),
		conv("conv2", "features.3", 64, 192, 5, 1, 2, 1),
		maxPool("pool2", 3, 2, false),
		conv("conv3", "features.6", 192, 384, 3, 1, 1, 1),
		conv("conv4", "features.8", 384, 256, 3, 1, 1, 1),
		conv("conv5", "features.10", 256, 256, 3, 1, 1, 1),
		maxPool("pool5", 3, 2, false),
		{Name: "avgpool", Kind: KindAdaptiveAvgPool, OutH: 6, OutW: 6},
		dropout(),
		linear("fc6", "classifier.1", 256*6*6, 4096, true),
		dropout(),
		linear("fc7", "classifier.4", 4096, 4096, true),
		linear("fc8", "classifier.6", 4096, 1000, false),
	},
}

// AlexNetBVLC is the network of Krizhevsky, Sutskever and Hinton (2012), Figure 2, as
// released by BVLC: 96-256-384-384-256 channels, conv2/4/5 split in two groups (the paper's
// two GPUs), local response normalization after conv1 and conv2, 227x227 input.
// Parameter keys follow torchvision's Sequential numbering of this layer list.
var AlexNetBVLC = &Arch{
	Name: "alexnet-bvlc", Title: "AlexNet (original BVLC, 2012)", InputSize: 227, Classes: 1000, Embedding: "fc7",
	Layers: []Layer{
		conv("conv1", "features.0", 3, 96, 11, 4, 0, 1),
		lrn("norm1", 5, 1e-4, 0.75, 1),
		maxPool("pool1", 3, 2, false),
		conv("conv2", "features.4", 96, 256, 5, 1, 2, 2),
		lrn("norm2", 5, 1e-4, 0.75, 1),
		maxPool("pool2", 3, 2, false),
		conv("conv3", "features.8", 256, 384, 3, 1, 1, 1),
		conv("conv4", "features.10", 384, 384, 3, 1, 1, 2),
		conv("conv5", "features.12", 384, 256, 3, 1, 1, 2),
		maxPool("pool5", 3, 2, false),
		dropout(),
		linear("fc6", "classifier.1", 256*6*6, 4096, true),
		dropout(),
		linear("fc7", "classifier.4", 4096, 4096, true),
		linear("fc8", "classifier.6", 4096, 1000, false),
	},
}

// SqueezeNet11 is SqueezeNet v1.1 as in torchvision: AlexNet-level accuracy with 50x fewer
// parameters. Pools use ceil mode; the classifier is a 1x1 conv and a global average pool.
var SqueezeNet11 = &Arch{
	Name: "squeezenet1_1", Title: "SqueezeNet 1.1", InputSize: 224, Classes: 1000, Embedding: "fire9",
	Layers: []Layer{
		conv("conv1", "features.0", 3, 64, 3, 2, 0, 1),
		maxPool("pool1", 3, 2, true),
		fire("fire2", "features.3", 64, 16, 64, 64),
		fire("fire3", "features.4", 128, 16, 64, 64),
		maxPool("pool3", 3, 2, true),
		fire("fire4", "features.6", 128, 32, 128, 128),
		fire("fire5", "features.7", 256, 32, 128, 128),
		maxPool("pool5", 3, 2, true),
		fire("fire6", "features.9", 256, 48, 192, 192),
		fire("fire7", "features.10", 384, 48, 192, 192),
		fire("fire8", "features.11", 384, 64, 256, 256),
		fire("fire9", "features.12", 512, 64, 256, 256),
		dropout(),
		conv("conv10", "classifier.1", 512, 1000, 1, 1, 0, 1),
		{Name: "avgpool10", Kind: KindAdaptiveAvgPool, OutH: 1, OutW: 1},
	},
}

func conv(name, key string, in, out, k, stride, pad, groups int) Layer {
	return Layer{Name: name, Kind: KindConv, Key: key, Conv: ConvSpec{
		In: in, Out: out, KH: k, KW: k, StrideH: stride, StrideW: stride,
		PadT: pad, PadL: pad, PadB: pad, PadR: pad, DilH: 1, DilW: 1, Groups: groups, ReLU: true,
	}}
}

func maxPool(name string, k, stride int, ceil bool) Layer {
	return Layer{Name: name, Kind: KindMaxPool, Pool: PoolSpec{KH: k, KW: k, StrideH: stride, StrideW: stride, Ceil: ceil}}
}

func lrn(name string, size int, alpha, beta, k float32) Layer {
	return Layer{Name: name, Kind: KindLRN, LRN: LRNSpec{Size: size, Alpha: alpha, Beta: beta, K: k}}
}

func linear(name, key string, in, out int, relu bool) Layer {
	return Layer{Name: name, Kind: KindLinear, Key: key, Linear: LinearSpec{In: in, Out: out, ReLU: relu}}
}

func dropout() Layer { return Layer{Kind: KindDropout} }

func fire(name, key string, in, squeeze, e1, e3 int) Layer {
	return Layer{Name: name, Kind: KindFire, Key: key, Fire: FireSpec{In: in, Squeeze: squeeze, Expand1x1: e1, Expand3x3: e3}}
}

// Convs are the three convolutions of a fire module, each with its ReLU; their parameters
// are under the layer's key + .squeeze, .expand1x1 and .expand3x3.
func (f FireSpec) Convs() (squeeze, e1, e3 ConvSpec) {
	c := func(in, out, k, pad int) ConvSpec {
		return ConvSpec{In: in, Out: out, KH: k, KW: k, StrideH: 1, StrideW: 1, PadT: pad, PadL: pad, PadB: pad, PadR: pad, DilH: 1, DilW: 1, Groups: 1, ReLU: true}
	}
	squeeze, e1, e3 = c(f.In, f.Squeeze, 1, 0), c(f.Squeeze, f.Expand1x1, 1, 0), c(f.Squeeze, f.Expand3x3, 3, 1)
	if f.NoExpandReLU {
		e1.ReLU, e3.ReLU = false, false
	}
	return squeeze, e1, e3
}

// WithoutReLU is l with the ReLU that ends it left out, so that its output is the values
// before it (an objective on pre-ReLU values).
func (l Layer) WithoutReLU() Layer {
	l.Conv.ReLU, l.Linear.ReLU, l.Fire.NoExpandReLU = false, false, true
	return l
}

// ParamSpec names one parameter tensor a network needs and its shape.
type ParamSpec struct {
	Name  string // state_dict key, e.g. features.0.weight
	Shape []int
	Layer string // the activation name of the layer that uses it, e.g. conv1
}

// Params lists every parameter tensor the architecture needs, in layer order.
func (a *Arch) Params() []ParamSpec {
	var ps []ParamSpec
	addConv := func(layer, key string, c ConvSpec) {
		ps = append(ps, ParamSpec{key + ".weight", []int{c.Out, c.In / c.Groups, c.KH, c.KW}, layer},
			ParamSpec{key + ".bias", []int{c.Out}, layer})
	}
	for _, l := range a.Layers {
		switch l.Kind {
		case KindConv:
			addConv(l.Name, l.Key, l.Conv)
		case KindLinear:
			ps = append(ps, ParamSpec{l.Key + ".weight", []int{l.Linear.Out, l.Linear.In}, l.Name},
				ParamSpec{l.Key + ".bias", []int{l.Linear.Out}, l.Name})
		case KindFire:
			s, e1, e3 := l.Fire.Convs()
			addConv(l.Name, l.Key+".squeeze", s)
			addConv(l.Name, l.Key+".expand1x1", e1)
			addConv(l.Name, l.Key+".expand3x3", e3)
		}
	}
	return ps
}

// ParamCount is the total number of parameters.
func (a *Arch) ParamCount() int {
	n := 0
	for _, p := range a.Params() {
		k := 1
		for _, d := range p.Shape {
			k *= d
		}
		n += k
	}
	return n
}

// LayerNames lists the named activations in order.
func (a *Arch) LayerNames() []string {
	var names []string
	for _, l := range a.Layers {
		if l.Name != "" {
			names = append(names, l.Name)
		}
	}
	return names
}

// FirstConv is the first layer's convolution, whose kernels the UI draws.
func (a *Arch) FirstConv() Layer { return a.Layers[0] }
