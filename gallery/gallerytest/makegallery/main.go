// Command makegallery writes a synthetic gallery (gallerytest.Fill) for the given SqueezeNet
// weights, for benchmarks of the whole atlas: `alexlens atlas` accepts it as that network's.
//
//	go run ./gallery/gallerytest/makegallery -weights fixture|FILE.pth -n 2000 -o g.alxg
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/gallery"
	"github.com/alexlens/alexlens/gallery/gallerytest"
	"github.com/alexlens/alexlens/weights"
)

func main() {
	w := flag.String("weights", "fixture", `"fixture" (seed 1, as alexlens's) or a SqueezeNet 1.1 weights file`)
	n := flag.Int("n", 2000, "images")
	out := flag.String("o", "", "the .alxg to write")
	flag.Parse()
	if err := run(*w, *n, *out); err != nil {
		fmt.Fprintln(os.Stderr, "makegallery:", err)
		os.Exit(1)
	}
}

func run(w string, n int, out string) error {
	if out == "" {
		return fmt.Errorf("-o is required")
	}
	m, source := weights.Fixture(engine.SqueezeNet11, 1), weights.FixtureSource(1)
	if w != "fixture" {
		var err error
		if m, err = weights.Load(w, engine.SqueezeNet11.Name); err != nil {
			return err
		}
		source = w
	}
	h, err := gallery.HeaderFor(m, gallery.DefaultLayer(m.Arch), gallery.Int8, 0, source)
	if err != nil {
		return err
	}
	g, err := gallery.New(h)
	if err != nil {
		return err
	}
	if err := gallerytest.Fill(g, n, 1); err != nil {
		return err
	}
	return g.WriteFile(out)
}
