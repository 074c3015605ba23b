// Package weights stores AlexLens networks in the .alxw format (see FORMAT.md), made for the
// browser: a small JSON header first, then each layer's tensors as one 16-byte aligned,
// hash-checked byte range that can be fetched alone with an HTTP Range request. It also loads
// PyTorch and ONNX files, makes deterministic fixture weights and fetches the official files.
package weights

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/alexlens/alexlens/engine"

	"github.com/alexlens/alexlens/weights/manifest"
)

// Magic opens every .alxw file; Version is the only layout this package reads and writes.
const (
	Magic   = "ALXW"
	Version = 1
)

// Layout constants: the fixed prefix is magic, version and header length; tensors start on
// 16-byte boundaries so that a reader can view them as typed arrays without copying.
const (
	prefixBytes = 12
	alignment   = 16
	// MaxHeaderBytes bounds the JSON header: AlexNet int8 with its scales needs about 60 KB,
	// so 4 MiB leaves room while keeping a hostile length from costing memory.
	MaxHeaderBytes = 4 << 20
	// maxTensors bounds the tensor count (SqueezeNet has 52).
	maxTensors = 4096
)

// Dtypes of stored tensors.
const (
	DTypeF32  = "f32"
	DTypeInt8 = "int8"
)

// Header describes an .alxw file: what network, where each tensor lies and its hash.
type Header struct {
	Version    int              // from the fixed prefix
	HeaderLen  int64            // bytes of JSON after the 12-byte prefix
	Arch       string           // engine architecture name, e.g. squeezenet1_1
	Fixture    bool             // untrained, generated weights
	Source     string           // where the weights came from, free text
	Precision  engine.Precision // int8 when any tensor is int8
	Partial    string           // last layer covered when the file holds only the first layers
	DataOffset int64            // offset of the first tensor
	FileBytes  int64            // total file length
	Tensors    []TensorInfo     // in file order, which is layer order
	Layers     []LayerRange     // one contiguous range per layer, in file order
	// Head describes a classifier head's file (Arch HeadArch) instead of a network's.
	Head *HeadInfo
}

// TensorInfo locates one tensor. Offsets count from the start of the file.
type TensorInfo struct {
	Name   string    // state_dict key, e.g. features.0.weight
	Layer  string    // activation name of its layer, e.g. conv1
	Shape  []int     //
	DType  string    // f32 or int8
	Scales []float32 // int8 only: one per output channel (first dimension)
	Offset int64
	Length int64
	SHA256 string // hex; over the scales' little-endian bytes (int8 only) then the data bytes
}

// LayerRange is the byte range holding all tensors of one layer (the manifest lists the
// same ranges).
type LayerRange = manifest.LayerRange

// wireHeader and wireTensor are the JSON forms; scales travel as base64 of little-endian
// float32 so that every reader gets the exact bits back.
type wireHeader struct {
	Arch       string       `json:"arch"`
	Fixture    bool         `json:"fixture"`
	Source     string       `json:"source"`
	Precision  string       `json:"precision"`
	Partial    string       `json:"partial"`
	DataOffset int64        `json:"data_offset"`
	FileBytes  int64        `json:"file_bytes"`
	Tensors    []wireTensor `json:"tensors"`
	Layers     []LayerRange `json:"layers"`
	Head       *HeadInfo    `json:"head,omitempty"`
}

type wireTensor struct {
	Name   string `json:"name"`
	Layer  string `json:"layer"`
	Shape  []int  `json:"shape"`
	DType  string `json:"dtype"`
	Scales string `json:"scales,omitempty"`
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
	SHA256 string `json:"sha256"`
}

// Range returns the byte range [off, off+n) holding the named layer's tensors, for an HTTP
// Range request (bytes=off-(off+n-1)). An unknown layer gives n == 0.
func (h *Header) Range(layer string) (off, n int64) {
	for _, l := range h.Layers {
		if l.Name == layer {
			return l.Offset, l.Length
		}
	}
	return 0, 0
}

// RangeThrough returns the one byte range holding every layer from the first through the
// named one (conv1 to conv5, say), for a single Range request; n == 0 for an unknown layer.
func (h *Header) RangeThrough(layer string) (off, n int64) {
	for _, l := range h.Layers {
		if l.Name == layer {
			return h.DataOffset, l.Offset + l.Length - h.DataOffset
		}
	}
	return 0, 0
}

// LayerNames lists the layers the file holds, in file order.
func (h *Header) LayerNames() []string {
	names := make([]string, len(h.Layers))
	for i, l := range h.Layers {
		names[i] = l.Name
	}
	return names
}

// ReadHeader reads and checks the prefix and JSON header of an .alxw file. It reads exactly
// the prefix and the header, nothing of the tensor data, and never allocates more than the
// bytes that actually arrive.
func ReadHeader(r io.Reader) (*Header, error) {
	var prefix [prefixBytes]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return nil, fmt.Errorf("alxw: file too short for the %d-byte prefix: %w", prefixBytes, err)
	}
	if string(prefix[:4]) != Magic {
		return nil, fmt.Errorf("alxw: not an AlexLens weight file (starts with %q, want %q)", prefix[:4], Magic)
	}
	version := binary.LittleEndian.Uint32(prefix[4:8])
	if version != Version {
		return nil, fmt.Errorf("alxw: format version %d, this reader knows version %d only", version, Version)
	}
	hlen := int64(binary.LittleEndian.Uint32(prefix[8:12]))
	if hlen == 0 || hlen > MaxHeaderBytes {
		return nil, fmt.Errorf("alxw: header length %d bytes is out of range (1 to %d)", hlen, MaxHeaderBytes)
	}
	// ReadAll through a LimitReader grows with the data, so a lying length costs nothing.
	js, err := io.ReadAll(io.LimitReader(r, hlen))
	if err != nil {
		return nil, fmt.Errorf("alxw: reading header: %w", err)
	}
	if int64(len(js)) != hlen {
		return nil, fmt.Errorf("alxw: header truncated: %d of %d bytes", len(js), hlen)
	}
	var w wireHeader
	dec := json.NewDecoder(bytes.NewReader(js))
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("alxw: header is not valid JSON: %v", err)
	}
	if dec.More() {
		return nil, errors.New("alxw: header has data after its JSON object")
	}
	h := &Header{
		Version: int(version), HeaderLen: hlen, Arch: w.Arch, Fixture: w.Fixture, Source: w.Source,
		Precision: engine.Precision(w.Precision), Partial: w.Partial, DataOffset: w.DataOffset,
		FileBytes: w.FileBytes, Layers: w.Layers, Head: w.Head,
	}
	if err := h.fromWire(&w); err != nil {
		return nil, err
	}
	return h, nil
}

// fromWire converts and checks the tensor list and the layout: tensors packed in order on
// 16-byte boundaries right after the header, lengths matching shapes, layers contiguous.
func (h *Header) fromWire(w *wireHeader) error {
	if h.Arch == "" {
		return errors.New("alxw: header names no architecture")
	}
	if h.Precision != engine.F32 && h.Precision != engine.Int8 {
		return fmt.Errorf("alxw: precision %q, want %q or %q", h.Precision, engine.F32, engine.Int8)
	}
	if len(w.Tensors) == 0 || len(w.Tensors) > maxTensors {
		return fmt.Errorf("alxw: header lists %d tensors (want 1 to %d)", len(w.Tensors), maxTensors)
	}
	if want := align(prefixBytes + h.HeaderLen); h.DataOffset != want {
		return fmt.Errorf("alxw: data_offset %d, want %d (header end rounded up to %d bytes)", h.DataOffset, want, alignment)
	}
	seen := map[string]bool{}
	next := h.DataOffset
	anyInt8 := false
	h.Tensors = make([]TensorInfo, len(w.Tensors))
	for i, wt := range w.Tensors {
		t := TensorInfo{Name: wt.Name, Layer: wt.Layer, Shape: wt.Shape, DType: wt.DType, Offset: wt.Offset, Length: wt.Length, SHA256: wt.SHA256}
		if t.Name == "" || t.Layer == "" {
			return fmt.Errorf("alxw: tensor %d has no name or layer", i)
		}
		if seen[t.Name] {
			return fmt.Errorf("alxw: tensor %q listed twice", t.Name)
		}
		seen[t.Name] = true
		n, err := numel(t.Shape)
		if err != nil {
			return fmt.Errorf("alxw: tensor %q: %v", t.Name, err)
		}
		var size int64
		switch t.DType {
		case DTypeF32:
			size = 4
			if wt.Scales != "" {
				return fmt.Errorf("alxw: tensor %q is f32 but has scales", t.Name)
			}
		case DTypeInt8:
			size = 1
			anyInt8 = true
			if len(t.Shape) < 2 {
				return fmt.Errorf("alxw: int8 tensor %q has shape %v; only weights of rank 2 or more are quantized", t.Name, t.Shape)
			}
			raw, err := base64.StdEncoding.DecodeString(wt.Scales)
			if err != nil {
				return fmt.Errorf("alxw: tensor %q: scales are not base64: %v", t.Name, err)
			}
			if len(raw) != 4*t.Shape[0] {
				return fmt.Errorf("alxw: tensor %q has %d bytes of scales, want %d (4 per output channel)", t.Name, len(raw), 4*t.Shape[0])
			}
			t.Scales = make([]float32, t.Shape[0])
			for j := range t.Scales {
				t.Scales[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
			}
		default:
			return fmt.Errorf("alxw: tensor %q has dtype %q, want %q or %q", t.Name, t.DType, DTypeF32, DTypeInt8)
		}
		if t.Length != n*size {
			return fmt.Errorf("alxw: tensor %q: length %d bytes, shape %v of %s needs %d", t.Name, t.Length, t.Shape, t.DType, n*size)
		}
		if t.Offset != next {
			return fmt.Errorf("alxw: tensor %q at offset %d, want %d (tensors are packed in order on %d-byte boundaries)", t.Name, t.Offset, next, alignment)
		}
		if b, err := hex.DecodeString(t.SHA256); err != nil || len(b) != 32 {
			return fmt.Errorf("alxw: tensor %q: sha256 %q is not 64 hex digits", t.Name, t.SHA256)
		}
		next = align(t.Offset + t.Length)
		h.Tensors[i] = t
	}
	last := h.Tensors[len(h.Tensors)-1]
	if end := last.Offset + last.Length; h.FileBytes != end {
		return fmt.Errorf("alxw: file_bytes %d, but the last tensor ends at %d", h.FileBytes, end)
	}
	if anyInt8 != (h.Precision == engine.Int8) {
		return fmt.Errorf("alxw: precision %q does not match the tensors' dtypes", h.Precision)
	}
	want := layerRanges(h.Tensors)
	if want == nil {
		return errors.New("alxw: a layer's tensors are not contiguous")
	}
	if len(want) != len(h.Layers) {
		return fmt.Errorf("alxw: header lists %d layers, its tensors form %d", len(h.Layers), len(want))
	}
	for i := range want {
		if want[i] != h.Layers[i] {
			return fmt.Errorf("alxw: layer %d is %+v, its tensors give %+v", i, h.Layers[i], want[i])
		}
	}
	return nil
}

// layerRanges groups consecutive tensors by layer; nil if a layer appears twice apart.
func layerRanges(ts []TensorInfo) []LayerRange {
	var out []LayerRange
	done := map[string]bool{}
	for _, t := range ts {
		end := t.Offset + t.Length
		if n := len(out); n > 0 && out[n-1].Name == t.Layer {
			out[n-1].Length = end - out[n-1].Offset
			continue
		}
		if done[t.Layer] {
			return nil
		}
		done[t.Layer] = true
		out = append(out, LayerRange{Name: t.Layer, Offset: t.Offset, Length: end - t.Offset})
	}
	return out
}

// numel is the element count of a shape, refusing empty, non-positive and overflowing ones.
func numel(shape []int) (int64, error) {
	if len(shape) == 0 || len(shape) > 8 {
		return 0, fmt.Errorf("shape %v: rank must be 1 to 8", shape)
	}
	n := int64(1)
	for _, d := range shape {
		if d <= 0 || int64(d) > math.MaxInt32 {
			return 0, fmt.Errorf("shape %v has a dimension out of range", shape)
		}
		n *= int64(d)
		if n > math.MaxInt32 {
			return 0, fmt.Errorf("shape %v has more than 2^31 elements", shape)
		}
	}
	return n, nil
}

func align(n int64) int64 { return (n + alignment - 1) / alignment * alignment }

// toWire is the inverse of fromWire.
func (h *Header) toWire() *wireHeader {
	w := &wireHeader{
		Arch: h.Arch, Fixture: h.Fixture, Source: h.Source, Precision: string(h.Precision), Partial: h.Partial,
		DataOffset: h.DataOffset, FileBytes: h.FileBytes, Layers: h.Layers, Head: h.Head,
	}
	for _, t := range h.Tensors {
		wt := wireTensor{Name: t.Name, Layer: t.Layer, Shape: t.Shape, DType: t.DType, Offset: t.Offset, Length: t.Length, SHA256: t.SHA256}
		if t.DType == DTypeInt8 {
			wt.Scales = base64.StdEncoding.EncodeToString(scaleBytes(t.Scales))
		}
		w.Tensors = append(w.Tensors, wt)
	}
	return w
}

func scaleBytes(s []float32) []byte {
	b := make([]byte, 4*len(s))
	for i, v := range s {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}
