package onnx

import (
	"fmt"
	"math"
)

// The ONNX messages this package reads, with the field numbers of onnx.proto (IR version
// 3 to 10). Fields not listed are skipped, so newer files still load.

// Model is a decoded ModelProto.
type Model struct {
	IRVersion       int64
	ProducerName    string
	ProducerVersion string
	Domain          string
	ModelVersion    int64
	DocString       string
	// Opsets maps an operator set domain ("" is the default ai.onnx) to its version.
	Opsets map[string]int64
	Graph  *Graph
}

// Graph is a decoded GraphProto.
type Graph struct {
	Name         string
	Nodes        []*Node
	Initializers []*Tensor
	Inputs       []*ValueInfo
	Outputs      []*ValueInfo
	ValueInfo    []*ValueInfo
	DocString    string
}

// Node is one operator application.
type Node struct {
	Name       string
	OpType     string
	Domain     string
	Inputs     []string // an empty name is an omitted optional input
	Outputs    []string
	Attributes []*Attribute
	DocString  string
}

// AttrType is AttributeProto.AttributeType.
type AttrType int32

const (
	AttrUndefined AttrType = 0
	AttrFloat     AttrType = 1
	AttrInt       AttrType = 2
	AttrString    AttrType = 3
	AttrTensor    AttrType = 4
	AttrGraph     AttrType = 5
	AttrFloats    AttrType = 6
	AttrInts      AttrType = 7
	AttrStrings   AttrType = 8
	AttrTensors   AttrType = 9
	AttrGraphs    AttrType = 10
)

var attrTypeNames = map[AttrType]string{
	AttrUndefined: "UNDEFINED", AttrFloat: "FLOAT", AttrInt: "INT", AttrString: "STRING",
	AttrTensor: "TENSOR", AttrGraph: "GRAPH", AttrFloats: "FLOATS", AttrInts: "INTS",
	AttrStrings: "STRINGS", AttrTensors: "TENSORS", AttrGraphs: "GRAPHS",
	11: "SPARSE_TENSOR", 12: "SPARSE_TENSORS", 13: "TYPE_PROTO", 14: "TYPE_PROTOS",
}

func (t AttrType) String() string {
	if s, ok := attrTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("AttrType(%d)", int32(t))
}

// Attribute is one named attribute of a node. Only the field matching Type is meaningful.
type Attribute struct {
	Name    string
	Type    AttrType
	F       float32
	I       int64
	S       []byte
	T       *Tensor
	G       *Graph
	Floats  []float32
	Ints    []int64
	Strings [][]byte
	Tensors []*Tensor
	Graphs  []*Graph
	// RefAttrName is set inside function bodies, where the value comes from the caller.
	RefAttrName string
}

// ValueInfo is a graph input, output or intermediate value with its declared type.
type ValueInfo struct {
	Name     string
	ElemType DataType // UNDEFINED when the value is not a tensor
	// Shape is nil when unknown; a dimension is Dim.Value, or Dim.Param when symbolic.
	Shape     []Dim
	HasShape  bool
	DocString string
}

// Dim is one dimension of a declared shape.
type Dim struct {
	Value int64
	Param string // symbolic name such as "batch", when Value is unknown
}

// decoder carries the nesting depth and the memory budget through one decode.
type decoder struct {
	depth int
	// budget is what the decoded structure may still allocate, in bytes (approximately:
	// the sizes charged are those of the Go values made). Tensor data aliases the input
	// and costs nothing here, but a file of many tiny messages (an empty node is two
	// bytes, its Go struct over a hundred) could otherwise make the decoder allocate a
	// hundred times the file's size.
	budget int64
}

// newDecoder sizes the budget for an input of n bytes: 16 times the input, plus 1 MiB
// for small files. Real models use a tiny fraction of it; their bulk is tensor data.
func newDecoder(n int) *decoder { return &decoder{budget: 16*int64(n) + 1<<20} }

func (d *decoder) charge(n int) error {
	d.budget -= int64(n)
	if d.budget < 0 {
		return errBudget
	}
	return nil
}

var errBudget = fmt.Errorf("the file's structure would need more than 16 times its size in memory (hostile or corrupt file?)")

func (d *decoder) enter(what string) error {
	d.depth++
	if d.depth > maxDepth {
		return fmt.Errorf("%s nested more than %d levels deep", what, maxDepth)
	}
	return nil
}

func (d *decoder) leave() { d.depth-- }

func (d *decoder) model(p []byte) (*Model, error) {
	m := &Model{Opsets: map[string]int64{}}
	r := buf{b: p}
	for !r.done() {
		f, wt, err := r.key()
		if err != nil {
			return nil, fmt.Errorf("model: %w", err)
		}
		switch f {
		case 1:
			m.IRVersion, err = r.int64Field("ir_version", wt)
		case 2:
			m.ProducerName, err = r.stringField("producer_name", wt)
		case 3:
			m.ProducerVersion, err = r.stringField("producer_version", wt)
		case 4:
			m.Domain, err = r.stringField("domain", wt)
		case 5:
			m.ModelVersion, err = r.int64Field("model_version", wt)
		case 6:
			m.DocString, err = r.stringField("doc_string", wt)
		case 7:
			var gp []byte
			if gp, err = r.messageField("graph", wt); err == nil {
				if m.Graph, err = d.graph(gp); err != nil {
					return nil, fmt.Errorf("model: graph: %w", err)
				}
			}
		case 8:
			var op []byte
			if op, err = r.messageField("opset_import", wt); err == nil {
				var dom string
				var ver int64
				if dom, ver, err = opset(op); err == nil {
					m.Opsets[dom] = ver
					err = d.charge(64 + len(dom))
				}
			}
		default:
			err = r.skip(wt)
		}
		if err != nil {
			return nil, fmt.Errorf("model: %w", err)
		}
	}
	return m, nil
}

func opset(p []byte) (domain string, version int64, err error) {
	r := buf{b: p}
	for !r.done() {
		f, wt, err := r.key()
		if err != nil {
			return "", 0, fmt.Errorf("opset_import: %w", err)
		}
		switch f {
		case 1:
			domain, err = r.stringField("domain", wt)
		case 2:
			version, err = r.int64Field("version", wt)
		default:
			err = r.skip(wt)
		}
		if err != nil {
			return "", 0, fmt.Errorf("opset_import: %w", err)
		}
	}
	return domain, version, nil
}

func (d *decoder) graph(p []byte) (*Graph, error) {
	if err := d.enter("graph"); err != nil {
		return nil, err
	}
	defer d.leave()
	if err := d.charge(200); err != nil {
		return nil, err
	}
	g := &Graph{}
	r := buf{b: p}
	for !r.done() {
		f, wt, err := r.key()
		if err != nil {
			return nil, err
		}
		var sub []byte
		switch f {
		case 1:
			if sub, err = r.messageField("node", wt); err == nil {
				var n *Node
				if n, err = d.node(sub); err != nil {
					return nil, fmt.Errorf("node %d: %w", len(g.Nodes), err)
				}
				g.Nodes = append(g.Nodes, n)
			}
		case 2:
			g.Name, err = r.stringField("name", wt)
		case 5:
			if sub, err = r.messageField("initializer", wt); err == nil {
				var t *Tensor
				if t, err = d.tensor(sub); err != nil {
					return nil, fmt.Errorf("initializer %d: %w", len(g.Initializers), err)
				}
				g.Initializers = append(g.Initializers, t)
			}
		case 10:
			g.DocString, err = r.stringField("doc_string", wt)
		case 11, 12, 13:
			if sub, err = r.messageField("value_info", wt); err == nil {
				var v *ValueInfo
				if v, err = d.valueInfo(sub); err != nil {
					return nil, fmt.Errorf("%s: %w", [...]string{"input", "output", "value_info"}[f-11], err)
				}
				switch f {
				case 11:
					g.Inputs = append(g.Inputs, v)
				case 12:
					g.Outputs = append(g.Outputs, v)
				default:
					g.ValueInfo = append(g.ValueInfo, v)
				}
			}
		default:
			err = r.skip(wt)
		}
		if err != nil {
			return nil, err
		}
	}
	// Each message is charged for what it made itself once it is read; one message can
	// make at most a few times its own size before its charge, so the total stays bounded.
	n := len(g.Nodes) + len(g.Initializers) + len(g.Inputs) + len(g.Outputs) + len(g.ValueInfo)
	if err := d.charge(16*n + len(g.Name) + len(g.DocString)); err != nil {
		return nil, err
	}
	return g, nil
}

func (d *decoder) node(p []byte) (*Node, error) {
	n := &Node{}
	r := buf{b: p}
	for !r.done() {
		f, wt, err := r.key()
		if err != nil {
			return nil, err
		}
		var s string
		switch f {
		case 1:
			if s, err = r.stringField("input", wt); err == nil {
				n.Inputs = append(n.Inputs, s)
			}
		case 2:
			if s, err = r.stringField("output", wt); err == nil {
				n.Outputs = append(n.Outputs, s)
			}
		case 3:
			n.Name, err = r.stringField("name", wt)
		case 4:
			n.OpType, err = r.stringField("op_type", wt)
		case 5:
			var ap []byte
			if ap, err = r.messageField("attribute", wt); err == nil {
				var a *Attribute
				if a, err = d.attribute(ap); err != nil {
					return nil, fmt.Errorf("%s attribute %d: %w", n.OpType, len(n.Attributes), err)
				}
				n.Attributes = append(n.Attributes, a)
			}
		case 6:
			n.DocString, err = r.stringField("doc_string", wt)
		case 7:
			n.Domain, err = r.stringField("domain", wt)
		default:
			err = r.skip(wt)
		}
		if err != nil {
			return nil, err
		}
	}
	cost := 160 + len(n.Name) + len(n.OpType) + len(n.Domain) + len(n.DocString) + 16*len(n.Attributes)
	for _, s := range n.Inputs {
		cost += 16 + len(s)
	}
	for _, s := range n.Outputs {
		cost += 16 + len(s)
	}
	if err := d.charge(cost); err != nil {
		return nil, err
	}
	return n, nil
}

func (d *decoder) attribute(p []byte) (*Attribute, error) {
	if err := d.enter("attribute"); err != nil {
		return nil, err
	}
	defer d.leave()
	a := &Attribute{}
	r := buf{b: p}
	for !r.done() {
		f, wt, err := r.key()
		if err != nil {
			return nil, err
		}
		var sub []byte
		switch f {
		case 1:
			a.Name, err = r.stringField("name", wt)
		case 2:
			if err = wantWire("f", wt, wireFixed32); err == nil {
				var bits uint32
				bits, err = r.fixed32()
				a.F = math.Float32frombits(bits)
			}
		case 3:
			a.I, err = r.int64Field("i", wt)
		case 4:
			if sub, err = r.messageField("s", wt); err == nil {
				a.S = sub
			}
		case 5:
			if sub, err = r.messageField("t", wt); err == nil {
				a.T, err = d.tensor(sub)
			}
		case 6:
			if sub, err = r.messageField("g", wt); err == nil {
				a.G, err = d.graph(sub)
			}
		case 7:
			var bits []uint32
			if bits, err = r.appendFixed32(nil, "floats", wt); err == nil {
				for _, b := range bits {
					a.Floats = append(a.Floats, math.Float32frombits(b))
				}
			}
		case 8:
			a.Ints, err = r.appendVarints(a.Ints, "ints", wt)
		case 9:
			if sub, err = r.messageField("strings", wt); err == nil {
				a.Strings = append(a.Strings, sub)
			}
		case 10:
			if sub, err = r.messageField("tensors", wt); err == nil {
				var t *Tensor
				if t, err = d.tensor(sub); err == nil {
					a.Tensors = append(a.Tensors, t)
				}
			}
		case 11:
			if sub, err = r.messageField("graphs", wt); err == nil {
				var g *Graph
				if g, err = d.graph(sub); err == nil {
					a.Graphs = append(a.Graphs, g)
				}
			}
		case 20:
			var v int64
			v, err = r.int64Field("type", wt)
			a.Type = AttrType(v)
		case 21:
			a.RefAttrName, err = r.stringField("ref_attr_name", wt)
		default:
			err = r.skip(wt)
		}
		if err != nil {
			if a.Name != "" {
				return nil, fmt.Errorf("%q: %w", a.Name, err)
			}
			return nil, err
		}
	}
	cost := 240 + len(a.Name) + len(a.RefAttrName) + 8*(len(a.Ints)+len(a.Floats)+len(a.Tensors)+len(a.Graphs)) + 24*len(a.Strings)
	if err := d.charge(cost); err != nil {
		return nil, err
	}
	return a, nil
}

func (d *decoder) valueInfo(p []byte) (*ValueInfo, error) {
	v := &ValueInfo{}
	r := buf{b: p}
	for !r.done() {
		f, wt, err := r.key()
		if err != nil {
			return nil, err
		}
		switch f {
		case 1:
			v.Name, err = r.stringField("name", wt)
		case 2:
			var tp []byte
			if tp, err = r.messageField("type", wt); err == nil {
				err = v.typeProto(tp)
			}
		case 3:
			v.DocString, err = r.stringField("doc_string", wt)
		default:
			err = r.skip(wt)
		}
		if err != nil {
			if v.Name != "" {
				return nil, fmt.Errorf("%q: %w", v.Name, err)
			}
			return nil, err
		}
	}
	cost := 128 + len(v.Name) + len(v.DocString) + 32*len(v.Shape)
	for _, dim := range v.Shape {
		cost += len(dim.Param)
	}
	if err := d.charge(cost); err != nil {
		return nil, err
	}
	return v, nil
}

// typeProto reads TypeProto; only tensor_type (field 1) is decoded, sequences and maps
// leave ElemType UNDEFINED.
func (v *ValueInfo) typeProto(p []byte) error {
	r := buf{b: p}
	for !r.done() {
		f, wt, err := r.key()
		if err != nil {
			return err
		}
		if f != 1 {
			if err := r.skip(wt); err != nil {
				return err
			}
			continue
		}
		tt, err := r.messageField("tensor_type", wt)
		if err != nil {
			return err
		}
		tr := buf{b: tt}
		for !tr.done() {
			f, wt, err := tr.key()
			if err != nil {
				return err
			}
			switch f {
			case 1:
				var et int64
				et, err = tr.int64Field("elem_type", wt)
				v.ElemType = DataType(et)
			case 2:
				var sp []byte
				if sp, err = tr.messageField("shape", wt); err == nil {
					v.HasShape = true
					v.Shape, err = shapeProto(sp)
				}
			default:
				err = tr.skip(wt)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func shapeProto(p []byte) ([]Dim, error) {
	dims := []Dim{}
	r := buf{b: p}
	for !r.done() {
		f, wt, err := r.key()
		if err != nil {
			return nil, err
		}
		if f != 1 {
			if err := r.skip(wt); err != nil {
				return nil, err
			}
			continue
		}
		dp, err := r.messageField("dim", wt)
		if err != nil {
			return nil, err
		}
		var dim Dim
		dr := buf{b: dp}
		for !dr.done() {
			f, wt, err := dr.key()
			if err != nil {
				return nil, err
			}
			switch f {
			case 1:
				dim.Value, err = dr.int64Field("dim_value", wt)
			case 2:
				dim.Param, err = dr.stringField("dim_param", wt)
			default:
				err = dr.skip(wt)
			}
			if err != nil {
				return nil, err
			}
		}
		dims = append(dims, dim)
	}
	return dims, nil
}

// Attr returns the node's attribute of that name, or nil.
func (n *Node) Attr(name string) *Attribute {
	for _, a := range n.Attributes {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// AttrInt returns an INT attribute, or def when absent; another type is an error.
func (n *Node) AttrInt(name string, def int64) (int64, error) {
	a := n.Attr(name)
	if a == nil {
		return def, nil
	}
	if a.Type != AttrInt {
		return 0, fmt.Errorf("%s node %q: attribute %q is %v, want INT", n.OpType, n.Name, name, a.Type)
	}
	return a.I, nil
}

// AttrInts returns an INTS attribute, or def when absent.
func (n *Node) AttrInts(name string, def []int64) ([]int64, error) {
	a := n.Attr(name)
	if a == nil {
		return def, nil
	}
	if a.Type != AttrInts {
		return nil, fmt.Errorf("%s node %q: attribute %q is %v, want INTS", n.OpType, n.Name, name, a.Type)
	}
	return a.Ints, nil
}

// AttrFloat returns a FLOAT attribute, or def when absent.
func (n *Node) AttrFloat(name string, def float32) (float32, error) {
	a := n.Attr(name)
	if a == nil {
		return def, nil
	}
	if a.Type != AttrFloat {
		return 0, fmt.Errorf("%s node %q: attribute %q is %v, want FLOAT", n.OpType, n.Name, name, a.Type)
	}
	return a.F, nil
}

// AttrString returns a STRING attribute, or def when absent.
func (n *Node) AttrString(name string, def string) (string, error) {
	a := n.Attr(name)
	if a == nil {
		return def, nil
	}
	if a.Type != AttrString {
		return "", fmt.Errorf("%s node %q: attribute %q is %v, want STRING", n.OpType, n.Name, name, a.Type)
	}
	return string(a.S), nil
}
