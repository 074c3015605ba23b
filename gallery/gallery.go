// Package gallery keeps a collection of images as embeddings (a layer's activation, e.g.
// AlexNet's fc7), with thumbnails and labels, and answers the questions of the AlexNet
// paper's Figure 4: which images does the network consider close? It holds the .alxg file
// format (FORMAT.md), exact k-nearest-neighbour search over the compact encodings, directions
// between groups of images, and 2-D maps of the gallery (PCA, t-SNE) with per-cell top classes.
//
// It is pure Go and builds for js/wasm: the browser loads a gallery in one request, searches it
// and adds its own images with the same code as the CLI.
package gallery

import (
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// Encoding is how embeddings are stored.
type Encoding string

const (
	// F16 stores each component as an IEEE half float: 2 bytes, relative error <= 2^-11.
	F16 Encoding = "f16"
	// Int8 stores each embedding as int8 components times one float32 scale per item
	// (max |v| / 127): 1 byte per component plus 4 per item, absolute error <= scale/2.
	Int8 Encoding = "int8"
)

// Header describes what a gallery's embeddings are: they can only be compared with
// embeddings from the same network, weights and layer.
type Header struct {
	Arch string `json:"arch"` // engine architecture name, e.g. alexnet
	// Weights identifies the weights the embeddings were computed with (see Fingerprint).
	Weights WeightsInfo `json:"weights"`
	Layer   string      `json:"layer"`   // the activation embedded, e.g. fc7
	Pooling string      `json:"pooling"` // "none", or "mean" for spatial activations averaged over positions
	Dim     int         `json:"dim"`     // components per embedding
	// Encoding of the stored embeddings.
	Encoding Encoding `json:"encoding"`
	Thumb    int      `json:"thumb"` // thumbnail side in pixels; 0 when items carry none
	// Atlas, when present, makes the gallery an atlas file: its items are the icons of an
	// activation atlas's cells, placed on its grid (atlasfile.go).
	Atlas *AtlasLayout `json:"atlas,omitempty"`
}

// WeightsInfo names a set of weights.
type WeightsInfo struct {
	SHA256  string `json:"sha256"`  // Fingerprint of the model's parameters
	Source  string `json:"source"`  // free text: the file or fixture the weights came from
	Fixture bool   `json:"fixture"` // untrained weights: neighbours are not meaningful
}

// Item is one image of the gallery.
type Item struct {
	Name  string // the image's name, e.g. its path relative to the indexed folder
	Class int    // the network's top-1 ImageNet class, -1 when unknown
	Label string // a human-readable label, e.g. the class name
	Thumb []byte // a small JPEG, or nil
}

// Limits on what a gallery may hold; the reader enforces them before allocating.
const (
	MaxItems      = 1 << 22 // 4M items
	MaxDim        = 1 << 17 // 131072 components
	MaxNameBytes  = 1024
	MaxLabelBytes = 1024
	MaxThumbBytes = 1 << 20
	MaxThumbSide  = 1024
)

// Gallery is a set of items with their embeddings, kept in the compact encoding. Its zero
// value is not usable; make one with New or Decode. Methods that read are safe for
// concurrent use; Add is not.
type Gallery struct {
	Header Header
	Items  []Item

	half  []uint16  // F16: Len()*Dim halves
	q     []int8    // Int8: Len()*Dim values
	scale []float32 // Int8: one per item
	norm  []float32 // Euclidean norm of each decoded embedding (derived, not stored)
}

// New makes an empty gallery for embeddings described by h.
func New(h Header) (*Gallery, error) {
	if err := h.validate(); err != nil {
		return nil, err
	}
	return &Gallery{Header: h}, nil
}

// Len is the number of items.
func (g *Gallery) Len() int { return len(g.Items) }

// Add appends an item with its embedding, encoding the embedding compactly.
func (g *Gallery) Add(it Item, embedding []float32) error {
	if g.Header.Atlas != nil {
		return errors.New("gallery: this is an atlas file (one item per atlas cell): images cannot be added to it; index them into a gallery of their own")
	}
	if len(embedding) != g.Header.Dim {
		return fmt.Errorf("gallery: embedding has %d components, the gallery's %s %s embeddings have %d",
			len(embedding), g.Header.Arch, g.Header.Layer, g.Header.Dim)
	}
	for i, v := range embedding {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("gallery: embedding component %d is %v", i, v)
		}
	}
	if err := it.validate(g.Header.Thumb); err != nil {
		return err
	}
	if len(g.Items) >= MaxItems {
		return fmt.Errorf("gallery: full (%d items)", MaxItems)
	}
	switch g.Header.Encoding {
	case F16:
		for _, v := range embedding {
			g.half = append(g.half, toHalf(v))
		}
	case Int8:
		var m float32
		for _, v := range embedding {
			m = max(m, float32(math.Abs(float64(v))))
		}
		s := m / 127
		g.scale = append(g.scale, s)
		for _, v := range embedding {
			var q int8
			if s > 0 {
				q = int8(max(-127, min(127, math.Round(float64(v/s)))))
			}
			g.q = append(g.q, q)
		}
	}
	g.Items = append(g.Items, it)
	g.norm = append(g.norm, norm(g.Embedding(len(g.Items)-1, nil)))
	return nil
}

// Embedding returns item i's embedding as stored (decoded to float32), in dst if it is big
// enough.
func (g *Gallery) Embedding(i int, dst []float32) []float32 {
	d := g.Header.Dim
	if cap(dst) < d {
		dst = make([]float32, d)
	}
	dst = dst[:d]
	switch g.Header.Encoding {
	case F16:
		for j, h := range g.half[i*d : (i+1)*d] {
			dst[j] = fromHalf(h)
		}
	case Int8:
		s := g.scale[i]
		for j, q := range g.q[i*d : (i+1)*d] {
			dst[j] = float32(q) * s
		}
	}
	return dst
}

// Vectors returns every embedding decoded to float32, one row per item.
func (g *Gallery) Vectors() [][]float32 {
	rows := make([][]float32, g.Len())
	flat := make([]float32, g.Len()*g.Header.Dim)
	for i := range rows {
		rows[i] = g.Embedding(i, flat[i*g.Header.Dim:(i+1)*g.Header.Dim])
	}
	return rows
}

// Find returns the index of the item with the given name, or -1.
func (g *Gallery) Find(name string) int {
	for i, it := range g.Items {
		if it.Name == name {
			return i
		}
	}
	return -1
}

// ErrIncompatible is wrapped by every error saying that embeddings cannot be compared.
var ErrIncompatible = errors.New("gallery: incompatible embeddings")

// Compatible reports whether embeddings described by other can be compared with this
// gallery's, with an error that says what differs.
func (h Header) Compatible(other Header) error {
	switch {
	case h.Arch != other.Arch:
		return fmt.Errorf("%w: the gallery holds %s embeddings, not %s", ErrIncompatible, h.Arch, other.Arch)
	case h.Layer != other.Layer || h.Pooling != other.Pooling:
		return fmt.Errorf("%w: the gallery holds %s %s embeddings (pooling %s), not %s (pooling %s)",
			ErrIncompatible, h.Arch, h.Layer, h.Pooling, other.Layer, other.Pooling)
	case h.Dim != other.Dim:
		return fmt.Errorf("%w: the gallery's embeddings have %d components, not %d", ErrIncompatible, h.Dim, other.Dim)
	case h.Weights.SHA256 != other.Weights.SHA256:
		return fmt.Errorf("%w: the gallery was made with other %s weights (%s, fingerprint %.12s) than these (%s, fingerprint %.12s)",
			ErrIncompatible, h.Arch, h.Weights.Source, h.Weights.SHA256, other.Weights.Source, other.Weights.SHA256)
	}
	return nil
}

func (h Header) validate() error {
	if err := checkEmbedding(h.Arch, h.Layer, h.Pooling, h.Dim); err != nil {
		return err
	}
	if h.Encoding != F16 && h.Encoding != Int8 {
		return fmt.Errorf("gallery: unknown encoding %q (want f16 or int8)", h.Encoding)
	}
	if h.Thumb < 0 || h.Thumb > MaxThumbSide {
		return fmt.Errorf("gallery: thumbnail size %d out of range 0..%d", h.Thumb, MaxThumbSide)
	}
	if !isHex64(h.Weights.SHA256) {
		return fmt.Errorf("gallery: weights fingerprint %q is not 64 lowercase hex digits", h.Weights.SHA256)
	}
	if len(h.Weights.Source) > MaxLabelBytes || !utf8.ValidString(h.Weights.Source) {
		return errors.New("gallery: weights source is not UTF-8 text of at most 1024 bytes")
	}
	return nil
}

func (it Item) validate(thumbSide int) error {
	if it.Name == "" || len(it.Name) > MaxNameBytes || !utf8.ValidString(it.Name) {
		return fmt.Errorf("gallery: item name %.40q must be 1..%d bytes of UTF-8", it.Name, MaxNameBytes)
	}
	if len(it.Label) > MaxLabelBytes || !utf8.ValidString(it.Label) {
		return fmt.Errorf("gallery: label of %q must be at most %d bytes of UTF-8", it.Name, MaxLabelBytes)
	}
	if it.Class < -1 || it.Class > math.MaxInt32 {
		return fmt.Errorf("gallery: class %d of %q out of range", it.Class, it.Name)
	}
	if len(it.Thumb) > MaxThumbBytes {
		return fmt.Errorf("gallery: thumbnail of %q is %d bytes, limit %d", it.Name, len(it.Thumb), MaxThumbBytes)
	}
	if thumbSide == 0 && len(it.Thumb) > 0 {
		return fmt.Errorf("gallery: %q has a thumbnail but the gallery's thumbnail size is 0", it.Name)
	}
	return nil
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func norm(x []float32) float32 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return float32(math.Sqrt(s))
}
