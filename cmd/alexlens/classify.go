package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/engine/imagenet"
	"github.com/alexlens/alexlens/engine/preprocess"
	"github.com/alexlens/alexlens/gallery"
	"github.com/alexlens/alexlens/teach"
	"github.com/alexlens/alexlens/weights"
)

type prediction struct {
	Index int     `json:"index"`
	Label string  `json:"label"`
	Prob  float32 `json:"prob"`
}

type classified struct {
	Image string       `json:"image"`
	Top   []prediction `json:"top"`
	Error string       `json:"error,omitempty"`
}

func cmdClassify(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("classify", stderr)
	var mf modelFlags
	mf.register(fs)
	var ef editFlags
	ef.register(fs)
	top := fs.Int("top", 5, "how many classes to print")
	asJSON := fs.Bool("json", false, "print one JSON array with an object per image")
	headPath := fs.String("head", "", "classify with a head taught by `alexlens teach` (.alxw): its classes instead of ImageNet's")
	images, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(images) == 0 {
		return usagef("classify: give at least one image")
	}
	if *top < 1 {
		return usagef("--top must be at least 1")
	}
	model, err := mf.load(stderr)
	if err != nil {
		return err
	}
	if model.Partial != "" {
		return fmt.Errorf("these %s weights cover only up to %s: they cannot classify", model.Arch.Name, model.Partial)
	}
	if err := model.CheckEdits(ef.edits); err != nil {
		return usageError{err.Error()}
	}
	label := imagenet.Label
	classify := func(path string) ([]float32, error) { return classifyOne(model, mf.backend(), path, ef.edits) }
	if *headPath != "" {
		head, err := loadHead(*headPath, model)
		if err != nil {
			return err
		}
		if len(ef.edits) > 0 {
			return usagef("classify: --head and interventions cannot be combined yet")
		}
		label = func(i int) string { return head.Classes[i] }
		classify = func(path string) ([]float32, error) {
			x, err := preprocess.Load(path, model.Arch.InputSize)
			if err != nil {
				return nil, err
			}
			emb, err := gallery.EmbedLayer(model, mf.backend(), x, head.Layer)
			if err != nil {
				return nil, err
			}
			return head.Probabilities(emb[0])
		}
	}
	var out []classified
	failed := 0
	// Images run one at a time: a batch of large photos would only raise peak memory.
	for _, path := range images {
		c := classified{Image: path, Top: []prediction{}}
		probs, err := classify(path)
		if err != nil {
			c.Error = err.Error()
			failed++
			fmt.Fprintf(stderr, "%s: %v\n", path, err)
		} else {
			for _, k := range engine.TopK(probs, *top) {
				c.Top = append(c.Top, prediction{k.Index, label(k.Index), k.Prob})
			}
		}
		out = append(out, c)
		if !*asJSON && c.Error == "" {
			fmt.Fprintf(stdout, "%s\n", path)
			for i, p := range c.Top {
				fmt.Fprintf(stdout, "  %d. %-32s %6.2f%%\n", i+1, p.Label, 100*p.Prob)
			}
		}
	}
	if *asJSON {
		if err := printJSON(stdout, out); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d images could not be classified", failed, len(images))
	}
	return nil
}

// loadHead reads a head file and checks that it was taught on this model's weights.
func loadHead(path string, m *engine.Model) (*teach.Head, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	h, err := weights.DecodeHead(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if h.Arch != m.Arch.Name || h.WeightsSHA256 != gallery.Fingerprint(m) {
		return nil, fmt.Errorf("%s was taught on %s weights %.12s, these are %s weights %.12s: teach it again on these", path, h.Arch, h.WeightsSHA256, m.Arch.Name, gallery.Fingerprint(m))
	}
	return h, nil
}

func classifyOne(model *engine.Model, be engine.Backend, path string, edits []engine.Edit) ([]float32, error) {
	x, err := preprocess.Load(path, model.Arch.InputSize)
	if err != nil {
		return nil, err
	}
	res, err := model.Forward(x, engine.ForwardOptions{Backend: be, Edits: edits, Keep: func(string) bool { return false }})
	if err != nil {
		return nil, err
	}
	return engine.Probabilities(res.Logits).Data, nil
}

type embedded struct {
	Image     string    `json:"image"`
	Layer     string    `json:"layer"`
	Embedding []float32 `json:"embedding"`
}

func cmdEmbed(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("embed", stderr)
	var mf modelFlags
	mf.register(fs)
	layer := fs.String("layer", "", "layer whose activation is the embedding, averaged over positions for a convolutional layer, as the app does (default: fc7, or the architecture's own)")
	outPath := fs.String("o", "", "write raw little-endian float32 rows, one per image, to this file")
	asJSON := fs.Bool("json", false, "print the embeddings as JSON")
	images, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(images) == 0 {
		return usagef("embed: give at least one image")
	}
	if *outPath == "" && !*asJSON {
		return usagef("embed: give -o FILE or --json")
	}
	model, err := mf.load(stderr)
	if err != nil {
		return err
	}
	name := *layer
	if name == "" {
		name = model.Arch.Embedding
	}
	var rows []embedded
	for _, path := range images {
		x, err := preprocess.Load(path, model.Arch.InputSize)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		emb, err := gallery.EmbedLayer(model, mf.backend(), x, name)
		if err != nil {
			return err
		}
		rows = append(rows, embedded{path, name, emb[0]})
	}
	if *outPath != "" {
		var all []float32
		for _, r := range rows {
			all = append(all, r.Embedding...)
		}
		if err := writeF32(*outPath, all); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %d x %d float32 (%s) to %s\n", len(rows), len(rows[0].Embedding), name, *outPath)
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(rows)
	}
	return nil
}

func cmdForward(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("forward", stderr)
	var mf modelFlags
	mf.register(fs)
	input := fs.String("input", "", "raw little-endian float32 input tensor (already normalized)")
	shapeText := fs.String("shape", "", "input shape N,3,H,W (default 1,3,S,S for the architecture's input size S, N from the file size)")
	layer := fs.String("layer", "", "write this layer's activation instead of the logits")
	outPath := fs.String("o", "", "output file for the raw little-endian float32 result")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("forward: unexpected arguments %v", rest)
	}
	if *input == "" || *outPath == "" {
		return usagef("forward: --input and -o are required")
	}
	model, err := mf.load(stderr)
	if err != nil {
		return err
	}
	var shape []int
	if *shapeText != "" {
		if shape, err = parseShape(*shapeText); err != nil {
			return err
		}
	}
	data, err := readF32(*input)
	if err != nil {
		return err
	}
	if shape == nil {
		s := model.Arch.InputSize
		per := 3 * s * s
		if len(data)%per != 0 || len(data) == 0 {
			return fmt.Errorf("%s holds %d floats, not a whole number of 3x%dx%d images: give --shape", *input, len(data), s, s)
		}
		shape = []int{len(data) / per, 3, s, s}
	}
	x, err := engine.FromData(data, shape...)
	if err != nil {
		return fmt.Errorf("%s: %w", *input, err)
	}
	res, err := model.Forward(x, engine.ForwardOptions{Backend: mf.backend(), StopAfter: *layer,
		Keep: func(n string) bool { return n == *layer }})
	if err != nil {
		return err
	}
	y := res.Logits
	if *layer != "" {
		y = res.Activations[*layer]
	}
	if err := writeF32(*outPath, y.Data); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %v float32 to %s\n", y.Shape, *outPath)
	return nil
}

// maxRawBytes bounds raw tensor files: a 64-image AlexNet batch is ~38 MB.
const maxRawBytes = 1 << 30

func readF32(path string) ([]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size()%4 != 0 {
		return nil, fmt.Errorf("%s: %d bytes is not a whole number of float32 values", path, st.Size())
	}
	if st.Size() > maxRawBytes {
		return nil, fmt.Errorf("%s: %d bytes is larger than the %d-byte limit for raw tensors", path, st.Size(), maxRawBytes)
	}
	buf := make([]byte, st.Size())
	if _, err := io.ReadFull(f, buf); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := make([]float32, len(buf)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
	}
	return out, nil
}

// writeF32 writes through a temporary file and a rename, so a failed run never leaves a
// half-written output behind.
func writeF32(path string, data []float32) error {
	buf := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
	}
	return writeFileAtomic(path, buf)
}

// writeFileAtomic writes through a temporary file beside path and a rename, so a failed run
// never leaves a half-written output behind.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".alexlens-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
