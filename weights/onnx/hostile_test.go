package onnx

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A tiny protobuf writer for hand-made messages (valid and hostile).

func pbVarint(v uint64) []byte { return binary.AppendUvarint(nil, v) }

func pbKey(field, wt int) []byte { return pbVarint(uint64(field)<<3 | uint64(wt)) }

func pbInt(field int, v int64) []byte {
	return append(pbKey(field, wireVarint), pbVarint(uint64(v))...)
}

func pbBytes(field int, p []byte) []byte {
	b := append(pbKey(field, wireBytes), pbVarint(uint64(len(p)))...)
	return append(b, p...)
}

func pbFloat(field int, f float32) []byte {
	return binary.LittleEndian.AppendUint32(pbKey(field, wireFixed32), math.Float32bits(f))
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func floatRaw(v ...float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

// smallModel is a one-node model: a Conv with attributes of several types and one
// initializer, the shape of what the importer reads.
func smallModel() []byte {
	w := cat(pbInt(1, 1), pbInt(1, 1), pbInt(1, 1), pbInt(1, 2), pbInt(2, int64(Float)),
		pbBytes(8, []byte("conv1_w_0")), pbBytes(9, floatRaw(1, 2)))
	attr := cat(pbBytes(1, []byte("kernel_shape")), pbBytes(8, cat(pbVarint(1), pbVarint(2))), pbInt(20, int64(AttrInts)))
	alpha := cat(pbBytes(1, []byte("alpha")), pbFloat(2, 0.5), pbInt(20, int64(AttrFloat)))
	node := cat(pbBytes(1, []byte("x")), pbBytes(1, []byte("conv1_w_0")), pbBytes(2, []byte("y")),
		pbBytes(4, []byte("Conv")), pbBytes(5, attr), pbBytes(5, alpha))
	dim := func(v int64) []byte { return pbBytes(1, pbInt(1, v)) }
	typ := pbBytes(2, pbBytes(1, cat(pbInt(1, int64(Float)), pbBytes(2, cat(dim(1), dim(1), dim(1), dim(2))))))
	graph := cat(pbBytes(1, node), pbBytes(2, []byte("g")), pbBytes(5, w),
		pbBytes(11, cat(pbBytes(1, []byte("x")), typ)), pbBytes(12, pbBytes(1, []byte("y"))))
	return cat(pbInt(1, 7), pbBytes(7, graph), pbBytes(8, cat(pbBytes(1, nil), pbInt(2, 13))))
}

func TestSmallModel(t *testing.T) {
	m, err := ReadModel(smallModel())
	if err != nil {
		t.Fatal(err)
	}
	if m.IRVersion != 7 || m.Opsets[""] != 13 || len(m.Graph.Nodes) != 1 || m.Graph.Name != "g" {
		t.Fatalf("model = %+v", m)
	}
	n := m.Graph.Nodes[0]
	ks, err := n.AttrInts("kernel_shape", nil)
	if err != nil || len(ks) != 2 || ks[0] != 1 || ks[1] != 2 {
		t.Errorf("kernel_shape = %v, %v", ks, err)
	}
	if a, err := n.AttrFloat("alpha", 1); err != nil || a != 0.5 {
		t.Errorf("alpha = %v, %v", a, err)
	}
	if _, err := n.AttrInt("alpha", 0); err == nil || !strings.Contains(err.Error(), "want INT") {
		t.Errorf("reading a FLOAT attribute as INT: err = %v", err)
	}
	if g, err := n.AttrInt("group", 1); err != nil || g != 1 {
		t.Errorf("absent group = %v, %v", g, err)
	}
	ts, err := Initializers(smallModel())
	if err != nil {
		t.Fatal(err)
	}
	w := ts["conv1_w_0"]
	if w == nil || len(w.Shape) != 4 || w.Data[0] != 1 || w.Data[1] != 2 {
		t.Errorf("initializer = %+v", w)
	}
	in := m.Graph.Inputs[0]
	if in.Name != "x" || in.ElemType != Float || len(in.Shape) != 4 || in.Shape[3].Value != 2 {
		t.Errorf("input = %+v", in)
	}
}

// Every prefix of a valid file is either an error or a (smaller) valid model: never a panic.
func TestTruncatedModels(t *testing.T) {
	data := smallModel()
	if p := filepath.Join(nodeTestDir, "test_conv_with_strides_padding", "model.onnx"); fileExists(p) {
		data, _ = os.ReadFile(p)
	}
	for i := 0; i < len(data); i++ {
		m, err := ReadModel(data[:i])
		if err == nil {
			exercise(t, m, i)
		}
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestHostileInput(t *testing.T) {
	huge := pbVarint(1 << 62)
	cases := []struct {
		name, want string
		model      bool
		data       []byte
	}{
		{"empty model", "empty", true, nil},
		{"no graph", "no graph", true, pbInt(1, 7)},
		{"length past end", "runs past the end", true, cat(pbKey(7, wireBytes), huge)},
		{"group wire type", "wire type", true, pbKey(9, wireStartGr)},
		{"field zero", "invalid field number", true, []byte{0x00}},
		{"varint too long", "varint", true, []byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"graph as varint", "wire type", true, pbInt(7, 3)},
		{"dims overflow", "2^40", false, cat(pbInt(1, 1<<40), pbInt(1, 1<<40), pbInt(2, 1))},
		{"negative dim", "negative dimension", false, cat(pbInt(1, -3), pbInt(2, 1))},
		{"packed floats not whole", "whole number", false, cat(pbInt(2, 1), pbBytes(4, []byte{1, 2, 3}))},
		{"attribute float as varint", "wire type", true, pbBytes(7, pbBytes(1, pbBytes(5, cat(pbBytes(1, []byte("a")), pbInt(2, 1)))))},
	}
	for _, c := range cases {
		var err error
		if c.model {
			_, err = ReadModel(c.data)
		} else {
			_, err = ReadTensor(c.data)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.want)
		}
	}
}

// Tensors whose data do not match their dims decode (the structure is fine) but refuse to
// convert, before allocating what the dims announce.
func TestTensorDataChecks(t *testing.T) {
	cases := []struct {
		name, want string
		data       []byte
	}{
		{"dims announce 2^39 values, none stored", "holds 0", cat(pbInt(1, 1<<39), pbInt(2, int64(Float)))},
		{"raw data short", "holds 1", cat(pbInt(1, 2), pbInt(2, int64(Float)), pbBytes(9, floatRaw(1)))},
		{"raw not whole", "whole number", cat(pbInt(1, 1), pbInt(2, int64(Float)), pbBytes(9, []byte{1, 2, 3}))},
		{"external data", "external file", cat(pbInt(1, 1), pbInt(2, int64(Float)), pbBytes(13, cat(pbBytes(1, []byte("location")), pbBytes(2, []byte("w.bin")))), pbInt(14, 1))},
		{"string tensor", "not supported", cat(pbInt(1, 1), pbInt(2, int64(String)), pbBytes(6, []byte("a")))},
		{"complex", "not supported", cat(pbInt(1, 1), pbInt(2, int64(Complex64)), pbBytes(9, make([]byte, 8)))},
	}
	for _, c := range cases {
		tp, err := ReadTensor(c.data)
		if err != nil {
			t.Errorf("%s: decode: %v", c.name, err)
			continue
		}
		if _, err := tp.Float32s(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Float32s err = %v, want it to mention %q", c.name, err, c.want)
		}
	}
}

func TestTensorTypes(t *testing.T) {
	cases := []struct {
		name string
		data []byte
		want []float32
	}{
		{"float_data packed", cat(pbInt(1, 2), pbInt(2, int64(Float)), pbBytes(4, floatRaw(1.5, -2))), []float32{1.5, -2}},
		{"float_data unpacked", cat(pbInt(1, 2), pbInt(2, int64(Float)), pbFloat(4, 3), pbFloat(4, 4)), []float32{3, 4}},
		{"scalar", cat(pbInt(2, int64(Float)), pbBytes(9, floatRaw(7))), []float32{7}},
		{"int32_data negative", cat(pbInt(1, 2), pbInt(2, int64(Int32)), pbInt(5, -5), pbInt(5, 6)), []float32{-5, 6}},
		{"int8 raw", cat(pbInt(1, 2), pbInt(2, int64(Int8)), pbBytes(9, []byte{0xff, 3})), []float32{-1, 3}},
		{"int64_data", cat(pbInt(1, 1), pbInt(2, int64(Int64)), pbBytes(7, pbVarint(uint64(1<<40)))), []float32{1 << 40}},
		{"float16 raw", cat(pbInt(1, 3), pbInt(2, int64(Float16)), pbBytes(9, []byte{0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00})), []float32{1, -2, 1.0 / (1 << 24)}},
		{"bfloat16 raw", cat(pbInt(1, 1), pbInt(2, int64(BFloat16)), pbBytes(9, []byte{0xc0, 0x3f})), []float32{1.5}},
		{"double_data", cat(pbInt(1, 1), pbInt(2, int64(Double)), binary.LittleEndian.AppendUint64(pbKey(10, wireFixed64), math.Float64bits(0.25))), []float32{0.25}},
		{"empty", cat(pbInt(1, 0), pbInt(2, int64(Float))), []float32{}},
	}
	for _, c := range cases {
		tp, err := ReadTensor(c.data)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		got, err := tp.Float32s()
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: got %v, want %v", c.name, got, c.want)
				break
			}
		}
	}
}

// A graph nested in an attribute of a node of a graph ... deeper than the limit is refused
// with an error instead of recursing without bound.
func TestNestingLimit(t *testing.T) {
	g := pbBytes(2, []byte("inner"))
	for i := 0; i < 1000; i++ {
		attr := cat(pbBytes(1, []byte("then_branch")), pbBytes(6, g), pbInt(20, int64(AttrGraph)))
		g = pbBytes(1, cat(pbBytes(4, []byte("If")), pbBytes(5, attr)))
	}
	_, err := ReadModel(pbBytes(7, g))
	if err == nil || !strings.Contains(err.Error(), "nested more than") {
		t.Fatalf("err = %v, want a nesting error", err)
	}
	// A few levels are fine.
	g = pbBytes(2, []byte("inner"))
	for i := 0; i < 3; i++ {
		attr := cat(pbBytes(1, []byte("then_branch")), pbBytes(6, g), pbInt(20, int64(AttrGraph)))
		g = pbBytes(1, cat(pbBytes(4, []byte("If")), pbBytes(5, attr)))
	}
	if _, err := ReadModel(pbBytes(7, g)); err != nil {
		t.Fatal(err)
	}
}

// exercise converts everything a decoded model holds, as a user of the package would, and
// checks that no conversion produced more values than the input had bytes: the allocation
// bound the package promises.
func exercise(t *testing.T, m *Model, size int) {
	var walk func(g *Graph, depth int)
	walk = func(g *Graph, depth int) {
		if g == nil || depth > maxDepth {
			return
		}
		for _, tp := range g.Initializers {
			exerciseTensor(t, tp, size)
		}
		for _, n := range g.Nodes {
			for _, a := range n.Attributes {
				if a.T != nil {
					exerciseTensor(t, a.T, size)
				}
				for _, tp := range a.Tensors {
					exerciseTensor(t, tp, size)
				}
				walk(a.G, depth+1)
				for _, sg := range a.Graphs {
					walk(sg, depth+1)
				}
				n.AttrInt(a.Name, 0)
				n.AttrInts(a.Name, nil)
				n.AttrFloat(a.Name, 0)
				n.AttrString(a.Name, "")
			}
		}
		g.FloatInitializers()
	}
	walk(m.Graph, 0)
}

func exerciseTensor(t *testing.T, tp *Tensor, size int) {
	if f, err := tp.Float32s(); err == nil && len(f) > size && len(f) > 0 {
		t.Fatalf("tensor %q: %d values from %d bytes of input", tp.Name, len(f), size)
	}
	if v, err := tp.Int64s(); err == nil && len(v) > size && len(v) > 0 {
		t.Fatalf("tensor %q: %d values from %d bytes of input", tp.Name, len(v), size)
	}
	tp.Engine()
}

// Many tiny messages cost far more as Go values than as bytes: an empty node is 2 bytes of
// file. The decoder refuses before its structures outgrow 16 times the file.
func TestMemoryBudget(t *testing.T) {
	const nodes = 1 << 20
	emptyNode := pbBytes(1, nil)
	graph := make([]byte, 0, nodes*len(emptyNode))
	for i := 0; i < nodes; i++ {
		graph = append(graph, emptyNode...)
	}
	_, err := ReadModel(pbBytes(7, graph))
	if err == nil || !strings.Contains(err.Error(), "16 times its size") {
		t.Fatalf("a million empty nodes: err = %v, want the memory budget error", err)
	}
	// A few thousand real nodes are fine.
	few := make([]byte, 0)
	node := pbBytes(1, cat(pbBytes(1, []byte("x")), pbBytes(2, []byte("y")), pbBytes(4, []byte("Relu"))))
	for i := 0; i < 5000; i++ {
		few = append(few, node...)
	}
	m, err := ReadModel(pbBytes(7, few))
	if err != nil || len(m.Graph.Nodes) != 5000 {
		t.Fatalf("5000 Relu nodes: err = %v", err)
	}
}
