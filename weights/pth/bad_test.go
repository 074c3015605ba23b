package pth

// Corrupt, truncated and hostile files: each must give a clear error, never a panic, a
// hang or an allocation the file's size does not justify.

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// zipEntry is one entry of a hand-made archive; a non-zero declared size overrides the
// real one in the headers (a lying file).
type zipEntry struct {
	name     string
	data     []byte
	declared uint64
	deflate  bool
}

func buildZip(t testing.TB, entries ...zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		data := e.data
		method := zip.Store
		if e.deflate {
			var c bytes.Buffer
			fw, _ := flate.NewWriter(&c, flate.BestCompression)
			fw.Write(e.data)
			fw.Close()
			data, method = c.Bytes(), zip.Deflate
		}
		fh := &zip.FileHeader{Name: e.name, Method: method, CRC32: crc32.ChecksumIEEE(e.data),
			CompressedSize64: uint64(len(data)), UncompressedSize64: uint64(len(e.data))}
		if e.declared != 0 {
			fh.UncompressedSize64 = e.declared
			if !e.deflate {
				fh.CompressedSize64 = e.declared
			}
		}
		w, err := zw.CreateRaw(fh)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zipEntries(t testing.TB, b []byte) []*zip.File {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return zr.File
}

// tensorPickle is a state_dict pickle of one float32 tensor per spec, each viewing the
// storage named by key with the given numel, offset, shape and stride.
type tensorSpec struct {
	name, key     string
	storage       string // storage class, FloatStorage when empty
	numel, offset int64
	shape, stride []int
}

func tensorPickle(specs ...tensorSpec) []byte {
	p := &pickler{}
	p.op('\x80', 2, '}')
	for _, s := range specs {
		class := s.storage
		if class == "" {
			class = "FloatStorage"
		}
		p.str(s.name)
		p.global("torch._utils", "_rebuild_tensor_v2")
		p.op('(', '(')
		p.str("storage")
		p.global("torch", class)
		p.str(s.key)
		p.str("cpu")
		p.int(s.numel)
		p.op('t', 'Q')
		p.int(s.offset)
		p.ints(s.shape)
		p.ints(s.stride)
		p.op('\x89', ')', 't', 'R', 's')
	}
	p.op('.')
	return p.b
}

func pickleZip(t testing.TB, pkl []byte, storages ...zipEntry) []byte {
	t.Helper()
	entries := []zipEntry{{name: "archive/data.pkl", data: pkl}}
	for _, s := range storages {
		s.name = "archive/data/" + s.name
		entries = append(entries, s)
	}
	return buildZip(t, append(entries, zipEntry{name: "archive/version", data: []byte("3\n")})...)
}

func floats(n int) []byte {
	xs := make([]float32, n)
	for i := range xs {
		xs[i] = float32(i)
	}
	return float32Bytes(nil, xs)
}

func mustFail(t *testing.T, what string, b []byte, want string) {
	t.Helper()
	got, err := Read(bytes.NewReader(b), int64(len(b)))
	if err == nil {
		t.Errorf("%s: read %d tensors, want an error containing %q", what, len(got), want)
		return
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("%s: error %q, want one containing %q", what, err, want)
	}
	if !strings.HasPrefix(err.Error(), "pth: ") {
		t.Errorf("%s: error %q does not say it comes from the pth reader", what, err)
	}
}

func TestReadNotAZip(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":  nil,
		"text":   []byte("this is not a weights file\n"),
		"png":    []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
		"onnx":   {0x08, 0x07, 0x12, 0x07, 'p', 'y', 't', 'o', 'r', 'c', 'h'},
		"zeroes": make([]byte, 4096),
	} {
		mustFail(t, name, b, "not a PyTorch zip")
	}
	mustFail(t, "legacy magic", append(append([]byte(nil), legacyMagic...), 0, 0, 0), "legacy")
	mustFail(t, "zip without a pickle", buildZip(t, zipEntry{name: "a/readme.txt", data: []byte("hi")}), "no <name>/data.pkl")
	if _, err := Read(bytes.NewReader(nil), -1); err == nil {
		t.Error("negative size: no error")
	}
}

// TestReadTruncated cuts a valid file at every length: each prefix must fail cleanly.
func TestReadTruncated(t *testing.T) {
	ts, order := writeSample()
	var buf bytes.Buffer
	if err := Write(&buf, ts, order); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	for n := 0; n < len(b); n++ {
		if got, err := Read(bytes.NewReader(b[:n]), int64(n)); err == nil {
			t.Fatalf("file cut to %d of %d bytes read as %d tensors, want an error", n, len(b), len(got))
		}
	}
}

// TestReadFlippedBytes corrupts a valid file one byte at a time. Nothing may panic, and a
// flip anywhere inside an entry's data (pickle or storage) must be caught.
func TestReadFlippedBytes(t *testing.T) {
	ts, order := writeSample()
	var buf bytes.Buffer
	if err := Write(&buf, ts, order); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	inData := make([]bool, len(b))
	for _, f := range zipEntries(t, b) {
		off, _ := f.DataOffset()
		for i := off; i < off+int64(f.CompressedSize64); i++ {
			inData[i] = true
		}
	}
	caught, accepted := 0, 0
	for i := range b {
		c := append([]byte(nil), b...)
		c[i] ^= 0x5a
		_, err := Read(bytes.NewReader(c), int64(len(c)))
		switch {
		case err == nil && inData[i]:
			t.Errorf("flipped byte %d (inside entry data) went unnoticed", i)
		case err == nil:
			accepted++ // e.g. a timestamp or the padding field: harmless
		default:
			caught++
		}
	}
	t.Logf("%d flips caught, %d harmless flips accepted, of %d bytes", caught, accepted, len(b))
}

func TestReadHugeDeclaredSizes(t *testing.T) {
	pkl := tensorPickle(tensorSpec{name: "w", key: "0", numel: 4, shape: []int{4}, stride: []int{1}})
	mustFail(t, "storage declared 1 TiB",
		pickleZip(t, pkl, zipEntry{name: "0", data: floats(4), declared: 1 << 40}), "past the end")
	mustFail(t, "storage declared 2^64-1 bytes",
		pickleZip(t, pkl, zipEntry{name: "0", data: floats(4), declared: 1<<64 - 1}), "more than")
	mustFail(t, "pickle declared 1 GiB",
		buildZip(t, zipEntry{name: "archive/data.pkl", data: pkl, declared: 1 << 30}), "more than")
	mustFail(t, "deflate bomb claim",
		pickleZip(t, pkl, zipEntry{name: "0", data: floats(4), declared: 1 << 36, deflate: true}), "more than deflate can")
	mustFail(t, "storage numel beyond its entry",
		pickleZip(t, tensorPickle(tensorSpec{name: "w", key: "0", numel: 1 << 40, shape: []int{1 << 40}, stride: []int{1}}),
			zipEntry{name: "0", data: floats(4)}), "only 16 bytes")
	mustFail(t, "tensor beyond its storage",
		pickleZip(t, tensorPickle(tensorSpec{name: "w", key: "0", numel: 4, shape: []int{1 << 20, 1 << 20}, stride: []int{1 << 20, 1}}),
			zipEntry{name: "0", data: floats(4)}), "past the end of its storage")
	mustFail(t, "offset beyond its storage",
		pickleZip(t, tensorPickle(tensorSpec{name: "w", key: "0", numel: 4, offset: 4, shape: []int{1}, stride: []int{1}}),
			zipEntry{name: "0", data: floats(4)}), "past the end of its storage")
	mustFail(t, "overflowing shape",
		pickleZip(t, tensorPickle(tensorSpec{name: "w", key: "0", numel: 4, shape: []int{1 << 62, 1 << 62}, stride: []int{0, 0}}),
			zipEntry{name: "0", data: floats(4)}), "too many elements")
	mustFail(t, "overflowing strides",
		pickleZip(t, tensorPickle(tensorSpec{name: "w", key: "0", numel: 4, shape: []int{3, 3}, stride: []int{1 << 62, 1 << 62}}),
			zipEntry{name: "0", data: floats(4)}), "overflow")

	// Broadcast views of one small storage, each far bigger than the file: a legal
	// layout that would still turn 4 KiB into gigabytes.
	var specs []tensorSpec
	for i := range 64 {
		specs = append(specs, tensorSpec{name: "w" + strconv.Itoa(i), key: "0", numel: 1024, shape: []int{1 << 20}, stride: []int{0}})
	}
	mustFail(t, "broadcast views", pickleZip(t, tensorPickle(specs...), zipEntry{name: "0", data: floats(1024)}), "refusing")
}

func TestReadHostilePickles(t *testing.T) {
	storage := zipEntry{name: "0", data: floats(4)}
	call := func(module, name string) []byte {
		p := &pickler{}
		p.op('\x80', 2)
		p.global(module, name)
		p.op('(')
		p.str("echo pwned")
		p.op('t', 'R', '.')
		return p.b
	}
	mustFail(t, "os.system", pickleZip(t, call("os", "system")), "os.system")
	mustFail(t, "builtins.eval", pickleZip(t, call("builtins", "eval")), "builtins.eval")
	mustFail(t, "posix.system", pickleZip(t, call("posix", "system")), "refusing")
	mustFail(t, "torch.load", pickleZip(t, call("torch", "load")), "torch.load")
	// STACK_GLOBAL (protocol 4) is checked like GLOBAL.
	mustFail(t, "stack global", pickleZip(t, []byte("\x80\x04\x8c\x02os\x8c\x06system\x93.")), "os.system")
	// Allowed names still cannot be called with arbitrary arguments.
	mustFail(t, "calling a storage class", pickleZip(t, call("torch", "FloatStorage")), "cannot be called")
	// INST, OBJ and NEWOBJ build arbitrary objects; they are not in the opcode set.
	mustFail(t, "INST", pickleZip(t, []byte("\x80\x02(ios\nsystem\n.")), "not one torch.save writes")
	mustFail(t, "NEWOBJ", pickleZip(t, []byte("\x80\x02ccollections\nOrderedDict\n)\x81.")), "not one torch.save writes")
	// A persistent id that is not a storage.
	mustFail(t, "odd persistent id", pickleZip(t, []byte("\x80\x02X\x01\x00\x00\x00xQ.")), "persistent id")

	okTensor := tensorSpec{name: "w", key: "0", numel: 4, shape: []int{4}, stride: []int{1}}
	mustFail(t, "missing storage entry", pickleZip(t, tensorPickle(okTensor)), "no archive/data/0")
	mustFail(t, "storage described twice", pickleZip(t, tensorPickle(okTensor,
		tensorSpec{name: "v", key: "0", storage: "HalfStorage", numel: 8, shape: []int{8}, stride: []int{1}}), storage), "described twice")
	mustFail(t, "not a dict", pickleZip(t, []byte("\x80\x02]q\x00.")), "not a state_dict")
	mustFail(t, "no float tensors", pickleZip(t, tensorPickle(tensorSpec{name: "n", key: "0", storage: "LongStorage", numel: 2, shape: []int{2}, stride: []int{1}}), storage), "no floating-point tensors")
	mustFail(t, "unknown storage", pickleZip(t, tensorPickle(tensorSpec{name: "q", key: "0", storage: "QInt8Storage", numel: 1, shape: []int{1}, stride: []int{1}}), storage), "torch.QInt8Storage")
	mustFail(t, "no STOP", pickleZip(t, []byte("\x80\x02}")), "without STOP")
	mustFail(t, "empty pickle", pickleZip(t, nil), "without STOP")
	mustFail(t, "stack underflow", pickleZip(t, []byte("\x80\x02s.")), "underflow")
	mustFail(t, "unset memo", pickleZip(t, []byte("\x80\x02h\x07.")), "memo entry 7")
	mustFail(t, "string past end", pickleZip(t, []byte("\x80\x02X\xff\xff\xff\x7fabc")), "past the end")
	mustFail(t, "bad protocol", pickleZip(t, []byte("\x80\x09}.")), "protocol 9")
	mustFail(t, "leftover stack", pickleZip(t, []byte("\x80\x02}}.")), "left over")
	mustFail(t, "huge LONG", pickleZip(t, []byte("\x80\x02\x8a\x10"+strings.Repeat("\xff", 16)+".")), "too large")
	mustFail(t, "list as dict key", pickleZip(t, []byte("\x80\x02}]Ns.")), "dict key")
	mustFail(t, "deep marks", pickleZip(t, bytes.Repeat([]byte("("), maxMarkDepth+1)), "nested deeper")
	mustFail(t, "BUILD on a string", pickleZip(t, []byte("\x80\x02X\x01\x00\x00\x00a}b.")), "BUILD on string")

	// Tuples nested through the memo, t(i+1) = (t(i), t(i)): 2^60 leaves from 250 bytes.
	// Neither checking it as a dict key nor printing it in an error may walk it.
	nested := []byte("\x80\x02})")
	for i := range 60 {
		nested = append(nested, 'q', byte(i), 'h', byte(i), '\x86')
	}
	mustFail(t, "exponential tuple as key", pickleZip(t, append(nested, "Ns."...)), "no floating-point tensors")
	mustFail(t, "exponential tuple as persistent id", pickleZip(t, append(nested, "Q."...)), "persistent id ((((")

	// A dict that holds itself under "state_dict": the search for nested weights must end.
	selfRef := []byte("\x80\x02}q\x00X\x0a\x00\x00\x00state_dicth\x00s.")
	mustFail(t, "self-referencing dict", pickleZip(t, selfRef), "no floating-point tensors")
}

// TestReadShapes checks the geometry rules on hand-made storages, with exact values.
func TestReadShapes(t *testing.T) {
	storage := zipEntry{name: "0", data: floats(12)} // values 0..11
	b := pickleZip(t, tensorPickle(
		tensorSpec{name: "rows", key: "0", numel: 12, offset: 4, shape: []int{2, 3}, stride: []int{3, 1}},
		tensorSpec{name: "cols", key: "0", numel: 12, shape: []int{3, 4}, stride: []int{1, 3}},
		tensorSpec{name: "bcast", key: "0", numel: 12, offset: 11, shape: []int{2, 2}, stride: []int{0, 0}},
		tensorSpec{name: "empty", key: "0", numel: 12, offset: 12, shape: []int{0, 5}, stride: []int{5, 1}},
		tensorSpec{name: "ones", key: "0", numel: 12, offset: 2, shape: []int{1, 1, 3}, stride: []int{99, 7, 1}},
	), storage)
	got, err := Read(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]float32{
		"rows":  {4, 5, 6, 7, 8, 9},
		"cols":  {0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11},
		"bcast": {11, 11, 11, 11},
		"empty": {},
		"ones":  {2, 3, 4},
	}
	for k, w := range want {
		if g := got[k]; g == nil || !equalF32(g.Data, w) {
			t.Errorf("%s: got %v, want %v", k, g, w)
		}
	}
}

// TestReadDeflatedAndBigEndian reads entries other writers may produce: deflate-compressed
// storages and a big-endian byteorder record.
func TestReadDeflatedAndBigEndian(t *testing.T) {
	pkl := tensorPickle(tensorSpec{name: "w", key: "0", numel: 3, shape: []int{3}, stride: []int{1}})
	vals := []float32{1.5, -2, 1e-3}
	b := pickleZip(t, pkl, zipEntry{name: "0", data: float32Bytes(nil, vals), deflate: true})
	got, err := Read(bytes.NewReader(b), int64(len(b)))
	if err != nil || !equalF32(got["w"].Data, vals) {
		t.Errorf("deflated storage: got %v, %v", got["w"], err)
	}
	var be []byte
	for _, v := range vals {
		be = binary.BigEndian.AppendUint32(be, math.Float32bits(v))
	}
	b = buildZip(t, zipEntry{name: "archive/data.pkl", data: pkl}, zipEntry{name: "archive/byteorder", data: []byte("big")},
		zipEntry{name: "archive/data/0", data: be})
	got, err = Read(bytes.NewReader(b), int64(len(b)))
	if err != nil || !equalF32(got["w"].Data, vals) {
		t.Errorf("big-endian storage: got %v, %v", got["w"], err)
	}
	b = buildZip(t, zipEntry{name: "archive/data.pkl", data: pkl}, zipEntry{name: "archive/byteorder", data: []byte("middle")})
	mustFail(t, "bad byteorder", b, "byteorder")
}

func equalF32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// TestReadLegacyCorrupt cuts and flips a legacy file written by torch.save. The format has
// no checksums, so a flipped value goes unnoticed, but nothing may panic and a cut file
// must fail.
func TestReadLegacyCorrupt(t *testing.T) {
	dir, err := torchSeeds()
	if err != nil {
		t.Skipf("needs torch.save's legacy format from %s: %v", torchPython, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "legacy_zoo.pth"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Read(bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatalf("intact legacy file: %v", err)
	}
	for n := 0; n < len(b); n++ {
		if got, err := Read(bytes.NewReader(b[:n]), int64(n)); err == nil {
			t.Fatalf("legacy file cut to %d of %d bytes read as %d tensors, want an error", n, len(b), len(got))
		}
	}
	caught := 0
	for i := range b {
		c := append([]byte(nil), b...)
		c[i] ^= 0x5a
		if _, err := Read(bytes.NewReader(c), int64(len(c))); err != nil {
			caught++
		}
	}
	t.Logf("%d of %d flips caught", caught, len(b))

	// A storage whose element count disagrees with its description.
	var count [8]byte
	binary.LittleEndian.PutUint64(count[:], 1<<40)
	i := bytes.LastIndex(b, []byte{2, 0, 0, 0, 0, 0, 0, 0}) // the 2-value bool storage comes last
	c := append(append(append([]byte(nil), b[:i]...), count[:]...), b[i+8:]...)
	mustFail(t, "legacy count", c, "its description says 2")
}
