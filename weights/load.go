package weights

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/weights/onnx"
	"github.com/alexlens/alexlens/weights/pth"
)

// Load reads a weight file of any supported kind, told apart by content, not by name:
// a zip (PyTorch torch.save), an .alxw file, or else an ONNX model (torch.onnx.export names,
// or the ONNX model zoo's bvlcalexnet, see onnx.ImportModel). arch names the
// architecture, or "" to infer it from the tensors' names and shapes. A file holding only the
// first layers (such as BVLC AlexNet's conv1) gives a partial model. Errors name the file.
func Load(path string, arch string) (*engine.Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading weights: %w", err)
	}
	m, err := LoadBytes(data, arch)
	if err != nil {
		return nil, fmt.Errorf("loading weights from %s: %w", path, err)
	}
	return m, nil
}

// Kind of a weight file, from its first bytes.
const (
	KindPth  = "pth"
	KindALXW = "alxw"
	KindONNX = "onnx"
)

// Sniff tells the kind of a weight file from its first bytes. Anything that is neither a zip
// nor .alxw is taken for ONNX, whose protobuf has no magic number.
func Sniff(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte("PK\x03\x04")):
		return KindPth
	case bytes.HasPrefix(data, []byte(Magic)):
		return KindALXW
	default:
		return KindONNX
	}
}

// LoadBytes is Load for a file already in memory.
func LoadBytes(data []byte, arch string) (*engine.Model, error) {
	switch Sniff(data) {
	case KindALXW:
		m, err := Decode(data)
		if err != nil {
			return nil, err
		}
		if arch != "" && m.Arch.Name != arch {
			return nil, fmt.Errorf("file holds %s weights, not %s", m.Arch.Name, arch)
		}
		return m, nil
	case KindPth:
		ts, err := pth.Read(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return nil, err
		}
		return FromTensors(ts, arch)
	default:
		var a *engine.Arch
		var ts map[string]*engine.Tensor
		var err error
		if arch == "" {
			a, ts, err = onnx.ImportAnyArch(data)
		} else if a, err = engine.LookupArch(arch); err == nil {
			ts, err = onnx.ImportModel(data, a)
		}
		if err != nil {
			return nil, fmt.Errorf("not a PyTorch zip or an .alxw file, and reading it as ONNX failed: %w", err)
		}
		return engine.NewModel(a, ts)
	}
}

// FromTensors builds a model from a state_dict: a full one when every parameter of the
// architecture is there, else a partial one when the first layers are. arch "" infers it.
func FromTensors(ts map[string]*engine.Tensor, arch string) (*engine.Model, error) {
	var a *engine.Arch
	var err error
	if arch == "" {
		a, err = InferArch(ts)
	} else {
		a, err = engine.LookupArch(arch)
	}
	if err != nil {
		return nil, err
	}
	full := true
	for _, p := range a.Params() {
		if _, ok := ts[p.Name]; !ok {
			full = false
			break
		}
	}
	if full {
		return engine.NewModel(a, ts)
	}
	return engine.NewPartialModel(a, ts)
}

// InferArch finds the architecture whose parameters the tensors are: all of them, or its
// first layers. Tensors with another architecture's key but a wrong shape rule it out.
func InferArch(ts map[string]*engine.Tensor) (*engine.Arch, error) {
	var full, partial []string
	for _, name := range engine.ArchNames() {
		a := engine.Archs[name]
		present, prefix, ok := 0, 0, true
		for i, p := range a.Params() {
			t, have := ts[p.Name]
			if !have {
				continue
			}
			if !slices.Equal(t.Shape, p.Shape) {
				ok = false
				break
			}
			present++
			if prefix == i {
				prefix++
			}
		}
		switch {
		case !ok || prefix == 0:
		case prefix == len(a.Params()):
			full = append(full, name)
		default:
			partial = append(partial, name)
		}
	}
	cands := full
	if len(cands) == 0 {
		cands = partial
	}
	switch len(cands) {
	case 1:
		return engine.Archs[cands[0]], nil
	case 0:
		return nil, fmt.Errorf("tensors (%s) match none of the known architectures %v", summarize(ts), engine.ArchNames())
	default:
		return nil, fmt.Errorf("tensors fit several architectures %v: name one", cands)
	}
}

// summarize lists a few tensor names and shapes for an error message.
func summarize(ts map[string]*engine.Tensor) string {
	names := make([]string, 0, len(ts))
	for k := range ts {
		names = append(names, k)
	}
	sort.Strings(names)
	var parts []string
	for i, k := range names {
		if i == 4 {
			parts = append(parts, fmt.Sprintf("and %d more", len(names)-4))
			break
		}
		parts = append(parts, fmt.Sprintf("%s %v", k, ts[k].Shape))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
