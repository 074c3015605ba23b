// Command alexlens classifies images with AlexNet and SqueezeNet, converts and fetches
// weights, and serves the AlexLens web app.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `alexlens: look inside AlexNet.

Usage:
  alexlens classify --arch A --weights FILE [--top 5] [--json] [--precision f32|int8] [--head head.alxw] [--set L:C=V] [--scale L:C=F] [--add L:dir.f32=A] IMAGE...
  alexlens explain  --arch A --weights FILE [--method gradcam|saliency|smoothgrad|occlusion|ig] [--class N] [--layer L] [--json] [-o heat.png] [--raw map.f32] IMAGE...
  alexlens teach    --arch A --weights FILE [--layer fc7] [--seed S] [--hidden H] [--json] -o head.alxw [--onnx head.onnx] DIR DIR...
  alexlens embed    --arch A --weights FILE [--layer fc7] [--precision f32|int8] IMAGE... (-o out.f32 | --json)
  alexlens forward  --arch A --weights FILE --input x.f32 [--shape 1,3,224,224] [--layer NAME] -o y.f32
  alexlens index    [--arch A --weights FILE] [--layer fc7] [--encoding int8|f16] [--thumb 64] [--append] DIR -o gallery.alxg
  alexlens neighbors --arch A --weights FILE --gallery G [--k 5] [--metric cosine|euclidean] [--json] IMAGE...
  alexlens featurevis --arch A --weights FILE (--layer L --channel C | --class K) [--steps 64] [--size 128] [--seed S] [--json] -o fv.png
  alexlens atlas    --weights FILE (--gallery G [--layer L] | --classes) [--grid 20] [--layout tsne|umap|pca] [--steps 64] [--size 64] [--json] [--icons DIR] -o atlas.png
  alexlens weights  convert|inspect|fixture|fetch ...   (alexlens weights -h)
  alexlens serve    [--addr 127.0.0.1:8080] [--web DIR] [--weights DIR]
  alexlens archs    (lists the architectures and their layers)
  alexlens precompress DIR   (writes .br and .gz siblings of the web app's files)
  alexlens site     [-o dist] [--web DIR] [--weights DIR] [--archs A,B]   (static site export)

FILE is a PyTorch .pth state_dict, an ONNX model, or an AlexLens .alxw file; "fixture" (or
"fixture:SEED") uses untrained, generated weights. Architectures: alexnet (torchvision),
alexnet-bvlc (the 2012 paper's network), squeezenet1_1.

Interventions (classify and explain; each repeatable, applied in order): --set L:C=V sets
channel C of layer L's activation to V before the next layer reads it, --scale L:C=F
multiplies it by F, --add L:dir.f32=A adds A times a direction (float32, one value per
channel of L) at every position.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "alexlens:", err)
		}
		os.Exit(exitCode(err))
	}
}

// exitCode is 2 for usage errors and 1 for everything else.
func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// printJSON writes a command's --json output, indented.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usagef("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "classify":
		return cmdClassify(rest, stdout, stderr)
	case "explain":
		return cmdExplain(ctx, rest, stdout, stderr)
	case "teach":
		return cmdTeach(ctx, rest, stdout, stderr)
	case "embed":
		return cmdEmbed(rest, stdout, stderr)
	case "forward":
		return cmdForward(rest, stdout, stderr)
	case "index":
		return cmdIndex(rest, stdout, stderr)
	case "neighbors":
		return cmdNeighbors(rest, stdout, stderr)
	case "featurevis":
		return cmdFeatureVis(ctx, rest, stdout, stderr)
	case "atlas":
		return cmdAtlas(ctx, rest, stdout, stderr)
	case "weights":
		return cmdWeights(ctx, rest, stdout, stderr)
	case "serve":
		return cmdServe(ctx, rest, stdout, stderr)
	case "archs":
		return cmdArchs(stdout)
	case "precompress":
		return cmdPrecompress(rest, stderr)
	case "site":
		return cmdSite(rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usagef("unknown command %q", cmd)
}

// newFlags makes a FlagSet that reports errors instead of exiting, so tests can call run.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("alexlens "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parse parses flags that may be given before or after the positional arguments
// (alexlens classify cat.png --top 3 works as well as the other order).
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
