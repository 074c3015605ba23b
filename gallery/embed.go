package gallery

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"

	"github.com/alexlens/alexlens/engine"
)

// Pooling names.
const (
	PoolNone = "none" // the activation is already a vector (fully connected layers)
	PoolMean = "mean" // a C x H x W activation averaged over its H x W positions: C components
)

// EmbeddingShape says how a layer's activation becomes an embedding for architecture a:
// spatial activations are averaged over positions (global average pooling, so SqueezeNet's
// fire9 gives 512 components rather than 86,528, and the embedding does not depend on where
// in the picture things are), vectors are taken as they are.
func EmbeddingShape(a *engine.Arch, layer string) (pooling string, dim int, err error) {
	shapes, err := a.Shapes(a.InputSize, a.InputSize)
	if err != nil {
		return "", 0, err
	}
	s, ok := shapes[layer]
	if !ok {
		return "", 0, fmt.Errorf("gallery: %s has no layer %q (layers: %v)", a.Name, layer, a.LayerNames())
	}
	if len(s) == 4 {
		return PoolMean, s[1], nil
	}
	return PoolNone, s[1], nil
}

// DefaultLayer is the layer whose activation embeds images for architecture a: the
// architecture's own choice (fc7 for both AlexNets, fire9 for SqueezeNet, mean-pooled).
func DefaultLayer(a *engine.Arch) string { return a.Embedding }

func checkEmbedding(arch, layer, pooling string, dim int) error {
	a, err := engine.LookupArch(arch)
	if err != nil {
		return fmt.Errorf("gallery: %w", err)
	}
	p, d, err := EmbeddingShape(a, layer)
	if err != nil {
		return err
	}
	if pooling != p || dim != d {
		return fmt.Errorf("gallery: %s %s embeddings have %d components (pooling %s), the header says %d (pooling %q)",
			arch, layer, d, p, dim, pooling)
	}
	return nil
}

// HeaderFor describes the embeddings model gives at layer, stored with encoding e and
// thumbnails of thumb pixels. source says where the weights came from.
func HeaderFor(m *engine.Model, layer string, e Encoding, thumb int, source string) (Header, error) {
	return HeaderWith(m, Fingerprint(m), layer, e, thumb, source)
}

// HeaderWith is HeaderFor for a caller that keeps the model's Fingerprint: hashing every
// weight takes seconds in a browser tab for AlexNet.
func HeaderWith(m *engine.Model, fingerprint, layer string, e Encoding, thumb int, source string) (Header, error) {
	if layer == "" {
		layer = DefaultLayer(m.Arch)
	}
	pooling, dim, err := EmbeddingShape(m.Arch, layer)
	if err != nil {
		return Header{}, err
	}
	h := Header{
		Arch: m.Arch.Name, Layer: layer, Pooling: pooling, Dim: dim, Encoding: e, Thumb: thumb,
		Weights: WeightsInfo{SHA256: fingerprint, Source: source, Fixture: m.Fixture},
	}
	return h, h.validate()
}

// Embed runs the model on x (N x 3 x H x W) as far as the header's layer and returns one
// embedding per image. With wantLogits it runs to the end and also returns the logits
// (N x classes), for labelling items.
func Embed(m *engine.Model, be engine.Backend, x *engine.Tensor, h Header, wantLogits bool) ([][]float32, *engine.Tensor, error) {
	if m.Arch.Name != h.Arch {
		return nil, nil, fmt.Errorf("%w: the gallery holds %s embeddings, the model is %s", ErrIncompatible, h.Arch, m.Arch.Name)
	}
	opt := engine.ForwardOptions{Backend: be, Keep: func(n string) bool { return n == h.Layer }}
	if !wantLogits || m.Partial != "" {
		opt.StopAfter = h.Layer
	}
	res, err := m.Forward(x, opt)
	if err != nil {
		return nil, nil, err
	}
	act := res.Activations[h.Layer]
	if act == nil {
		return nil, nil, fmt.Errorf("gallery: the forward pass left no %s activation", h.Layer)
	}
	n := act.Shape[0]
	out := make([][]float32, n)
	for i := range out {
		out[i] = pool(act.Row(i), h.Dim)
		if len(out[i]) != h.Dim {
			return nil, nil, fmt.Errorf("%w: %s gives %d components, the gallery's embeddings have %d", ErrIncompatible, h.Layer, len(out[i]), h.Dim)
		}
	}
	return out, res.Logits, nil
}

// pool averages a C x H x W activation over positions into C components; a vector of dim
// components is returned as a copy.
func pool(row []float32, dim int) []float32 {
	if dim == 0 || len(row)%dim != 0 {
		return append([]float32(nil), row...)
	}
	per := len(row) / dim
	out := make([]float32, dim)
	for c := range out {
		var s float64
		for _, v := range row[c*per : (c+1)*per] {
			s += float64(v)
		}
		out[c] = float32(s / float64(per))
	}
	return out
}

// Fingerprint identifies a model's weights: SHA-256 over the architecture name and every
// parameter in Arch.Params order, weights quantized to int8 per output channel (as
// engine.QuantizeWeight does) and biases as float32. The same weights therefore have the same
// fingerprint whether they are loaded as float32 or int8, from .pth or .alxw, so a gallery
// made at one precision can be searched with a model at the other.
func Fingerprint(m *engine.Model) string {
	h := sha256.New()
	h.Write([]byte(m.Arch.Name))
	var buf []byte
	for _, p := range m.Arch.Params() {
		w := m.Params[p.Name]
		if w == nil {
			h.Write([]byte{0}) // a partial model: absent layers count as absent
			continue
		}
		h.Write([]byte(p.Name))
		if len(w.Shape) >= 2 {
			q := engine.QuantizeWeight(w)
			buf = buf[:0]
			for _, s := range q.Scale {
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(s))
			}
			h.Write(buf)
			h.Write(int8Bytes(q.I8))
			continue
		}
		buf = buf[:0]
		for _, v := range w.F32 {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func int8Bytes(x []int8) []byte {
	b := make([]byte, len(x))
	for i, v := range x {
		b[i] = byte(v)
	}
	return b
}

// EmbedLayer is Embed without a gallery: each image's embedding at layer, as the app and
// `alexlens embed` give it (a convolutional layer's activation averaged over positions).
func EmbedLayer(m *engine.Model, be engine.Backend, x *engine.Tensor, layer string) ([][]float32, error) {
	pooling, dim, err := EmbeddingShape(m.Arch, layer)
	if err != nil {
		return nil, err
	}
	out, _, err := Embed(m, be, x, Header{Arch: m.Arch.Name, Layer: layer, Pooling: pooling, Dim: dim}, false)
	return out, err
}
