package session

import (
	"image"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/engine/preprocess"
	"github.com/alexlens/alexlens/weights"
)

// DefaultCodecs are the CLI's own decoders: the AlexLens weight format and preprocess's
// PIL-exact image decoding and torchvision transform.
func DefaultCodecs() Codecs {
	return Codecs{
		DecodeWeights: func(data []byte, fileChecked bool) (*engine.Model, error) {
			// data is the session's own copy of the file: the model may keep it as its tensors.
			return weights.DecodeWith(data, weights.DecodeOptions{SkipTensorHashes: fileChecked, Alias: true})
		},
		DecodeImage: func(data []byte) (image.Image, error) {
			return preprocess.Decode(data, preprocess.DefaultLimits)
		},
		ImageTensor: preprocess.Tensor,
		FrameTensor: func(rgba []byte, w, h, crop int) (*engine.Tensor, error) {
			return preprocess.FromRGBA(rgba, w, h, crop)
		},
	}
}
