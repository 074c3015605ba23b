package weights

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/alexlens/alexlens/engine"
)

func encodeBytes(t testing.TB, m *engine.Model, source string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Encode(&buf, m, source); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sameParams fails unless both models hold the same parameters bit for bit.
func sameParams(t *testing.T, got, want *engine.Model) {
	t.Helper()
	if len(got.Params) != len(want.Params) {
		t.Fatalf("%d parameters, want %d", len(got.Params), len(want.Params))
	}
	for k, w := range want.Params {
		g := got.Params[k]
		if g == nil {
			t.Fatalf("parameter %s missing", k)
		}
		if !slices.Equal(g.Shape, w.Shape) || len(g.F32) != len(w.F32) || len(g.I8) != len(w.I8) || len(g.Scale) != len(w.Scale) {
			t.Fatalf("%s: shape %v (%d f32, %d i8, %d scales), want %v (%d, %d, %d)", k, g.Shape, len(g.F32), len(g.I8), len(g.Scale), w.Shape, len(w.F32), len(w.I8), len(w.Scale))
		}
		for i := range w.F32 {
			if math.Float32bits(g.F32[i]) != math.Float32bits(w.F32[i]) {
				t.Fatalf("%s[%d] = %v, want %v", k, i, g.F32[i], w.F32[i])
			}
		}
		for i := range w.I8 {
			if g.I8[i] != w.I8[i] {
				t.Fatalf("%s int8[%d] = %d, want %d", k, i, g.I8[i], w.I8[i])
			}
		}
		for i := range w.Scale {
			if math.Float32bits(g.Scale[i]) != math.Float32bits(w.Scale[i]) {
				t.Fatalf("%s scale[%d] = %v, want %v", k, i, g.Scale[i], w.Scale[i])
			}
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, c := range []struct {
		arch *engine.Arch
		prec engine.Precision
	}{
		{engine.SqueezeNet11, engine.F32},
		{engine.SqueezeNet11, engine.Int8},
		{engine.AlexNetBVLC, engine.Int8}, // grouped convolutions and 4096-row scales
	} {
		t.Run(c.arch.Name+"-"+string(c.prec), func(t *testing.T) {
			m := Fixture(c.arch, 7).WithPrecision(c.prec)
			data := encodeBytes(t, m, "round trip")
			got, err := Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			if got.Arch != c.arch || !got.Fixture || got.Partial != "" || got.Precision() != c.prec {
				t.Fatalf("decoded %s fixture=%v partial=%q %s", got.Arch.Name, got.Fixture, got.Partial, got.Precision())
			}
			sameParams(t, got, m)
			// Canonical: re-encoding the decoded model gives the same bytes.
			if again := encodeBytes(t, got, "round trip"); !bytes.Equal(again, data) {
				t.Fatal("re-encoding the decoded model changed the file")
			}
			h, err := ReadHeader(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if h.Source != "round trip" || h.Arch != c.arch.Name || h.Precision != c.prec {
				t.Fatalf("header %+v", h)
			}
			for _, ti := range h.Tensors {
				if ti.Offset%16 != 0 {
					t.Errorf("%s at offset %d, not 16-byte aligned", ti.Name, ti.Offset)
				}
			}
		})
	}
}

func TestLayerRangeDecodesAlone(t *testing.T) {
	for _, prec := range []engine.Precision{engine.F32, engine.Int8} {
		full := Fixture(engine.SqueezeNet11, 3).WithPrecision(prec)
		data := encodeBytes(t, full, "range test")
		// A browser reads the prefix and header first, then asks for conv1's bytes alone.
		h, err := ReadHeader(bytes.NewReader(data[:64<<10]))
		if err != nil {
			t.Fatal(err)
		}
		off, n := h.Range("conv1")
		if n == 0 || off%16 != 0 || off != h.DataOffset {
			t.Fatalf("conv1 range %d+%d, data starts at %d", off, n, h.DataOffset)
		}
		ws, err := DecodeLayers(h, off, data[off:off+n])
		if err != nil {
			t.Fatal(err)
		}
		if len(ws) != 2 || ws["features.0.weight"] == nil || ws["features.0.bias"] == nil {
			t.Fatalf("conv1 range decoded to %d tensors", len(ws))
		}
		part, err := h.Model(ws)
		if err != nil {
			t.Fatal(err)
		}
		if part.Partial != "pool1" || !part.Fixture {
			t.Fatalf("partial model ends at %q, fixture %v", part.Partial, part.Fixture)
		}
		// conv1 from the range equals conv1 from the whole file.
		x := testInput(1, 224)
		opt := engine.ForwardOptions{Backend: engine.Reference{}, StopAfter: "conv1"}
		a, err := part.Forward(x, opt)
		if err != nil {
			t.Fatal(err)
		}
		b, err := full.Forward(x, opt)
		if err != nil {
			t.Fatal(err)
		}
		if d := engine.RelL2(a.Activations["conv1"].Data, b.Activations["conv1"].Data); d != 0 {
			t.Fatalf("conv1 from the range differs from the whole model: rel L2 %g", d)
		}
		if _, err := part.Forward(x, engine.ForwardOptions{StopAfter: "fire2"}); err == nil {
			t.Error("a conv1-only model ran to fire2")
		}

		// A later layer alone is not a model, a damaged range fails its hash.
		off2, n2 := h.Range("fire2")
		ws2, err := DecodeLayers(h, off2, data[off2:off2+n2])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.Model(ws2); err == nil || !strings.Contains(err.Error(), "first layers") {
			t.Errorf("fire2 alone made a model: %v", err)
		}
		bad := bytes.Clone(data[off : off+n])
		bad[n/2] ^= 1
		if _, err := DecodeLayers(h, off, bad); err == nil || !strings.Contains(err.Error(), "SHA-256") {
			t.Errorf("flipped bit in conv1: %v", err)
		}
		// A range cut short holds conv1's weight but not its bias: no model from that.
		short, err := DecodeLayers(h, off, data[off:off+n-16])
		if err != nil || len(short) != 1 {
			t.Fatalf("short range: %d tensors, %v", len(short), err)
		}
		if _, err := h.Model(short); err == nil || !strings.Contains(err.Error(), "incomplete") {
			t.Errorf("conv1 without its bias: %v", err)
		}
		if _, err := DecodeLayers(h, off+16, data[off+16:off+64]); err == nil || !strings.Contains(err.Error(), "no whole tensor") {
			t.Errorf("a range inside one tensor: %v", err)
		}
		// The first layers through fire3 in one range give a model that runs to pool3.
		offT, nT := h.RangeThrough("fire3")
		wsT, err := DecodeLayers(h, offT, data[offT:offT+nT])
		if err != nil {
			t.Fatal(err)
		}
		if mT, err := h.Model(wsT); err != nil || mT.Partial != "pool3" || len(wsT) != 14 {
			t.Errorf("conv1..fire3: %d tensors, partial %v, %v", len(wsT), mT, err)
		}
		if o, n := h.RangeThrough("nope"); o != 0 || n != 0 {
			t.Errorf("unknown layer has range %d+%d", o, n)
		}
		if o, n := h.Range("no-such-layer"); o != 0 || n != 0 {
			t.Errorf("unknown layer has range %d+%d", o, n)
		}
	}
}

func TestPartialFile(t *testing.T) {
	// BVLC AlexNet's conv1 alone, as in shared/weights/bvlc_alexnet_conv1.pth.
	ts := map[string]*engine.Tensor{
		"features.0.weight": testInput(96, 11), // 96 x 3 x 11 x 11
		"features.0.bias":   {Shape: []int{96}, Data: testInput(1, 32).Data[:96]},
	}
	part, err := engine.NewPartialModel(engine.AlexNetBVLC, ts)
	if err != nil {
		t.Fatal(err)
	}
	part.Fixture = true
	data := encodeBytes(t, part, "conv1 only")
	got, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if got.Partial != part.Partial || got.Arch != engine.AlexNetBVLC {
		t.Fatalf("partial %q, want %q", got.Partial, part.Partial)
	}
	sameParams(t, got, part)
	h, _ := ReadHeader(bytes.NewReader(data))
	if h.Partial != part.Partial || len(h.Layers) != 1 || h.Layers[0].Name != "conv1" {
		t.Fatalf("header partial %q layers %v", h.Partial, h.Layers)
	}
	// Encode refuses a partial model with a layer more or less than its mark says.
	part.Partial = "conv2"
	if err := Encode(&bytes.Buffer{}, part, ""); err == nil || !strings.Contains(err.Error(), "missing tensor") {
		t.Errorf("partial mark beyond the weights: %v", err)
	}
}

// rebuild re-serializes a valid file after mut changes its header, keeping each tensor's
// bytes and recomputing the layout, so tests can make files Encode would refuse.
func rebuild(t *testing.T, data []byte, mut func(h *Header)) []byte {
	t.Helper()
	h, err := ReadHeader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	payload := map[string][]byte{}
	for _, ti := range h.Tensors {
		payload[ti.Name] = data[ti.Offset : ti.Offset+ti.Length]
	}
	mut(h)
	js, err := h.layout()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	out.WriteString(Magic)
	binary.Write(&out, binary.LittleEndian, uint32(Version))
	binary.Write(&out, binary.LittleEndian, uint32(len(js)))
	out.Write(js)
	for _, ti := range h.Tensors {
		out.Write(make([]byte, ti.Offset-int64(out.Len())))
		out.Write(payload[ti.Name])
	}
	return out.Bytes()
}

func TestBadFiles(t *testing.T) {
	// SqueezeNet's tensors are all multiples of 16 bytes: the only padding is after the
	// header, so pick a source text that leaves some.
	var good []byte
	var h *Header
	for k := 0; h == nil || (prefixBytes+h.HeaderLen)%16 == 0; k++ {
		good = encodeBytes(t, Fixture(engine.SqueezeNet11, 1), "bad files"+strings.Repeat(".", k))
		var err error
		if h, err = ReadHeader(bytes.NewReader(good)); err != nil {
			t.Fatal(err)
		}
	}
	flip := func(at int64) []byte { b := bytes.Clone(good); b[at] ^= 0x40; return b }
	setU32 := func(at int, v uint32) []byte {
		b := bytes.Clone(good)
		binary.LittleEndian.PutUint32(b[at:], v)
		return b
	}
	nan := Fixture(engine.SqueezeNet11, 1)
	nan.Params["features.3.expand3x3.weight"].F32[5] = float32(math.NaN())
	var nanFile bytes.Buffer
	if err := encode(&nanFile, nan, "nan"); err != nil {
		t.Fatal(err)
	}
	if err := Encode(&bytes.Buffer{}, nan, "nan"); err == nil || !strings.Contains(err.Error(), "NaN") {
		t.Errorf("Encode took NaN weights: %v", err)
	}
	q := Fixture(engine.SqueezeNet11, 1).WithPrecision(engine.Int8)
	q.Params["features.0.weight"].Scale[3] = float32(math.Inf(1))
	var infScale bytes.Buffer
	if err := encode(&infScale, q, "inf scale"); err != nil {
		t.Fatal(err)
	}
	conv1 := h.Tensors[0]

	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"not alxw", []byte("PK\x03\x04 this is a zip"), "not an AlexLens weight file"},
		{"future version", setU32(4, 2), "version 2"},
		{"zero header", setU32(8, 0), "out of range"},
		{"oversized header", setU32(8, 1<<30), "out of range"},
		{"header longer than file", setU32(8, MaxHeaderBytes)[:1000], "header truncated"},
		{"header cut", good[:40], "header truncated"},
		{"header not json", flip(12), "JSON"},
		{"truncated data", good[:len(good)-100], "truncated"},
		{"trailing bytes", append(bytes.Clone(good), 0), "padded"},
		{"flipped weight bit", flip(conv1.Offset + 17), "SHA-256"},
		{"flipped last byte", flip(int64(len(good) - 1)), "SHA-256"},
		{"non-zero padding", flip(conv1.Offset - 1), "padding"},
		{"NaN weights", nanFile.Bytes(), "NaN"},
		{"infinite int8 scale", infScale.Bytes(), "scale"},
		{"wrong architecture", rebuild(t, good, func(h *Header) { h.Arch = "alexnet" }), "another architecture"},
		{"unknown architecture", rebuild(t, good, func(h *Header) { h.Arch = "vgg16" }), "unknown architecture"},
		{"missing tensor", rebuild(t, good, func(h *Header) { h.Tensors = h.Tensors[:len(h.Tensors)-1] }), "missing tensor"},
		{"partial mark and full weights", rebuild(t, good, func(h *Header) { h.Partial = "conv1" }), "unexpected tensor"},
		{"tensors out of order", rebuild(t, good, func(h *Header) { h.Tensors[0], h.Tensors[1] = h.Tensors[1], h.Tensors[0] }), "want \"features.0.weight\""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.data)
			if err == nil {
				t.Fatal("decoded without error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
		})
	}
}

// TestHeaderChecks covers header fields that a JSON edit can break while the prefix is fine.
func TestHeaderChecks(t *testing.T) {
	// The source text is slack: each edit empties it and pads the JSON with spaces back to
	// its old length, so data_offset stays right and only the edited field is wrong.
	good := encodeBytes(t, Fixture(engine.SqueezeNet11, 1).WithPrecision(engine.Int8), strings.Repeat("slack ", 40))
	h, _ := ReadHeader(bytes.NewReader(good))
	edit := func(mut func(w *wireHeader)) []byte {
		w := h.toWire()
		mut(w)
		w.Source = ""
		js, _ := json.Marshal(w)
		if int64(len(js)) > h.HeaderLen {
			t.Fatalf("edited header grew by %d bytes", int64(len(js))-h.HeaderLen)
		}
		js = append(js, bytes.Repeat([]byte(" "), int(h.HeaderLen)-len(js))...)
		var out bytes.Buffer
		out.WriteString(Magic)
		binary.Write(&out, binary.LittleEndian, uint32(Version))
		binary.Write(&out, binary.LittleEndian, uint32(len(js)))
		out.Write(js)
		return out.Bytes()
	}
	if _, err := ReadHeader(bytes.NewReader(edit(func(*wireHeader) {}))); err != nil {
		t.Fatalf("an unedited header padded with spaces: %v", err)
	}
	for _, c := range []struct {
		name string
		mut  func(w *wireHeader)
		want string
	}{
		{"no arch", func(w *wireHeader) { w.Arch = "" }, "no architecture"},
		{"bad precision", func(w *wireHeader) { w.Precision = "f16" }, "precision"},
		{"no tensors", func(w *wireHeader) { w.Tensors = nil }, "0 tensors"},
		{"negative dim", func(w *wireHeader) { w.Tensors[0].Shape = []int{-64, 3, 3, 3} }, "out of range"},
		{"huge shape", func(w *wireHeader) { w.Tensors[0].Shape = []int{1 << 20, 1 << 20, 1 << 20} }, "2^31"},
		{"bad dtype", func(w *wireHeader) { w.Tensors[0].DType = "f64" }, "dtype"},
		{"length mismatch", func(w *wireHeader) { w.Tensors[0].Length++ }, "needs"},
		{"misaligned", func(w *wireHeader) { w.Tensors[1].Offset += 4 }, "16-byte"},
		{"bad hash", func(w *wireHeader) { w.Tensors[0].SHA256 = "xyz" }, "hex"},
		{"short scales", func(w *wireHeader) { w.Tensors[0].Scales = "AAAA" }, "scales"},
		{"scales not base64", func(w *wireHeader) { w.Tensors[0].Scales = "!!" }, "base64"},
		{"duplicate tensor", func(w *wireHeader) { w.Tensors[1].Name = w.Tensors[0].Name }, "twice"},
		{"wrong file_bytes", func(w *wireHeader) { w.FileBytes-- }, "file_bytes"},
		{"wrong layer list", func(w *wireHeader) { w.Layers = w.Layers[1:] }, "layers"},
		{"precision vs dtypes", func(w *wireHeader) { w.Precision = "f32" }, "precision"},
		{"int8 bias", func(w *wireHeader) { w.Tensors[1].DType, w.Tensors[1].Length = "int8", 64 }, "int8"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadHeader(bytes.NewReader(edit(c.mut)))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v does not say %q", err, c.want)
			}
		})
	}
}

// testInput is a deterministic N x 3 x s x s batch with unit-ish variance.
func testInput(n, s int) *engine.Tensor {
	x := engine.NewTensor(n, 3, s, s)
	r := splitMix64{state: 99}
	for i := range x.Data {
		x.Data[i] = float32(r.symmetric() * math.Sqrt(3))
	}
	return x
}

// fuzzSeeds are small valid files (SqueezeNet's conv1 alone, f32 and int8) and broken ones.
func fuzzSeeds(f *testing.F) {
	fix := Fixture(engine.SqueezeNet11, 1)
	part, err := engine.NewPartialModel(engine.SqueezeNet11, map[string]*engine.Tensor{
		"features.0.weight": {Shape: []int{64, 3, 3, 3}, Data: fix.Params["features.0.weight"].F32},
		"features.0.bias":   {Shape: []int{64}, Data: fix.Params["features.0.bias"].F32},
	})
	if err != nil {
		f.Fatal(err)
	}
	q := part.WithPrecision(engine.Int8)
	q.Partial = part.Partial
	for _, m := range []*engine.Model{part, q} {
		data := encodeBytes(f, m, "fuzz seed")
		f.Add(data)
		f.Add(data[:len(data)/2])
		f.Add(data[:40])
	}
	f.Add([]byte("ALXW\x01\x00\x00\x00\x02\x00\x00\x00{}"))
}

func FuzzReadHeader(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ReadHeader(bytes.NewReader(data))
		if err != nil {
			return
		}
		// An accepted header describes a consistent layout: every layer inside the file,
		// after the header, in order.
		prev := h.DataOffset
		for _, l := range h.Layers {
			off, n := h.Range(l.Name)
			if off < prev || n <= 0 || off+n > h.FileBytes || off%alignment != 0 {
				t.Fatalf("layer %s at %d+%d (data from %d, file %d bytes)", l.Name, off, n, prev, h.FileBytes)
			}
			prev = off + n
		}
	})
}

func FuzzDecode(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		// Without the tensor hashes the fuzzer's mutations of tensor bytes reach the value
		// checks; with them, whatever decodes must decode without them too.
		m, err := DecodeWith(data, DecodeOptions{SkipTensorHashes: true})
		if _, errFull := Decode(data); errFull == nil && err != nil {
			t.Fatalf("decodes with tensor hashes but not without: %v", err)
		}
		if err != nil {
			return
		}
		// What decodes encodes again and decodes to the same parameters.
		var buf bytes.Buffer
		if err := Encode(&buf, m, "again"); err != nil {
			t.Fatalf("decoded model does not encode: %v", err)
		}
		m2, err := Decode(buf.Bytes())
		if err != nil {
			t.Fatalf("re-encoded model does not decode: %v", err)
		}
		if m2.Partial != m.Partial || m2.Fixture != m.Fixture || len(m2.Params) != len(m.Params) {
			t.Fatalf("re-decoded partial %q fixture %v, was %q %v", m2.Partial, m2.Fixture, m.Partial, m.Fixture)
		}
	})
}

// TestDecodeF32BothPaths checks the copy path against the portable one, NaN and infinity
// detection included.
func TestDecodeF32BothPaths(t *testing.T) {
	vals := []float32{0, -0, 1.5, -3e38, 1e-45, float32(math.Inf(1)), float32(math.NaN())}
	for bad := 4; bad <= len(vals); bad++ {
		src := make([]byte, 4*bad)
		for i, v := range vals[:bad] {
			binary.LittleEndian.PutUint32(src[4*i:], math.Float32bits(v))
		}
		want := -1
		if bad > 5 {
			want = 5
		}
		for _, le := range []bool{true, false} {
			old := littleEndian
			littleEndian = le
			dst := make([]float32, bad)
			got := decodeF32(dst, src)
			littleEndian = old
			if got != want {
				t.Fatalf("little-endian path %v, %d values: first non-finite %d, want %d", le, bad, got, want)
			}
			for i := 0; i < min(bad, 5); i++ {
				if math.Float32bits(dst[i]) != math.Float32bits(vals[i]) {
					t.Fatalf("little-endian path %v: value %d is %v, want %v", le, i, dst[i], vals[i])
				}
			}
		}
	}
}

// TestDecodeSkipTensorHashes: a caller that checked the whole file may skip the tensor
// hashes; a flipped bit then gets through (that is the caller's check to catch), but
// every structural and value check still runs.
func TestDecodeSkipTensorHashes(t *testing.T) {
	m := Fixture(engine.SqueezeNet11, 1)
	good := encodeBytes(t, m, "skip")
	skip := DecodeOptions{SkipTensorHashes: true}
	got, err := DecodeWith(good, skip)
	if err != nil {
		t.Fatal(err)
	}
	sameParams(t, got, m)
	h, _ := ReadHeader(bytes.NewReader(good))
	bad := bytes.Clone(good)
	bad[h.Tensors[0].Offset] ^= 1
	if _, err := Decode(bad); err == nil {
		t.Fatal("Decode took a flipped bit")
	}
	if _, err := DecodeWith(bad, skip); err != nil {
		t.Fatalf("skipping hashes, a flipped bit: %v", err)
	}
	nan := Fixture(engine.SqueezeNet11, 1)
	nan.Params["features.0.bias"].F32[0] = float32(math.Inf(-1))
	var buf bytes.Buffer
	encode(&buf, nan, "nan")
	if _, err := DecodeWith(buf.Bytes(), skip); err == nil || !strings.Contains(err.Error(), "infinite") {
		t.Errorf("skipping hashes, an infinite bias: %v", err)
	}
	if _, err := DecodeWith(good[:len(good)-1], skip); err == nil {
		t.Error("skipping hashes, a truncated file decoded")
	}
}

// TestDecodeAlias: with Alias the model's float32 and int8 tensors are the file's own bytes
// (no second copy of the weights), equal to a copying decode; a NaN is still refused.
func TestDecodeAlias(t *testing.T) {
	for _, p := range []engine.Precision{engine.F32, engine.Int8} {
		m := Fixture(engine.SqueezeNet11, 1).WithPrecision(p)
		data := encodeBytes(t, m, "alias")
		got, err := DecodeWith(data, DecodeOptions{Alias: true})
		if err != nil {
			t.Fatal(err)
		}
		sameParams(t, got, m)
		lo, hi := uintptr(unsafe.Pointer(&data[0])), uintptr(unsafe.Pointer(&data[len(data)-1]))
		for name, w := range got.Params {
			var at uintptr
			switch {
			case len(w.F32) > 0:
				at = uintptr(unsafe.Pointer(&w.F32[0]))
			case len(w.I8) > 0:
				at = uintptr(unsafe.Pointer(&w.I8[0]))
			default:
				continue
			}
			if at < lo || at > hi {
				t.Errorf("%s %s: tensor copied, not aliased", p, name)
			}
		}
	}
	nan := Fixture(engine.SqueezeNet11, 1)
	nan.Params["features.0.bias"].F32[0] = float32(math.NaN())
	var buf bytes.Buffer
	encode(&buf, nan, "nan")
	if _, err := DecodeWith(buf.Bytes(), DecodeOptions{Alias: true, SkipTensorHashes: true}); err == nil || !strings.Contains(err.Error(), "NaN") {
		t.Errorf("aliasing, a NaN bias: %v", err)
	}
}
