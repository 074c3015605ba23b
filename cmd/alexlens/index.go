package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/engine/imagenet"
	"github.com/alexlens/alexlens/engine/preprocess"
	"github.com/alexlens/alexlens/gallery"
)

// imageExts are the file name endings index picks up (the formats preprocess decodes).
var imageExts = []string{".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"}

func cmdIndex(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("index", stderr)
	var mf modelFlags
	mf.register(fs)
	layer := fs.String("layer", "", "layer whose activation embeds each image (default: fc7, or the architecture's own; spatial layers are averaged over positions)")
	encoding := fs.String("encoding", "int8", "embedding storage: int8 (1 byte a component plus a scale per item) or f16")
	thumb := fs.Int("thumb", 64, "thumbnail side in pixels (0: no thumbnails)")
	out := fs.String("o", "", "the gallery file to write (.alxg)")
	appendTo := fs.Bool("append", false, "add to the gallery -o names if it exists, skipping images already in it")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("index: give exactly one folder of images (and -o gallery.alxg)")
	}
	if *out == "" {
		return usagef("index: -o gallery.alxg is required")
	}
	enc := gallery.Encoding(*encoding)
	if enc != gallery.Int8 && enc != gallery.F16 {
		return usagef("--encoding must be int8 or f16, not %q", *encoding)
	}
	if *thumb < 0 || *thumb > gallery.MaxThumbSide {
		return usagef("--thumb must be in 0..%d", gallery.MaxThumbSide)
	}
	dir := rest[0]
	paths, err := imageFiles(dir)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return fmt.Errorf("%s holds no images (looked for %s)", dir, strings.Join(imageExts, " "))
	}
	model, err := mf.load(stderr)
	if err != nil {
		return err
	}
	h, err := gallery.HeaderFor(model, *layer, enc, *thumb, mf.weights)
	if err != nil {
		return usageError{err.Error()}
	}
	g, err := gallery.New(h)
	if err != nil {
		return err
	}
	if *appendTo {
		if old, err := gallery.ReadFile(*out); err == nil {
			if err := old.Header.Compatible(h); err != nil {
				return fmt.Errorf("cannot append to %s: %w", *out, err)
			}
			g = old
		} else if !os.IsNotExist(err) {
			return err
		}
	}
	have := map[string]bool{}
	for _, it := range g.Items {
		have[it.Name] = true
	}
	be := mf.backend()
	added, skipped := 0, 0
	for i, p := range paths {
		name, _ := filepath.Rel(dir, p)
		name = filepath.ToSlash(name)
		if have[name] {
			continue
		}
		fmt.Fprintf(stderr, "[%d/%d] %s\n", i+1, len(paths), name)
		it, emb, err := indexOne(model, be, g.Header, p, name)
		if err != nil {
			fmt.Fprintf(stderr, "warning: skipping %s: %v\n", p, err)
			skipped++
			continue
		}
		if err := g.Add(it, emb); err != nil {
			fmt.Fprintf(stderr, "warning: skipping %s: %v\n", p, err)
			skipped++
			continue
		}
		have[name] = true
		added++
	}
	if g.Len() == 0 {
		return fmt.Errorf("none of the %d images in %s could be indexed", len(paths), dir)
	}
	if err := g.WriteFile(*out); err != nil {
		return err
	}
	st, _ := os.Stat(*out)
	var size int64
	if st != nil {
		size = st.Size()
	}
	fmt.Fprintf(stderr, "wrote %s: %d items (%d new, %d skipped), %s %s embeddings of %d components as %s, %d bytes\n",
		*out, g.Len(), added, skipped, h.Arch, h.Layer, h.Dim, h.Encoding, size)
	return nil
}

// imageFiles lists the image files under dir, in lexical order.
func imageFiles(dir string) ([]string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, usagef("index: %s is not a folder", dir)
	}
	var paths []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			ext := strings.ToLower(filepath.Ext(p))
			for _, e := range imageExts {
				if ext == e {
					paths = append(paths, p)
				}
			}
		}
		return nil
	})
	return paths, err
}

// indexOne embeds one image file and makes its item: thumbnail and top-1 class.
func indexOne(m *engine.Model, be engine.Backend, h gallery.Header, path, name string) (gallery.Item, []float32, error) {
	it := gallery.Item{Name: name, Class: -1}
	data, err := readImageFile(path)
	if err != nil {
		return it, nil, err
	}
	img, err := preprocess.Decode(data, preprocess.DefaultLimits)
	if err != nil {
		return it, nil, err
	}
	emb, logits, err := gallery.Embed(m, be, preprocess.Tensor(img, m.Arch.InputSize), h, true)
	if err != nil {
		return it, nil, err
	}
	if logits != nil {
		top := engine.TopK(engine.Probabilities(logits).Data, 1)[0]
		it.Class, it.Label = top.Index, imagenet.Label(top.Index)
	}
	if h.Thumb > 0 {
		if it.Thumb, err = gallery.Thumbnail(img, h.Thumb); err != nil {
			return it, nil, err
		}
	}
	return it, emb[0], nil
}

// readImageFile reads at most preprocess's size limit plus one byte, so an oversized file is
// refused without being read whole.
func readImageFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, preprocess.DefaultLimits.MaxBytes+1))
}
