package pth

import (
	"encoding/binary"
	"math"
)

// dtype is a storage's element type. Only floating types become engine tensors; integer
// storages (num_batches_tracked and the like) are recognised so they can be skipped.
type dtype struct {
	name   string
	size   int64
	decode func(dst []float32, src []byte, order binary.ByteOrder) // nil: not a float type
}

var (
	float32Type = dtype{name: "float32", size: 4, decode: decodeFloat32}
	float16Type = dtype{name: "float16", size: 2, decode: decodeFloat16}
	// bfloat16 is the top half of a float32, so widening is a shift.
	bfloat16Type = dtype{name: "bfloat16", size: 2, decode: decodeBFloat16}
	float64Type  = dtype{name: "float64", size: 8, decode: decodeFloat64}
)

func (d dtype) isFloat() bool { return d.decode != nil }

func decodeFloat32(dst []float32, src []byte, order binary.ByteOrder) {
	src = src[:4*len(dst)]
	if order == binary.LittleEndian {
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
		return
	}
	for i := range dst {
		dst[i] = math.Float32frombits(order.Uint32(src[4*i:]))
	}
}

func decodeFloat64(dst []float32, src []byte, order binary.ByteOrder) {
	src = src[:8*len(dst)]
	for i := range dst {
		dst[i] = float32(math.Float64frombits(order.Uint64(src[8*i:])))
	}
}

func decodeBFloat16(dst []float32, src []byte, order binary.ByteOrder) {
	src = src[:2*len(dst)]
	for i := range dst {
		dst[i] = math.Float32frombits(uint32(order.Uint16(src[2*i:])) << 16)
	}
}

func decodeFloat16(dst []float32, src []byte, order binary.ByteOrder) {
	src = src[:2*len(dst)]
	for i := range dst {
		dst[i] = halfToFloat32(order.Uint16(src[2*i:]))
	}
}

// halfToFloat32 widens an IEEE 754 binary16 value exactly (every half is a float32).
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // infinity or NaN, keeping the payload
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp != 0: // normal: rebias the exponent from 15 to 127
		return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
	case frac == 0: // signed zero
		return math.Float32frombits(sign)
	}
	// Subnormal half: frac * 2^-24, exactly representable as a normal float32.
	v := float32(frac) * (1.0 / (1 << 24))
	if sign != 0 {
		v = -v
	}
	return v
}

// float32Bytes appends the little-endian bytes of xs to dst (for the writer).
func float32Bytes(dst []byte, xs []float32) []byte {
	for _, x := range xs {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(x))
	}
	return dst
}
