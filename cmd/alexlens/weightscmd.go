package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/weights"
)

const weightsUsage = `Usage:
  alexlens weights fetch   [alexnet|squeezenet1_1 ...] [--dir DIR]
  alexlens weights convert [--arch A] IN (-o OUT.alxw [--precision f32|int8] | --dir DIR)
  alexlens weights inspect FILE
  alexlens weights fixture --arch A [--seed N] [--precision f32|int8] (-o OUT.alxw | --dir DIR)

fetch downloads torchvision's official files, checks their SHA-256 and converts them to .alxw
(f32 and int8) in DIR, with a manifest.json for the server. --dir defaults to ` + "`%s`" + `.
`

// defaultWeightsDir is where fetched weights are kept between runs.
func defaultWeightsDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "alexlens", "weights")
	}
	return filepath.Join("build", "weights")
}

func cmdWeights(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(stderr, weightsUsage, defaultWeightsDir())
		if len(args) == 0 {
			return usagef("weights: give a subcommand")
		}
		return nil
	}
	switch args[0] {
	case "fetch":
		return cmdWeightsFetch(ctx, args[1:], stdout, stderr)
	case "convert":
		return cmdWeightsConvert(args[1:], stdout, stderr)
	case "inspect":
		return cmdWeightsInspect(args[1:], stdout, stderr)
	case "fixture":
		return cmdWeightsFixture(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, weightsUsage, defaultWeightsDir())
	return usagef("weights: unknown subcommand %q", args[0])
}

func cmdWeightsFetch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("weights fetch", stderr)
	dir := fs.String("dir", defaultWeightsDir(), "folder for the downloaded and converted files")
	names, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		names = []string{engine.AlexNet.Name}
	}
	for _, name := range names {
		path, err := weights.Fetch(ctx, name, *dir, stderr)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s\n", name, path)
	}
	return nil
}

func cmdWeightsConvert(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("weights convert", stderr)
	arch := fs.String("arch", "", "architecture (inferred from the tensors when omitted)")
	out := fs.String("o", "", "write one .alxw file here")
	dir := fs.String("dir", "", "write content-hashed f32 and int8 .alxw files and manifest.json into this folder")
	prec := fs.String("precision", "f32", "precision of the -o file: f32 or int8")
	in, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(in) != 1 || (*out == "") == (*dir == "") {
		return usagef("weights convert: give one input file and exactly one of -o or --dir")
	}
	if *dir != "" {
		paths, err := weights.ConvertFile(in[0], *dir, *arch, "")
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, strings.Join(paths, "\n"))
		return nil
	}
	m, err := weights.Load(in[0], *arch)
	if err != nil {
		return err
	}
	return writeModelFile(*out, m, engine.Precision(*prec), fmt.Sprintf("converted from %s", filepath.Base(in[0])), stdout)
}

func cmdWeightsFixture(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("weights fixture", stderr)
	archName := fs.String("arch", "", "architecture: "+strings.Join(engine.ArchNames(), ", "))
	seed := fs.Int64("seed", 1, "seed of the generated weights")
	out := fs.String("o", "", "write one .alxw file here")
	dir := fs.String("dir", "", "write content-hashed f32 and int8 .alxw files and manifest.json into this folder")
	prec := fs.String("precision", "f32", "precision of the -o file: f32 or int8")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 || (*out == "") == (*dir == "") {
		return usagef("weights fixture: give --arch and exactly one of -o or --dir")
	}
	a, err := engine.LookupArch(*archName)
	if err != nil {
		return usageError{err.Error()}
	}
	m := weights.Fixture(a, *seed)
	fmt.Fprintf(stderr, "note: fixture weights are untrained; predictions made with them are meaningless\n")
	if *dir != "" {
		for _, p := range []engine.Precision{engine.F32, engine.Int8} {
			path, err := weights.WriteModel(*dir, m.WithPrecision(p), weights.FixtureSource(*seed))
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, path)
		}
		return weights.WriteManifest(*dir)
	}
	return writeModelFile(*out, m, engine.Precision(*prec), weights.FixtureSource(*seed), stdout)
}

// writeModelFile writes m at precision p through a temporary file, so an error never leaves a
// half-written weight file under the final name.
func writeModelFile(path string, m *engine.Model, p engine.Precision, source string, stdout io.Writer) error {
	if p != engine.F32 && p != engine.Int8 {
		return usagef("--precision must be f32 or int8, not %q", p)
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	err = weights.Encode(bw, m.WithPrecision(p), source)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	fmt.Fprintln(stdout, path)
	return nil
}

func cmdWeightsInspect(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("weights inspect", stderr)
	arch := fs.String("arch", "", "architecture, for .pth and .onnx files (inferred when omitted)")
	in, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(in) != 1 {
		return usagef("weights inspect: give one file")
	}
	f, err := os.Open(in[0])
	if err != nil {
		return err
	}
	h, herr := weights.ReadHeader(bufio.NewReader(f))
	f.Close()
	if herr == nil {
		kind := "trained"
		if h.Fixture {
			kind = "FIXTURE (untrained)"
		}
		fmt.Fprintf(stdout, "AlexLens weights v%d: %s, %s, %s, %d bytes\nsource: %s\n", h.Version, h.Arch, h.Precision, kind, h.FileBytes, h.Source)
		if h.Partial != "" {
			fmt.Fprintf(stdout, "partial: covers layers up to %s\n", h.Partial)
		}
		for _, t := range h.Tensors {
			fmt.Fprintf(stdout, "  %-28s %-6s %-18v %-5s @%-10d %10d bytes  sha256 %s\n", t.Name, t.Layer, t.Shape, t.DType, t.Offset, t.Length, t.SHA256[:16])
		}
		return nil
	}
	m, err := weights.Load(in[0], *arch)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s weights for %s (%s)\n", weights.Sniff(head(in[0], 64)), m.Arch.Name, m.Precision())
	if m.Partial != "" {
		fmt.Fprintf(stdout, "partial: covers layers up to %s\n", m.Partial)
	}
	for _, p := range m.Arch.Params() {
		if w := m.Params[p.Name]; w != nil {
			fmt.Fprintf(stdout, "  %-28s %-6s %v\n", p.Name, p.Layer, w.Shape)
		}
	}
	return nil
}

// head returns up to n bytes from the start of a file, enough to tell its format.
func head(path string, n int) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	b := make([]byte, n)
	k, _ := io.ReadFull(f, b)
	return b[:k]
}
