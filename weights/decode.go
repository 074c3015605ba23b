package weights

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"unsafe"

	"github.com/alexlens/alexlens/engine"
)

// Decode reads a whole .alxw file: it checks the header against the architecture, every
// tensor's SHA-256, the zero padding and that all values are finite. A file holding only the
// first layers (header "partial") gives a partial model that runs up to that layer.
func Decode(data []byte) (*engine.Model, error) {
	return DecodeWith(data, DecodeOptions{})
}

// DecodeOptions tunes DecodeWith.
type DecodeOptions struct {
	// SkipTensorHashes skips the per-tensor SHA-256 checks, for a caller that has already
	// checked the whole file against its SHA-256 (the manifest's, or the content-hashed
	// name's). In the browser, crypto.subtle does that natively at several hundred MB/s,
	// while SHA-256 in Go compiled to wasm runs at about 50 MB/s: seconds for AlexNet.
	// Every other check still runs.
	SkipTensorHashes bool
	// Alias lets the model's tensors share data's memory instead of copying it, where the
	// platform's byte order and the tensor's alignment allow (always, for files this project
	// writes): a browser tab then holds the weights once, not twice (AlexNet float32: 244 MB
	// less at the peak of a load). The caller gives up data: it must not modify or reuse it.
	Alias bool
}

// DecodeWith is Decode with options.
func DecodeWith(data []byte, opt DecodeOptions) (*engine.Model, error) {
	h, err := ReadHeader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) != h.FileBytes {
		return nil, fmt.Errorf("alxw: file is %d bytes, its header says %d (truncated or padded download?)", len(data), h.FileBytes)
	}
	if _, err := h.checkArch(); err != nil {
		return nil, err
	}
	if err := checkPadding(h, data); err != nil {
		return nil, err
	}
	ws, err := decodeLayers(h, 0, data, !opt.SkipTensorHashes, opt.Alias)
	if err != nil {
		return nil, err
	}
	return h.Model(ws)
}

// checkPadding requires the bytes between tensors to be zeros: padding is not covered by the
// tensor hashes, and zeros make every accepted file canonical, so two files with the same
// tensors and header are the same bytes.
func checkPadding(h *Header, data []byte) error {
	pos := prefixBytes + h.HeaderLen
	for _, t := range h.Tensors {
		for _, b := range data[pos:t.Offset] {
			if b != 0 {
				return fmt.Errorf("alxw: non-zero padding before tensor %q (corrupt file)", t.Name)
			}
		}
		pos = t.Offset + t.Length
	}
	return nil
}

// DecodeLayers decodes the tensors that lie wholly inside data, which holds the file's bytes
// from offset off on: typically one layer fetched with an HTTP Range request for
// Header.Range. Each tensor's hash is checked. Pass the result to Header.Model for a model
// of the first layers.
func DecodeLayers(h *Header, off int64, data []byte) (map[string]*engine.Weight, error) {
	return decodeLayers(h, off, data, true, false)
}

func decodeLayers(h *Header, off int64, data []byte, verify, alias bool) (map[string]*engine.Weight, error) {
	a, err := h.checkArch()
	if err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, fmt.Errorf("alxw: negative offset %d", off)
	}
	end := off + int64(len(data))
	ws := map[string]*engine.Weight{}
	for _, t := range h.Tensors {
		if t.Offset < off || t.Offset+t.Length > end {
			continue
		}
		w, err := decodeTensor(a.Name, &t, data[t.Offset-off:t.Offset-off+t.Length], verify, alias)
		if err != nil {
			return nil, err
		}
		ws[t.Name] = w
	}
	if len(ws) == 0 {
		return nil, fmt.Errorf("alxw: bytes %d to %d hold no whole tensor (layers: %v)", off, end, h.Layers)
	}
	return ws, nil
}

// Model builds a model from decoded weights that cover whole layers from the first on, such
// as conv1 alone fetched by range: the model is partial and runs up to those layers.
func (h *Header) Model(ws map[string]*engine.Weight) (*engine.Model, error) {
	a, err := h.checkArch()
	if err != nil {
		return nil, err
	}
	m := &engine.Model{Arch: a, Params: map[string]*engine.Weight{}, Fixture: h.Fixture}
	lastLayer := ""
	complete := true
	for _, t := range h.Tensors {
		w, ok := ws[t.Name]
		if !ok {
			complete = false
			continue
		}
		if !complete {
			return nil, fmt.Errorf("alxw: tensor %q given without those before it: weights must cover the first layers in order", t.Name)
		}
		if w == nil || !slices.Equal(w.Shape, t.Shape) {
			return nil, fmt.Errorf("alxw: tensor %q is nil or not of shape %v", t.Name, t.Shape)
		}
		m.Params[t.Name] = w
		lastLayer = t.Layer
	}
	if len(m.Params) != len(ws) {
		for k := range ws {
			if _, ok := m.Params[k]; !ok {
				return nil, fmt.Errorf("alxw: tensor %q is not in this file", k)
			}
		}
	}
	if complete {
		m.Partial = h.Partial
		return m, nil
	}
	// Whole layers only: the tensor after the last one given must start a new layer.
	for i, t := range h.Tensors {
		if _, ok := ws[t.Name]; !ok {
			if i > 0 && h.Tensors[i-1].Layer == t.Layer {
				return nil, fmt.Errorf("alxw: layer %s is incomplete: tensor %q missing", t.Layer, t.Name)
			}
			break
		}
	}
	m.Partial = partialEnd(a, lastLayer)
	return m, nil
}

// partialEnd is the layer a partial model runs to when its weights end with layer: the
// parameter-free layers after it (pooling, LRN) run too, as engine.NewPartialModel does.
func partialEnd(a *engine.Arch, layer string) string {
	end, seen := layer, false
	for _, l := range a.Layers {
		if seen && l.Key != "" {
			break
		}
		if l.Name == layer {
			seen = true
		}
		if seen && l.Name != "" {
			end = l.Name
		}
	}
	return end
}

// checkArch looks up the header's architecture and checks that the tensors are exactly the
// ones it needs (up to Partial), with the right shapes, layers and order.
func (h *Header) checkArch() (*engine.Arch, error) {
	if h.Arch == HeadArch {
		return nil, fmt.Errorf("alxw: this file is a classifier head taught on %s, not a network's weights: give it with --head", h.headText())
	}
	a, err := engine.LookupArch(h.Arch)
	if err != nil {
		return nil, fmt.Errorf("alxw: %v", err)
	}
	specs, err := expectedParams(a, h.Partial)
	if err != nil {
		return nil, fmt.Errorf("alxw: %v", err)
	}
	for i, p := range specs {
		if i >= len(h.Tensors) {
			return nil, fmt.Errorf("alxw: weights for %s: missing tensor %q (shape %v)", a.Name, p.Name, p.Shape)
		}
		t := h.Tensors[i]
		if t.Name != p.Name {
			return nil, fmt.Errorf("alxw: weights for %s: tensor %d is %q, want %q (weights for another architecture?)", a.Name, i, t.Name, p.Name)
		}
		if !slices.Equal(t.Shape, p.Shape) {
			return nil, fmt.Errorf("alxw: weights for %s: tensor %q has shape %v, want %v (weights for another architecture?)", a.Name, t.Name, t.Shape, p.Shape)
		}
		if t.Layer != p.Layer {
			return nil, fmt.Errorf("alxw: tensor %q is in layer %q, want %q", t.Name, t.Layer, p.Layer)
		}
		if t.DType == DTypeInt8 && len(p.Shape) < 2 {
			return nil, fmt.Errorf("alxw: bias %q is int8; biases must be float32", t.Name)
		}
	}
	if len(h.Tensors) > len(specs) {
		return nil, fmt.Errorf("alxw: weights for %s (partial %q): unexpected tensor %q", a.Name, h.Partial, h.Tensors[len(specs)].Name)
	}
	return a, nil
}

// decodeTensor checks b against the tensor's hash (when verify is set) and converts it,
// sharing b's memory when alias is set and the layout allows.
func decodeTensor(arch string, t *TensorInfo, b []byte, verify, alias bool) (*engine.Weight, error) {
	if verify {
		sum := sha256.New()
		if t.DType == DTypeInt8 {
			sum.Write(scaleBytes(t.Scales))
		}
		sum.Write(b)
		if got := hex.EncodeToString(sum.Sum(nil)); got != t.SHA256 {
			return nil, fmt.Errorf("alxw: tensor %q fails its SHA-256 check (corrupt file or wrong byte range): got %.12s..., want %.12s...", t.Name, got, t.SHA256)
		}
	}
	w := &engine.Weight{Shape: append([]int(nil), t.Shape...)}
	if t.DType == DTypeInt8 {
		for _, s := range t.Scales {
			if !(s >= 0) || math.IsInf(float64(s), 0) {
				return nil, fmt.Errorf("alxw: weights for %s: int8 tensor %q has a scale %v (scales must be finite and >= 0)", arch, t.Name, s)
			}
		}
		w.Scale = append([]float32(nil), t.Scales...)
		if alias && len(b) > 0 {
			w.I8 = unsafe.Slice((*int8)(unsafe.Pointer(&b[0])), len(b))
			return w, nil
		}
		w.I8 = make([]int8, len(b))
		copy(int8Bytes(w.I8), b)
		return w, nil
	}
	if alias && littleEndian && len(b) >= 4 && uintptr(unsafe.Pointer(&b[0]))%4 == 0 {
		w.F32 = unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4)
		if i := firstNonFinite(w.F32); i >= 0 {
			return nil, fmt.Errorf("alxw: weights for %s: tensor %q holds NaN or infinite values (first at index %d)", arch, t.Name, i)
		}
		return w, nil
	}
	w.F32 = make([]float32, len(b)/4)
	if nonFinite := decodeF32(w.F32, b); nonFinite >= 0 {
		return nil, fmt.Errorf("alxw: weights for %s: tensor %q holds NaN or infinite values (first at index %d)", arch, t.Name, nonFinite)
	}
	return w, nil
}

// firstNonFinite is the index of the first NaN or infinity in x, or -1. A float32 is
// non-finite exactly when its exponent bits are all set.
func firstNonFinite(x []float32) int {
	for i, v := range x {
		if math.Float32bits(v)&0x7f800000 == 0x7f800000 {
			return i
		}
	}
	return -1
}

// littleEndian is true on every platform AlexLens targets (amd64, arm64, wasm); there the
// file's bytes are the memory image of the values and decoding is a copy.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// decodeF32 fills dst from little-endian bytes and returns the index of the first NaN or
// infinity, or -1. One pass: a float32 is non-finite exactly when its exponent bits are all set.
func decodeF32(dst []float32, src []byte) int {
	if littleEndian && len(dst) > 0 {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), 4*len(dst)), src)
		return firstNonFinite(dst)
	}
	for i := range dst {
		bits := binary.LittleEndian.Uint32(src[4*i:])
		if bits&0x7f800000 == 0x7f800000 {
			return i
		}
		dst[i] = math.Float32frombits(bits)
	}
	return -1
}

// int8Bytes views an int8 slice as bytes (same size and layout) for a plain copy.
func int8Bytes(x []int8) []byte {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), len(x))
}
