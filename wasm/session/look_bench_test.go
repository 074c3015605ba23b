package session

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/gallery"
	"github.com/alexlens/alexlens/gallery/gallerytest"
	"github.com/alexlens/alexlens/wasm/protocol"
	"github.com/alexlens/alexlens/weights"
)

// Native counterparts of the browser's look-inside numbers (BENCHMARKS.md, "Look inside"):
// the same session.Look code the worker runs, on the CPU backend with all cores (the browser
// worker has one).

func benchLook(b *testing.B, arch *engine.Arch) *Look {
	b.Helper()
	var buf bytes.Buffer
	if err := weights.Encode(&buf, weights.Fixture(arch, 1), weights.FixtureSource(1)); err != nil {
		b.Fatal(err)
	}
	s := New(DefaultCodecs(), nil)
	if _, err := s.Load(buf.Bytes(), LoadOptions{}); err != nil {
		b.Fatal(err)
	}
	l := NewLook(s)
	if _, err := l.Header(); err != nil { // fingerprinting is a one-off per model
		b.Fatal(err)
	}
	return l
}

// SyntheticGallery encodes n random ReLU-like embeddings for l's model (what the browser
// benchmark loads as a file), without thumbnails.
func syntheticGallery(b *testing.B, l *Look, n int) []byte {
	b.Helper()
	h, _ := l.Header()
	h.Thumb = 0
	g, err := gallery.New(h)
	if err != nil {
		b.Fatal(err)
	}
	if err := gallerytest.Fill(g, n, 1); err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	if err := g.Encode(&buf); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkLookAdd is adding one photo to a gallery: decode, resize, embed (forward to the
// embedding layer and on to the logits for the label), thumbnail. images/s = 1e9 / ns/op.
func BenchmarkLookAdd(b *testing.B) {
	for _, arch := range []*engine.Arch{engine.SqueezeNet11, engine.AlexNet} {
		b.Run(arch.Name, func(b *testing.B) {
			l := benchLook(b, arch)
			data, err := readSample("chelsea.jpg")
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := l.Add(data, fmt.Sprint(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLookNeighbors is one k=8 cosine query against n items, as the Embeddings view
// asks it (SqueezeNet: 512 components; AlexNet fc7: 4096).
func BenchmarkLookNeighbors(b *testing.B) {
	for _, arch := range []*engine.Arch{engine.SqueezeNet11, engine.AlexNet} {
		for _, n := range []int{1000, 10000, 100000} {
			if arch == engine.AlexNet && n == 100000 {
				continue // 410 MB of codes: SqueezeNet shows the large case
			}
			b.Run(fmt.Sprintf("%s/items=%d", arch.Name, n), func(b *testing.B) {
				l := benchLook(b, arch)
				if _, err := l.Load(syntheticGallery(b, l, n), false); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := l.Neighbors(i%n, 8, "cosine"); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkLookAtlas is one atlas of n SqueezeNet embeddings: PCA, or t-SNE (1000 steps).
func BenchmarkLookAtlas(b *testing.B) {
	for _, c := range []struct {
		method string
		n      int
	}{{"pca", 1000}, {"pca", 10000}, {"tsne", 1000}} {
		b.Run(fmt.Sprintf("%s/items=%d", c.method, c.n), func(b *testing.B) {
			l := benchLook(b, engine.SqueezeNet11)
			if _, err := l.Load(syntheticGallery(b, l, c.n), false); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := l.Atlas(context.Background(), protocol.LookRequest{Method: c.method, Grid: 8}, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLookFeatureVis is one feature visualization as the Units view runs it: 64 steps,
// 128 px, a SqueezeNet channel.
func BenchmarkLookFeatureVis(b *testing.B) {
	l := benchLook(b, engine.SqueezeNet11)
	req := protocol.LookRequest{Objective: "channel", Layer: "fire6", Channel: 3, Size: 128, Steps: 64, Seed: 1}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.FeatureVis(context.Background(), req, nil); err != nil {
			b.Fatal(err)
		}
	}
}
