package onnx

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/alexlens/alexlens/teach"
)

func exportHead(hidden int) *teach.Head {
	h := &teach.Head{Arch: "squeezenet1_1", Layer: "fire9", WeightsSHA256: "f00d", Classes: []string{"cat", "dog", "cup"}, Dim: 5, Hidden: hidden}
	out1 := 3
	if hidden > 0 {
		out1 = hidden
	}
	for i := range out1 * 5 {
		h.W1 = append(h.W1, float32(math.Sin(float64(i))))
	}
	for i := range out1 {
		h.B1 = append(h.B1, float32(i)*0.1-0.1)
	}
	if hidden > 0 {
		for i := range 3 * hidden {
			h.W2 = append(h.W2, float32(math.Cos(float64(i))))
		}
		h.B2 = []float32{0.2, 0, -0.2}
	}
	return h
}

// TestWriteHead: the exported graph reads back with this package's reader (Gemm, Relu,
// Softmax on the named tensors), passes the onnx package's checker, and computed by numpy
// from the file gives the head's own probabilities.
func TestWriteHead(t *testing.T) {
	for _, hidden := range []int{0, 4} {
		h := exportHead(hidden)
		var buf bytes.Buffer
		if err := WriteHead(&buf, h); err != nil {
			t.Fatal(err)
		}
		m, err := ReadModel(buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		var ops []string
		for _, n := range m.Graph.Nodes {
			ops = append(ops, n.OpType)
		}
		want, inits := []string{"Gemm", "Softmax"}, 2
		if hidden > 0 {
			want, inits = []string{"Gemm", "Relu", "Gemm", "Softmax"}, 4
		}
		if !slices.Equal(ops, want) || m.Opsets[""] != 13 || len(m.Graph.Initializers) != inits {
			t.Errorf("hidden %d: nodes %v, opset %d, %d initializers", hidden, ops, m.Opsets[""], len(m.Graph.Initializers))
		}
		floats, err := m.Graph.FloatInitializers()
		if err != nil || !slices.Equal(floats["fc1.weight"].Data, h.W1) {
			t.Errorf("fc1.weight does not read back: %v", err)
		}

		const py = "/usr/bin/python3"
		if out, err := exec.Command(py, "-c", "import onnx, numpy").CombinedOutput(); err != nil {
			t.Skipf("needs %s with python3-onnx and numpy: %v: %s", py, err, out)
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "head.onnx")
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		x := []float32{0.5, 1, 0, 2, 0.25}
		xb := make([]byte, 4*len(x))
		for i, v := range x {
			binary.LittleEndian.PutUint32(xb[4*i:], math.Float32bits(v))
		}
		if err := os.WriteFile(filepath.Join(dir, "x.f32"), xb, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(py, filepath.Join("testdata", "run_head.py"), path, filepath.Join(dir, "x.f32")).CombinedOutput()
		if err != nil {
			t.Fatalf("testdata/run_head.py: %v\n%s", err, out)
		}
		var got struct {
			Probabilities []float64
			Classes       []string
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		p, err := h.Probabilities(x)
		if err != nil {
			t.Fatal(err)
		}
		for c := range p {
			if math.Abs(float64(p[c])-got.Probabilities[c]) > 1e-6 {
				t.Errorf("hidden %d: class %d: head %g, the ONNX graph %g", hidden, c, p[c], got.Probabilities[c])
			}
		}
		if strings.Join(got.Classes, ",") != "cat,dog,cup" {
			t.Errorf("classes in the metadata: %v", got.Classes)
		}
	}
}
