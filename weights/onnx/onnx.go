// Package onnx reads ONNX models (a protobuf ModelProto) and TensorProto files.
package onnx

import (
	"errors"

	"github.com/alexlens/alexlens/engine"
)

// Initializers returns a model's initializer tensors by name. (Placeholder: being written.)
func Initializers(data []byte) (map[string]*engine.Tensor, error) {
	return nil, errors.New("onnx: reader not written yet")
}
