package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
)

// The protobuf wire format, the small part of it ONNX files use. Every length read from the
// input is checked against the bytes that remain before anything is sliced or allocated, so
// a hostile file can make the decoder fail but never allocate more than the file's own size
// (times a small constant) or read out of bounds.

// Wire types.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireStartGr = 3 // deprecated groups: never written by ONNX tools, rejected
	wireEndGr   = 4
	wireFixed32 = 5
)

// maxDepth bounds message nesting (graphs inside attributes inside nodes inside graphs...),
// so that a file of nested empty messages cannot exhaust the stack.
const maxDepth = 32

// buf is a cursor over one message's bytes.
type buf struct {
	b   []byte
	off int
}

func (r *buf) done() bool { return r.off >= len(r.b) }

func (r *buf) varint() (uint64, error) {
	var v uint64
	for i := 0; i < 10; i++ {
		if r.off >= len(r.b) {
			return 0, errTruncated
		}
		c := r.b[r.off]
		r.off++
		if i == 9 && c > 1 {
			return 0, fmt.Errorf("varint overflows 64 bits")
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, nil
		}
	}
	return 0, fmt.Errorf("varint longer than 10 bytes")
}

var errTruncated = fmt.Errorf("unexpected end of data (truncated file?)")

// key reads a field key: its number and wire type.
func (r *buf) key() (field int, wt int, err error) {
	k, err := r.varint()
	if err != nil {
		return 0, 0, err
	}
	field, wt = int(k>>3), int(k&7)
	if field <= 0 || k>>3 > math.MaxInt32 {
		return 0, 0, fmt.Errorf("invalid field number %d", k>>3)
	}
	return field, wt, nil
}

// bytes reads a length-delimited payload, aliasing the input.
func (r *buf) bytes() ([]byte, error) {
	n, err := r.varint()
	if err != nil {
		return nil, err
	}
	if n > uint64(len(r.b)-r.off) {
		return nil, fmt.Errorf("length %d runs past the end of the data (%d bytes left)", n, len(r.b)-r.off)
	}
	p := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return p, nil
}

func (r *buf) fixed32() (uint32, error) {
	if len(r.b)-r.off < 4 {
		return 0, errTruncated
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v, nil
}

func (r *buf) fixed64() (uint64, error) {
	if len(r.b)-r.off < 8 {
		return 0, errTruncated
	}
	v := binary.LittleEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v, nil
}

// skip passes over a field this reader does not need.
func (r *buf) skip(wt int) error {
	var err error
	switch wt {
	case wireVarint:
		_, err = r.varint()
	case wireFixed64:
		_, err = r.fixed64()
	case wireBytes:
		_, err = r.bytes()
	case wireFixed32:
		_, err = r.fixed32()
	default:
		err = fmt.Errorf("unsupported wire type %d", wt)
	}
	return err
}

// wantWire checks a field's wire type against the schema.
func wantWire(name string, got, want int) error {
	if got != want {
		return fmt.Errorf("field %s has wire type %d, want %d (not an ONNX file?)", name, got, want)
	}
	return nil
}

// int64Field reads a scalar varint field (int64 / int32 / enum).
func (r *buf) int64Field(name string, wt int) (int64, error) {
	if err := wantWire(name, wt, wireVarint); err != nil {
		return 0, err
	}
	v, err := r.varint()
	return int64(v), err
}

// stringField reads a string or bytes field.
func (r *buf) stringField(name string, wt int) (string, error) {
	if err := wantWire(name, wt, wireBytes); err != nil {
		return "", err
	}
	p, err := r.bytes()
	return string(p), err
}

// messageField reads an embedded message's bytes.
func (r *buf) messageField(name string, wt int) ([]byte, error) {
	if err := wantWire(name, wt, wireBytes); err != nil {
		return nil, err
	}
	return r.bytes()
}

// appendVarints reads a repeated varint field, packed (one length-delimited run) or not
// (one value per key). The packed run is counted before the slice grows, so the allocation
// is bounded by the payload's size.
func (r *buf) appendVarints(dst []int64, name string, wt int) ([]int64, error) {
	switch wt {
	case wireVarint:
		v, err := r.varint()
		return append(dst, int64(v)), err
	case wireBytes:
		p, err := r.bytes()
		if err != nil {
			return dst, err
		}
		n := 0
		for _, c := range p {
			if c < 0x80 {
				n++
			}
		}
		dst = growInt64(dst, n)
		pr := buf{b: p}
		for !pr.done() {
			v, err := pr.varint()
			if err != nil {
				return dst, fmt.Errorf("packed field %s: %w", name, err)
			}
			dst = append(dst, int64(v))
		}
		return dst, nil
	}
	return dst, fmt.Errorf("field %s has wire type %d, want a varint or packed run", name, wt)
}

// appendFixed32 reads a repeated fixed32 field (float) as raw bits, packed or not.
func (r *buf) appendFixed32(dst []uint32, name string, wt int) ([]uint32, error) {
	switch wt {
	case wireFixed32:
		v, err := r.fixed32()
		return append(dst, v), err
	case wireBytes:
		p, err := r.bytes()
		if err != nil {
			return dst, err
		}
		if len(p)%4 != 0 {
			return dst, fmt.Errorf("packed field %s: %d bytes is not a whole number of 4-byte values", name, len(p))
		}
		if dst == nil {
			dst = make([]uint32, 0, len(p)/4)
		}
		for i := 0; i < len(p); i += 4 {
			dst = append(dst, binary.LittleEndian.Uint32(p[i:]))
		}
		return dst, nil
	}
	return dst, fmt.Errorf("field %s has wire type %d, want fixed32 or a packed run", name, wt)
}

// appendFixed64 reads a repeated fixed64 field (double, uint64 stored fixed) as raw bits.
func (r *buf) appendFixed64(dst []uint64, name string, wt int) ([]uint64, error) {
	switch wt {
	case wireFixed64:
		v, err := r.fixed64()
		return append(dst, v), err
	case wireBytes:
		p, err := r.bytes()
		if err != nil {
			return dst, err
		}
		if len(p)%8 != 0 {
			return dst, fmt.Errorf("packed field %s: %d bytes is not a whole number of 8-byte values", name, len(p))
		}
		if dst == nil {
			dst = make([]uint64, 0, len(p)/8)
		}
		for i := 0; i < len(p); i += 8 {
			dst = append(dst, binary.LittleEndian.Uint64(p[i:]))
		}
		return dst, nil
	}
	return dst, fmt.Errorf("field %s has wire type %d, want fixed64 or a packed run", name, wt)
}

func growInt64(dst []int64, n int) []int64 {
	if cap(dst)-len(dst) >= n {
		return dst
	}
	out := make([]int64, len(dst), len(dst)+n)
	copy(out, dst)
	return out
}
