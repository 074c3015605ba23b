package onnx

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// nodeTestDir is where Debian's libonnx-testdata puts the ONNX backend node tests: ~930
// small models with TensorProto inputs and outputs, written by the official onnx package.
const nodeTestDir = "/usr/share/libonnx-testdata/data/node"

const python = "/usr/bin/python3"

func needNodeTests(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.Walk(nodeTestDir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && (strings.HasSuffix(p, ".onnx") || strings.HasSuffix(p, ".pb")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil || len(files) == 0 {
		t.Skipf("ONNX node test data not found in %s (apt-get install libonnx-testdata, or scripts/install-test-deps.sh)", nodeTestDir)
	}
	sort.Strings(files)
	return files
}

func needPythonONNX(t *testing.T) {
	t.Helper()
	if err := exec.Command(python, "-c", "import onnx, numpy").Run(); err != nil {
		t.Skipf("%s with the onnx package is needed as the reference reader (apt-get install python3-onnx): %v", python, err)
	}
}

// TestReaderMatchesOfficialONNX reads every model and tensor of the ONNX node tests with this
// package and with the official onnx Python package, and compares everything both see:
// graph structure, attributes of every type, initializers, declared shapes, tensor values.
func TestReaderMatchesOfficialONNX(t *testing.T) {
	files := needNodeTests(t)
	needPythonONNX(t)
	cmd := exec.Command(python, "testdata/dump_onnx.py")
	cmd.Args = append(cmd.Args, files...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dump_onnx.py: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 64<<20)
	models, tensors, notTensors := 0, 0, 0
	for sc.Scan() {
		var line struct {
			Path  string
			Desc  json.RawMessage
			Error string
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(line.Path)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(nodeTestDir, line.Path)
		var got any
		if strings.HasSuffix(line.Path, ".onnx") {
			m, err := ReadModel(data)
			if err != nil {
				t.Errorf("%s: %v", rel, err)
				continue
			}
			got = describeModel(m)
			models++
		} else {
			tp, err := ReadTensor(data)
			if line.Error != "" || bytes.Contains(line.Desc, []byte(`"data_type": 0,`)) {
				// Sequence, map and optional test data: not tensors (the onnx package fails
				// on them, or sees a tensor of UNDEFINED type whose dims are the message's
				// name bytes). Reading them must fail cleanly or give something; it must
				// never panic, and it did not get here.
				notTensors++
				continue
			}
			if err != nil {
				t.Errorf("%s: %v", rel, err)
				continue
			}
			got = describeTensor(tp)
			tensors++
		}
		if !sameJSON(t, got, line.Desc) {
			g, _ := json.Marshal(got)
			t.Errorf("%s: this reader and the onnx package disagree\n got: %.600s\nwant: %.600s", rel, g, line.Desc)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("compared %d models and %d tensors with the onnx package (%d non-tensor .pb files skipped)", models, tensors, notTensors)
	if models < 100 || tensors < 100 {
		t.Errorf("only %d models and %d tensors compared: test data incomplete?", models, tensors)
	}
}

// sameJSON compares a Go description with the Python one after a JSON round trip, with
// numbers kept as exact decimal strings.
func sameJSON(t *testing.T, got any, want json.RawMessage) bool {
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(decodeJSON(t, g), decodeJSON(t, want))
}

func decodeJSON(t *testing.T, b []byte) any {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// The describe functions mirror testdata/dump_onnx.py.

func describeModel(m *Model) map[string]any {
	return map[string]any{"ir_version": m.IRVersion, "opsets": m.Opsets, "graph": describeGraph(m.Graph)}
}

func describeGraph(g *Graph) map[string]any {
	nodes := []any{}
	for _, n := range g.Nodes {
		attrs := []any{}
		for _, a := range n.Attributes {
			attrs = append(attrs, describeAttr(a))
		}
		nodes = append(nodes, map[string]any{"op_type": n.OpType, "name": n.Name, "domain": n.Domain,
			"inputs": nonNil(n.Inputs), "outputs": nonNil(n.Outputs), "attributes": attrs})
	}
	inits := []any{}
	for _, t := range g.Initializers {
		inits = append(inits, describeTensor(t))
	}
	return map[string]any{"name": g.Name, "nodes": nodes, "initializers": inits,
		"inputs": describeValues(g.Inputs), "outputs": describeValues(g.Outputs)}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func describeValues(vs []*ValueInfo) []any {
	out := []any{}
	for _, v := range vs {
		var shape any
		if v.HasShape {
			dims := []any{}
			for _, d := range v.Shape {
				dims = append(dims, []any{d.Value, d.Param})
			}
			shape = dims
		}
		out = append(out, map[string]any{"name": v.Name, "elem_type": int(v.ElemType), "shape": shape})
	}
	return out
}

func describeAttr(a *Attribute) map[string]any {
	d := map[string]any{"name": a.Name, "type": int(a.Type)}
	switch a.Type {
	case AttrFloat:
		d["value"] = f32hex([]float32{a.F})
	case AttrInt:
		d["value"] = a.I
	case AttrString:
		d["value"] = hex.EncodeToString(a.S)
	case AttrTensor:
		d["value"] = describeTensor(a.T)
	case AttrGraph:
		d["value"] = describeGraph(a.G)
	case AttrFloats:
		d["value"] = f32hex(a.Floats)
	case AttrInts:
		d["value"] = append([]int64{}, a.Ints...)
	case AttrStrings:
		ss := []string{}
		for _, s := range a.Strings {
			ss = append(ss, hex.EncodeToString(s))
		}
		d["value"] = ss
	case AttrTensors:
		ts := []any{}
		for _, t := range a.Tensors {
			ts = append(ts, describeTensor(t))
		}
		d["value"] = ts
	case AttrGraphs:
		gs := []any{}
		for _, g := range a.Graphs {
			gs = append(gs, describeGraph(g))
		}
		d["value"] = gs
	}
	return d
}

func describeTensor(t *Tensor) map[string]any {
	d := map[string]any{"name": t.Name, "dims": append([]int64{}, t.Dims...), "data_type": int(t.DataType)}
	switch t.DataType {
	case Float, Double, Float16:
		v, err := t.Float32s()
		if err != nil {
			d["f32"] = err.Error()
		} else {
			d["f32"] = f32hex(v)
		}
	case Uint8, Int8, Uint16, Int16, Int32, Int64, Uint32, Uint64, Bool:
		v, err := t.Int64s()
		if err != nil {
			d["ints"] = err.Error()
		} else {
			d["ints"] = append([]int64{}, v...)
		}
	}
	return d
}

func f32hex(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return hex.EncodeToString(b)
}
