package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/engine/explain"
	"github.com/alexlens/alexlens/engine/imagenet"
	"github.com/alexlens/alexlens/engine/preprocess"
)

// editFlags are the interventions classify and explain take: --set L:C=V, --scale L:C=F and
// --add L:dir.f32=A, each repeatable, applied in the order given.
type editFlags struct{ edits []engine.Edit }

func (e *editFlags) register(fs *flag.FlagSet) {
	fs.Func("set", "set channel C of layer L to V before the next layer reads it: L:C=V (repeatable)", func(s string) error {
		return e.parse(engine.EditSet, s)
	})
	fs.Func("scale", "multiply channel C of layer L by F: L:C=F (repeatable)", func(s string) error {
		return e.parse(engine.EditScale, s)
	})
	fs.Func("add", "add A times a direction (a float32 file, one value per channel of L) at every position of L: L:dir.f32=A (repeatable)", func(s string) error {
		return e.parseAdd(s)
	})
}

func (e *editFlags) parse(op engine.EditOp, s string) error {
	ed, err := engine.ParseEdit(op, s)
	if err != nil {
		return err
	}
	e.edits = append(e.edits, ed)
	return nil
}

// parseAdd reads L:FILE=A; the file name may hold ':' or '=', so the layer ends at the first
// ':' and the amount starts after the last '='.
func (e *editFlags) parseAdd(s string) error {
	layer, rest, ok1 := strings.Cut(s, ":")
	eq := strings.LastIndex(rest, "=")
	if !ok1 || eq < 1 || layer == "" {
		return fmt.Errorf("add %q: want LAYER:DIRECTION.f32=AMOUNT, as in fc7:tiger.f32=2", s)
	}
	a, err := strconv.ParseFloat(rest[eq+1:], 32)
	if err != nil {
		return fmt.Errorf("add %q: %q is not a number", s, rest[eq+1:])
	}
	v, err := readF32(rest[:eq])
	if err != nil {
		return fmt.Errorf("add %q: %w", s, err)
	}
	e.edits = append(e.edits, engine.Edit{Layer: layer, Op: engine.EditAdd, Value: float32(a), Vector: v})
	return nil
}

type explained struct {
	Image        string                `json:"image"`
	Method       explain.Method        `json:"method"`
	Class        int                   `json:"class"`
	Label        string                `json:"label"`
	Layer        string                `json:"layer,omitempty"`
	Rows         int                   `json:"rows"`
	Cols         int                   `json:"cols"`
	Logit        float32               `json:"logit"`
	Prob         float32               `json:"prob"`
	Completeness *explain.Completeness `json:"completeness,omitempty"`
	PNG          string                `json:"png,omitempty"`
	Raw          string                `json:"raw,omitempty"`
	MS           float64               `json:"ms"`
	Error        string                `json:"error,omitempty"`
}

func cmdExplain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("explain", stderr)
	var mf modelFlags
	mf.register(fs)
	var ef editFlags
	ef.register(fs)
	method := fs.String("method", "gradcam", "attribution method: gradcam, saliency, smoothgrad, occlusion or ig")
	class := fs.Int("class", explain.Top1, "ImageNet class to explain (default: the top-1); with --head, one of the head's classes")
	headPath := fs.String("head", "", "explain a class of a head taught by `alexlens teach` or the Teach view (.alxw)")
	layer := fs.String("layer", "", "Grad-CAM's layer (default: the last convolutional layer before the classifier)")
	samples := fs.Int("samples", 0, "SmoothGrad's noisy copies (16) or integrated gradients' steps (32)")
	noise := fs.Float64("noise", 0.15, "SmoothGrad's noise, a fraction of the input's range")
	patch := fs.Int("patch", 0, "occlusion's patch side in pixels (default: a seventh of the input)")
	stride := fs.Int("stride", 0, "occlusion's step in pixels (default: half the patch)")
	seed := fs.Int64("seed", 0, "SmoothGrad's noise seed")
	opacity := fs.Float64("opacity", 0.6, "the map's opacity over the photo in -o")
	asJSON := fs.Bool("json", false, "print one JSON array with an object per image")
	outPath := fs.String("o", "", "write the map coloured over the photo as PNG (several images: NAME-1.png, NAME-2.png, ...)")
	rawPath := fs.String("raw", "", "write the map before upsampling or colouring: little-endian float32, row-major")
	images, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(images) == 0 {
		return usagef("explain: give at least one image")
	}
	m, err := explain.ParseMethod(*method)
	if err != nil {
		return usageError{err.Error()}
	}
	if !(*opacity >= 0 && *opacity <= 1) {
		return usagef("--opacity must be between 0 and 1")
	}
	model, err := mf.load(stderr)
	if err != nil {
		return err
	}
	if err := model.CheckEdits(ef.edits); err != nil {
		return usageError{err.Error()}
	}
	opt := explain.Options{Method: m, Class: *class, Layer: *layer, Samples: *samples, Noise: *noise,
		Patch: *patch, Stride: *stride, Seed: *seed, Backend: mf.backend(), Threads: mf.threads, Edits: ef.edits}
	if *headPath != "" {
		if opt.Head, err = loadHead(*headPath, model); err != nil {
			return err
		}
	}
	var out []explained
	failed := 0
	for i, path := range images {
		e, err := explainOne(ctx, model, opt, path, numbered(*outPath, i, len(images)), numbered(*rawPath, i, len(images)), *opacity)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			e.Error = err.Error()
			failed++
			fmt.Fprintf(stderr, "%s: %v\n", path, err)
		} else if !*asJSON {
			fmt.Fprintf(stdout, "%s: %s for %s (class %d, logit %.3f, %.2f%%)", path, e.Method, e.Label, e.Class, e.Logit, 100*e.Prob)
			if e.Layer != "" {
				fmt.Fprintf(stdout, " at %s", e.Layer)
			}
			fmt.Fprintf(stdout, ", %dx%d map, %.0f ms\n", e.Rows, e.Cols, e.MS)
			if c := e.Completeness; c != nil {
				fmt.Fprintf(stdout, "  attributions sum to %.4f; the logit rose %.4f from black: completeness gap %.2f%%\n", c.Sum, c.Delta, 100*c.Gap)
			}
		}
		out = append(out, e)
	}
	if *asJSON {
		if err := printJSON(stdout, out); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d images could not be explained", failed, len(images))
	}
	return nil
}

// numbered is the i-th of n output paths: path itself for one image, NAME-(i+1).EXT for
// several.
func numbered(path string, i, n int) string {
	if path == "" || n == 1 {
		return path
	}
	ext := filepath.Ext(path)
	return fmt.Sprintf("%s-%d%s", strings.TrimSuffix(path, ext), i+1, ext)
}

func explainOne(ctx context.Context, m *engine.Model, opt explain.Options, path, pngPath, rawPath string, opacity float64) (explained, error) {
	e := explained{Image: path, Method: opt.Method}
	x, err := preprocess.Load(path, m.Arch.InputSize)
	if err != nil {
		return e, err
	}
	start := time.Now()
	mp, err := explain.Explain(ctx, m, x, opt)
	if err != nil {
		return e, err
	}
	e.MS = ms(time.Since(start))
	e.Class, e.Label, e.Layer = mp.Class, imagenet.Label(mp.Class), mp.Layer
	if opt.Head != nil {
		e.Label = opt.Head.Classes[mp.Class]
	}
	e.Rows, e.Cols, e.Logit, e.Prob, e.Completeness = mp.Rows, mp.Cols, mp.Logit, mp.Prob, mp.Completeness
	if rawPath != "" {
		if err := writeF32(rawPath, mp.Values); err != nil {
			return e, err
		}
		e.Raw = rawPath
	}
	if pngPath != "" {
		if err := writePNG(pngPath, mp.Overlay(preprocess.Pixels(x, 0), opacity)); err != nil {
			return e, err
		}
		e.PNG = pngPath
	}
	return e, nil
}
