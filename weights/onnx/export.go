package onnx

import (
	"encoding/binary"
	"encoding/json"
	"io"
	"math"

	"github.com/alexlens/alexlens/teach"
)

// Writing ONNX: a taught head (package teach) as a graph from the layer's embedding, a 1 x D
// float tensor named "embedding", to the class probabilities, "probabilities" (1 x K):
// Gemm (transB, PyTorch's nn.Linear layout), Relu and Gemm with a hidden layer, Softmax.
// Opset 13, IR version 8; the class names are in the model's metadata ("classes", a JSON
// array), with the network and layer the embedding comes from.

// ONNX protobuf field numbers used here (onnx.proto3).
const (
	modelIRVersion    = 1
	modelProducerName = 2
	modelGraph        = 7
	modelOpsetImport  = 8
	modelMetadata     = 14

	graphNode        = 1
	graphName        = 2
	graphInitializer = 5
	graphInput       = 11
	graphOutput      = 12

	nodeInput     = 1
	nodeOutput    = 2
	nodeName      = 3
	nodeOpType    = 4
	nodeAttribute = 5

	attrName = 1
	attrI    = 3
	attrType = 20
	attrINT  = 2

	tensorDims     = 1
	tensorDataType = 2
	tensorName     = 8
	tensorRawData  = 9
	dataTypeFloat  = 1
)

// pb builds one protobuf message.
type pb []byte

func (m pb) varint(v uint64) pb {
	for v >= 0x80 {
		m = append(m, byte(v)|0x80)
		v >>= 7
	}
	return append(m, byte(v))
}

func (m pb) key(field, wire int) pb { return m.varint(uint64(field)<<3 | uint64(wire)) }

func (m pb) int(field int, v int64) pb { return m.key(field, wireVarint).varint(uint64(v)) }

func (m pb) bytes(field int, b []byte) pb {
	m = m.key(field, wireBytes).varint(uint64(len(b)))
	return append(m, b...)
}

func (m pb) str(field int, s string) pb { return m.bytes(field, []byte(s)) }

func tensorProto(name string, dims []int, data []float32) pb {
	var t pb
	for _, d := range dims {
		t = t.int(tensorDims, int64(d))
	}
	t = t.int(tensorDataType, dataTypeFloat).str(tensorName, name)
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return t.bytes(tensorRawData, raw)
}

// valueInfo is a float tensor's name and shape.
func valueInfo(name string, dims ...int) pb {
	var shape pb
	for _, d := range dims {
		shape = shape.bytes(1, pb(nil).int(1, int64(d))) // TensorShapeProto.dim{dim_value}
	}
	tensorType := pb(nil).int(1, dataTypeFloat).bytes(2, shape) // elem_type, shape
	typ := pb(nil).bytes(1, tensorType)                         // TypeProto.tensor_type
	return pb(nil).str(1, name).bytes(2, typ)
}

func node(op, name string, in []string, out string, transB bool) pb {
	var n pb
	for _, i := range in {
		n = n.str(nodeInput, i)
	}
	n = n.str(nodeOutput, out).str(nodeName, name).str(nodeOpType, op)
	if transB {
		n = n.bytes(nodeAttribute, pb(nil).str(attrName, "transB").int(attrI, 1).int(attrType, attrINT))
	}
	return n
}

// WriteHead writes hd as an ONNX model.
func WriteHead(w io.Writer, hd *teach.Head) error {
	if err := hd.Check(); err != nil {
		return err
	}
	k := len(hd.Classes)
	out1 := k
	if hd.Hidden > 0 {
		out1 = hd.Hidden
	}
	g := pb(nil).str(graphName, "alexlens-head")
	logits := "fc1"
	g = g.bytes(graphNode, node("Gemm", "fc1", []string{"embedding", "fc1.weight", "fc1.bias"}, "fc1", true))
	g = g.bytes(graphInitializer, tensorProto("fc1.weight", []int{out1, hd.Dim}, hd.W1))
	g = g.bytes(graphInitializer, tensorProto("fc1.bias", []int{out1}, hd.B1))
	if hd.Hidden > 0 {
		g = g.bytes(graphNode, node("Relu", "relu1", []string{"fc1"}, "relu1", false))
		g = g.bytes(graphNode, node("Gemm", "fc2", []string{"relu1", "fc2.weight", "fc2.bias"}, "fc2", true))
		g = g.bytes(graphInitializer, tensorProto("fc2.weight", []int{k, hd.Hidden}, hd.W2))
		g = g.bytes(graphInitializer, tensorProto("fc2.bias", []int{k}, hd.B2))
		logits = "fc2"
	}
	g = g.bytes(graphNode, node("Softmax", "softmax", []string{logits}, "probabilities", false))
	g = g.bytes(graphInput, valueInfo("embedding", 1, hd.Dim))
	g = g.bytes(graphOutput, valueInfo("probabilities", 1, k))

	classes, err := json.Marshal(hd.Classes)
	if err != nil {
		return err
	}
	m := pb(nil).int(modelIRVersion, 8).str(modelProducerName, "alexlens")
	m = m.bytes(modelGraph, g)
	m = m.bytes(modelOpsetImport, pb(nil).str(1, "").int(2, 13))
	for _, kv := range [][2]string{{"classes", string(classes)}, {"arch", hd.Arch}, {"layer", hd.Layer}, {"weights", hd.WeightsSHA256}} {
		m = m.bytes(modelMetadata, pb(nil).str(1, kv[0]).str(2, kv[1]))
	}
	_, err = w.Write(m)
	return err
}
