package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/alexlens/alexlens/cloudflare/handler"
	"github.com/alexlens/alexlens/site"

	"github.com/alexlens/alexlens/weights/manifest"
)

func cmdSite(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("site", stderr)
	out := fs.String("o", "dist", "output folder (replaced as a whole)")
	web := fs.String("web", "build/web", "folder of the built web app (make web)")
	weightsDir := fs.String("weights", "build/weights", `folder of .alxw weights with their manifest.json ("" for none)`)
	archs := fs.String("archs", "", "comma-separated architectures to publish weights for (default: all in the manifest)")
	limit := fs.Int64("shard-mb", 24, "largest file in MiB; weights files above it are sharded (static hosts refuse files over 25 MiB)")
	brotli := fs.Int("brotli", 9, "brotli quality of the precompressed copies, 1-11 (0: none)")
	cloudflareAssets := fs.String("cloudflare-assets", "", "also stage the export as Cloudflare Workers static assets in this folder (make cloudflare)")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("site: unexpected arguments %v", rest)
	}
	if *limit < 1 || *limit > 1024 {
		return usagef("site: --shard-mb must be 1-1024")
	}
	opt := site.Options{WebDir: *web, WeightsDir: *weightsDir, OutDir: *out, ShardLimit: *limit << 20, Brotli: *brotli}
	if *archs != "" {
		want := map[string]bool{}
		for _, a := range strings.Split(*archs, ",") {
			want[strings.TrimSpace(a)] = true
		}
		opt.Include = func(e manifest.Entry) bool { return want[e.Arch] }
	}
	res, err := site.Export(opt)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "site %s: build %s, %d files (%.1f MB), %d weight shards, largest file %.1f MB\n",
		*out, res.Build, res.Files, float64(res.Bytes)/(1<<20), res.Shards, float64(res.Largest)/(1<<20))
	for _, w := range res.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	if *cloudflareAssets != "" {
		weightsOut := ""
		if *weightsDir != "" {
			weightsOut = filepath.Join(*out, "weights")
		}
		idx, err := handler.Stage(*out, weightsOut, *cloudflareAssets, handler.MaxAssetBytes)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "worker assets %s: %d files\n", *cloudflareAssets, len(idx.Names()))
	}
	return nil
}
