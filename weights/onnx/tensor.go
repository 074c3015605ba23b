package onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/alexlens/alexlens/engine"
)

// DataType is TensorProto.DataType.
type DataType int32

const (
	Undefined  DataType = 0
	Float      DataType = 1
	Uint8      DataType = 2
	Int8       DataType = 3
	Uint16     DataType = 4
	Int16      DataType = 5
	Int32      DataType = 6
	Int64      DataType = 7
	String     DataType = 8
	Bool       DataType = 9
	Float16    DataType = 10
	Double     DataType = 11
	Uint32     DataType = 12
	Uint64     DataType = 13
	Complex64  DataType = 14
	Complex128 DataType = 15
	BFloat16   DataType = 16
)

var dataTypeNames = [...]string{"UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32",
	"INT64", "STRING", "BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16"}

func (t DataType) String() string {
	if t >= 0 && int(t) < len(dataTypeNames) {
		return dataTypeNames[t]
	}
	return fmt.Sprintf("DataType(%d)", int32(t))
}

// size is the element size in raw_data, 0 for types this reader cannot hold as numbers.
func (t DataType) size() int {
	switch t {
	case Uint8, Int8, Bool:
		return 1
	case Uint16, Int16, Float16, BFloat16:
		return 2
	case Float, Int32, Uint32:
		return 4
	case Int64, Uint64, Double:
		return 8
	}
	return 0
}

// maxElements bounds a tensor's declared element count, so that a product of dims can
// neither overflow nor announce an absurd allocation; real data must match it anyway.
const maxElements = 1 << 40

// Tensor is a decoded TensorProto. Its data stays in the field it was stored in (raw_data
// aliases the input bytes, which the caller must not change); Float32s and Int64s convert.
type Tensor struct {
	Name     string
	Dims     []int64
	DataType DataType

	raw      []byte
	floats   []uint32 // float_data, as bits
	int32s   []int64  // int32_data (also holds uint8, int8, int16, uint16, bool, float16 bits)
	int64s   []int64  // int64_data
	doubles  []uint64 // double_data, as bits
	uint64s  []int64  // uint64_data, as bits
	strings  int      // string_data entries (counted, not kept)
	external bool
	hasRaw   bool
}

// NumElements is the product of the dims (1 for a scalar).
func (t *Tensor) NumElements() (int, error) {
	n := int64(1)
	for _, d := range t.Dims {
		if d < 0 {
			return 0, fmt.Errorf("tensor %q: negative dimension in %v", t.Name, t.Dims)
		}
		if d > 0 && n > maxElements/d {
			return 0, fmt.Errorf("tensor %q: dims %v hold more than 2^40 values", t.Name, t.Dims)
		}
		n *= d
	}
	return int(n), nil
}

// Shape is Dims as ints, checked.
func (t *Tensor) Shape() ([]int, error) {
	if _, err := t.NumElements(); err != nil {
		return nil, err
	}
	s := make([]int, len(t.Dims))
	for i, d := range t.Dims {
		s[i] = int(d)
	}
	return s, nil
}

func (d *decoder) tensor(p []byte) (*Tensor, error) {
	t := &Tensor{}
	r := buf{b: p}
	for !r.done() {
		f, wt, err := r.key()
		if err != nil {
			return nil, t.wrap(err)
		}
		switch f {
		case 1:
			t.Dims, err = r.appendVarints(t.Dims, "dims", wt)
		case 2:
			var v int64
			v, err = r.int64Field("data_type", wt)
			t.DataType = DataType(v)
		case 4:
			t.floats, err = r.appendFixed32(t.floats, "float_data", wt)
		case 5:
			t.int32s, err = r.appendVarints(t.int32s, "int32_data", wt)
		case 6:
			if _, err = r.messageField("string_data", wt); err == nil {
				t.strings++
			}
		case 7:
			t.int64s, err = r.appendVarints(t.int64s, "int64_data", wt)
		case 8:
			t.Name, err = r.stringField("name", wt)
		case 9:
			if t.raw, err = r.messageField("raw_data", wt); err == nil {
				t.hasRaw = true
			}
		case 10:
			t.doubles, err = r.appendFixed64(t.doubles, "double_data", wt)
		case 11:
			t.uint64s, err = r.appendVarints(t.uint64s, "uint64_data", wt)
		case 13:
			_, err = r.messageField("external_data", wt)
			t.external = true
		case 14:
			var loc int64
			loc, err = r.int64Field("data_location", wt)
			if loc == 1 {
				t.external = true
			}
		default: // segment (3), doc_string (12) and anything newer
			err = r.skip(wt)
		}
		if err != nil {
			return nil, t.wrap(err)
		}
	}
	if _, err := t.NumElements(); err != nil {
		return nil, err
	}
	// raw_data aliases the input; the decoded fields cost their size.
	values := len(t.Dims) + len(t.int32s) + len(t.int64s) + len(t.doubles) + len(t.uint64s)
	if err := d.charge(256 + len(t.Name) + 8*values + 4*len(t.floats)); err != nil {
		return nil, t.wrap(err)
	}
	return t, nil
}

func (t *Tensor) wrap(err error) error {
	if t.Name != "" {
		return fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	return fmt.Errorf("tensor: %w", err)
}

// stored is the number of values actually present and in which field; checked against
// the dims before any conversion allocates.
func (t *Tensor) stored() (n int, field string, err error) {
	if t.external {
		return 0, "", fmt.Errorf("tensor %q: data is stored in an external file, which this reader does not follow (save the model with all tensors inside it)", t.Name)
	}
	if t.DataType == String {
		return t.strings, "string_data", nil
	}
	if t.hasRaw {
		sz := t.DataType.size()
		if sz == 0 {
			return 0, "", fmt.Errorf("tensor %q: data type %v is not supported", t.Name, t.DataType)
		}
		if len(t.raw)%sz != 0 {
			return 0, "", fmt.Errorf("tensor %q: raw_data of %d bytes is not a whole number of %v values", t.Name, len(t.raw), t.DataType)
		}
		return len(t.raw) / sz, "raw_data", nil
	}
	switch t.DataType {
	case Float:
		return len(t.floats), "float_data", nil
	case Double:
		return len(t.doubles), "double_data", nil
	case Int64:
		return len(t.int64s), "int64_data", nil
	case Uint32, Uint64:
		return len(t.uint64s), "uint64_data", nil
	case Int32, Int16, Int8, Uint16, Uint8, Bool, Float16, BFloat16:
		return len(t.int32s), "int32_data", nil
	}
	return 0, "", fmt.Errorf("tensor %q: data type %v is not supported", t.Name, t.DataType)
}

// check verifies that the stored values match the dims.
func (t *Tensor) check() (int, error) {
	want, err := t.NumElements()
	if err != nil {
		return 0, err
	}
	have, field, err := t.stored()
	if err != nil {
		return 0, err
	}
	if have != want {
		return 0, fmt.Errorf("tensor %q: dims %v need %d values, %s holds %d", t.Name, t.Dims, want, field, have)
	}
	return want, nil
}

// Float32s returns the values as float32, converting from any numeric type (FLOAT is
// exact; DOUBLE and 64-bit integers round).
func (t *Tensor) Float32s() ([]float32, error) {
	if t.DataType.size() == 0 {
		return nil, fmt.Errorf("tensor %q: data type %v is not supported (numeric tensors only)", t.Name, t.DataType)
	}
	n, err := t.check()
	if err != nil {
		return nil, err
	}
	out := make([]float32, n)
	if t.hasRaw {
		raw := t.raw
		switch t.DataType {
		case Float:
			for i := range out {
				out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		case Double:
			for i := range out {
				out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])))
			}
		case Float16:
			for i := range out {
				out[i] = halfToFloat(binary.LittleEndian.Uint16(raw[2*i:]))
			}
		case BFloat16:
			for i := range out {
				out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*i:])) << 16)
			}
		default:
			ints, err := t.Int64s()
			if err != nil {
				return nil, err
			}
			for i, v := range ints {
				out[i] = float32(v)
			}
		}
		return out, nil
	}
	switch t.DataType {
	case Float:
		for i, b := range t.floats {
			out[i] = math.Float32frombits(b)
		}
	case Double:
		for i, b := range t.doubles {
			out[i] = float32(math.Float64frombits(b))
		}
	case Float16:
		for i, b := range t.int32s {
			out[i] = halfToFloat(uint16(b))
		}
	case BFloat16:
		for i, b := range t.int32s {
			out[i] = math.Float32frombits(uint32(uint16(b)) << 16)
		}
	case Uint64:
		for i, v := range t.uint64s {
			out[i] = float32(uint64(v))
		}
	default:
		ints, err := t.Int64s()
		if err != nil {
			return nil, err
		}
		for i, v := range ints {
			out[i] = float32(v)
		}
	}
	return out, nil
}

// Int64s returns the values of an integer or BOOL tensor.
func (t *Tensor) Int64s() ([]int64, error) {
	switch t.DataType {
	case Uint8, Int8, Uint16, Int16, Int32, Int64, Uint32, Uint64, Bool:
	default:
		return nil, fmt.Errorf("tensor %q: data type %v is not an integer type", t.Name, t.DataType)
	}
	n, err := t.check()
	if err != nil {
		return nil, err
	}
	out := make([]int64, n)
	if t.hasRaw {
		raw := t.raw
		for i := range out {
			switch t.DataType {
			case Uint8, Bool:
				out[i] = int64(raw[i])
			case Int8:
				out[i] = int64(int8(raw[i]))
			case Uint16:
				out[i] = int64(binary.LittleEndian.Uint16(raw[2*i:]))
			case Int16:
				out[i] = int64(int16(binary.LittleEndian.Uint16(raw[2*i:])))
			case Int32:
				out[i] = int64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
			case Uint32:
				out[i] = int64(binary.LittleEndian.Uint32(raw[4*i:]))
			case Int64, Uint64:
				out[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			}
		}
		return out, nil
	}
	switch t.DataType {
	case Int64:
		copy(out, t.int64s)
	case Uint32, Uint64:
		copy(out, t.uint64s)
	default:
		// int32_data holds the narrower types as int32 varints (negative ones sign-extended).
		for i, v := range t.int32s {
			out[i] = int64(int32(v))
		}
	}
	return out, nil
}

// Engine converts a numeric tensor to an engine tensor of the same shape.
func (t *Tensor) Engine() (*engine.Tensor, error) {
	shape, err := t.Shape()
	if err != nil {
		return nil, err
	}
	data, err := t.Float32s()
	if err != nil {
		return nil, err
	}
	return engine.FromData(data, shape...)
}

// halfToFloat converts IEEE 754 binary16 bits to float32.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := int32(h>>10) & 0x1f
	frac := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f: // inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | frac<<13)
	case exp == 0 && frac == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: value = frac * 2^-24
		v := float32(frac) * (1.0 / (1 << 24))
		if sign != 0 {
			return -v
		}
		return v
	}
	return math.Float32frombits(sign | uint32(exp-15+127)<<23 | frac<<13)
}
