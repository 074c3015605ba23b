package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexlens/alexlens/engine/preprocess"
	"github.com/alexlens/alexlens/internal/testenv"
)

func photos(t *testing.T, names ...string) []string {
	t.Helper()
	var ps []string
	for _, n := range names {
		ps = append(ps, testenv.Photo(t, n))
	}
	return ps
}

func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

// The whole CLI path, image file to JSON, against PyTorch + torchvision on the same file.
func TestClassifyMatchesPyTorch(t *testing.T) {
	w := testenv.SharedWeight(t, "squeezenet1_1-imagenet.pth")
	imgs := photos(t, "chelsea.png", "coffee.png", "motorcycle_left.png", "camera.png", "astronaut.png", "rocket.jpg")
	if _, err := exec.LookPath("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3: skipping the PyTorch comparison")
	}
	cmd := exec.Command("/usr/bin/python3", append([]string{"testdata/torch_classify.py", w}, imgs...)...)
	cmd.Stderr = os.Stderr
	ref, err := cmd.Output()
	if err != nil {
		t.Skipf("PyTorch reference failed (is python3-torch installed?): %v", err)
	}
	out, stderr, err := runCLI(t, append([]string{"classify", "--arch", "squeezenet1_1", "--weights", w, "--json"}, imgs...)...)
	if err != nil {
		t.Fatalf("classify: %v\n%s", err, stderr)
	}
	type top struct {
		Index int     `json:"index"`
		Label string  `json:"label"`
		Prob  float64 `json:"prob"`
	}
	type row struct {
		Image string `json:"image"`
		Top   []top  `json:"top"`
	}
	var got, want []row
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("CLI JSON: %v\n%s", err, out)
	}
	if err := json.Unmarshal(ref, &want); err != nil {
		t.Fatalf("reference JSON: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d", len(got), len(want))
	}
	for i := range want {
		g, r := got[i], want[i]
		if g.Image != r.Image || len(g.Top) != 5 {
			t.Fatalf("result %d: image %q with %d classes", i, g.Image, len(g.Top))
		}
		if g.Top[0].Index != r.Top[0].Index {
			t.Errorf("%s: top-1 %d (%s), PyTorch %d", filepath.Base(r.Image), g.Top[0].Index, g.Top[0].Label, r.Top[0].Index)
		}
		worst := 0.0
		for k := range r.Top {
			// Compare probabilities class by class; near-ties may swap ranks by rounding.
			found := false
			for _, c := range g.Top {
				if c.Index == r.Top[k].Index {
					found = true
					worst = math.Max(worst, math.Abs(c.Prob-r.Top[k].Prob))
				}
			}
			if !found && r.Top[k].Prob > 1e-3 {
				t.Errorf("%s: PyTorch's class %d (p=%.4f) missing from the top-5", filepath.Base(r.Image), r.Top[k].Index, r.Top[k].Prob)
			}
		}
		if worst > 1e-3 {
			t.Errorf("%s: top-5 probabilities differ from PyTorch by up to %.2g (limit 1e-3)", filepath.Base(r.Image), worst)
		}
		t.Logf("%-20s top-1 %-14s p=%.4f  max |dp| over top-5 %.2g", filepath.Base(r.Image), g.Top[0].Label, g.Top[0].Prob, worst)
	}
}

func TestClassifyFixtureSaysSo(t *testing.T) {
	imgs := photos(t, "coffee.png")
	out, stderr, err := runCLI(t, "classify", "--arch", "alexnet", "--weights", "fixture", "--top", "3", imgs[0])
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "UNTRAINED") {
		t.Errorf("no untrained-weights warning on stderr: %q", stderr)
	}
	if n := strings.Count(out, "%"); n != 3 {
		t.Errorf("want 3 classes printed, got:\n%s", out)
	}
}

func TestBadInputs(t *testing.T) {
	dir := t.TempDir()
	notImage := filepath.Join(dir, "notes.png")
	os.WriteFile(notImage, []byte("this is not a PNG"), 0o644)
	truncated := filepath.Join(dir, "trunc.alxw")
	os.WriteFile(truncated, []byte("ALXW\x01\x00\x00\x00"), 0o644)
	for _, c := range []struct {
		name  string
		args  []string
		usage bool   // exit status 2
		want  string // in the error
	}{
		{"no command", nil, true, "no command"},
		{"unknown command", []string{"frobnicate"}, true, "unknown command"},
		{"no weights", []string{"classify", "x.png"}, true, "--weights is required"},
		{"bad precision", []string{"classify", "--weights", "fixture", "--arch", "alexnet", "--precision", "int4", "x.png"}, true, "precision"},
		{"unknown arch", []string{"classify", "--weights", "fixture", "--arch", "vgg16", "x.png"}, true, "unknown architecture"},
		{"missing weights file", []string{"classify", "--weights", filepath.Join(dir, "none.pth"), "x.png"}, false, "no such file"},
		{"truncated weights", []string{"classify", "--weights", truncated, "x.png"}, false, "trunc.alxw"},
		{"not an image", []string{"classify", "--weights", "fixture", "--arch", "squeezenet1_1", notImage}, false, "could not be classified"},
		{"forward needs input", []string{"forward", "--weights", "fixture", "--arch", "alexnet"}, true, "--input"},
		{"bad shape", []string{"forward", "--weights", "fixture", "--arch", "alexnet", "--input", notImage, "--shape", "1,x", "-o", filepath.Join(dir, "y")}, true, "bad shape"},
		{"ragged raw input", []string{"forward", "--weights", "fixture", "--arch", "alexnet", "--input", notImage, "-o", filepath.Join(dir, "y")}, false, "whole number"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := runCLI(t, c.args...)
			if err == nil {
				t.Fatal("no error")
			}
			var u usageError
			if errors.As(err, &u) != c.usage {
				t.Errorf("usage error = %v, want %v (%v)", !c.usage, c.usage, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

// forward and embed agree: embed's row is the layer's activation from forward on the same
// preprocessed photo, averaged over positions for a convolutional layer (as the app's).
func TestForwardEmbedRoundTrip(t *testing.T) {
	dir := t.TempDir()
	imgs := photos(t, "chelsea.png")
	emb := filepath.Join(dir, "e.f32")
	if _, stderr, err := runCLI(t, "embed", "--arch", "squeezenet1_1", "--weights", "fixture:7", "--layer", "fire9", imgs[0], "-o", emb); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	e, err := readF32(emb)
	if err != nil {
		t.Fatal(err)
	}
	if len(e) != 512 {
		t.Fatalf("fire9 embedding has %d values, want 512 (averaged over positions)", len(e))
	}
	x, err := preprocess.Load(imgs[0], 224)
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "x.f32")
	if err := writeF32(in, x.Data); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "y.f32")
	if _, stderr, err := runCLI(t, "forward", "--arch", "squeezenet1_1", "--weights", "fixture:7", "--input", in, "--layer", "fire9", "-o", out); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	y, _ := readF32(out)
	if len(y) != 512*13*13 {
		t.Fatalf("fire9 activation: %d values", len(y))
	}
	for c := range 512 {
		var s float64
		for _, v := range y[c*169 : (c+1)*169] {
			s += float64(v)
		}
		if m := s / 169; math.Abs(m-float64(e[c])) > 1e-5*math.Max(1, math.Abs(m)) {
			t.Fatalf("channel %d: embed %g, the mean of forward's activation %g", c, e[c], m)
		}
	}
}
