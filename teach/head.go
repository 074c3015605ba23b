// Package teach teaches the network new classes on one layer's embeddings (fc7 by default,
// the space the AlexNet paper's Figure 4 shows placing similar things together): a softmax
// head, optionally with one hidden ReLU layer, trained with Adam, weight decay and early
// stopping on a held-out split; or, with no training at all, k nearest neighbours.
//
// Everything is seeded and computed in float64 with explicit roundings, so the same examples
// and seed give the same head natively and in the browser.
package teach

import (
	"fmt"
	"math"

	"github.com/alexlens/alexlens/engine"
)

// Head is a classifier from one layer's embedding (Dim values: the layer's activation,
// averaged over positions for a convolutional layer, as gallery.Embed gives it) to Classes.
//
// logits = W2 · relu(W1 · x + B1) + B2 with a hidden layer (Hidden > 0), W1 · x + B1 without.
// Weights are row-major: W1 is Hidden x Dim (Classes x Dim without a hidden layer), W2 is
// Classes x Hidden.
type Head struct {
	// Arch, Layer and WeightsSHA256 say which network's which embedding the head reads
	// (gallery.Fingerprint of the weights): a head is meaningless on another network.
	Arch          string
	Layer         string
	WeightsSHA256 string
	Classes       []string
	Dim           int
	Hidden        int
	W1, B1        []float32
	W2, B2        []float32
}

// Check reports the first inconsistency: sizes that do not match, values that are not
// finite, no classes.
func (h *Head) Check() error {
	if len(h.Classes) < 2 {
		return fmt.Errorf("teach: a head needs at least two classes, this one has %d", len(h.Classes))
	}
	if h.Dim < 1 || h.Hidden < 0 {
		return fmt.Errorf("teach: head of %d inputs and %d hidden units", h.Dim, h.Hidden)
	}
	k, out1 := len(h.Classes), len(h.Classes)
	want2 := 0
	if h.Hidden > 0 {
		out1, want2 = h.Hidden, k
	}
	for _, c := range []struct {
		name      string
		got, want int
	}{{"W1", len(h.W1), out1 * h.Dim}, {"B1", len(h.B1), out1}, {"W2", len(h.W2), want2 * h.Hidden}, {"B2", len(h.B2), want2}} {
		if c.got != c.want {
			return fmt.Errorf("teach: head %s has %d values, want %d", c.name, c.got, c.want)
		}
	}
	for _, w := range [][]float32{h.W1, h.B1, h.W2, h.B2} {
		for _, v := range w {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("teach: head weights hold NaN or infinite values")
			}
		}
	}
	return nil
}

// Logits are the head's class scores for one embedding.
func (h *Head) Logits(x []float32) ([]float32, error) {
	if len(x) != h.Dim {
		return nil, fmt.Errorf("teach: the head reads %d-value %s embeddings, got %d values", h.Dim, h.Layer, len(x))
	}
	a := affine(h.W1, h.B1, x)
	if h.Hidden == 0 {
		return a, nil
	}
	for i, v := range a {
		a[i] = max(v, 0)
	}
	return affine(h.W2, h.B2, a), nil
}

// Probabilities are the softmax of the logits.
func (h *Head) Probabilities(x []float32) ([]float32, error) {
	l, err := h.Logits(x)
	if err != nil {
		return nil, err
	}
	p64 := softmax(toF64(l))
	out := make([]float32, len(p64))
	for i, v := range p64 {
		out[i] = float32(v)
	}
	return out, nil
}

// LogitFunc is class c's logit as a function of the embedding, differentiable: the objective
// (engine.OfEmbedding) by which feature visualization and attribution read a taught class.
func (h *Head) LogitFunc(c int) (engine.EmbeddingFunc, error) {
	if c < 0 || c >= len(h.Classes) {
		return nil, fmt.Errorf("teach: the head has classes 0 to %d, no class %d", len(h.Classes)-1, c)
	}
	return headLogit{h, c}, nil
}

type headLogit struct {
	h *Head
	c int
}

func (l headLogit) Dim() int { return l.h.Dim }

// ValueGrad: without hidden units the gradient is W1's row c; with them, W1ᵀ (W2's row c
// where the hidden unit is on).
func (l headLogit) ValueGrad(x, grad []float32) float64 {
	h, n := l.h, l.h.Dim
	if h.Hidden == 0 {
		copy(grad, h.W1[l.c*n:(l.c+1)*n])
		return float64(affine(h.W1[l.c*n:(l.c+1)*n], h.B1[l.c:l.c+1], x)[0])
	}
	z := affine(h.W1, h.B1, x)
	v := float64(h.B2[l.c])
	g := make([]float64, n)
	for j, zj := range z {
		if zj <= 0 {
			continue
		}
		w2 := float64(h.W2[l.c*h.Hidden+j])
		v += w2 * float64(zj)
		for i, w := range h.W1[j*n : (j+1)*n] {
			g[i] += w2 * float64(w)
		}
	}
	for i, gi := range g {
		grad[i] = float32(gi)
	}
	return v
}

// affine is W·x + b in float64 sums, rounded once to float32.
func affine(w, b, x []float32) []float32 {
	n := len(x)
	out := make([]float32, len(b))
	for o := range b {
		s := float64(b[o])
		for i, v := range w[o*n : (o+1)*n] {
			s += float64(float64(v) * float64(x[i])) // a conversion: no fused multiply-add
		}
		out[o] = float32(s)
	}
	return out
}

func toF64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// softmax of z, stable.
func softmax(z []float64) []float64 {
	m := math.Inf(-1)
	for _, v := range z {
		m = max(m, v)
	}
	out := make([]float64, len(z))
	var s float64
	for i, v := range z {
		out[i] = math.Exp(v - m)
		s += out[i]
	}
	for i := range out {
		out[i] /= s
	}
	return out
}

// Augment is the augmentation examples get, in the CLI and in the app alike: x (1 x 3 x H x W,
// a preprocessed photo) and its left-right mirror image, as a batch of two.
func Augment(x *engine.Tensor) *engine.Tensor {
	h, w := x.Shape[2], x.Shape[3]
	out := engine.NewTensor(2, 3, h, w)
	copy(out.Data, x.Data)
	m := out.Data[3*h*w:]
	for r := range 3 * h {
		row := x.Data[r*w : (r+1)*w]
		for c, v := range row {
			m[r*w+w-1-c] = v
		}
	}
	return out
}
