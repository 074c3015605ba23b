package weights

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/alexlens/alexlens/engine"
)

// Encode writes m in the .alxw format. Tensors go in the architecture's parameter order, so
// each layer is one contiguous range. The output depends only on the model and source (no
// time stamps), so the same weights always give the same file and the same content hash.
func Encode(w io.Writer, m *engine.Model, source string) error {
	if err := checkModel(m); err != nil {
		return err
	}
	return encode(w, m, source)
}

// encode writes without checking values, so tests can build files with NaNs in them.
func encode(w io.Writer, m *engine.Model, source string) error {
	specs, err := expectedParams(m.Arch, m.Partial)
	if err != nil {
		return err
	}
	h := &Header{Version: Version, Arch: m.Arch.Name, Fixture: m.Fixture, Source: source, Precision: m.Precision(), Partial: m.Partial}
	for _, p := range specs {
		t, err := tensorInfo(p.Name, p.Layer, m.Params[p.Name])
		if err != nil {
			return err
		}
		h.Tensors = append(h.Tensors, t)
	}
	return writeFile(w, h, m.Params)
}

// writeFile lays out h (its tensors' lengths and hashes set) and writes the file: the
// prefix, the header, then each tensor of params on its boundary.
func writeFile(w io.Writer, h *Header, params map[string]*engine.Weight) error {
	js, err := h.layout()
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	var prefix [prefixBytes]byte
	copy(prefix[:], Magic)
	binary.LittleEndian.PutUint32(prefix[4:], Version)
	binary.LittleEndian.PutUint32(prefix[8:], uint32(len(js)))
	bw.Write(prefix[:])
	bw.Write(js)
	pos := int64(prefixBytes + len(js))
	for i := range h.Tensors {
		t := &h.Tensors[i]
		bw.Write(make([]byte, t.Offset-pos))
		if err := writeTensor(bw, t, params[t.Name], false); err != nil {
			return err
		}
		pos = t.Offset + t.Length
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("alxw: writing: %w", err)
	}
	return nil
}

// tensorInfo describes one tensor, with its length and hash (offsets come from layout).
func tensorInfo(name, layer string, wt *engine.Weight) (TensorInfo, error) {
	t := TensorInfo{Name: name, Layer: layer, Shape: append([]int(nil), wt.Shape...), DType: DTypeF32, Length: 4 * int64(len(wt.F32))}
	if wt.Quantized() {
		t.DType, t.Scales, t.Length = DTypeInt8, wt.Scale, int64(len(wt.I8))
	}
	sum := sha256.New()
	if err := writeTensor(sum, &t, wt, true); err != nil {
		return TensorInfo{}, err
	}
	t.SHA256 = hex.EncodeToString(sum.Sum(nil))
	return t, nil
}

// layout assigns offsets and returns the header JSON. The offsets are written in the header,
// so its length depends on them: iterate until the data offset stops moving (two rounds in
// practice, since offsets only grow and their digit counts settle at once).
func (h *Header) layout() ([]byte, error) {
	h.DataOffset = align(prefixBytes + 1)
	for range 16 {
		off := h.DataOffset
		for i := range h.Tensors {
			h.Tensors[i].Offset = off
			off = align(off + h.Tensors[i].Length)
		}
		last := h.Tensors[len(h.Tensors)-1]
		h.FileBytes = last.Offset + last.Length
		h.Layers = layerRanges(h.Tensors)
		js, err := json.Marshal(h.toWire())
		if err != nil {
			return nil, fmt.Errorf("alxw: encoding header: %w", err)
		}
		if len(js) > MaxHeaderBytes {
			return nil, fmt.Errorf("alxw: header would be %d bytes, more than %d (source text too long?)", len(js), MaxHeaderBytes)
		}
		h.HeaderLen = int64(len(js))
		if want := align(prefixBytes + h.HeaderLen); want != h.DataOffset {
			h.DataOffset = want
			continue
		}
		return js, nil
	}
	return nil, errors.New("alxw: header layout did not settle")
}

// writeTensor writes the tensor's bytes in little-endian order through a fixed buffer. The
// hash of an int8 tensor covers its scales first (withScales), as they live in the header.
func writeTensor(w io.Writer, t *TensorInfo, wt *engine.Weight, withScales bool) error {
	if withScales && t.DType == DTypeInt8 {
		w.Write(scaleBytes(t.Scales))
	}
	var buf [1 << 14]byte
	if t.DType == DTypeInt8 {
		for i := 0; i < len(wt.I8); i += len(buf) {
			chunk := wt.I8[i:min(i+len(buf), len(wt.I8))]
			for j, v := range chunk {
				buf[j] = byte(v)
			}
			if _, err := w.Write(buf[:len(chunk)]); err != nil {
				return fmt.Errorf("alxw: writing %s: %w", t.Name, err)
			}
		}
		return nil
	}
	const per = len(buf) / 4
	for i := 0; i < len(wt.F32); i += per {
		chunk := wt.F32[i:min(i+per, len(wt.F32))]
		for j, v := range chunk {
			binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(v))
		}
		if _, err := w.Write(buf[:4*len(chunk)]); err != nil {
			return fmt.Errorf("alxw: writing %s: %w", t.Name, err)
		}
	}
	return nil
}

// expectedParams lists the parameters a (possibly partial) model of a holds, in file order:
// all of them, or those of the layers up to and including partial.
func expectedParams(a *engine.Arch, partial string) ([]engine.ParamSpec, error) {
	all := a.Params()
	if partial == "" {
		return all, nil
	}
	names := a.LayerNames()
	end := -1
	for i, n := range names {
		if n == partial {
			end = i
		}
	}
	if end < 0 {
		return nil, fmt.Errorf("%s has no layer %q to end partial weights at (layers: %v)", a.Name, partial, names)
	}
	covered := map[string]bool{}
	for _, n := range names[:end+1] {
		covered[n] = true
	}
	var ps []engine.ParamSpec
	for _, p := range all {
		if covered[p.Layer] {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("%s: layers up to %q have no parameters", a.Name, partial)
	}
	return ps, nil
}

// checkModel checks a model against its architecture before it is written: the exact set of
// parameters, their shapes, consistent int8 scales and finite values.
func checkModel(m *engine.Model) error {
	if m == nil || m.Arch == nil {
		return errors.New("alxw: model has no architecture")
	}
	specs, err := expectedParams(m.Arch, m.Partial)
	if err != nil {
		return err
	}
	for _, p := range specs {
		w, ok := m.Params[p.Name]
		if !ok || w == nil {
			return fmt.Errorf("weights for %s: missing tensor %q (shape %v)", m.Arch.Name, p.Name, p.Shape)
		}
		if err := checkWeight(m.Arch.Name, p, w); err != nil {
			return err
		}
	}
	if len(m.Params) != len(specs) {
		want := map[string]bool{}
		for _, p := range specs {
			want[p.Name] = true
		}
		for k := range m.Params {
			if !want[k] {
				return fmt.Errorf("weights for %s: unexpected tensor %q (partial %q)", m.Arch.Name, k, m.Partial)
			}
		}
	}
	return nil
}

func checkWeight(arch string, p engine.ParamSpec, w *engine.Weight) error {
	if !slices.Equal(w.Shape, p.Shape) {
		return fmt.Errorf("weights for %s: tensor %q has shape %v, want %v (weights for another architecture?)", arch, p.Name, w.Shape, p.Shape)
	}
	n, _ := numel(p.Shape)
	if !w.Quantized() {
		if int64(len(w.F32)) != n {
			return fmt.Errorf("weights for %s: tensor %q has %d values, shape %v needs %d", arch, p.Name, len(w.F32), p.Shape, n)
		}
		if engine.HasNaN(w.F32) {
			return fmt.Errorf("weights for %s: tensor %q holds NaN or infinite values", arch, p.Name)
		}
		return nil
	}
	if len(p.Shape) < 2 {
		return fmt.Errorf("weights for %s: bias %q is int8; biases must be float32", arch, p.Name)
	}
	if int64(len(w.I8)) != n || len(w.Scale) != p.Shape[0] {
		return fmt.Errorf("weights for %s: int8 tensor %q has %d values and %d scales, want %d and %d", arch, p.Name, len(w.I8), len(w.Scale), n, p.Shape[0])
	}
	for _, s := range w.Scale {
		if !(s >= 0) || math.IsInf(float64(s), 0) {
			return fmt.Errorf("weights for %s: int8 tensor %q has a scale %v (scales must be finite and >= 0)", arch, p.Name, s)
		}
	}
	return nil
}
