package cpukernel

import (
	"encoding/binary"
	"math"
)

// A minimal WebAssembly binary writer: the module layout (one imported memory, exported
// functions) and the instructions the kernels use, with their opcodes from the core and
// fixed-width SIMD specifications. Instructions are written in stack (postfix) order.

type valType byte

const (
	i32T  valType = 0x7F
	f32T  valType = 0x7D
	v128T valType = 0x7B
)

func appendULEB(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendSLEB(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// fn is one function being written: its signature (i32 parameters, no results), its
// locals and its body.
type fn struct {
	name    string
	nParams int
	locals  []valType // after the parameters
	code    []byte
}

func newFn(name string, params ...*int) *fn {
	f := &fn{name: name, nParams: len(params)}
	for i, p := range params {
		*p = i
	}
	return f
}

// local declares a local of type t and returns its index.
func (f *fn) local(t valType) int {
	f.locals = append(f.locals, t)
	return f.nParams + len(f.locals) - 1
}

func (f *fn) op(b ...byte) *fn { f.code = append(f.code, b...); return f }

func (f *fn) get(l int) *fn { f.code = appendULEB(append(f.code, 0x20), uint64(l)); return f }
func (f *fn) set(l int) *fn { f.code = appendULEB(append(f.code, 0x21), uint64(l)); return f }
func (f *fn) i32(v int32) *fn {
	f.code = appendSLEB(append(f.code, 0x41), int64(v))
	return f
}
func (f *fn) f32(v float32) *fn {
	f.code = binary.LittleEndian.AppendUint32(append(f.code, 0x43), math.Float32bits(v))
	return f
}

// Structured control. Branch depths count enclosing blocks outward from 0.
func (f *fn) block() *fn         { return f.op(0x02, 0x40) }
func (f *fn) loop() *fn          { return f.op(0x03, 0x40) }
func (f *fn) ifThen() *fn        { return f.op(0x04, 0x40) }
func (f *fn) elseDo() *fn        { return f.op(0x05) }
func (f *fn) end() *fn           { return f.op(0x0B) }
func (f *fn) br(depth int) *fn   { return f.op(0x0C, byte(depth)) }
func (f *fn) brIf(depth int) *fn { return f.op(0x0D, byte(depth)) }
func (f *fn) sel() *fn           { return f.op(0x1B) }

// i32 arithmetic and comparisons.
func (f *fn) add() *fn { return f.op(0x6A) }
func (f *fn) sub() *fn { return f.op(0x6B) }
func (f *fn) mul() *fn { return f.op(0x6C) }
func (f *fn) eqz() *fn { return f.op(0x45) }
func (f *fn) eq() *fn  { return f.op(0x46) }
func (f *fn) ne() *fn  { return f.op(0x47) }
func (f *fn) ltS() *fn { return f.op(0x48) }
func (f *fn) gtS() *fn { return f.op(0x4A) }
func (f *fn) geS() *fn { return f.op(0x4E) }
func (f *fn) leS() *fn { return f.op(0x4C) }
func (f *fn) and() *fn { return f.op(0x71) }
func (f *fn) shr() *fn { return f.op(0x76) } // i32.shr_u
func (f *fn) inc(l int, by int32) *fn {
	return f.get(l).i32(by).add().set(l)
}

// Memory access with a constant offset; the alignment hint is 0 (byte), since panels are
// only 4-byte aligned and the hint never changes results.
func (f *fn) mem(opcode byte, offset int) *fn {
	return f.op(opcode, 0).opULEB(uint64(offset))
}
func (f *fn) opULEB(v uint64) *fn { f.code = appendULEB(f.code, v); return f }
func (f *fn) simd(opcode uint32) *fn {
	f.code = appendULEB(append(f.code, 0xFD), uint64(opcode))
	return f
}
func (f *fn) simdMem(opcode uint32, offset int) *fn {
	return f.simd(opcode).op(0).opULEB(uint64(offset))
}

func (f *fn) f32Load(off int) *fn   { return f.mem(0x2A, off) }
func (f *fn) f32Store(off int) *fn  { return f.mem(0x38, off) }
func (f *fn) i32Load8S(off int) *fn { return f.mem(0x2C, off) }
func (f *fn) f32Add() *fn           { return f.op(0x92) }
func (f *fn) f32Mul() *fn           { return f.op(0x94) }
func (f *fn) f32Max() *fn           { return f.op(0x97) }
func (f *fn) f32FromI32() *fn       { return f.op(0xB2) } // f32.convert_i32_s

// Fixed-width SIMD.
func (f *fn) v128Load(off int) *fn    { return f.simdMem(0x00, off) }
func (f *fn) v128Splat32(off int) *fn { return f.simdMem(0x09, off) } // v128.load32_splat
func (f *fn) v128Store(off int) *fn   { return f.simdMem(0x0B, off) }
func (f *fn) v128Zero() *fn           { return f.simd(0x0C).op(make([]byte, 16)...) }
func (f *fn) f32x4Splat() *fn         { return f.simd(0x13) }
func (f *fn) f32x4Lane(i byte) *fn    { return f.simd(0x1F).op(i) }

// shuffle32 picks four 32-bit lanes from two vectors (0-3 the first, 4-7 the second).
func (f *fn) shuffle32(l0, l1, l2, l3 byte) *fn {
	f.simd(0x0D)
	for _, l := range []byte{l0, l1, l2, l3} {
		f.op(4*l, 4*l+1, 4*l+2, 4*l+3)
	}
	return f
}
func (f *fn) f32x4Add() *fn       { return f.simd(0xE4) }
func (f *fn) f32x4Sub() *fn       { return f.simd(0xE5) }
func (f *fn) f32x4Mul() *fn       { return f.simd(0xE6) }
func (f *fn) f32x4Max() *fn       { return f.simd(0xE9) }
func (f *fn) i16x8FromI8Lo() *fn  { return f.simd(0x87) } // i16x8.extend_low_i8x16_s
func (f *fn) i16x8FromI8Hi() *fn  { return f.simd(0x88) }
func (f *fn) i32x4FromI16Lo() *fn { return f.simd(0xA7) } // i32x4.extend_low_i16x8_s
func (f *fn) i32x4FromI16Hi() *fn { return f.simd(0xA8) }
func (f *fn) f32x4FromI32() *fn   { return f.simd(0xFA) } // f32x4.convert_i32x4_s

// module assembles functions into a module that imports its memory as env.mem (the Go
// program's own) and exports every function by name (and names it in a name section).
func module(shared bool, fns ...*fn) []byte {
	b := []byte{0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00}
	section := func(id byte, body []byte) {
		b = appendULEB(append(b, id), uint64(len(body)))
		b = append(b, body...)
	}
	name := func(s []byte, n string) []byte {
		return append(appendULEB(s, uint64(len(n))), n...)
	}

	// One type per function: n i32 parameters, no results.
	var types []byte
	types = appendULEB(types, uint64(len(fns)))
	for _, f := range fns {
		types = appendULEB(append(types, 0x60), uint64(f.nParams))
		for range f.nParams {
			types = append(types, byte(i32T))
		}
		types = append(types, 0)
	}
	section(1, types)

	imports := appendULEB(nil, 1)
	imports = name(name(imports, "env"), "mem")
	if shared {
		imports = append(imports, 0x02, 0x03, 0x01, 0x80, 0x80, 0x04) // memory: shared, min 1, max 65536 pages
	} else {
		imports = append(imports, 0x02, 0x00, 0x01) // memory, limits: min 1 page, no maximum
	}
	section(2, imports)

	funcs := appendULEB(nil, uint64(len(fns)))
	for i := range fns {
		funcs = appendULEB(funcs, uint64(i))
	}
	section(3, funcs)

	exports := appendULEB(nil, uint64(len(fns)))
	for i, f := range fns {
		exports = appendULEB(append(name(exports, f.name), 0x00), uint64(i))
	}
	section(7, exports)

	code := appendULEB(nil, uint64(len(fns)))
	for _, f := range fns {
		var body []byte
		body = appendULEB(body, uint64(len(f.locals)))
		for _, t := range f.locals { // one run per local: simple, and modules stay small
			body = append(appendULEB(body, 1), byte(t))
		}
		body = append(append(body, f.code...), 0x0B)
		code = append(appendULEB(code, uint64(len(body))), body...)
	}
	section(10, code)

	// The name section (custom, "name", function names): profilers and DevTools then show
	// gemm or wino_in instead of wasm-function[0].
	names := appendULEB(nil, uint64(len(fns)))
	for i, f := range fns {
		names = name(appendULEB(names, uint64(i)), f.name)
	}
	custom := name(nil, "name")
	custom = appendULEB(append(custom, 1), uint64(len(names)))
	section(0, append(custom, names...))
	return b
}
