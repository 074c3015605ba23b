package pth

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/alexlens/alexlens/engine"
)

// The legacy format, written by torch.save before PyTorch 1.6 (and since then with
// _use_new_zipfile_serialization=False), is a plain stream: five pickles (a magic
// number, the protocol version 1001, a dict describing the writer's machine, the object,
// the list of storage keys in the order they follow), then each storage as an int64
// element count and its raw values. It has no checksums, so corruption in the values
// goes unnoticed; everything structural is checked as in the zip format.

const legacyProtocolVersion = 1001

// legacyHeadSize is how much of the file is read first to find the pickles; if they turn
// out to be longer (a model with tens of thousands of tensors), up to maxPickleSize is read.
const legacyHeadSize = 1 << 20

func readLegacy(r io.ReaderAt, size int64) (map[string]*engine.Tensor, error) {
	head, err := readHead(r, size, min(size, legacyHeadSize))
	if err != nil {
		return nil, err
	}
	l, err := parseLegacy(head)
	if err != nil && int64(len(head)) < min(size, maxPickleSize) {
		// Perhaps only the head was too short for the pickles: read more, once.
		if head, err = readHead(r, size, min(size, maxPickleSize)); err != nil {
			return nil, err
		}
		l, err = parseLegacy(head)
	}
	if err != nil {
		return nil, err
	}
	if err := l.locateStorages(r, size); err != nil {
		return nil, err
	}
	refs, order, err := findTensors(l.root)
	if err != nil {
		return nil, err
	}
	return decodeAll(refs, order, l.order, func(key string) (*storageData, error) {
		loc := l.data[key]
		return &storageData{
			Reader: io.NewSectionReader(r, loc.offset, loc.size),
			name:   fmt.Sprintf("legacy storage %q", key),
			size:   loc.size,
			finish: func() error { return nil },
		}, nil
	})
}

func readHead(r io.ReaderAt, size, n int64) ([]byte, error) {
	b := make([]byte, n)
	if _, err := r.ReadAt(b, 0); err != nil && !(err == io.EOF && n == size) {
		return nil, fmt.Errorf("pth: reading legacy file: %w", err)
	}
	return b, nil
}

// errShortHead reports a pickle running past the bytes read so far.
var errShortHead = errors.New("legacy pickles run past the bytes read")

type legacyFile struct {
	root  any
	order binary.ByteOrder
	keys  []string               // storage keys in file order
	refs  map[string]*storageRef // as the object's persistent ids describe them
	end   int                    // where the storages begin
	data  map[string]storageSpan // where each storage's values lie
}

type storageSpan struct{ offset, size int64 }

func parseLegacy(head []byte) (*legacyFile, error) {
	l := &legacyFile{order: binary.LittleEndian, refs: map[string]*storageRef{}}
	pos := len(legacyMagic) + 1
	if !bytes.HasPrefix(head, append(legacyMagic[:len(legacyMagic):len(legacyMagic)], '.')) {
		return nil, errors.New("pth: not a legacy PyTorch file (bad magic number)")
	}
	next := func(persistent func(any) (any, error)) (any, error) {
		u := &unpickler{data: head[pos:], persistentLoad: persistent}
		v, err := u.run()
		if err != nil {
			return nil, fmt.Errorf("legacy file, pickle at byte %d: %w", pos, err)
		}
		pos += u.pos
		return v, nil
	}
	v, err := next(nil)
	if err != nil {
		return nil, err
	}
	if v != int64(legacyProtocolVersion) {
		return nil, fmt.Errorf("pth: legacy protocol version %s, want %d", describe(v), legacyProtocolVersion)
	}
	if v, err = next(nil); err != nil {
		return nil, err
	}
	if info, ok := v.(*dict); ok {
		if le, ok := info.get("little_endian"); ok && le == false {
			l.order = binary.BigEndian
		}
	}
	if l.root, err = next(l.persistentLoad); err != nil {
		return nil, err
	}
	if v, err = next(nil); err != nil {
		return nil, err
	}
	keys, ok := v.(*list)
	if !ok {
		return nil, fmt.Errorf("pth: legacy storage key list is a %s", typeName(v))
	}
	for _, k := range keys.items {
		s, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("pth: legacy storage key %s is not a string", describe(k))
		}
		l.keys = append(l.keys, s)
	}
	l.end = pos
	return l, nil
}

// persistentLoad resolves ('storage', StorageType, key, location, numel, view_metadata).
func (l *legacyFile) persistentLoad(pid any) (any, error) {
	t, ok := pid.(tuple)
	if !ok || len(t) != 6 || t[0] != "storage" {
		return nil, fmt.Errorf("pth: persistent id %s is not a ('storage', type, key, location, size, view) tuple", describe(pid))
	}
	if t[5] != nil {
		return nil, errors.New("pth: legacy storage views (view_metadata) are not supported; re-save the file with a current PyTorch")
	}
	ref, err := parseStorageID(t[1], t[2], t[4])
	if err != nil {
		return nil, err
	}
	if old, ok := l.refs[ref.key]; ok {
		if old.dtype.name != ref.dtype.name || old.numel != ref.numel {
			return nil, fmt.Errorf("pth: storage %q is described twice, as %d %s and as %d %s", ref.key, old.numel, old.dtype.name, ref.numel, ref.dtype.name)
		}
		return old, nil
	}
	l.refs[ref.key] = ref
	return ref, nil
}

// locateStorages walks the storage records after the pickles, checking each count against
// its description and the file's size.
func (l *legacyFile) locateStorages(r io.ReaderAt, size int64) error {
	l.data = map[string]storageSpan{}
	off := int64(l.end)
	for _, key := range l.keys {
		ref, ok := l.refs[key]
		if !ok {
			return fmt.Errorf("pth: legacy storage %q is listed but no tensor describes it", key)
		}
		if _, dup := l.data[key]; dup {
			return fmt.Errorf("pth: legacy storage %q is listed twice", key)
		}
		var n [8]byte
		if off > size-8 {
			return fmt.Errorf("pth: legacy file ends before storage %q (truncated)", key)
		}
		if _, err := r.ReadAt(n[:], off); err != nil {
			return fmt.Errorf("pth: reading legacy storage %q: %w", key, err)
		}
		numel := int64(l.order.Uint64(n[:]))
		off += 8
		if numel != ref.numel {
			return fmt.Errorf("pth: legacy storage %q holds %d values, its description says %d", key, numel, ref.numel)
		}
		if numel > (size-off)/ref.dtype.size {
			return fmt.Errorf("pth: legacy storage %q of %d %s values runs past the end of the file (truncated)", key, numel, ref.dtype.name)
		}
		l.data[key] = storageSpan{off, numel * ref.dtype.size}
		off += numel * ref.dtype.size
	}
	for key := range l.refs {
		if _, ok := l.data[key]; !ok {
			return fmt.Errorf("pth: legacy storage %q is described but not in the file", key)
		}
	}
	return nil
}
