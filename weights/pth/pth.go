// Package pth reads and writes PyTorch state_dict files in the zip format torch.save has
// written since PyTorch 1.6 (the format of torchvision's weight files), and reads the
// legacy stream format before it (legacy.go).
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
	"path"
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
		return readLegacy(r, size)
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
	return decodeAll(refs, order, a.order, a.openStorage)
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

// openStorage opens data/<key> for decodeAll; closing it checks the CRC.
func (a *archive) openStorage(key string) (*storageData, error) {
	f := a.storages[key]
	if err := a.checkEntry(f, maxEntrySize); err != nil {
		return nil, err
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("pth: %s: %w", f.Name, err)
	}
	return &storageData{
		Reader: rc,
		name:   f.Name,
		size:   int64(f.UncompressedSize64),
		finish: func() error {
			defer rc.Close()
			return expectEOF(rc, f.Name)
		},
	}, nil
}

// persistentLoad resolves ('storage', StorageType, key, location, numel) to a storage
// reference, checking that the zip entry exists and is large enough.
func (a *archive) persistentLoad(pid any) (any, error) {
	t, ok := pid.(tuple)
	if !ok || len(t) != 5 || t[0] != "storage" {
		return nil, fmt.Errorf("pth: persistent id %s is not a ('storage', type, key, location, size) tuple", describe(pid))
	}
	ref, err := parseStorageID(t[1], t[2], t[4])
	if err != nil {
		return nil, err
	}
	if old, ok := a.refs[ref.key]; ok {
		if old.dtype.name != ref.dtype.name || old.numel != ref.numel {
			return nil, fmt.Errorf("pth: storage %q is described twice, as %d %s and as %d %s", ref.key, old.numel, old.dtype.name, ref.numel, ref.dtype.name)
		}
		return old, nil
	}
	f, ok := a.storages[ref.key]
	if !ok {
		return nil, fmt.Errorf("pth: the pickle refers to storage %q but the file has no %sdata/%s (truncated?)", ref.key, a.prefix, ref.key)
	}
	if err := a.checkEntry(f, maxEntrySize); err != nil {
		return nil, err
	}
	if uint64(ref.numel) > f.UncompressedSize64/uint64(ref.dtype.size) {
		return nil, fmt.Errorf("pth: storage %q should hold %d %s values but %s has only %d bytes", ref.key, ref.numel, ref.dtype.name, f.Name, f.UncompressedSize64)
	}
	a.refs[ref.key] = ref
	return ref, nil
}

// parseStorageID checks the type, key and size of a storage's persistent id.
func parseStorageID(class, key, size any) (*storageRef, error) {
	g, ok := class.(global)
	dt, known := storageTypes[g.name]
	if !ok || g.module != "torch" || !known {
		return nil, fmt.Errorf("pth: persistent id names storage type %s, not a torch storage", describe(class))
	}
	k, ok := key.(string)
	if !ok {
		return nil, fmt.Errorf("pth: storage key %s is not a string", describe(key))
	}
	numel, ok := size.(int64)
	if !ok || numel < 0 {
		return nil, fmt.Errorf("pth: storage %q has size %s, not a non-negative integer", k, describe(size))
	}
	return &storageRef{dtype: dt, key: k, numel: numel}, nil
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
