package main

import (
	"fmt"
	"io"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/engine/preprocess"
	"github.com/alexlens/alexlens/gallery"
)

type neighborOut struct {
	Item     string  `json:"item"`
	Distance float32 `json:"distance"`
	Label    string  `json:"label,omitempty"`
}

type neighborsOut struct {
	Image     string        `json:"image"`
	Neighbors []neighborOut `json:"neighbors"`
	Error     string        `json:"error,omitempty"`
}

// galleryAndModel reads the gallery at path and the model the flags name (its architecture
// by default the gallery's), and checks that the gallery's embeddings are this model's: the
// same network and weights (gallery.Header.Compatible).
func galleryAndModel(mf *modelFlags, path string, stderr io.Writer) (*gallery.Gallery, *engine.Model, gallery.Header, error) {
	g, err := gallery.ReadFile(path)
	if err != nil {
		return nil, nil, gallery.Header{}, err
	}
	if mf.arch == "" {
		mf.arch = g.Header.Arch
	}
	m, err := mf.load(stderr)
	if err != nil {
		return nil, nil, gallery.Header{}, err
	}
	if m.Arch.Name != g.Header.Arch {
		return nil, nil, gallery.Header{}, fmt.Errorf("%s: %w: the gallery holds %s %s embeddings, the model is %s", path, gallery.ErrIncompatible, g.Header.Arch, g.Header.Layer, m.Arch.Name)
	}
	h, err := gallery.HeaderFor(m, g.Header.Layer, g.Header.Encoding, g.Header.Thumb, mf.weights)
	if err != nil {
		return nil, nil, gallery.Header{}, fmt.Errorf("%s: %w", path, err)
	}
	if err := g.Header.Compatible(h); err != nil {
		return nil, nil, gallery.Header{}, fmt.Errorf("%s: %w", path, err)
	}
	return g, m, h, nil
}

func cmdNeighbors(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("neighbors", stderr)
	var mf modelFlags
	mf.register(fs)
	galleryPath := fs.String("gallery", "", "the gallery file (.alxg) made by alexlens index")
	k := fs.Int("k", 5, "neighbours per image")
	metricName := fs.String("metric", "cosine", "distance: cosine or euclidean")
	asJSON := fs.Bool("json", false, "print one JSON array with an object per image")
	images, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(images) == 0 {
		return usagef("neighbors: give at least one image")
	}
	if *galleryPath == "" {
		return usagef("neighbors: --gallery is required")
	}
	if *k < 1 {
		return usagef("--k must be at least 1")
	}
	metric, err := gallery.ParseMetric(*metricName)
	if err != nil {
		return usageError{err.Error()}
	}
	g, model, h, err := galleryAndModel(&mf, *galleryPath, stderr)
	if err != nil {
		return err
	}
	var out []neighborsOut
	failed := 0
	for _, path := range images {
		r := neighborsOut{Image: path, Neighbors: []neighborOut{}}
		res, err := neighborsOf(g, model, mf, h, path, *k, metric)
		if err != nil {
			r.Error = err.Error()
			failed++
			fmt.Fprintf(stderr, "%s: %v\n", path, err)
		}
		for _, n := range res {
			it := g.Items[n.Index]
			r.Neighbors = append(r.Neighbors, neighborOut{it.Name, n.Distance, it.Label})
		}
		out = append(out, r)
		if !*asJSON && r.Error == "" {
			fmt.Fprintf(stdout, "%s\n", path)
			for i, n := range r.Neighbors {
				fmt.Fprintf(stdout, "  %d. %-40s %s %.4f  %s\n", i+1, n.Item, metric, n.Distance, n.Label)
			}
		}
	}
	if *asJSON {
		if err := printJSON(stdout, out); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d images failed", failed, len(images))
	}
	return nil
}

func neighborsOf(g *gallery.Gallery, m *engine.Model, mf modelFlags, h gallery.Header, path string, k int, metric gallery.Metric) ([]gallery.Neighbor, error) {
	x, err := preprocess.Load(path, m.Arch.InputSize)
	if err != nil {
		return nil, err
	}
	emb, _, err := gallery.Embed(m, mf.backend(), x, h, false)
	if err != nil {
		return nil, err
	}
	res, err := g.Search(emb, gallery.SearchOptions{K: k, Metric: metric, Threads: mf.threads})
	if err != nil {
		return nil, err
	}
	return res[0], nil
}
