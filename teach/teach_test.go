package teach

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// separable draws n photos of each of k classes in dim dimensions: each class a cluster
// around its own random centre (ReLU-like: non-negative), far apart relative to its spread,
// and aug embeddings per photo (its "flips and crops": small perturbations).
func separable(k, n, dim, aug int, seed int64) []Example {
	rng := rand.New(rand.NewSource(seed))
	var out []Example
	for c := range k {
		centre := make([]float64, dim)
		for j := range centre {
			centre[j] = rng.Float64() * 4
		}
		for p := range n {
			photo := make([]float64, dim)
			for j := range photo {
				photo[j] = max(0, centre[j]+rng.NormFloat64()*0.8)
			}
			for range aug {
				e := make([]float32, dim)
				for j := range e {
					e[j] = float32(max(0, photo[j]+rng.NormFloat64()*0.1))
				}
				out = append(out, Example{Embedding: e, Class: c, Source: c*n + p})
			}
		}
	}
	return out
}

func names(k int) []string {
	var out []string
	for c := range k {
		out = append(out, string(rune('a'+c)))
	}
	return out
}

// TestTrainConverges: on a linearly separable set the head reaches 100% on the training and
// the held-out photos, with and without a hidden layer; held-out photos were not trained on.
func TestTrainConverges(t *testing.T) {
	ex := separable(4, 25, 256, 2, 1)
	for _, hidden := range []int{0, 32} {
		h, rep, err := Train(context.Background(), ex, names(4), Options{Hidden: hidden, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		last := rep.Epochs[len(rep.Epochs)-1]
		t.Logf("hidden %d: %d epochs, best %d, train acc %.3f, held-out acc %.3f (%d held-out examples)",
			hidden, len(rep.Epochs), rep.Best, last.TrainAcc, rep.Evaluation.Accuracy, len(rep.Held))
		if rep.Evaluation.Accuracy != 1 || rep.Epochs[rep.Best-1].TrainAcc != 1 {
			t.Errorf("hidden %d: accuracy %.3f held out, %.3f trained, want 1", hidden, rep.Evaluation.Accuracy, rep.Epochs[rep.Best-1].TrainAcc)
		}
		if f := float64(len(rep.Held)) / float64(len(ex)); f < 0.1 || f > 0.2 {
			t.Errorf("held out %.2f of the examples, want about 0.15", f)
		}
		trainSources := map[int]bool{}
		for _, i := range rep.Train {
			trainSources[ex[i].Source] = true
		}
		for _, i := range rep.Held {
			if trainSources[ex[i].Source] {
				t.Fatalf("photo %d is on both sides of the split", ex[i].Source)
			}
		}
		if err := h.Check(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTrainDeterministic: the same seed gives the same head, bit for bit; another seed
// another head.
func TestTrainDeterministic(t *testing.T) {
	ex := separable(3, 10, 64, 2, 2)
	a, _, _ := Train(context.Background(), ex, names(3), Options{Seed: 5, Epochs: 20})
	b, _, _ := Train(context.Background(), ex, names(3), Options{Seed: 5, Epochs: 20})
	c, _, _ := Train(context.Background(), ex, names(3), Options{Seed: 6, Epochs: 20})
	if !slices.Equal(a.W1, b.W1) || !slices.Equal(a.B1, b.B1) {
		t.Error("the same seed gave different heads")
	}
	if slices.Equal(a.W1, c.W1) {
		t.Error("seeds 5 and 6 gave the same head")
	}
}

func TestTrainBadInput(t *testing.T) {
	ex := separable(2, 3, 8, 1, 3)
	for _, c := range []struct {
		ex      []Example
		classes []string
		want    string
	}{
		{ex, []string{"only"}, "at least two classes"},
		{ex, []string{"a", "b", "empty"}, `class "empty" has no examples`},
		{append(slices.Clone(ex), Example{Embedding: []float32{1}, Class: 0}), names(2), "values, the first has"},
		{append(slices.Clone(ex), Example{Embedding: []float32{float32(math.NaN()), 0, 0, 0, 0, 0, 0, 0}, Class: 1}), names(2), "NaN"},
		{append(slices.Clone(ex), Example{Embedding: make([]float32, 8), Class: 7}), names(2), "class 7"},
	} {
		if _, _, err := Train(context.Background(), c.ex, c.classes, Options{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one saying %q", c.classes, err, c.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := Train(ctx, ex, names(2), Options{}); err == nil {
		t.Error("a cancelled training finished")
	}
}

func TestKNN(t *testing.T) {
	ex := separable(3, 8, 32, 1, 4)
	train, held := Split(ex, 3, 0.25, 1)
	knn, err := NewKNN(ex, train, 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := Evaluate(knn, ex, held, 3)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Accuracy != 1 || len(held) == 0 {
		t.Errorf("k-NN held-out accuracy %.3f on %d examples", ev.Accuracy, len(held))
	}
	if _, err := knn.Probabilities(make([]float32, 5)); err == nil {
		t.Error("a 5-value embedding was accepted")
	}
}

// TestLogitsMatchTorch: the head's logits equal PyTorch's nn.Linear (and ReLU) with the same
// weights, computed in float64.
func TestLogitsMatchTorch(t *testing.T) {
	const py = "/usr/bin/python3"
	if out, err := exec.Command(py, "-c", "import torch").CombinedOutput(); err != nil {
		t.Skipf("needs %s with python3-torch (scripts/install-test-deps.sh): %v: %s", py, err, out)
	}
	ex := separable(3, 10, 128, 1, 6)
	for _, hidden := range []int{0, 16} {
		h, _, err := Train(context.Background(), ex, names(3), Options{Hidden: hidden, Seed: 1, Epochs: 30})
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		write := func(name string, v []float32) {
			b := make([]byte, 4*len(v))
			for i, f := range v {
				binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
			}
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		var xs []float32
		for _, e := range ex {
			xs = append(xs, e.Embedding...)
		}
		write("x.f32", xs)
		write("w1.f32", h.W1)
		write("b1.f32", h.B1)
		write("w2.f32", h.W2)
		write("b2.f32", h.B2)
		meta, _ := json.Marshal(map[string]int{"n": len(ex), "dim": h.Dim, "hidden": h.Hidden, "classes": len(h.Classes)})
		out, err := exec.Command(py, filepath.Join("testdata", "headref.py"), dir, string(meta)).CombinedOutput()
		if err != nil {
			t.Fatalf("testdata/headref.py: %v\n%s", err, out)
		}
		var want [][]float64
		if err := json.Unmarshal(out, &want); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		var worst float64
		for i, e := range ex {
			got, err := h.Logits(e.Embedding)
			if err != nil {
				t.Fatal(err)
			}
			for c := range got {
				worst = max(worst, math.Abs(float64(got[c])-want[i][c])/math.Max(1, math.Abs(want[i][c])))
			}
		}
		t.Logf("hidden %d: largest relative difference from PyTorch %.2e", hidden, worst)
		if worst > 1e-6 {
			t.Errorf("hidden %d: logits differ from PyTorch's by up to %.3g", hidden, worst)
		}
	}
}

// BenchmarkTrain: issue 15's case, 200 examples of 4096-value fc7 embeddings, 4 classes,
// the default options (early stopping on 15% held out).
func BenchmarkTrain(b *testing.B) {
	ex := separable(4, 25, 4096, 2, 7)
	for b.Loop() {
		_, rep, err := Train(context.Background(), ex, names(4), Options{Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(rep.Epochs)), "epochs")
	}
}

// TestLogitFunc: a class's logit as a function of the embedding (what feature visualization
// and attribution differentiate) has the head's own logit as its value and, the head being
// piecewise linear, its central differences as its gradient, with and without hidden units.
func TestLogitFunc(t *testing.T) {
	ex := separable(3, 10, 48, 2, 4)
	for _, hidden := range []int{0, 16} {
		h, _, err := Train(context.Background(), ex, names(3), Options{Hidden: hidden, Seed: 1, Epochs: 20})
		if err != nil {
			t.Fatal(err)
		}
		x := ex[7].Embedding
		logits, _ := h.Logits(x)
		for c := range 3 {
			f, err := h.LogitFunc(c)
			if err != nil {
				t.Fatal(err)
			}
			if f.Dim() != 48 {
				t.Fatalf("Dim %d", f.Dim())
			}
			g := make([]float32, 48)
			v := f.ValueGrad(x, g)
			if math.Abs(v-float64(logits[c])) > 1e-4*math.Max(1, math.Abs(v)) {
				t.Errorf("hidden %d, class %d: value %g, the head's logit %g", hidden, c, v, logits[c])
			}
			for _, i := range []int{0, 13, 47} {
				const d = 1e-3
				xp, xm := slices.Clone(x), slices.Clone(x)
				xp[i] += d
				xm[i] -= d
				fd := (f.ValueGrad(xp, make([]float32, 48)) - f.ValueGrad(xm, make([]float32, 48))) / (2 * d)
				if math.Abs(fd-float64(g[i])) > 1e-3*math.Max(1, math.Abs(fd)) {
					t.Errorf("hidden %d, class %d, value %d: gradient %g, central difference %g", hidden, c, i, g[i], fd)
				}
			}
		}
		if _, err := h.LogitFunc(3); err == nil {
			t.Errorf("hidden %d: class 3 of 3: no error", hidden)
		}
	}
}
