// Package pth reads and writes PyTorch state_dict files in the zip format torch.save has
// written since PyTorch 1.6 (the format of torchvision's weight files).
//
// The file is a zip archive: <name>/data.pkl is a pickle of the state_dict whose tensors
// point, by persistent id, at raw storages stored as <name>/data/<key>. Read interprets
// the pickle with a small restricted unpickler (pickle.go) that executes nothing, checks
// every size against the archive before allocating, and returns the floating-point tensors
// as float32.
package pth

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/alexlens/alexlens/engine"
)

const (
	// maxPickleSize bounds data.pkl. A state_dict's pickle holds only names and shapes
	// (about 100 bytes a tensor), so even a model with 100,000 tensors stays far below it.
	maxPickleSize = 64 << 20
	// maxDeflateRatio is the most a deflate stream can expand (about 1032:1); a declared
	// size beyond it is a lie, so no buffer of that size is allocated.
	maxDeflateRatio = 1100
	// readChunk is how much of a storage is read and converted at a time.
	readChunk = 256 << 10
	// maxEntrySize bounds any one entry (256 TiB), so that sizes multiplied by element
	// sizes or summed can never overflow an int64.
	maxEntrySize = 1 << 48
	// maxFormatVersion is the newest archive format version accepted (torch.save writes 3;
	// PyTorch reads up to 10).
	maxFormatVersion = 10
)

// legacyMagic starts files written by torch.save before PyTorch 1.6 (or with
// _use_new_zipfile_serialization=False): a pickled LONG1 magic number.
var legacyMagic = []byte{0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19}

// Read returns the floating-point tensors of a state_dict by key, converted to float32.
// Integer tensors (such as BatchNorm's num_batches_tracked) and non-tensor entries are
// skipped. A state_dict nested under "state_dict" (a training checkpoint) is found, and a
// "module." prefix that every key shares (a DataParallel model) is removed.
func Read(r io.ReaderAt, size int64) (map[string]*engine.Tensor, error) {
	if size < 0 {
		return nil, fmt.Errorf("pth: negative file size %d", size)
	}
	head := make([]byte, len(legacyMagic))
	if n, _ := r.ReadAt(head, 0); n == len(head) && bytes.Equal(head, legacyMagic) {
		return nil, errors.New("pth: this is the legacy torch.save format (before PyTorch 1.6); re-save it with a current PyTorch: torch.save(torch.load(f), f)")
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("pth: not a PyTorch zip file: %w", err)
	}
	a, err := openArchive(zr, r, size)
	if err != nil {
		return nil, err
	}
	pkl, err := a.readEntry(a.pickle, maxPickleSize)
	if err != nil {
		return nil, err
	}
	u := &unpickler{data: pkl, persistentLoad: a.persistentLoad}
	root, err := u.run()
	if err != nil {
		return nil, err
	}
	refs, order, err := findTensors(root)
	if err != nil {
		return nil, err
	}
	return a.decodeAll(refs, order)
}

// archive is an opened torch.save zip.
type archive struct {
	r        io.ReaderAt
	size     int64
	prefix   string // "archive/" or "<name>/"
	pickle   *zip.File
	storages map[string]*zip.File // data/<key> entries by key
	order    binary.ByteOrder
	refs     map[string]*storageRef // storages the pickle referenced, by key
}

func openArchive(zr *zip.Reader, r io.ReaderAt, size int64) (*archive, error) {
	a := &archive{r: r, size: size, storages: map[string]*zip.File{}, refs: map[string]*storageRef{}, order: binary.LittleEndian}
	for _, f := range zr.File {
		dir, base := path.Split(f.Name)
		if base == "data.pkl" && dir != "" && !strings.Contains(strings.TrimSuffix(dir, "/"), "/") {
			if a.pickle != nil {
				return nil, fmt.Errorf("pth: two pickles in one file (%s and %s)", a.pickle.Name, f.Name)
			}
			a.pickle, a.prefix = f, dir
		}
	}
	if a.pickle == nil {
		return nil, errors.New("pth: zip file has no <name>/data.pkl; not a file torch.save wrote")
	}
	for _, f := range zr.File {
		if key, ok := strings.CutPrefix(f.Name, a.prefix+"data/"); ok && key != "" {
			a.storages[key] = f
		}
		if f.Name == a.prefix+"version" {
			// A small integer; a corrupt or foreign record is refused. Versions above 3 only
			// change TorchScript archives, and the unpickler refuses anything unknown anyway.
			b, err := a.readEntry(f, 16)
			if err != nil {
				return nil, err
			}
			v, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil || v < 1 || v > maxFormatVersion {
				return nil, fmt.Errorf("pth: format version %q, this reader knows 1 to %d", b, maxFormatVersion)
			}
		}
		if f.Name == a.prefix+"byteorder" {
			b, err := a.readEntry(f, 16)
			if err != nil {
				return nil, err
			}
			switch string(b) {
			case "little":
			case "big":
				a.order = binary.BigEndian
			default:
				return nil, fmt.Errorf("pth: byteorder record says %q, want little or big", b)
			}
		}
	}
	return a, nil
}

// checkEntry validates an entry's declared sizes against the file before anything of
// that size is allocated.
func (a *archive) checkEntry(f *zip.File, limit int64) error {
	usize, csize := f.UncompressedSize64, f.CompressedSize64
	limit = min(limit, maxEntrySize)
	if usize > uint64(limit) {
		return fmt.Errorf("pth: %s declares %d bytes, more than the %d allowed", f.Name, usize, limit)
	}
	off, err := f.DataOffset()
	if err != nil {
		return fmt.Errorf("pth: %s: %w", f.Name, err)
	}
	if off < 0 || off > a.size || csize > uint64(a.size-off) {
		return fmt.Errorf("pth: %s declares %d bytes at offset %d, past the end of the %d-byte file (truncated?)", f.Name, csize, off, a.size)
	}
	switch f.Method {
	case zip.Store:
		if usize != csize {
			return fmt.Errorf("pth: stored entry %s has sizes %d and %d that disagree", f.Name, usize, csize)
		}
	case zip.Deflate:
		if usize > csize*maxDeflateRatio+1024 {
			return fmt.Errorf("pth: %s claims to inflate %d bytes to %d, more than deflate can", f.Name, csize, usize)
		}
	default:
		return fmt.Errorf("pth: %s uses zip compression method %d; torch.save stores entries uncompressed", f.Name, f.Method)
	}
	return nil
}

// readEntry reads a whole entry of at most limit bytes, checking its CRC.
func (a *archive) readEntry(f *zip.File, limit int64) ([]byte, error) {
	if err := a.checkEntry(f, limit); err != nil {
		return nil, err
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("pth: %s: %w", f.Name, err)
	}
	defer rc.Close()
	buf := make([]byte, f.UncompressedSize64)
	if _, err := io.ReadFull(rc, buf); err != nil {
		return nil, fmt.Errorf("pth: reading %s: %w", f.Name, err)
	}
	if err := expectEOF(rc, f.Name); err != nil {
		return nil, err
	}
	return buf, nil
}

// expectEOF reads past the end of an entry: archive/zip checks the CRC only there.
func expectEOF(rc io.Reader, name string) error {
	var one [1]byte
	n, err := rc.Read(one[:])
	if n != 0 || err == nil {
		return fmt.Errorf("pth: %s is longer than its declared size", name)
	}
	if err != io.EOF {
		return fmt.Errorf("pth: reading %s: %w (corrupt file?)", name, err)
	}
	return nil
}

// persistentLoad resolves ('storage', StorageType, key, location, numel) to a storage
// reference, checking that the zip entry exists and is large enough.
func (a *archive) persistentLoad(pid any) (any, error) {
	t, ok := pid.(tuple)
	if !ok || len(t) != 5 || t[0] != "storage" {
		return nil, fmt.Errorf("pth: persistent id %s is not a ('storage', type, key, location, size) tuple", describe(pid))
	}
	g, ok := t[1].(global)
	dt, known := storageTypes[g.name]
	if !ok || g.module != "torch" || !known {
		return nil, fmt.Errorf("pth: persistent id names storage type %s, not a torch storage", describe(t[1]))
	}
	key, ok := t[2].(string)
	if !ok {
		return nil, fmt.Errorf("pth: storage key %s is not a string", describe(t[2]))
	}
	numel, ok := t[4].(int64)
	if !ok || numel < 0 {
		return nil, fmt.Errorf("pth: storage %q has size %s, not a non-negative integer", key, describe(t[4]))
	}
	if ref, ok := a.refs[key]; ok {
		if ref.dtype.name != dt.name || ref.numel != numel {
			return nil, fmt.Errorf("pth: storage %q is described twice, as %d %s and as %d %s", key, ref.numel, ref.dtype.name, numel, dt.name)
		}
		return ref, nil
	}
	f, ok := a.storages[key]
	if !ok {
		return nil, fmt.Errorf("pth: the pickle refers to storage %q but the file has no %sdata/%s (truncated?)", key, a.prefix, key)
	}
	if err := a.checkEntry(f, maxEntrySize); err != nil {
		return nil, err
	}
	if uint64(numel) > f.UncompressedSize64/uint64(dt.size) {
		return nil, fmt.Errorf("pth: storage %q should hold %d %s values but %s has only %d bytes", key, numel, dt.name, f.Name, f.UncompressedSize64)
	}
	ref := &storageRef{dtype: dt, key: key, numel: numel}
	a.refs[key] = ref
	return ref, nil
}

// stateDictKeys are the keys under which training checkpoints commonly nest the weights.
var stateDictKeys = []string{"state_dict", "model_state_dict", "model"}

// findTensors returns the float tensors of the state_dict in root, in file order.
func findTensors(root any) (map[string]*tensorRef, []string, error) {
	d, ok := root.(*dict)
	if !ok {
		return nil, nil, fmt.Errorf("pth: the file holds a %s, not a state_dict", typeName(root))
	}
	for depth := 0; depth < 4; depth++ { // a bounded descent: dicts may even contain themselves
		if hasTensors(d) {
			break
		}
		next := d
		for _, k := range stateDictKeys {
			if v, ok := d.get(k); ok {
				if sub, ok := v.(*dict); ok {
					next = sub
					break
				}
			}
		}
		if next == d {
			break
		}
		d = next
	}
	refs := map[string]*tensorRef{}
	var order []string
	for i, k := range d.keys {
		name, ok := k.(string)
		t, isTensor := d.vals[i].(*tensorRef)
		if !ok || !isTensor || !t.storage.dtype.isFloat() {
			continue // integer buffers, metadata and other non-weights
		}
		refs[name] = t
		order = append(order, name)
	}
	if len(order) == 0 {
		return nil, nil, errors.New("pth: the file holds no floating-point tensors (not a state_dict?)")
	}
	if prefix := "module."; allHavePrefix(order, prefix) {
		stripped := map[string]*tensorRef{}
		for i, name := range order {
			order[i] = strings.TrimPrefix(name, prefix)
			stripped[order[i]] = refs[name]
		}
		refs = stripped
	}
	return refs, order, nil
}

func hasTensors(d *dict) bool {
	for _, v := range d.vals {
		if _, ok := v.(*tensorRef); ok {
			return true
		}
	}
	return false
}

func allHavePrefix(names []string, prefix string) bool {
	for _, n := range names {
		if !strings.HasPrefix(n, prefix) || len(n) == len(prefix) {
			return false
		}
	}
	return true
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "None"
	case *dict:
		return "dict"
	case *list:
		return "list"
	case tuple:
		return "tuple"
	case *tensorRef:
		return "single tensor"
	}
	return fmt.Sprintf("%T", v)
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
func (a *archive) decodeAll(refs map[string]*tensorRef, order []string) (map[string]*engine.Tensor, error) {
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
		f := a.storages[key]
		var err error
		if v := views[0]; len(views) == 1 && v.contiguous && v.first == 0 && v.numel == st.numel &&
			f.UncompressedSize64 == uint64(st.numel*st.dtype.size) {
			err = a.stream(f, st, v, out)
		} else {
			err = a.copyViews(f, st, views, out)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (a *archive) newTensor(v view, data []float32) *engine.Tensor {
	shape := make([]int, len(v.ref.shape))
	for i, n := range v.ref.shape {
		shape[i] = int(n)
	}
	return &engine.Tensor{Shape: shape, Data: data}
}

// stream reads a storage in chunks, converting each straight into the tensor.
func (a *archive) stream(f *zip.File, st *storageRef, v view, out map[string]*engine.Tensor) error {
	if err := a.checkEntry(f, maxEntrySize); err != nil {
		return err
	}
	rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("pth: %s: %w", f.Name, err)
	}
	defer rc.Close()
	data := make([]float32, v.numel)
	perChunk := readChunk / int(st.dtype.size)
	buf := make([]byte, min(readChunk, int(st.numel*st.dtype.size)))
	for done := 0; done < len(data); {
		n := min(perChunk, len(data)-done)
		b := buf[:n*int(st.dtype.size)]
		if _, err := io.ReadFull(rc, b); err != nil {
			return fmt.Errorf("pth: reading %s for tensor %q: %w", f.Name, v.name, err)
		}
		st.dtype.decode(data[done:done+n], b, a.order)
		done += n
	}
	if err := expectEOF(rc, f.Name); err != nil {
		return err
	}
	out[v.name] = a.newTensor(v, data)
	return nil
}

// copyViews reads a whole storage and copies each view out of it.
func (a *archive) copyViews(f *zip.File, st *storageRef, views []view, out map[string]*engine.Tensor) error {
	raw, err := a.readEntry(f, maxEntrySize)
	if err != nil {
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
		st.dtype.decode(vals, raw[lo*st.dtype.size:], a.order)
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
		out[v.name] = a.newTensor(v, data)
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
