// Package onnx reads ONNX models (a protobuf ModelProto) and TensorProto files with a small
// hand-written protobuf decoder, and imports AlexNet weights from them.
//
// The decoder reads the messages a network's weights and structure need (graph, nodes,
// attributes, initializers, declared inputs and outputs) and skips the rest. It is written
// for untrusted input: every length is checked before it is used, nesting is bounded, and
// bad data gives an error that says where, never a panic. The decoded tensors alias the
// input bytes, which must not change while they are in use.
package onnx

import (
	"errors"
	"fmt"

	"github.com/alexlens/alexlens/engine"
)

// ReadModel decodes a ModelProto (a .onnx file).
func ReadModel(data []byte) (*Model, error) {
	if len(data) == 0 {
		return nil, errors.New("onnx: empty file")
	}
	m, err := newDecoder(len(data)).model(data)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	if m.Graph == nil {
		return nil, errors.New("onnx: model has no graph (not an ONNX model file?)")
	}
	return m, nil
}

// ReadTensor decodes a TensorProto (the input_N.pb / output_N.pb files of ONNX test data,
// or numpy_helper.from_array(...).SerializeToString()).
func ReadTensor(data []byte) (*Tensor, error) {
	t, err := newDecoder(len(data)).tensor(data)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	return t, nil
}

// Initializers returns a model's numeric initializer tensors by name, as float32. Tensors
// of other element types (int64 shape constants, strings) are left out: they are not
// weights.
func Initializers(data []byte) (map[string]*engine.Tensor, error) {
	m, err := ReadModel(data)
	if err != nil {
		return nil, err
	}
	return m.Graph.FloatInitializers()
}

// FloatInitializers converts the graph's floating-point initializers (FLOAT, DOUBLE,
// FLOAT16, BFLOAT16) to engine tensors by name.
func (g *Graph) FloatInitializers() (map[string]*engine.Tensor, error) {
	out := map[string]*engine.Tensor{}
	for _, t := range g.Initializers {
		switch t.DataType {
		case Float, Double, Float16, BFloat16:
		default:
			continue
		}
		if _, dup := out[t.Name]; dup {
			return nil, fmt.Errorf("onnx: two initializers named %q", t.Name)
		}
		et, err := t.Engine()
		if err != nil {
			return nil, fmt.Errorf("onnx: %w", err)
		}
		out[t.Name] = et
	}
	return out, nil
}
