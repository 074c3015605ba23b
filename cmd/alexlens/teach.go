package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/alexlens/alexlens/engine/preprocess"
	"github.com/alexlens/alexlens/gallery"
	"github.com/alexlens/alexlens/teach"
	"github.com/alexlens/alexlens/weights"
	"github.com/alexlens/alexlens/weights/onnx"
)

type taughtClass struct {
	Class   string `json:"class"`
	Photos  int    `json:"photos"`
	Correct int    `json:"correct"` // of the held-out photos' embeddings
	Total   int    `json:"total"`
}

type taughtMiss struct {
	Image     string `json:"image"`
	Class     string `json:"class"`
	Predicted string `json:"predicted"`
}

type taught struct {
	Arch          string        `json:"arch"`
	Layer         string        `json:"layer"`
	Dim           int           `json:"dim"`
	Hidden        int           `json:"hidden"`
	Classes       []taughtClass `json:"classes"`
	Examples      int           `json:"examples"`
	Held          int           `json:"heldOut"`
	Accuracy      float64       `json:"accuracy"`
	KNNAccuracy   float64       `json:"knnAccuracy"`
	Confusion     [][]int       `json:"confusion"`
	Misclassified []taughtMiss  `json:"misclassified"`
	Epochs        int           `json:"epochs"`
	Best          int           `json:"best"`
	EmbedMs       float64       `json:"embedMs"`
	TrainMs       float64       `json:"trainMs"`
}

func cmdTeach(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("teach", stderr)
	var mf modelFlags
	mf.register(fs)
	layer := fs.String("layer", "", "the embedding's layer (default: fc7, or the architecture's own: SqueezeNet's fire9), averaged over positions")
	seed := fs.Int64("seed", 0, "random seed: the held-out split, the initial weights, the order of examples")
	hidden := fs.Int("hidden", 0, "hidden ReLU units (0: a softmax layer on the embedding)")
	epochs := fs.Int("epochs", 50, "at most this many epochs (training stops earlier when the held-out loss stops falling)")
	holdout := fs.Float64("holdout", 0.15, "the fraction of each class's photos held out to measure accuracy and stop early")
	knnK := fs.Int("knn", 5, "also score k-nearest neighbours (no training) on the same held-out photos with this k")
	noFlip := fs.Bool("no-flip", false, "do not add each photo's mirror image as a second example")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	outPath := fs.String("o", "", "write the head (.alxw)")
	onnxPath := fs.String("onnx", "", "also write the head as ONNX (embedding 1 x D in, class probabilities out)")
	dirs, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *outPath == "" {
		return usagef("teach: -o head.alxw is required")
	}
	if len(dirs) < 2 {
		return usagef("teach: give at least two folders of photos, one per class, each named after its class")
	}
	if !(*holdout >= 0 && *holdout < 1) || *knnK < 1 || *epochs < 1 || *hidden < 0 {
		return usagef("teach: --holdout in [0, 1), --knn, --epochs at least 1, --hidden at least 0")
	}
	model, err := mf.load(stderr)
	if err != nil {
		return err
	}
	name := *layer
	if name == "" {
		name = model.Arch.Embedding
	}
	if _, _, err := gallery.EmbeddingShape(model.Arch, name); err != nil {
		return usageError{err.Error()}
	}

	// Each folder a class; each photo one example, and its mirror image another (the
	// augmentation the app applies too), sharing the photo's Source.
	start := time.Now()
	var classes []string
	var examples []teach.Example
	var images []string // per example
	rep := taught{Arch: model.Arch.Name, Layer: name, Hidden: *hidden}
	for c, dir := range dirs {
		cls := filepath.Base(filepath.Clean(dir))
		files, err := imageFiles(dir)
		if err != nil {
			return err
		}
		if len(files) == 0 {
			return fmt.Errorf("teach: class %q (%s) has no photos", cls, dir)
		}
		classes = append(classes, cls)
		rep.Classes = append(rep.Classes, taughtClass{Class: cls, Photos: len(files)})
		for _, f := range files {
			x, err := preprocess.Load(f, model.Arch.InputSize)
			if err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			batch := x
			if !*noFlip {
				batch = teach.Augment(x)
			}
			embs, err := gallery.EmbedLayer(model, mf.backend(), batch, name)
			if err != nil {
				return err
			}
			for _, e := range embs {
				examples = append(examples, teach.Example{Embedding: e, Class: c, Source: len(images)})
				images = append(images, f)
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	rep.EmbedMs = ms(time.Since(start))
	start = time.Now()
	head, report, err := teach.Train(ctx, examples, classes, teach.Options{Hidden: *hidden, Epochs: *epochs, Holdout: holdoutOption(*holdout), Seed: *seed})
	if err != nil {
		return err
	}
	rep.TrainMs = ms(time.Since(start))
	head.Arch, head.Layer, head.WeightsSHA256 = model.Arch.Name, name, gallery.Fingerprint(model)
	rep.Dim, rep.Examples, rep.Held, rep.Epochs, rep.Best = head.Dim, len(examples), len(report.Held), len(report.Epochs), report.Best
	if ev := report.Evaluation; ev != nil {
		rep.Accuracy, rep.Confusion = ev.Accuracy, ev.Confusion
		for c, pc := range ev.PerClass {
			rep.Classes[c].Correct, rep.Classes[c].Total = pc[0], pc[1]
		}
		for _, m := range ev.Misclassified {
			rep.Misclassified = append(rep.Misclassified, taughtMiss{Image: images[m.Example], Class: classes[examples[m.Example].Class], Predicted: classes[m.Predicted]})
		}
		knn, err := teach.NewKNN(examples, report.Train, len(classes), *knnK)
		if err != nil {
			return err
		}
		kev, err := teach.Evaluate(knn, examples, report.Held, len(classes))
		if err != nil {
			return err
		}
		rep.KNNAccuracy = kev.Accuracy
	}
	var buf bytes.Buffer
	if err := weights.EncodeHead(&buf, head, fmt.Sprintf("alexlens teach: %d photos of %s", len(images), strings.Join(classes, ", "))); err != nil {
		return err
	}
	if err := writeFileAtomic(*outPath, buf.Bytes()); err != nil {
		return err
	}
	if *onnxPath != "" {
		var ob bytes.Buffer
		if err := onnx.WriteHead(&ob, head); err != nil {
			return err
		}
		if err := writeFileAtomic(*onnxPath, ob.Bytes()); err != nil {
			return err
		}
	}
	if *asJSON {
		return printJSON(stdout, rep)
	}
	printTaught(stdout, rep, *outPath)
	return nil
}

// holdoutOption maps the flag to teach.Options.Holdout, whose zero means the default.
func holdoutOption(f float64) float64 {
	if f == 0 {
		return -1 // none
	}
	return f
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func printTaught(w io.Writer, r taught, out string) {
	fmt.Fprintf(w, "taught %d classes on %s's %s (%d values), %d examples (photos and their mirror images), in %.0f ms after %.0f ms of embedding\n",
		len(r.Classes), r.Arch, r.Layer, r.Dim, r.Examples, r.TrainMs, r.EmbedMs)
	if r.Held == 0 {
		fmt.Fprintf(w, "nothing held out (too few photos, or --holdout 0): no accuracy to report\n")
	} else {
		fmt.Fprintf(w, "held-out accuracy %.1f%% on %d examples (k-nearest neighbours: %.1f%%); best epoch %d of %d\n", 100*r.Accuracy, r.Held, 100*r.KNNAccuracy, r.Best, r.Epochs)
		for _, c := range r.Classes {
			if c.Total > 0 {
				fmt.Fprintf(w, "  %-24s %3d photos, held out %3d: %5.1f%% right\n", c.Class, c.Photos, c.Total, 100*float64(c.Correct)/float64(c.Total))
			} else {
				fmt.Fprintf(w, "  %-24s %3d photos, none held out\n", c.Class, c.Photos)
			}
		}
		for _, m := range r.Misclassified {
			fmt.Fprintf(w, "  misclassified: %s (%s) taken for %s\n", m.Image, m.Class, m.Predicted)
		}
	}
	fmt.Fprintf(w, "wrote %s\n", out)
}
