package pth

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/alexlens/alexlens/engine"
)

// storageData is one storage's raw bytes as a stream, from either file format.
type storageData struct {
	io.Reader
	name   string       // where it lives, for error messages
	size   int64        // bytes in the stream, already checked against the file
	finish func() error // called after the last byte: integrity checks and closing
}

// view is a checked tensor geometry: every element lies inside its storage.
type view struct {
	name       string
	ref        *tensorRef
	numel      int64
	contiguous bool
	first      int64 // lowest storage index touched
	last       int64 // highest storage index touched (first-1 when empty)
}

func checkView(name string, t *tensorRef) (view, error) {
	v := view{name: name, ref: t, numel: 1, contiguous: true, first: t.offset}
	span := int64(0) // largest index offset reached: sum of (size-1)*stride
	expect := int64(1)
	for i := len(t.shape) - 1; i >= 0; i-- {
		n, s := t.shape[i], t.stride[i]
		if n != 0 && v.numel > math.MaxInt64/n {
			return v, fmt.Errorf("pth: tensor %q has shape %v, too many elements", name, t.shape)
		}
		v.numel *= n
		if n > 1 {
			if s != 0 && n-1 > (math.MaxInt64-span)/s {
				return v, fmt.Errorf("pth: tensor %q has strides %v that overflow", name, t.stride)
			}
			span += (n - 1) * s
			if s != expect {
				v.contiguous = false
			}
		}
		if n != 0 && expect <= math.MaxInt64/n {
			expect *= n
		}
	}
	if v.numel == 0 {
		v.last, v.contiguous = v.first-1, true
		return v, nil
	}
	if t.offset > math.MaxInt64-span || t.offset+span >= t.storage.numel {
		return v, fmt.Errorf("pth: tensor %q (shape %v, stride %v, offset %d) reaches past the end of its storage of %d values", name, t.shape, t.stride, t.offset, t.storage.numel)
	}
	v.last = t.offset + span
	return v, nil
}

// decodeAll converts every tensor, reading each storage once. A storage that backs exactly
// one contiguous tensor covering all of it (the usual case) is streamed straight into the
// tensor; shared or strided storages are read whole and the views copied out.
func decodeAll(refs map[string]*tensorRef, order []string, byteOrder binary.ByteOrder, open func(key string) (*storageData, error)) (map[string]*engine.Tensor, error) {
	byStorage := map[string][]view{}
	var storageBytes, outBytes int64
	for _, name := range order {
		v, err := checkView(name, refs[name])
		if err != nil {
			return nil, err
		}
		key := v.ref.storage.key
		if _, seen := byStorage[key]; !seen {
			storageBytes += v.ref.storage.numel * v.ref.storage.dtype.size
		}
		byStorage[key] = append(byStorage[key], v)
		if v.numel > math.MaxInt64/4-outBytes {
			return nil, fmt.Errorf("pth: tensor %q is too large", name)
		}
		outBytes += 4 * v.numel
	}
	// Shared storages and broadcast (stride 0) views can make the float32 tensors larger
	// than the file; a little of that is normal (tied weights, float16 widened), a lot is an
	// attempt to exhaust memory.
	if budget := 4*storageBytes + 1<<20; outBytes > budget {
		return nil, fmt.Errorf("pth: tensors would take %d bytes from %d bytes of storage; refusing (corrupt or hostile file)", outBytes, storageBytes)
	}
	out := make(map[string]*engine.Tensor, len(order))
	keys := make([]string, 0, len(byStorage))
	for k := range byStorage {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		views := byStorage[key]
		st := views[0].ref.storage
		sd, err := open(key)
		if err != nil {
			return nil, err
		}
		if v := views[0]; len(views) == 1 && v.contiguous && v.first == 0 && v.numel == st.numel && sd.size == st.numel*st.dtype.size {
			err = stream(sd, st, v, byteOrder, out)
		} else {
			err = copyViews(sd, st, views, byteOrder, out)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func newTensor(v view, data []float32) *engine.Tensor {
	shape := make([]int, len(v.ref.shape))
	for i, n := range v.ref.shape {
		shape[i] = int(n)
	}
	return &engine.Tensor{Shape: shape, Data: data}
}

// stream reads a storage in chunks, converting each straight into the tensor.
func stream(sd *storageData, st *storageRef, v view, order binary.ByteOrder, out map[string]*engine.Tensor) error {
	data := make([]float32, v.numel)
	perChunk := readChunk / int(st.dtype.size)
	buf := make([]byte, min(readChunk, int(sd.size)))
	for done := 0; done < len(data); {
		n := min(perChunk, len(data)-done)
		b := buf[:n*int(st.dtype.size)]
		if _, err := io.ReadFull(sd, b); err != nil {
			return fmt.Errorf("pth: reading %s for tensor %q: %w", sd.name, v.name, err)
		}
		st.dtype.decode(data[done:done+n], b, order)
		done += n
	}
	if err := sd.finish(); err != nil {
		return err
	}
	out[v.name] = newTensor(v, data)
	return nil
}

// copyViews reads a whole storage and copies each view out of it.
func copyViews(sd *storageData, st *storageRef, views []view, order binary.ByteOrder, out map[string]*engine.Tensor) error {
	raw := make([]byte, sd.size)
	if _, err := io.ReadFull(sd, raw); err != nil {
		return fmt.Errorf("pth: reading %s: %w", sd.name, err)
	}
	if err := sd.finish(); err != nil {
		return err
	}
	// Decode only the range the views touch, once.
	lo, hi := st.numel, int64(-1)
	for _, v := range views {
		if v.numel > 0 {
			lo, hi = min(lo, v.first), max(hi, v.last)
		}
	}
	var vals []float32
	if hi >= lo {
		vals = make([]float32, hi-lo+1)
		st.dtype.decode(vals, raw[lo*st.dtype.size:], order)
	}
	raw = nil
	for _, v := range views {
		data := make([]float32, v.numel)
		if v.numel > 0 {
			if v.contiguous {
				copy(data, vals[v.first-lo:])
			} else {
				gather(data, vals, v.ref.offset-lo, v.ref.shape, v.ref.stride)
			}
		}
		out[v.name] = newTensor(v, data)
	}
	return nil
}

// gather copies a strided view into dst in row-major order.
func gather(dst, src []float32, offset int64, shape, stride []int64) {
	idx := make([]int64, len(shape))
	pos := offset
	for i := range dst {
		dst[i] = src[pos]
		// Advance the multi-index like an odometer, last dimension fastest.
		for d := len(shape) - 1; d >= 0; d-- {
			idx[d]++
			pos += stride[d]
			if idx[d] < shape[d] {
				break
			}
			pos -= stride[d] * shape[d]
			idx[d] = 0
		}
	}
}
