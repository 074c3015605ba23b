package weights

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/teach"
)

// A classifier head taught on a network's embeddings (package teach) travels in the same
// .alxw container as the networks (FORMAT.md, "Heads"): arch "head", a "head" object in the
// header saying which network, layer and classes, and the layers fc1 (and fc2 with a hidden
// layer) in PyTorch's nn.Linear layout.

// HeadArch is the header's arch of a head file.
const HeadArch = "head"

// HeadInfo is the header's "head" object.
type HeadInfo struct {
	Arch    string   `json:"arch"`    // the network whose embedding the head reads
	Layer   string   `json:"layer"`   // that embedding's layer (averaged over positions)
	Weights string   `json:"weights"` // the network weights' fingerprint (gallery.Fingerprint)
	Classes []string `json:"classes"`
	Dim     int      `json:"dim"`
	Hidden  int      `json:"hidden"` // 0: fc1 gives the class scores
}

// MaxHeadClasses bounds a head file's classes.
const MaxHeadClasses = teach.MaxClasses

func (h *Header) headText() string {
	if h.Head == nil {
		return "an unnamed network"
	}
	return fmt.Sprintf("%s's %s (%d classes: %s)", h.Head.Arch, h.Head.Layer, len(h.Head.Classes), strings.Join(h.Head.Classes[:min(4, len(h.Head.Classes))], ", "))
}

// headTensor is one tensor of a head file.
type headTensor struct {
	name, layer string
	w           *engine.Weight
}

// headTensors are the head's tensors in file order, as PyTorch's nn.Linear shapes them.
func headTensors(hd *teach.Head) []headTensor {
	out1 := len(hd.Classes)
	if hd.Hidden > 0 {
		out1 = hd.Hidden
	}
	ts := []headTensor{
		{"fc1.weight", "fc1", &engine.Weight{Shape: []int{out1, hd.Dim}, F32: hd.W1}},
		{"fc1.bias", "fc1", &engine.Weight{Shape: []int{out1}, F32: hd.B1}},
	}
	if hd.Hidden > 0 {
		k := len(hd.Classes)
		ts = append(ts, headTensor{"fc2.weight", "fc2", &engine.Weight{Shape: []int{k, hd.Hidden}, F32: hd.W2}},
			headTensor{"fc2.bias", "fc2", &engine.Weight{Shape: []int{k}, F32: hd.B2}})
	}
	return ts
}

// EncodeHead writes a head in the .alxw container.
func EncodeHead(w io.Writer, hd *teach.Head, source string) error {
	if err := hd.Check(); err != nil {
		return err
	}
	h := &Header{Version: Version, Arch: HeadArch, Source: source, Precision: engine.F32,
		Head: &HeadInfo{Arch: hd.Arch, Layer: hd.Layer, Weights: hd.WeightsSHA256, Classes: hd.Classes, Dim: hd.Dim, Hidden: hd.Hidden}}
	params := map[string]*engine.Weight{}
	for _, t := range headTensors(hd) {
		info, err := tensorInfo(t.name, t.layer, t.w)
		if err != nil {
			return err
		}
		h.Tensors = append(h.Tensors, info)
		params[t.name] = t.w
	}
	return writeFile(w, h, params)
}

// DecodeHead reads a head file: the container's checks (hashes, padding, layout), then the
// head's (its tensors' names and shapes against its classes, dimension and hidden layer).
func DecodeHead(data []byte) (*teach.Head, error) {
	h, err := ReadHeader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	if h.Arch != HeadArch || h.Head == nil {
		return nil, fmt.Errorf("alxw: this file holds %s weights, not a classifier head (make one with `alexlens teach`)", h.Arch)
	}
	if int64(len(data)) != h.FileBytes {
		return nil, fmt.Errorf("alxw: file is %d bytes, its header says %d (truncated or padded download?)", len(data), h.FileBytes)
	}
	info := h.Head
	if len(info.Classes) < 2 || len(info.Classes) > MaxHeadClasses || info.Dim < 1 || info.Hidden < 0 || info.Hidden > teach.MaxHidden {
		return nil, fmt.Errorf("alxw: head of %d classes, %d inputs and %d hidden units is out of range", len(info.Classes), info.Dim, info.Hidden)
	}
	if _, err := engine.LookupArch(info.Arch); err != nil {
		return nil, fmt.Errorf("alxw: head: %v", err)
	}
	if err := checkPadding(h, data); err != nil {
		return nil, err
	}
	hd := &teach.Head{Arch: info.Arch, Layer: info.Layer, WeightsSHA256: info.Weights, Classes: info.Classes, Dim: info.Dim, Hidden: info.Hidden}
	want := headTensors(hd)
	if len(h.Tensors) != len(want) {
		return nil, fmt.Errorf("alxw: head has %d tensors, want %d", len(h.Tensors), len(want))
	}
	for i, t := range h.Tensors {
		if t.Name != want[i].name || t.Layer != want[i].layer || !slices.Equal(t.Shape, want[i].w.Shape) || t.DType != DTypeF32 {
			return nil, fmt.Errorf("alxw: head tensor %d is %s %v (%s), want %s %v (f32)", i, t.Name, t.Shape, t.DType, want[i].name, want[i].w.Shape)
		}
		w, err := decodeTensor(HeadArch, &t, data[t.Offset:t.Offset+t.Length], true, false)
		if err != nil {
			return nil, err
		}
		switch t.Name {
		case "fc1.weight":
			hd.W1 = w.F32
		case "fc1.bias":
			hd.B1 = w.F32
		case "fc2.weight":
			hd.W2 = w.F32
		case "fc2.bias":
			hd.B2 = w.F32
		}
	}
	if err := hd.Check(); err != nil {
		return nil, fmt.Errorf("alxw: %w", err)
	}
	return hd, nil
}
