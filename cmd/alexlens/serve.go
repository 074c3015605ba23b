package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/server"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	web := fs.String("web", "build/web", "folder of the built web app")
	weightsDir := fs.String("weights", "build/weights", "folder of .alxw weight files with their manifest.json")
	isolated := fs.Bool("isolated", true, "serve cross-origin isolated (COOP + COEP require-corp, CORP cross-origin), so that the page's engine can use kernel workers on shared memory; --isolated=false serves it on one thread")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("serve: unexpected arguments %v", rest)
	}
	if _, err := os.Stat(filepath.Join(*web, "index.html")); err != nil {
		return fmt.Errorf("no web app in %s (build it with `make web`): %w", *web, err)
	}
	return server.Run(ctx, server.Config{Addr: *addr, WebRoot: *web, WeightsDir: *weightsDir, NotIsolated: !*isolated}, stdout)
}

func cmdArchs(stdout io.Writer) error {
	for _, name := range engine.ArchNames() {
		a := engine.Archs[name]
		shapes, err := a.Shapes(a.InputSize, a.InputSize)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s, %dx%d input, %d parameters, embedding %s\n", a.Name, a.Title, a.InputSize, a.InputSize, a.ParamCount(), a.Embedding)
		for _, l := range a.LayerNames() {
			fmt.Fprintf(stdout, "  %-10s %v\n", l, shapes[l][1:])
		}
	}
	return nil
}

func cmdPrecompress(args []string, stderr io.Writer) error {
	fs := newFlags("precompress", stderr)
	quality := fs.Int("brotli", 11, "brotli quality 0-11 (11 is smallest and slowest: ~20 s per 2 MB of wasm)")
	dirs, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(dirs) != 1 {
		return usagef("precompress: give one folder")
	}
	if *quality < 0 || *quality > 11 {
		return usagef("precompress: --brotli must be 0-11")
	}
	return server.PrecompressWith(dirs[0], server.PrecompressOptions{BrotliQuality: *quality, GzipLevel: 9})
}
