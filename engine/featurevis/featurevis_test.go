package featurevis

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"image"
	"math"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/internal/testenv"
	"github.com/alexlens/alexlens/weights"
	"github.com/alexlens/alexlens/weights/pth"
)

func realSqueezeNet(t testing.TB) *engine.Model {
	f, err := os.Open(testenv.SharedWeight(t, "squeezenet1_1-imagenet.pth"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	tensors, err := pth.Read(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	m, err := engine.NewModel(engine.SqueezeNet11, tensors)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// rise runs a visualization and reports the objective at the start and the mean of the last
// few steps (each step sees another random transform, so single values are noisy).
func rise(t *testing.T, m *engine.Model, opt Options) (start, end float64, res *Result) {
	t.Helper()
	res, err := Run(context.Background(), m, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Values) != opt.Steps {
		t.Fatalf("%d values for %d steps", len(res.Values), opt.Steps)
	}
	last := res.Values[len(res.Values)-5:]
	for _, v := range last {
		end += float64(v) / float64(len(last))
	}
	return float64(res.Values[0]), end, res
}

// greyChannel picks a channel of layer that is on, but weakly, for a grey image: the one
// with the median positive mean. Starting from such a unit, a 5x rise means the image was
// found that drives it, not that a dead unit flickered on.
func greyChannel(t *testing.T, m *engine.Model, layer string) int {
	t.Helper()
	n := m.Arch.InputSize
	x := engine.NewTensor(1, 3, n, n)
	for c := 0; c < 3; c++ {
		for p := 0; p < n*n; p++ {
			x.Data[c*n*n+p] = (0.5 - meanStd[c][0]) / meanStd[c][1]
		}
	}
	res, err := m.Forward(x, engine.ForwardOptions{StopAfter: layer})
	if err != nil {
		t.Fatal(err)
	}
	act := res.Activations[layer]
	ch, hw := act.Shape[1], act.Shape[2]*act.Shape[3]
	type chanMean struct {
		c    int
		mean float64
	}
	var on []chanMean
	for c := 0; c < ch; c++ {
		var s float64
		for _, v := range act.Data[c*hw : (c+1)*hw] {
			s += float64(v)
		}
		if s > 0 {
			on = append(on, chanMean{c, s / float64(hw)})
		}
	}
	if len(on) == 0 {
		t.Fatalf("no channel of %s is on for a grey image", layer)
	}
	slices.SortFunc(on, func(a, b chanMean) int { return cmp.Compare(a.mean, b.mean) })
	return on[len(on)/2].c
}

// TestObjectiveRises: gradient ascent must raise a fire module channel's mean activation
// by more than 5x from the starting image, on fixture weights and on the released
// SqueezeNet weights.
func TestObjectiveRises(t *testing.T) {
	cases := []struct {
		name  string
		model func(testing.TB) *engine.Model
		layer string
	}{
		{"fixture", func(testing.TB) *engine.Model { return weights.Fixture(engine.SqueezeNet11, 1) }, "fire5"},
		{"real", realSqueezeNet, "fire6"},
	}
	for _, c := range cases {
		t.Run(c.name+"/"+c.layer, func(t *testing.T) {
			m := c.model(t)
			obj := engine.ChannelMean(c.layer, greyChannel(t, m, c.layer))
			const steps = 16
			begin := time.Now()
			start, end, _ := rise(t, m, Options{Objective: obj, Steps: steps, Seed: 1})
			t.Logf("%v: %.4f at the start, %.4f at the end of %d steps (%.0f ms/step)", obj, start, end, steps, float64(time.Since(begin).Milliseconds())/steps)
			if !(start > 0) || !(end > 5*start) {
				t.Errorf("%v rose from %.4g to %.4g in %d steps, want more than 5x", obj, start, end, steps)
			}
		})
	}
}

// TestPreReLUWakesDeadUnit: a real SqueezeNet unit that is off for the starting image has no
// gradient after its ReLU; optimizing its pre-ReLU value switches it on.
func TestPreReLUWakesDeadUnit(t *testing.T) {
	m := realSqueezeNet(t)
	obj := engine.Neuron("fire8", 300, 6, 6)
	obj.PreReLU = true
	res, err := Run(context.Background(), m, Options{Objective: obj, Steps: 12, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	after := obj
	after.PreReLU = false
	v, _, err := m.InputGradient(imageTensor(res.Image), after)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v: %.3f -> %.3f; after its ReLU on the final image: %.3f", obj, res.Values[0], res.Values[len(res.Values)-1], v)
	if !(res.Values[0] < 0) {
		t.Fatalf("%v starts at %.3g: pick a unit that is off at the start", obj, res.Values[0])
	}
	if !(v > 1) {
		t.Errorf("%v is %.3g on its visualization, want it well on (> 1)", after, v)
	}
}

// imageTensor normalizes an RGBA image as the network input.
func imageTensor(img *image.RGBA) *engine.Tensor {
	n := img.Bounds().Dx()
	x := engine.NewTensor(1, 3, n, n)
	for c := 0; c < 3; c++ {
		for p := 0; p < n*n; p++ {
			v := float32(img.Pix[4*p+c]) / 255
			x.Data[c*n*n+p] = (v - meanStd[c][0]) / meanStd[c][1]
		}
	}
	return x
}

// TestClassLogitRises on the real weights: the logit of a class grows and the class climbs
// to the top of the prediction for the synthesized image.
func TestClassLogitRises(t *testing.T) {
	m := realSqueezeNet(t)
	const class = 130 // flamingo
	start, end, res := rise(t, m, Options{Objective: engine.ClassLogit(class), Steps: 16, Seed: 2})
	t.Logf("class %d logit: %.3f -> %.3f", class, start, end)
	if !(end > start+5) {
		t.Errorf("class %d logit rose from %.3g to %.3g, want at least 5 more", class, start, end)
	}
	out, err := m.Forward(imageTensor(res.Image), engine.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	top := engine.TopK(engine.Probabilities(out.Logits).Row(0), 5)
	t.Logf("top-5 of the final image: %v", top)
	found := false
	for _, c := range top {
		found = found || c.Index == class
	}
	if !found {
		t.Errorf("class %d is not in the top-5 %v of its own visualization", class, top)
	}
}

var meanStd = [3][2]float32{{0.485, 0.229}, {0.456, 0.224}, {0.406, 0.225}}

// TestDeterministic: the same seed gives the same pixels and values; another seed does not.
func TestDeterministic(t *testing.T) {
	m := weights.Fixture(engine.SqueezeNet11, 2)
	opt := Options{Objective: engine.ChannelMean("fire3", 7), Steps: 3, Seed: 5, Size: 96}
	a, err := Run(context.Background(), m, opt)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Run(context.Background(), m, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Image.Pix, b.Image.Pix) || a.Values[2] != b.Values[2] {
		t.Error("two runs with the same seed differ")
	}
	opt.Seed = 6
	c, err := Run(context.Background(), m, opt)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Image.Pix, c.Image.Pix) {
		t.Error("seeds 5 and 6 give the same image")
	}
}

// TestRunBatch: a batch's image i is Run's image for objective i with seed Seed+i, however
// the objectives are batched; progress names each item.
func TestRunBatch(t *testing.T) {
	m := weights.Fixture(engine.SqueezeNet11, 2)
	dir := engine.Direction("fire4", make([]float32, 256))
	for i := range dir.Vector {
		dir.Vector[i] = float32(i%7) - 3
	}
	dir.CosPow = 2
	objs := []engine.Objective{engine.ChannelMean("fire4", 3), dir, engine.ChannelMean("fire4", 100)}
	for i := range objs {
		objs[i].PreReLU = true // no unit is off, so every value moves
	}
	opt := Options{Steps: 3, Seed: 9, Size: 72}
	items := map[int]int{}
	opt.Progress = func(p Progress) { items[p.Item]++ }
	batch, err := RunBatch(context.Background(), m, opt, objs)
	if err != nil {
		t.Fatal(err)
	}
	if len(batch) != 3 || items[0] != 3 || items[1] != 3 || items[2] != 3 {
		t.Fatalf("%d results, progress per item %v, want 3 each", len(batch), items)
	}
	opt.Progress = nil
	for i, o := range objs {
		one := opt
		one.Objective, one.Seed = o, opt.Seed+int64(i)
		alone, err := Run(context.Background(), m, one)
		if err != nil {
			t.Fatal(err)
		}
		var worst int
		for p := range alone.Image.Pix {
			worst = max(worst, int(alone.Image.Pix[p])-int(batch[i].Image.Pix[p]), int(batch[i].Image.Pix[p])-int(alone.Image.Pix[p]))
		}
		if worst > 1 || engine.RelL2(alone.Values, batch[i].Values) > 1e-5 {
			t.Errorf("item %d (%v): values %v alone, %v in the batch; pixels differ by up to %d", i, o, alone.Values, batch[i].Values, worst)
		}
	}
	if _, err := RunBatch(context.Background(), m, opt, []engine.Objective{objs[0], engine.ChannelMean("fire5", 1)}); err == nil {
		t.Error("objectives on two layers: no error")
	}
	if _, err := RunBatch(context.Background(), m, opt, nil); err == nil {
		t.Error("no objectives: no error")
	}
}

// TestCancelAndProgress: previews arrive every N steps and after the last; cancelling from
// the progress callback stops the run before the next step, with the image so far.
func TestCancelAndProgress(t *testing.T) {
	m := weights.Fixture(engine.SqueezeNet11, 3)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var steps, previews []int
	res, err := Run(ctx, m, Options{Objective: engine.ClassLogit(1), Steps: 50, Size: 64, PreviewEvery: 2,
		Progress: func(p Progress) {
			steps = append(steps, p.Step)
			if p.Preview != nil {
				previews = append(previews, p.Step)
				if p.Preview.Bounds().Dx() != 64 {
					t.Errorf("preview %v, want 64x64", p.Preview.Bounds())
				}
			}
			if p.Step == 5 {
				cancel()
			}
		}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel: error %v, want context.Canceled", err)
	}
	if res == nil || res.Image == nil || len(res.Values) != 5 {
		t.Fatalf("cancelled run: result %+v, want the image and 5 values", res)
	}
	if len(steps) != 5 || len(previews) != 2 || previews[0] != 2 || previews[1] != 4 {
		t.Errorf("progress at steps %v with previews at %v, want 1-5 with previews at 2 and 4", steps, previews)
	}

	var last Progress
	if _, err := Run(context.Background(), m, Options{Objective: engine.ClassLogit(1), Steps: 3, Size: 32, Progress: func(p Progress) { last = p }}); err != nil {
		t.Fatal(err)
	}
	if last.Step != 3 || last.Steps != 3 || last.Preview == nil {
		t.Errorf("last progress %+v, want step 3 of 3 with a preview", last)
	}
}

// TestBadOptions: bad requests get errors, not panics or huge allocations.
func TestBadOptions(t *testing.T) {
	m := weights.Fixture(engine.SqueezeNet11, 3)
	for _, opt := range []Options{
		{Objective: engine.ChannelMean("fire99", 0)},
		{Objective: engine.ChannelMean("fire3", 1000)},
		{Objective: engine.Neuron("conv1", 0, 500, 0)},
		{Objective: engine.Direction("fire3", []float32{1, 2})},
		{Objective: engine.ClassLogit(0), Size: 1 << 20},
		{Objective: engine.ClassLogit(0), Size: 3},
		{Objective: engine.ClassLogit(0), Steps: -1},
		{Objective: engine.ClassLogit(0), Steps: 1 << 30},
		{Objective: engine.ClassLogit(0), LearningRate: -1},
		{Objective: engine.ClassLogit(0), Transforms: &Transforms{Jitter: -3}},
		{Objective: engine.ClassLogit(0), Transforms: &Transforms{ScaleSpan: 2}},
		{Objective: engine.ClassLogit(0), PreviewEvery: -1},
	} {
		if opt.Steps == 0 {
			opt.Steps = 1 // one step is enough to reach the objective's checks
		}
		if _, err := Run(context.Background(), m, opt); err == nil {
			t.Errorf("Run(%+v): want an error", opt)
		}
	}
	if _, err := Run(context.Background(), nil, Options{}); err == nil {
		t.Error("Run without a model: want an error")
	}
}

// TestPreviewsChangeNothing: a run previewing every step (whose renders the next steps reuse)
// gives the same objective values and image as one without previews, and that image is not
// the starting one (renders are reused, never skipped).
func TestPreviewsChangeNothing(t *testing.T) {
	m := weights.Fixture(engine.SqueezeNet11, 4)
	run := func(every, steps int) *Result {
		opt := Options{Objective: engine.ClassLogit(1), Steps: steps, Size: 48, PreviewEvery: every}
		if every > 0 {
			opt.Progress = func(Progress) {}
		}
		res, err := Run(context.Background(), m, opt)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	plain, previewed := run(0, 6), run(1, 6)
	if start := run(0, 0); bytes.Equal(start.Image.Pix, plain.Image.Pix) {
		t.Errorf("the image after 6 steps is the starting image (values %v)", plain.Values)
	}
	if !slices.Equal(plain.Values, previewed.Values) || !bytes.Equal(plain.Image.Pix, previewed.Image.Pix) {
		t.Errorf("values %v without previews, %v with a preview every step (images equal: %v)",
			plain.Values, previewed.Values, bytes.Equal(plain.Image.Pix, previewed.Image.Pix))
	}
}

// TestRound8: round8 is math.Round of the value clamped to [0, 255], halves away from zero,
// and 0 for NaN.
func TestRound8(t *testing.T) {
	xs := []float64{math.NaN(), math.Inf(-1), -1, math.Copysign(0, -1), 0, 0.49999999999999994, 0.5, 1.5, 2.5,
		254.49999999999997, 254.5, 255, 255.5, 300, math.Inf(1)}
	for i := range 100000 {
		xs = append(xs, float64(i)*0.00259, float64(i%256)+0.5, math.Nextafter(float64(i%256)+0.5, 0))
	}
	for _, x := range xs {
		want := uint8(0)
		if !math.IsNaN(x) {
			want = uint8(math.Round(min(255, max(0, x))))
		}
		if got := round8(x); got != want {
			t.Fatalf("round8(%v) = %d, want %d", x, got, want)
		}
	}
}
