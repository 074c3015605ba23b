// Package pth reads PyTorch state_dict files in the zip format torch.save writes.
package pth

import (
	"errors"
	"io"

	"github.com/alexlens/alexlens/engine"
)

// Read returns the float tensors of a state_dict by key. (Placeholder: being written.)
func Read(r io.ReaderAt, size int64) (map[string]*engine.Tensor, error) {
	return nil, errors.New("pth: reader not written yet")
}
