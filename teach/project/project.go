// Package project reads and writes Teach projects (`.alxt`): the classes a reader named,
// their photos (each photo's embeddings and thumbnail) and the head trained on them, so a
// project is saved, reloaded offline and shared. A project is two files of formats AlexLens
// already reads, in a small wrapper (FORMAT.md):
//
//   - the photos as an `.alxg` gallery (gallery.Decode): one item per embedding (a photo's,
//     then its augmentations'), f16, with the network, layer and weights' fingerprint in its
//     header;
//   - the head, when one is trained, as an `.alxw` head file (weights.DecodeHead).
package project

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/alexlens/alexlens/gallery"
	"github.com/alexlens/alexlens/teach"
	"github.com/alexlens/alexlens/weights"
)

// Magic and Version open every project file.
const (
	Magic   = "ALXT"
	Version = 1
)

// Limits a project file is held to before anything is allocated.
const (
	MaxManifestBytes   = 1 << 20
	MaxPhotos          = 100_000
	MaxPhotoEmbeddings = 16 // of one photo: the photo's and its augmentations'
	MaxClassName       = 64 // bytes
)

// Project is a Teach view's state.
type Project struct {
	// Header says which network, weights and layer the embeddings come from; its Encoding
	// and Thumb are the file's (Encode sets F16).
	Header  gallery.Header
	Classes []string
	Photos  []Photo
	// Head is the head trained on the photos, or nil.
	Head *teach.Head
	// Hidden and Seed are the training settings the view had.
	Hidden int
	Seed   int64
}

// Photo is one photo of a class.
type Photo struct {
	Name  string
	Class int
	Thumb []byte // JPEG, Header.Thumb pixels square
	// Embeddings are the photo's and its augmentations' (teach.Augment), Header.Dim each.
	Embeddings [][]float32
}

// manifest is the wrapper's JSON: what the gallery's items mean.
type manifest struct {
	Classes []string        `json:"classes"`
	Photos  []manifestPhoto `json:"photos"`
	Hidden  int             `json:"hidden"`
	Seed    int64           `json:"seed"`
}

type manifestPhoto struct {
	Class    int `json:"class"`
	Examples int `json:"examples"` // consecutive gallery items
}

// Check reports the first inconsistency of p.
func (p *Project) Check() error {
	if len(p.Classes) > teach.MaxClasses {
		return fmt.Errorf("project: %d classes, at most %d", len(p.Classes), teach.MaxClasses)
	}
	for i, c := range p.Classes {
		if c == "" || len(c) > MaxClassName || !utf8.ValidString(c) || strings.TrimSpace(c) != c {
			return fmt.Errorf("project: class %d's name %.40q must be 1 to %d bytes of UTF-8 without surrounding spaces", i, c, MaxClassName)
		}
		if slices.Index(p.Classes, c) != i {
			return fmt.Errorf("project: two classes are named %q", c)
		}
	}
	if len(p.Photos) > MaxPhotos {
		return fmt.Errorf("project: %d photos, at most %d", len(p.Photos), MaxPhotos)
	}
	for i, ph := range p.Photos {
		if ph.Class < 0 || ph.Class >= len(p.Classes) {
			return fmt.Errorf("project: photo %d (%q) is of class %d; there are %d classes", i, ph.Name, ph.Class, len(p.Classes))
		}
		if len(ph.Embeddings) < 1 || len(ph.Embeddings) > MaxPhotoEmbeddings {
			return fmt.Errorf("project: photo %d (%q) has %d embeddings, want 1 to %d", i, ph.Name, len(ph.Embeddings), MaxPhotoEmbeddings)
		}
	}
	if p.Hidden < 0 || p.Hidden > teach.MaxHidden {
		return fmt.Errorf("project: %d hidden units, at most %d", p.Hidden, teach.MaxHidden)
	}
	if h := p.Head; h != nil {
		if err := h.Check(); err != nil {
			return fmt.Errorf("project: %w", err)
		}
		if h.Arch != p.Header.Arch || h.Layer != p.Header.Layer || h.Dim != p.Header.Dim || h.WeightsSHA256 != p.Header.Weights.SHA256 {
			return fmt.Errorf("project: the head reads %s %s (%d values, weights %.12s), the photos are %s %s (%d values, weights %.12s)",
				h.Arch, h.Layer, h.Dim, h.WeightsSHA256, p.Header.Arch, p.Header.Layer, p.Header.Dim, p.Header.Weights.SHA256)
		}
		if !slices.Equal(h.Classes, p.Classes) {
			return fmt.Errorf("project: the head's classes %q are not the project's %q", h.Classes, p.Classes)
		}
	}
	return nil
}

// Encode writes p: the wrapper, the photos as an f16 gallery, the head if any.
func Encode(w io.Writer, p *Project) error {
	if err := p.Check(); err != nil {
		return err
	}
	h := p.Header
	h.Encoding, h.Atlas = gallery.F16, nil
	g, err := gallery.New(h)
	if err != nil {
		return fmt.Errorf("project: %w", err)
	}
	m := manifest{Classes: p.Classes, Photos: make([]manifestPhoto, len(p.Photos)), Hidden: p.Hidden, Seed: p.Seed}
	if m.Classes == nil {
		m.Classes = []string{}
	}
	for i, ph := range p.Photos {
		m.Photos[i] = manifestPhoto{Class: ph.Class, Examples: len(ph.Embeddings)}
		for j, e := range ph.Embeddings {
			it := gallery.Item{Name: ph.Name, Class: -1, Label: p.Classes[ph.Class]}
			if j == 0 {
				it.Thumb = ph.Thumb // the augmentations share the photo's
			}
			if err := g.Add(it, e); err != nil {
				return fmt.Errorf("project: photo %d (%q): %w", i, ph.Name, err)
			}
		}
	}
	js, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var gb, hb bytes.Buffer
	if err := g.Encode(&gb); err != nil {
		return err
	}
	if p.Head != nil {
		if err := weights.EncodeHead(&hb, p.Head, "AlexLens Teach project"); err != nil {
			return err
		}
	}
	var out bytes.Buffer
	out.WriteString(Magic)
	out.Write(binary.LittleEndian.AppendUint32(nil, Version))
	out.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(js))))
	out.Write(js)
	for _, part := range [][]byte{gb.Bytes(), hb.Bytes()} {
		out.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(part))))
		out.Write(part)
	}
	_, err = w.Write(out.Bytes())
	return err
}

// ErrNotProject is returned for data that is not a project file at all.
var ErrNotProject = errors.New("project: not an AlexLens Teach project (.alxt)")

// Decode reads a whole project file, checking every length against the bytes present, the
// gallery and the head with their own readers, and the three against one another.
func Decode(data []byte) (*Project, error) {
	if len(data) < 12 || string(data[:4]) != Magic {
		return nil, ErrNotProject
	}
	if v := binary.LittleEndian.Uint32(data[4:]); v != Version {
		return nil, fmt.Errorf("project: version %d; this AlexLens reads version %d", v, Version)
	}
	rest := data[12:]
	n := uint64(binary.LittleEndian.Uint32(data[8:]))
	if n > MaxManifestBytes || n > uint64(len(rest)) {
		return nil, fmt.Errorf("project: manifest of %d bytes, %d present (truncated file?)", n, len(rest))
	}
	var m manifest
	dec := json.NewDecoder(bytes.NewReader(rest[:n]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("project: manifest: %v", err)
	}
	rest = rest[n:]
	var parts [2][]byte
	for i, what := range []string{"photos", "head"} {
		if len(rest) < 8 {
			return nil, fmt.Errorf("project: the file ends before its %s (truncated file?)", what)
		}
		size := binary.LittleEndian.Uint64(rest)
		rest = rest[8:]
		if size > uint64(len(rest)) {
			return nil, fmt.Errorf("project: %s of %d bytes, %d present (truncated file?)", what, size, len(rest))
		}
		parts[i], rest = rest[:size], rest[size:]
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("project: %d bytes after the head", len(rest))
	}
	g, err := gallery.Decode(parts[0])
	if err != nil {
		return nil, fmt.Errorf("project: photos: %w", err)
	}
	if g.Header.Atlas != nil {
		return nil, errors.New("project: the photos are an atlas file")
	}
	p := &Project{Header: g.Header, Classes: m.Classes, Hidden: m.Hidden, Seed: m.Seed}
	if len(m.Photos) > MaxPhotos {
		return nil, fmt.Errorf("project: %d photos, at most %d", len(m.Photos), MaxPhotos)
	}
	item := 0
	for i, mp := range m.Photos {
		if mp.Examples < 1 || mp.Examples > MaxPhotoEmbeddings || item+mp.Examples > g.Len() {
			return nil, fmt.Errorf("project: photo %d has %d embeddings; %d of the %d stored are left", i, mp.Examples, g.Len()-item, g.Len())
		}
		ph := Photo{Name: g.Items[item].Name, Class: mp.Class, Thumb: g.Items[item].Thumb}
		for range mp.Examples {
			ph.Embeddings = append(ph.Embeddings, g.Embedding(item, nil))
			item++
		}
		p.Photos = append(p.Photos, ph)
	}
	if item != g.Len() {
		return nil, fmt.Errorf("project: %d embeddings stored, the photos account for %d", g.Len(), item)
	}
	if len(parts[1]) > 0 {
		if p.Head, err = weights.DecodeHead(parts[1]); err != nil {
			return nil, fmt.Errorf("project: head: %w", err)
		}
	}
	if err := p.Check(); err != nil {
		return nil, err
	}
	return p, nil
}
