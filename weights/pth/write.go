package pth

import (
	"archive/zip"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/alexlens/alexlens/engine"
)

// archiveName is the folder torch.save uses inside the zip when it writes to a stream.
const archiveName = "archive"

// dataAlign is the alignment torch.save gives storages (so that they can be memory-mapped).
const dataAlign = 64

// Write writes tensors as a float32 state_dict that torch.load reads back as an
// OrderedDict, keys in the given order (sorted when order is nil). Every tensor gets its
// own storage; the layout matches what torch.save writes.
func Write(w io.Writer, tensors map[string]*engine.Tensor, order []string) error {
	if order == nil {
		for k := range tensors {
			order = append(order, k)
		}
		sort.Strings(order)
	}
	if err := checkWriteArgs(tensors, order); err != nil {
		return err
	}
	cw := &countingWriter{w: w}
	zw := zip.NewWriter(cw)
	if err := writeEntry(zw, cw, archiveName+"/data.pkl", statePickle(tensors, order)); err != nil {
		return err
	}
	for i, name := range order {
		if err := writeFloats(zw, cw, archiveName+"/data/"+strconv.Itoa(i), tensors[name].Data); err != nil {
			return err
		}
	}
	if err := writeEntry(zw, cw, archiveName+"/version", []byte("3\n")); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("pth: %w", err)
	}
	return nil
}

func checkWriteArgs(tensors map[string]*engine.Tensor, order []string) error {
	if len(order) != len(tensors) {
		return fmt.Errorf("pth: order names %d tensors but there are %d", len(order), len(tensors))
	}
	seen := map[string]bool{}
	for _, name := range order {
		t, ok := tensors[name]
		switch {
		case !ok:
			return fmt.Errorf("pth: order names %q, which is not among the tensors", name)
		case seen[name]:
			return fmt.Errorf("pth: order names %q twice", name)
		case !utf8.ValidString(name):
			return fmt.Errorf("pth: tensor name %q is not valid UTF-8", name)
		case t == nil:
			return fmt.Errorf("pth: tensor %q is nil", name)
		}
		seen[name] = true
		n := 1
		for _, d := range t.Shape {
			if d < 0 {
				return fmt.Errorf("pth: tensor %q has negative dimension in shape %v", name, t.Shape)
			}
			n *= d
		}
		if n != len(t.Data) {
			return fmt.Errorf("pth: tensor %q has shape %v (%d values) but holds %d", name, t.Shape, n, len(t.Data))
		}
	}
	return nil
}

// writeEntry stores one uncompressed entry.
func writeEntry(zw *zip.Writer, cw *countingWriter, name string, data []byte) error {
	ew, err := createAligned(zw, cw, name, crc32.ChecksumIEEE(data), int64(len(data)))
	if err != nil {
		return err
	}
	if _, err := ew.Write(data); err != nil {
		return fmt.Errorf("pth: writing %s: %w", name, err)
	}
	return nil
}

// writeFloats stores a float32 storage in little-endian order, a chunk at a time so that
// a 150 MB layer needs no 150 MB buffer: one pass for the CRC the header needs, one to write.
func writeFloats(zw *zip.Writer, cw *countingWriter, name string, xs []float32) error {
	const chunk = 16 << 10 // values per chunk
	buf := make([]byte, 0, 4*min(chunk, len(xs)))
	crc := uint32(0)
	for i := 0; i < len(xs); i += chunk {
		buf = float32Bytes(buf[:0], xs[i:min(i+chunk, len(xs))])
		crc = crc32.Update(crc, crc32.IEEETable, buf)
	}
	ew, err := createAligned(zw, cw, name, crc, 4*int64(len(xs)))
	if err != nil {
		return err
	}
	for i := 0; i < len(xs); i += chunk {
		buf = float32Bytes(buf[:0], xs[i:min(i+chunk, len(xs))])
		if _, err := ew.Write(buf); err != nil {
			return fmt.Errorf("pth: writing %s: %w", name, err)
		}
	}
	return nil
}

// createAligned starts an uncompressed entry whose data begins on a dataAlign boundary,
// padded with an extra field as torch.save does.
func createAligned(zw *zip.Writer, cw *countingWriter, name string, crc uint32, size int64) (io.Writer, error) {
	if err := zw.Flush(); err != nil {
		return nil, fmt.Errorf("pth: %w", err)
	}
	const localHeader, extraHeader = 30, 4
	start := cw.n + localHeader + int64(len(name)) + extraHeader
	pad := (dataAlign - start%dataAlign) % dataAlign
	extra := binary.LittleEndian.AppendUint16(nil, 0x4246) // "FB", torch's padding field
	extra = binary.LittleEndian.AppendUint16(extra, uint16(pad))
	for range pad {
		extra = append(extra, 'Z')
	}
	fh := &zip.FileHeader{
		Name:               name,
		Method:             zip.Store,
		CRC32:              crc,
		CompressedSize64:   uint64(size),
		UncompressedSize64: uint64(size),
		Extra:              extra,
	}
	ew, err := zw.CreateRaw(fh)
	if err != nil {
		return nil, fmt.Errorf("pth: %w", err)
	}
	return ew, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// statePickle is the protocol-2 pickle torch.save writes for an OrderedDict of contiguous
// float32 tensors, each with its own storage named by its index.
func statePickle(tensors map[string]*engine.Tensor, order []string) []byte {
	p := &pickler{}
	p.op('\x80', 2) // PROTO 2
	p.global("collections", "OrderedDict")
	p.op(')', 'R') // EMPTY_TUPLE, REDUCE: OrderedDict()
	for i, name := range order {
		t := tensors[name]
		p.str(name)
		p.global("torch._utils", "_rebuild_tensor_v2")
		p.op('(') // MARK: the arguments
		p.op('(') // MARK: the persistent id
		p.str("storage")
		p.global("torch", "FloatStorage")
		p.str(strconv.Itoa(i))
		p.str("cpu")
		p.int(int64(len(t.Data)))
		p.op('t', 'Q') // TUPLE, BINPERSID
		p.int(0)       // storage offset
		p.ints(t.Shape)
		p.ints(contiguousStrides(t.Shape))
		p.op('\x89') // requires_grad False
		p.global("collections", "OrderedDict")
		p.op(')', 'R')      // backward hooks: OrderedDict()
		p.op('t', 'R', 's') // TUPLE, REDUCE, SETITEM
	}
	p.op('.') // STOP
	return p.b
}

func contiguousStrides(shape []int) []int {
	s := make([]int, len(shape))
	n := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = n
		n *= max(shape[i], 1)
	}
	return s
}

type pickler struct{ b []byte }

func (p *pickler) op(ops ...byte) { p.b = append(p.b, ops...) }

func (p *pickler) str(s string) {
	p.b = append(p.b, 'X')
	p.b = binary.LittleEndian.AppendUint32(p.b, uint32(len(s)))
	p.b = append(p.b, s...)
}

func (p *pickler) global(module, name string) {
	p.b = append(p.b, 'c')
	p.b = append(p.b, module+"\n"+name+"\n"...)
}

func (p *pickler) int(v int64) {
	if v >= math.MinInt32 && v <= math.MaxInt32 {
		p.b = append(p.b, 'J')
		p.b = binary.LittleEndian.AppendUint32(p.b, uint32(int32(v)))
		return
	}
	p.b = append(p.b, '\x8a', 8) // LONG1 of 8 bytes
	p.b = binary.LittleEndian.AppendUint64(p.b, uint64(v))
}

func (p *pickler) ints(xs []int) {
	p.op('(')
	for _, x := range xs {
		p.int(int64(x))
	}
	p.op('t')
}
