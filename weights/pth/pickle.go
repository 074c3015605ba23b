package pth

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// This file is a restricted unpickler: it understands the opcodes torch.save emits for a
// state_dict (pickle protocols 2 to 5) and nothing else. It never imports or calls
// anything; the few "globals" a state_dict needs (OrderedDict, the tensor rebuild
// functions, the storage classes) are recognised by name and interpreted here.
// Anything else, os.system included, is refused with an error naming it.

// Limits that keep a hostile pickle from costing much memory or time. Every push also
// consumes at least one byte of input, so the input size bounds the work as well.
const (
	maxStack     = 1 << 20 // values on the stack
	maxMarkDepth = 1 << 12 // nested MARKs (tuples inside tuples...)
	maxMemo      = 1 << 20 // memo entries
)

// pickle values: nil (None), bool, int64, float64, string, []byte, tuple, *list, *dict,
// global, *storageRef, *tensorRef. MARK positions live apart, in unpickler.marks.
type (
	tuple []any
	list  struct{ items []any }
	// dict keeps insertion order (state_dicts are OrderedDicts and order is meaningful).
	dict struct {
		keys  []any
		vals  []any
		index map[string]int // position of each string key, for replacement on re-set
	}
	global struct{ module, name string }
)

func newDict() *dict { return &dict{index: map[string]int{}} }

func (d *dict) set(k, v any) {
	if s, ok := k.(string); ok {
		if i, ok := d.index[s]; ok {
			d.vals[i] = v
			return
		}
		d.index[s] = len(d.keys)
	}
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
}

func (d *dict) get(k string) (any, bool) {
	i, ok := d.index[k]
	if !ok {
		return nil, false
	}
	return d.vals[i], true
}

func (g global) String() string { return g.module + "." + g.name }

// storageTypes maps the storage classes torch.save names in persistent ids to their
// element types.
var storageTypes = map[string]dtype{
	"FloatStorage":    float32Type,
	"HalfStorage":     float16Type,
	"BFloat16Storage": bfloat16Type,
	"DoubleStorage":   float64Type,
	"LongStorage":     {name: "int64", size: 8},
	"IntStorage":      {name: "int32", size: 4},
	"ShortStorage":    {name: "int16", size: 2},
	"CharStorage":     {name: "int8", size: 1},
	"ByteStorage":     {name: "uint8", size: 1},
	"BoolStorage":     {name: "bool", size: 1},
}

// allowedGlobal reports whether a GLOBAL may be pushed. Only names with a meaning below
// are allowed; the error says what a file asked for so a user can tell an attack from an
// unusual but honest file.
func allowedGlobal(g global) error {
	switch g.String() {
	case "collections.OrderedDict",
		"torch._utils._rebuild_tensor_v2",
		"torch._utils._rebuild_parameter",
		"torch._utils._rebuild_parameter_with_state":
		return nil
	}
	if g.module == "torch" {
		if _, ok := storageTypes[g.name]; ok {
			return nil
		}
	}
	return fmt.Errorf("pth: the pickle refers to %s, which a state_dict never needs; refusing to load it (only OrderedDict, tensor rebuilding and storage types are allowed)", g)
}

// storageRef is what a persistent id ('storage', FloatStorage, key, location, numel)
// turns into: a pointer to the zip entry data/<key>.
type storageRef struct {
	dtype dtype
	key   string
	numel int64
}

// tensorRef is a tensor as _rebuild_tensor_v2 describes it: a view into a storage.
type tensorRef struct {
	storage *storageRef
	offset  int64
	shape   []int64
	stride  []int64
}

// unpickler runs the pickle machine over an in-memory program.
type unpickler struct {
	data  []byte
	pos   int
	stack []any
	marks []int // stack heights at each MARK
	memo  map[uint32]any
	// persistentLoad turns a persistent id into a value (a storage reference).
	persistentLoad func(pid any) (any, error)
}

func (u *unpickler) errorf(format string, args ...any) error {
	return fmt.Errorf("pth: pickle byte %d: %s", u.pos, fmt.Sprintf(format, args...))
}

func (u *unpickler) take(n int) ([]byte, error) {
	if n < 0 || n > len(u.data)-u.pos {
		return nil, u.errorf("wants %d bytes, only %d left (truncated or corrupt pickle)", n, len(u.data)-u.pos)
	}
	b := u.data[u.pos : u.pos+n]
	u.pos += n
	return b, nil
}

// takeLen reads a length field of size bytes (1, 4 or 8) and then that many bytes.
func (u *unpickler) takeLen(size int) ([]byte, error) {
	b, err := u.take(size)
	if err != nil {
		return nil, err
	}
	var n uint64
	switch size {
	case 1:
		n = uint64(b[0])
	case 4:
		n = uint64(binary.LittleEndian.Uint32(b))
	case 8:
		n = binary.LittleEndian.Uint64(b)
	}
	if n > uint64(len(u.data)-u.pos) {
		return nil, u.errorf("length %d runs past the end of the pickle (%d bytes left)", n, len(u.data)-u.pos)
	}
	return u.take(int(n))
}

func (u *unpickler) push(v any) error {
	if len(u.stack) >= maxStack {
		return u.errorf("stack deeper than %d values", maxStack)
	}
	u.stack = append(u.stack, v)
	return nil
}

func (u *unpickler) pop() (any, error) {
	floor := 0
	if len(u.marks) > 0 {
		floor = u.marks[len(u.marks)-1]
	}
	if len(u.stack) <= floor {
		return nil, u.errorf("stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	floor := 0
	if len(u.marks) > 0 {
		floor = u.marks[len(u.marks)-1]
	}
	if len(u.stack) <= floor {
		return nil, u.errorf("stack underflow")
	}
	return u.stack[len(u.stack)-1], nil
}

// popMark returns the values pushed since the last MARK and removes them with the mark.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, u.errorf("no MARK to pop to")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) put(idx uint32) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	if _, ok := u.memo[idx]; !ok && len(u.memo) >= maxMemo {
		return u.errorf("memo larger than %d entries", maxMemo)
	}
	u.memo[idx] = v
	return nil
}

func (u *unpickler) get(idx uint32) error {
	v, ok := u.memo[idx]
	if !ok {
		return u.errorf("memo entry %d is not set", idx)
	}
	return u.push(v)
}

// hashable reports whether v may be a dict key: lists and dicts may not, as in Python.
// Tuples are not searched for them: through the memo, a short pickle can nest tuples
// exponentially deep, and keys are only ever compared when they are strings.
func hashable(v any) bool {
	switch v.(type) {
	case *list, *dict:
		return false
	}
	return true
}

// describe prints a pickle value briefly for error messages. It stops after a few dozen
// characters: a value built from the memo can be exponentially larger than the pickle.
func describe(v any) string {
	var b strings.Builder
	describeTo(&b, v, 0)
	if b.Len() > maxDescribe {
		return b.String()[:maxDescribe] + "..."
	}
	return b.String()
}

const maxDescribe = 80

func describeTo(b *strings.Builder, v any, depth int) {
	if b.Len() > maxDescribe {
		return
	}
	switch v := v.(type) {
	case nil:
		b.WriteString("None")
	case string:
		if len(v) > maxDescribe {
			v = v[:maxDescribe]
		}
		fmt.Fprintf(b, "%q", v)
	case []byte:
		fmt.Fprintf(b, "bytes(%d)", len(v))
	case tuple:
		if depth > 3 {
			b.WriteString("(...)")
			return
		}
		b.WriteByte('(')
		for i, x := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			if b.Len() > maxDescribe {
				break
			}
			describeTo(b, x, depth+1)
		}
		b.WriteByte(')')
	case *list:
		fmt.Fprintf(b, "list(%d items)", len(v.items))
	case *dict:
		fmt.Fprintf(b, "dict(%d items)", len(v.keys))
	case global:
		b.WriteString(v.String())
	case *storageRef:
		fmt.Fprintf(b, "storage %q", v.key)
	case *tensorRef:
		b.WriteString("tensor")
	default: // bool, int64, float64
		fmt.Fprint(b, v)
	}
}

// run executes the pickle program and returns the value STOP leaves.
func (u *unpickler) run() (any, error) {
	if u.memo == nil {
		u.memo = map[uint32]any{}
	}
	for {
		if u.pos >= len(u.data) {
			return nil, u.errorf("pickle ends without STOP (truncated)")
		}
		op := u.data[u.pos]
		u.pos++
		if err := u.step(op); err != nil {
			if err == errStop {
				v, err := u.pop()
				if err != nil {
					return nil, err
				}
				if len(u.marks) != 0 || len(u.stack) != 0 {
					return nil, u.errorf("STOP with %d values and %d marks left over", len(u.stack), len(u.marks))
				}
				return v, nil
			}
			return nil, err
		}
	}
}

var errStop = fmt.Errorf("stop")

func (u *unpickler) step(op byte) error {
	switch op {
	case '\x80': // PROTO
		b, err := u.take(1)
		if err != nil {
			return err
		}
		if b[0] < 2 || b[0] > 5 {
			return u.errorf("pickle protocol %d not supported (torch.save writes 2)", b[0])
		}
		return nil
	case '\x95': // FRAME: an 8-byte length hint, nothing to do
		_, err := u.take(8)
		return err
	case '.': // STOP
		return errStop
	case '(': // MARK
		if len(u.marks) >= maxMarkDepth {
			return u.errorf("MARKs nested deeper than %d", maxMarkDepth)
		}
		u.marks = append(u.marks, len(u.stack))
		return nil
	case '0': // POP
		if len(u.marks) > 0 && len(u.stack) == u.marks[len(u.marks)-1] {
			u.marks = u.marks[:len(u.marks)-1] // POP of an empty mark drops the mark
			return nil
		}
		_, err := u.pop()
		return err
	case '1': // POP_MARK
		_, err := u.popMark()
		return err
	case '2': // DUP
		v, err := u.top()
		if err != nil {
			return err
		}
		return u.push(v)

	case 'N': // NONE
		return u.push(nil)
	case '\x88': // NEWTRUE
		return u.push(true)
	case '\x89': // NEWFALSE
		return u.push(false)
	case 'K': // BININT1
		b, err := u.take(1)
		if err != nil {
			return err
		}
		return u.push(int64(b[0]))
	case 'M': // BININT2
		b, err := u.take(2)
		if err != nil {
			return err
		}
		return u.push(int64(binary.LittleEndian.Uint16(b)))
	case 'J': // BININT (signed 32-bit)
		b, err := u.take(4)
		if err != nil {
			return err
		}
		return u.push(int64(int32(binary.LittleEndian.Uint32(b))))
	case '\x8a': // LONG1: little-endian two's complement of n bytes
		b, err := u.takeLen(1)
		if err != nil {
			return err
		}
		v, err := u.long(b)
		if err != nil {
			return err
		}
		return u.push(v)
	case '\x8b': // LONG4
		b, err := u.takeLen(4)
		if err != nil {
			return err
		}
		v, err := u.long(b)
		if err != nil {
			return err
		}
		return u.push(v)
	case 'G': // BINFLOAT (big-endian float64)
		b, err := u.take(8)
		if err != nil {
			return err
		}
		return u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))

	case 'X': // BINUNICODE
		return u.pushString(4)
	case '\x8c': // SHORT_BINUNICODE
		return u.pushString(1)
	case '\x8d': // BINUNICODE8
		return u.pushString(8)
	case 'C': // SHORT_BINBYTES
		return u.pushBytes(1)
	case 'B': // BINBYTES
		return u.pushBytes(4)
	case '\x8e': // BINBYTES8
		return u.pushBytes(8)
	case 'U': // SHORT_BINSTRING (Python 2 str, read as text)
		b, err := u.takeLen(1)
		if err != nil {
			return err
		}
		return u.push(string(b))
	case 'T': // BINSTRING
		b, err := u.takeLen(4)
		if err != nil {
			return err
		}
		return u.push(string(b))

	case ')': // EMPTY_TUPLE
		return u.push(tuple{})
	case '\x85', '\x86', '\x87': // TUPLE1, TUPLE2, TUPLE3
		n := int(op-'\x85') + 1
		floor := 0
		if len(u.marks) > 0 {
			floor = u.marks[len(u.marks)-1]
		}
		if len(u.stack)-floor < n {
			return u.errorf("TUPLE%d with %d values on the stack", n, len(u.stack)-floor)
		}
		t := append(tuple(nil), u.stack[len(u.stack)-n:]...)
		u.stack = u.stack[:len(u.stack)-n]
		return u.push(t)
	case 't': // TUPLE
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.push(tuple(items))
	case ']': // EMPTY_LIST
		return u.push(&list{})
	case 'l': // LIST
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.push(&list{items: items})
	case 'a': // APPEND
		v, err := u.pop()
		if err != nil {
			return err
		}
		return u.appendTo([]any{v})
	case 'e': // APPENDS
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.appendTo(items)
	case '}': // EMPTY_DICT
		return u.push(newDict())
	case 'd': // DICT
		items, err := u.popMark()
		if err != nil {
			return err
		}
		d := newDict()
		if err := u.setItems(d, items); err != nil {
			return err
		}
		return u.push(d)
	case 's': // SETITEM
		v, err := u.pop()
		if err != nil {
			return err
		}
		k, err := u.pop()
		if err != nil {
			return err
		}
		return u.setInto([]any{k, v})
	case 'u': // SETITEMS
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.setInto(items)

	case 'q': // BINPUT
		b, err := u.take(1)
		if err != nil {
			return err
		}
		return u.put(uint32(b[0]))
	case 'r': // LONG_BINPUT
		b, err := u.take(4)
		if err != nil {
			return err
		}
		return u.put(binary.LittleEndian.Uint32(b))
	case '\x94': // MEMOIZE
		return u.put(uint32(len(u.memo)))
	case 'h': // BINGET
		b, err := u.take(1)
		if err != nil {
			return err
		}
		return u.get(uint32(b[0]))
	case 'j': // LONG_BINGET
		b, err := u.take(4)
		if err != nil {
			return err
		}
		return u.get(binary.LittleEndian.Uint32(b))

	case 'c': // GLOBAL "module\nname\n"
		module, err := u.line()
		if err != nil {
			return err
		}
		name, err := u.line()
		if err != nil {
			return err
		}
		return u.pushGlobal(global{module, name})
	case '\x93': // STACK_GLOBAL
		name, err := u.pop()
		if err != nil {
			return err
		}
		module, err := u.pop()
		if err != nil {
			return err
		}
		m, ok1 := module.(string)
		n, ok2 := name.(string)
		if !ok1 || !ok2 {
			return u.errorf("STACK_GLOBAL wants two strings")
		}
		return u.pushGlobal(global{m, n})
	case 'R': // REDUCE
		args, err := u.pop()
		if err != nil {
			return err
		}
		fn, err := u.pop()
		if err != nil {
			return err
		}
		t, ok := args.(tuple)
		if !ok {
			return u.errorf("REDUCE arguments are %T, not a tuple", args)
		}
		v, err := u.call(fn, t)
		if err != nil {
			return err
		}
		return u.push(v)
	case 'b': // BUILD: sets an object's state; only dicts' (the state_dict _metadata) occur
		if _, err := u.pop(); err != nil {
			return err
		}
		obj, err := u.top()
		if err != nil {
			return err
		}
		if _, ok := obj.(*dict); !ok {
			return u.errorf("BUILD on %T; only dictionaries carry state in a state_dict", obj)
		}
		return nil // attributes such as _metadata describe modules, not weights
	case 'Q': // BINPERSID
		pid, err := u.pop()
		if err != nil {
			return err
		}
		if u.persistentLoad == nil {
			return u.errorf("persistent id with no storage table")
		}
		v, err := u.persistentLoad(pid)
		if err != nil {
			return err
		}
		return u.push(v)
	}
	return u.errorf("opcode 0x%02x (%q) is not one torch.save writes; not a state_dict or corrupt", op, rune(op))
}

func (u *unpickler) pushString(lenSize int) error {
	b, err := u.takeLen(lenSize)
	if err != nil {
		return err
	}
	if !utf8.Valid(b) {
		return u.errorf("string is not valid UTF-8")
	}
	return u.push(string(b))
}

func (u *unpickler) pushBytes(lenSize int) error {
	b, err := u.takeLen(lenSize)
	if err != nil {
		return err
	}
	return u.push(append([]byte(nil), b...))
}

// line reads a newline-terminated text argument (GLOBAL's module and name).
func (u *unpickler) line() (string, error) {
	const maxLine = 256 // longer than any Python qualified name torch uses
	for i := u.pos; i < len(u.data) && i-u.pos <= maxLine; i++ {
		if u.data[i] == '\n' {
			s := string(u.data[u.pos:i])
			u.pos = i + 1
			return s, nil
		}
	}
	return "", u.errorf("GLOBAL name not terminated within %d bytes", maxLine)
}

// long decodes LONG1/LONG4 bytes; weights files only use it for small numbers, so values
// beyond int64 are an error rather than a big integer.
func (u *unpickler) long(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if len(b) > 8 {
		return 0, u.errorf("integer of %d bytes is too large for a state_dict", len(b))
	}
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	shift := 64 - 8*uint(len(b))
	return int64(v<<shift) >> shift, nil // sign-extend from the top byte
}

func (u *unpickler) pushGlobal(g global) error {
	if err := allowedGlobal(g); err != nil {
		return err
	}
	return u.push(g)
}

func (u *unpickler) appendTo(items []any) error {
	obj, err := u.top()
	if err != nil {
		return err
	}
	l, ok := obj.(*list)
	if !ok {
		return u.errorf("APPEND to %T, not a list", obj)
	}
	if len(l.items)+len(items) > maxStack {
		return u.errorf("list longer than %d items", maxStack)
	}
	l.items = append(l.items, items...)
	return nil
}

func (u *unpickler) setInto(items []any) error {
	obj, err := u.top()
	if err != nil {
		return err
	}
	d, ok := obj.(*dict)
	if !ok {
		return u.errorf("SETITEM on %T, not a dict", obj)
	}
	return u.setItems(d, items)
}

func (u *unpickler) setItems(d *dict, items []any) error {
	if len(items)%2 != 0 {
		return u.errorf("odd number of values (%d) for dict items", len(items))
	}
	if len(d.keys)+len(items)/2 > maxStack {
		return u.errorf("dict larger than %d items", maxStack)
	}
	for i := 0; i < len(items); i += 2 {
		if !hashable(items[i]) {
			return u.errorf("dict key of type %T", items[i])
		}
		d.set(items[i], items[i+1])
	}
	return nil
}

// call interprets REDUCE of an allowed global.
func (u *unpickler) call(fn any, args tuple) (any, error) {
	g, ok := fn.(global)
	if !ok {
		return nil, u.errorf("REDUCE calls a %T, not a known function", fn)
	}
	switch g.String() {
	case "collections.OrderedDict":
		if len(args) != 0 {
			return nil, u.errorf("OrderedDict with %d arguments", len(args))
		}
		return newDict(), nil
	case "torch._utils._rebuild_tensor_v2":
		// (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
		if len(args) < 4 || len(args) > 7 {
			return nil, u.errorf("_rebuild_tensor_v2 with %d arguments, want 6 or 7", len(args))
		}
		return u.rebuildTensor(args)
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
		// (data, requires_grad, backward_hooks[, state]): a Parameter is its tensor here.
		if len(args) < 1 {
			return nil, u.errorf("%s with no arguments", g)
		}
		if _, ok := args[0].(*tensorRef); !ok {
			return nil, u.errorf("%s of a %T, not a tensor", g, args[0])
		}
		return args[0], nil
	}
	return nil, u.errorf("%s cannot be called", g)
}

func (u *unpickler) rebuildTensor(args tuple) (*tensorRef, error) {
	st, ok := args[0].(*storageRef)
	if !ok {
		return nil, u.errorf("tensor storage is a %T, not a storage", args[0])
	}
	off, ok := args[1].(int64)
	if !ok || off < 0 {
		return nil, u.errorf("tensor storage offset %s is not a non-negative integer", describe(args[1]))
	}
	shape, err := u.ints(args[2], "size")
	if err != nil {
		return nil, err
	}
	stride, err := u.ints(args[3], "stride")
	if err != nil {
		return nil, err
	}
	if len(shape) != len(stride) {
		return nil, u.errorf("tensor has %d sizes but %d strides", len(shape), len(stride))
	}
	return &tensorRef{storage: st, offset: off, shape: shape, stride: stride}, nil
}

// ints reads a tuple of non-negative integers (a size or a stride).
func (u *unpickler) ints(v any, what string) ([]int64, error) {
	t, ok := v.(tuple)
	if !ok {
		return nil, u.errorf("tensor %s is a %T, not a tuple", what, v)
	}
	const maxRank = 16
	if len(t) > maxRank {
		return nil, u.errorf("tensor %s has %d dimensions (more than %d)", what, len(t), maxRank)
	}
	out := make([]int64, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok || n < 0 {
			return nil, u.errorf("tensor %s %s holds %s, not a non-negative integer", what, describe(t), describe(x))
		}
		out[i] = n
	}
	return out, nil
}
