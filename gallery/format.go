package gallery

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"unicode/utf8"
)

// The .alxg file format; FORMAT.md is its specification.
const (
	Magic          = "ALXG"
	Version        = 1
	maxHeaderBytes = 1 << 20
	// MaxFileBytes bounds what ReadFile reads: 4M items of 4096 int8 components is 16 GiB,
	// far beyond any gallery a browser could hold, so the limit is on the file.
	MaxFileBytes = 4 << 30
)

// ErrFormat is wrapped by every error about a file that is not a valid gallery.
var ErrFormat = errors.New("gallery: not a valid .alxg file")

// wireHeader is the JSON header: Header plus the item count.
type wireHeader struct {
	Header
	Count int `json:"count"`
}

// Encode writes the gallery in the .alxg format. The same gallery always gives the same bytes.
func (g *Gallery) Encode(w io.Writer) error {
	if err := g.Header.validate(); err != nil {
		return err
	}
	if err := g.checkAtlas(); err != nil {
		return err
	}
	hdr, err := json.Marshal(wireHeader{g.Header, g.Len()})
	if err != nil {
		return err
	}
	if len(hdr) > maxHeaderBytes {
		return fmt.Errorf("gallery: the header is %d bytes, limit %d", len(hdr), maxHeaderBytes)
	}
	var b bytes.Buffer
	b.WriteString(Magic)
	b.Write(binary.LittleEndian.AppendUint32(nil, Version))
	b.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(hdr))))
	b.Write(hdr)
	pad8(&b)
	for _, it := range g.Items {
		var rec []byte
		rec = binary.LittleEndian.AppendUint16(rec, uint16(len(it.Name)))
		rec = append(rec, it.Name...)
		rec = binary.LittleEndian.AppendUint16(rec, uint16(len(it.Label)))
		rec = append(rec, it.Label...)
		rec = binary.LittleEndian.AppendUint32(rec, uint32(int32(it.Class)))
		rec = binary.LittleEndian.AppendUint32(rec, uint32(len(it.Thumb)))
		b.Write(rec)
		b.Write(it.Thumb)
	}
	pad8(&b)
	if _, err := w.Write(b.Bytes()); err != nil {
		return err
	}
	// The embedding block is written in chunks so a large gallery is not copied whole.
	const chunk = 1 << 16
	var buf []byte
	switch g.Header.Encoding {
	case F16:
		for i := 0; i < len(g.half); i += chunk {
			buf = buf[:0]
			for _, h := range g.half[i:min(i+chunk, len(g.half))] {
				buf = binary.LittleEndian.AppendUint16(buf, h)
			}
			if _, err := w.Write(buf); err != nil {
				return err
			}
		}
	case Int8:
		for _, s := range g.scale {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(s))
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
		for i := 0; i < len(g.q); i += chunk {
			if _, err := w.Write(int8Bytes(g.q[i:min(i+chunk, len(g.q))])); err != nil {
				return err
			}
		}
	}
	return nil
}

func pad8(b *bytes.Buffer) {
	for b.Len()%8 != 0 {
		b.WriteByte(0)
	}
}

// WriteFile writes the gallery to path through a temporary file and a rename, so a failed
// write never leaves a half-written gallery behind.
func (g *Gallery) WriteFile(path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := g.Encode(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ReadFile reads a gallery file.
func ReadFile(path string) (*Gallery, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > MaxFileBytes {
		return nil, fmt.Errorf("%s: %d bytes is larger than the %d-byte limit for galleries", path, st.Size(), int64(MaxFileBytes))
	}
	data := make([]byte, st.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	g, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

// formatErr wraps ErrFormat with a description of what is wrong.
func formatErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, a...))
}

// Decode parses a whole .alxg file. Every size is checked against the bytes actually present
// before anything is allocated, so a hostile file costs at most about its own size in memory.
func Decode(data []byte) (*Gallery, error) {
	if len(data) < 12 {
		if len(data) >= 4 && string(data[:4]) != Magic {
			return nil, formatErr("no ALXG magic at the start (is it a gallery file?)")
		}
		return nil, formatErr("file is %d bytes, too short for the 12-byte preamble", len(data))
	}
	if string(data[:4]) != Magic {
		return nil, formatErr("no ALXG magic at the start (found %q; is it a gallery file?)", data[:4])
	}
	if v := binary.LittleEndian.Uint32(data[4:]); v != Version {
		return nil, formatErr("version %d; this build reads version %d", v, Version)
	}
	hlen := int64(binary.LittleEndian.Uint32(data[8:]))
	if hlen < 2 || hlen > maxHeaderBytes {
		return nil, formatErr("header length %d out of range 2..%d", hlen, maxHeaderBytes)
	}
	if 12+hlen > int64(len(data)) {
		return nil, formatErr("header of %d bytes runs past the end of the %d-byte file (truncated?)", hlen, len(data))
	}
	var wh wireHeader
	if err := json.Unmarshal(data[12:12+hlen], &wh); err != nil {
		return nil, formatErr("header is not valid JSON: %v", err)
	}
	if err := wh.Header.validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	h := wh.Header
	if wh.Count < 0 || wh.Count > MaxItems {
		return nil, formatErr("item count %d out of range 0..%d", wh.Count, MaxItems)
	}
	off := align8(12 + hlen)
	if err := zeros(data, 12+hlen, off); err != nil {
		return nil, err
	}
	// Each item record takes at least 12 bytes: refuse counts the file cannot hold before
	// allocating the item slice.
	if int64(wh.Count)*12 > int64(len(data))-off {
		return nil, formatErr("%d items cannot fit in the %d bytes after the header (truncated?)", wh.Count, int64(len(data))-off)
	}
	g := &Gallery{Header: h, Items: make([]Item, wh.Count)}
	for i := range g.Items {
		it, n, err := readItem(data[off:], h.Thumb)
		if err != nil {
			return nil, fmt.Errorf("%w: item %d: %v", ErrFormat, i, err)
		}
		g.Items[i] = it
		off += n
	}
	if err := g.checkAtlas(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	embOff := align8(off)
	if err := zeros(data, off, embOff); err != nil {
		return nil, err
	}
	count, dim := int64(wh.Count), int64(h.Dim)
	var want int64
	switch h.Encoding {
	case F16:
		want = count * dim * 2
	case Int8:
		want = count*4 + count*dim
	}
	if have := int64(len(data)) - embOff; have != want {
		if have < want {
			return nil, formatErr("embeddings need %d bytes, the file has %d (truncated?)", want, max(have, 0))
		}
		return nil, formatErr("%d bytes after the embeddings (trailing data)", have-want)
	}
	emb := data[embOff:]
	switch h.Encoding {
	case F16:
		g.half = make([]uint16, count*dim)
		for i := range g.half {
			v := binary.LittleEndian.Uint16(emb[2*i:])
			if !halfFinite(v) {
				return nil, formatErr("embedding of item %d holds an infinite or NaN value", int64(i)/dim)
			}
			g.half[i] = v
		}
	case Int8:
		g.scale = make([]float32, count)
		for i := range g.scale {
			s := math.Float32frombits(binary.LittleEndian.Uint32(emb[4*i:]))
			if !(s >= 0) || math.IsInf(float64(s), 0) {
				return nil, formatErr("item %d has scale %v (want a finite value >= 0)", i, s)
			}
			g.scale[i] = s
		}
		g.q = make([]int8, count*dim)
		for i, b := range emb[4*count:] {
			if b == 0x80 {
				return nil, formatErr("embedding of item %d holds -128 (values are -127..127)", int64(i)/dim)
			}
			g.q[i] = int8(b)
		}
	}
	g.norm = make([]float32, count)
	buf := make([]float32, dim)
	for i := range g.norm {
		g.norm[i] = norm(g.Embedding(i, buf))
	}
	return g, nil
}

func align8(n int64) int64 { return (n + 7) &^ 7 }

func zeros(data []byte, from, to int64) error {
	if to > int64(len(data)) {
		return formatErr("padding at byte %d runs past the end of the file (truncated?)", from)
	}
	for _, b := range data[from:to] {
		if b != 0 {
			return formatErr("non-zero padding at byte %d", from)
		}
	}
	return nil
}

// readItem parses one item record from the start of b and returns it with its length.
func readItem(b []byte, thumbSide int) (Item, int64, error) {
	var it Item
	p := 0
	str := func(what string, limit int) (string, error) {
		if len(b)-p < 2 {
			return "", fmt.Errorf("truncated before the %s length", what)
		}
		n := int(binary.LittleEndian.Uint16(b[p:]))
		p += 2
		if n > limit {
			return "", fmt.Errorf("%s is %d bytes, limit %d", what, n, limit)
		}
		if len(b)-p < n {
			return "", fmt.Errorf("%s runs past the end of the file (truncated?)", what)
		}
		s := b[p : p+n]
		p += n
		if !utf8.Valid(s) {
			return "", fmt.Errorf("%s is not UTF-8", what)
		}
		return string(s), nil
	}
	var err error
	if it.Name, err = str("name", MaxNameBytes); err != nil {
		return it, 0, err
	}
	if it.Label, err = str("label", MaxLabelBytes); err != nil {
		return it, 0, err
	}
	if len(b)-p < 8 {
		return it, 0, errors.New("truncated before the class and thumbnail length")
	}
	it.Class = int(int32(binary.LittleEndian.Uint32(b[p:])))
	n := int64(binary.LittleEndian.Uint32(b[p+4:]))
	p += 8
	if n > MaxThumbBytes {
		return it, 0, fmt.Errorf("thumbnail is %d bytes, limit %d", n, MaxThumbBytes)
	}
	if int64(len(b)-p) < n {
		return it, 0, errors.New("thumbnail runs past the end of the file (truncated?)")
	}
	if n > 0 {
		it.Thumb = append([]byte(nil), b[p:p+int(n)]...)
	}
	p += int(n)
	if err := it.validate(thumbSide); err != nil {
		return it, 0, err
	}
	return it, int64(p), nil
}
