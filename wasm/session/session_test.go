package session

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/engine/imagenet"
	"github.com/alexlens/alexlens/engine/preprocess"
	"github.com/alexlens/alexlens/wasm/protocol"
	"github.com/alexlens/alexlens/weights"
)

// squeezeFile is SqueezeNet fixture weights in the .alxw format, as the worker receives them.
func squeezeFile(t *testing.T, p engine.Precision) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := weights.Encode(&buf, weights.Fixture(engine.SqueezeNet11, 7).WithPrecision(p), weights.FixtureSource(7)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func hash(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

var photo = filepath.Join("..", "..", "ui", "samples", "chelsea.jpg")

// TestClassifyImageEqualsEngine: the session's top-5 is the engine's, on the CLI's decoding.
func TestClassifyImageEqualsEngine(t *testing.T) {
	file := squeezeFile(t, engine.F32)
	s := New(DefaultCodecs(), nil)
	info, err := s.Load(file, LoadOptions{Want: hash(file)})
	if err != nil {
		t.Fatal(err)
	}
	if info.Arch != engine.SqueezeNet11.Name || !info.Fixture || info.Precision != "f32" || info.SHA256 != hash(file) {
		t.Errorf("model info %+v", info)
	}
	if len(info.Layers) != len(engine.SqueezeNet11.LayerNames()) || info.Layers[0].Channels != 64 || info.Layers[0].Height != 111 {
		t.Errorf("layers %+v", info.Layers)
	}
	img, err := os.ReadFile(photo)
	if err != nil {
		t.Fatal(err)
	}
	// Progress at most every layerProgressEvery: at 0, after every layer; at an hour, none.
	defer func(d time.Duration) { layerProgressEvery = d }(layerProgressEvery)
	layerProgressEvery = time.Hour
	var steps []string
	if _, err := s.ClassifyImage(img, func(p protocol.Progress) { steps = append(steps, p.Layer) }); err != nil || len(steps) != 0 {
		t.Errorf("a pass within the progress interval sent progress for %v (error %v)", steps, err)
	}
	layerProgressEvery = 0
	c, err := s.ClassifyImage(img, func(p protocol.Progress) { steps = append(steps, p.Layer) })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(steps, ",") != strings.Join(engine.SqueezeNet11.LayerNames(), ",") {
		t.Errorf("progress layers %v", steps)
	}
	m, _ := weights.Decode(file)
	dec, err := preprocess.Decode(img, preprocess.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Forward(preprocess.Tensor(dec, 224), engine.ForwardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := engine.TopK(engine.Probabilities(res.Logits).Row(0), 5)
	if len(c.Top) != 5 {
		t.Fatalf("top has %d entries", len(c.Top))
	}
	for i, w := range want {
		if c.Top[i].Index != w.Index || c.Top[i].Prob != w.Prob || c.Top[i].Label != imagenet.Label(w.Index) {
			t.Errorf("rank %d: %+v, want %+v", i, c.Top[i], w)
		}
	}
	if c.ImageWidth != 451 || c.ImageHeight != 300 || c.EmbeddingLayer != "fire9" || len(c.Embedding) != 512 {
		t.Errorf("image %dx%d, embedding %s of %d", c.ImageWidth, c.ImageHeight, c.EmbeddingLayer, len(c.Embedding))
	}
	// Activation maps come from the same pass.
	maps, err := s.Maps([]protocol.MapRequest{{Layer: "conv1", Channel: 5}, {Layer: "avgpool10", Channel: 0}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if maps[0].Width != 111 || maps[0].Height != 111 || len(maps[0].Pix) != 111*111 {
		t.Errorf("conv1 map %dx%d", maps[0].Width, maps[0].Height)
	}
	if maps[1].Width != 1 || maps[1].Height != 1 { // avgpool10 is 1000 channels of 1x1
		t.Errorf("avgpool10 map %dx%d", maps[1].Width, maps[1].Height)
	}
}

func TestActivationImage(t *testing.T) {
	x, _ := engine.FromData([]float32{0, 1, 2, 4, -1, -1, -1, -1}, 1, 2, 2, 2)
	m, err := ActivationImage(x, "l", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Pix, []byte{0, 64, 128, 255}) || m.Min != 0 || m.Max != 4 {
		t.Errorf("scaled %v (min %v max %v)", m.Pix, m.Min, m.Max)
	}
	m, _ = ActivationImage(x, "l", 0, 0.3) // values below 30% of the range go black
	if !bytes.Equal(m.Pix, []byte{0, 0, 128, 255}) {
		t.Errorf("threshold 0.3: %v", m.Pix)
	}
	m, _ = ActivationImage(x, "l", 1, 0) // a constant map is black
	if !bytes.Equal(m.Pix, []byte{0, 0, 0, 0}) {
		t.Errorf("constant map %v", m.Pix)
	}
	if _, err := ActivationImage(x, "l", 2, 0); err == nil || !strings.Contains(err.Error(), "channels 0..1") {
		t.Errorf("channel out of range: %v", err)
	}
	flat, _ := engine.FromData(make([]float32, 10), 1, 10)
	m, err = ActivationImage(flat, "fc", 0, 0)
	if err != nil || m.Width*m.Height < 10 || len(m.Pix) != m.Width*m.Height {
		t.Errorf("flat map %dx%d, %v", m.Width, m.Height, err)
	}
	if _, err := ActivationImage(flat, "fc", 1, 0); err == nil {
		t.Error("flat layer accepted channel 1")
	}
}

func TestKernelImages(t *testing.T) {
	w := &engine.Weight{Shape: []int{2, 3, 1, 1}, F32: []float32{1, -1, 0, 0, 0, 0}}
	g := KernelImages(w)
	if g.Count != 2 || g.Width != 1 || g.Height != 1 {
		t.Fatalf("grid %+v", g)
	}
	if !bytes.Equal(g.RGBA[0], []byte{255, 0, 128, 255}) || !bytes.Equal(g.RGBA[1], []byte{128, 128, 128, 255}) {
		t.Errorf("kernels %v", g.RGBA)
	}
	for _, a := range []*engine.Arch{engine.AlexNet, engine.AlexNetBVLC, engine.SqueezeNet11} {
		m := weights.Fixture(a, 1)
		g := KernelImages(m.Params[a.FirstConv().Key+".weight"])
		want := a.FirstConv().Conv.Out
		if g.Count != want || len(g.RGBA) != want || len(g.RGBA[0]) != 4*a.FirstConv().Conv.KH*a.FirstConv().Conv.KW {
			t.Errorf("%s: %d kernels of %d bytes, want %d", a.Name, g.Count, len(g.RGBA[0]), want)
		}
		q := KernelImages(engine.QuantizeWeight(m.Params[a.FirstConv().Key+".weight"]))
		if q.Count != want {
			t.Errorf("%s int8: %d kernels", a.Name, q.Count)
		}
	}
}

// TestBadInput: every failure is an error with a message, and the session keeps working.
func TestBadInput(t *testing.T) {
	s := New(DefaultCodecs(), nil)
	if _, err := s.ClassifyImage([]byte{1, 2, 3}, nil); err != ErrNoModel {
		t.Errorf("classify before load: %v", err)
	}
	if _, err := s.Maps([]protocol.MapRequest{{Layer: "conv1"}}, 0); err == nil {
		t.Error("maps before any pass")
	}
	file := squeezeFile(t, engine.Int8)
	if _, err := s.Load(file, LoadOptions{Want: strings.Repeat("0", 64)}); err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Errorf("wrong hash: %v", err)
	}
	if _, err := s.Load([]byte("not weights"), LoadOptions{}); err == nil || !strings.Contains(err.Error(), "cannot read weights") {
		t.Errorf("garbage weights: %v", err)
	}
	if _, err := s.Load(file[:len(file)/2], LoadOptions{}); err == nil {
		t.Error("truncated weights accepted")
	}
	if _, err := s.Load(file, LoadOptions{Precision: "f16"}); err == nil {
		t.Error("precision f16 accepted")
	}
	info, err := s.Load(file, LoadOptions{Want: hash(file), Precision: "f32"}) // int8 file widened to f32 on request
	if err != nil || info.Precision != "f32" {
		t.Fatalf("load: %v %+v", err, info)
	}
	for _, b := range [][]byte{nil, []byte("GIF89a broken"), []byte("\xFF\xD8\xFF garbage")} {
		if _, err := s.ClassifyImage(b, nil); err == nil {
			t.Errorf("image %q accepted", b)
		}
	}
	if _, err := s.ClassifyFrame(make([]byte, 10), 2, 2, nil); err == nil {
		t.Error("short frame accepted")
	}
	if _, err := s.ClassifyFrame(nil, 0, 0, nil); err == nil {
		t.Error("empty frame accepted")
	}
	frame := bytes.Repeat([]byte{200, 100, 50, 255}, 320*240)
	c, err := s.ClassifyFrame(frame, 320, 240, nil)
	if err != nil || len(c.Top) != 5 {
		t.Fatalf("good frame after bad input: %v", err)
	}
	var sum float64
	for _, p := range c.Top {
		sum += float64(p.Prob)
	}
	if math.IsNaN(sum) || sum <= 0 || sum > 1.0001 {
		t.Errorf("top-5 probabilities sum to %v", sum)
	}
	if _, err := s.Maps([]protocol.MapRequest{{Layer: "nope"}}, 0); err == nil || !strings.Contains(err.Error(), "layers:") {
		t.Errorf("unknown layer: %v", err)
	}
}

// TestPartialWeights: BVLC AlexNet's conv1-only weights show kernels and early maps, and
// give no classes.
func TestPartialWeights(t *testing.T) {
	full := weights.Fixture(engine.AlexNetBVLC, 3)
	m, err := engine.NewPartialModel(engine.AlexNetBVLC, map[string]*engine.Tensor{
		"features.0.weight": {Shape: full.Params["features.0.weight"].Shape, Data: full.Params["features.0.weight"].F32},
		"features.0.bias":   {Shape: full.Params["features.0.bias"].Shape, Data: full.Params["features.0.bias"].F32},
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := weights.Encode(&buf, m, "test"); err != nil {
		t.Skipf("the weights format does not store partial models here: %v", err)
	}
	s := New(DefaultCodecs(), nil)
	info, err := s.Load(buf.Bytes(), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The weights end at conv1; the parameter-free layers after it (norm1, pool1) still run.
	if info.Partial != "pool1" || len(info.Layers) != 3 {
		t.Errorf("partial %q, layers %+v", info.Partial, info.Layers)
	}
	if k := s.Kernels(); k == nil || k.Count != 96 || k.Width != 11 {
		t.Errorf("kernels %+v", k)
	}
	img, _ := os.ReadFile(photo)
	c, err := s.ClassifyImage(img, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Top) != 0 || len(c.Layers) != 3 {
		t.Errorf("partial pass: top %v, layers %v", c.Top, c.Layers)
	}
	if _, err := s.Maps([]protocol.MapRequest{{Layer: "conv1", Channel: 95}}, 0); err != nil {
		t.Error(err)
	}
}

// twoThreads stands for the worker's kernel-pool runner: the session reports the threads it
// says ran each pass, and the CPU runner's single thread otherwise.
type twoThreads struct {
	Runner
	ran int
}

func (r *twoThreads) Forward(x *engine.Tensor, opt engine.ForwardOptions) (*engine.Result, error) {
	r.ran = 2
	return r.Runner.Forward(x, opt)
}

func (r *twoThreads) Threads() int        { return max(r.ran, 1) }
func (r *twoThreads) ThreadsNote() string { return "" }

func TestThreadsReported(t *testing.T) {
	file := squeezeFile(t, engine.F32)
	img, err := os.ReadFile(photo)
	if err != nil {
		t.Fatal(err)
	}
	s := New(DefaultCodecs(), nil)
	info, err := s.Load(file, LoadOptions{Want: hash(file)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.ClassifyImage(img, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Threads != 1 || c.Threads != 1 {
		t.Errorf("CPU runner: model says %d threads, pass %d; want 1", info.Threads, c.Threads)
	}
	s.SetRunners(func(m *engine.Model, run RunOptions, cpu engine.Backend) Runner {
		return &twoThreads{Runner: CPURunner(m, run, cpu)}
	})
	if info, err = s.Load(file, LoadOptions{Want: hash(file)}); err != nil {
		t.Fatal(err)
	}
	if c, err = s.ClassifyImage(img, nil); err != nil {
		t.Fatal(err)
	}
	if info.Threads != 1 || c.Threads != 2 {
		t.Errorf("threaded runner: model says %d threads before a pass, the pass %d; want 1 and 2", info.Threads, c.Threads)
	}
}
