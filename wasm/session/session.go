// Package session is the engine side of the browser worker: it holds the loaded model and
// the last forward pass, and turns requests into results (top-5, per-layer times, activation
// maps, first-layer kernels, the embedding). It has no syscall/js import, so everything the
// worker computes is tested natively against the same engine the CLI uses.
package session

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"math"
	"strings"
	"time"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/engine/imagenet"
	"github.com/alexlens/alexlens/gallery"
	"github.com/alexlens/alexlens/teach"
	"github.com/alexlens/alexlens/wasm/protocol"
)

// Codecs are the file formats the session reads: image files and weight files. They are the
// same functions the native CLI uses, so the browser's results equal the CLI's exactly.
type Codecs struct {
	// DecodeWeights reads a weights file; fileChecked says the whole file already matched a
	// trusted SHA-256, so per-tensor hashes need not be computed again.
	DecodeWeights func(data []byte, fileChecked bool) (*engine.Model, error)
	DecodeImage   func(data []byte) (image.Image, error)
	ImageTensor   func(img image.Image, crop int) *engine.Tensor
	FrameTensor   func(rgba []byte, w, h, crop int) (*engine.Tensor, error)
}

// Runner runs a loaded model's forward passes. The CPU runner is the default; the worker
// plugs in the WebGPU runner, which falls back to the CPU by itself.
type Runner interface {
	Forward(x *engine.Tensor, opt engine.ForwardOptions) (*engine.Result, error)
	// Compute is what the next pass runs on (webgpu or cpu), note why the CPU runs when
	// WebGPU was asked for.
	Compute() (compute protocol.Compute, note string)
	Close()
}

// RunOptions is how a load request asks its passes to run.
type RunOptions struct {
	// Compute is where to run ("" is auto).
	Compute protocol.Compute
	// Threads is how many threads the CPU passes may take (0: the runner chooses).
	Threads int
}

// RunnerFactory makes the runner for a newly loaded model.
type RunnerFactory func(m *engine.Model, run RunOptions, cpu engine.Backend) Runner

type cpuRunner struct {
	m   *engine.Model
	cpu engine.Backend
}

func (r cpuRunner) Forward(x *engine.Tensor, opt engine.ForwardOptions) (*engine.Result, error) {
	opt.Backend = r.cpu
	return r.m.Forward(x, opt)
}
func (r cpuRunner) Compute() (protocol.Compute, string) { return protocol.ComputeCPU, "" }
func (r cpuRunner) Close()                              {}

// Threaded is a Runner whose CPU passes may take several threads (kernel workers sharing
// the engine worker's memory, wasm/cpukernel's pool).
type Threaded interface {
	// Threads is how many threads ran the last pass, or will run the next before any.
	Threads() int
	// ThreadsNote says why fewer threads run than were asked for ("" when none).
	ThreadsNote() string
}

// threadsOf is how many threads the runner's passes take: Threads for a Threaded runner,
// else 1 on the CPU and 0 on WebGPU.
func threadsOf(r Runner) int {
	if t, ok := r.(Threaded); ok {
		return t.Threads()
	}
	if c, _ := r.Compute(); c == protocol.ComputeCPU {
		return 1
	}
	return 0
}

// CPURunner runs on the CPU backend whatever the mode.
func CPURunner(m *engine.Model, _ RunOptions, cpu engine.Backend) Runner { return cpuRunner{m, cpu} }

// Session is one worker's engine state. It is not safe for concurrent use: the worker runs
// one request at a time.
type Session struct {
	codecs  Codecs
	backend engine.Backend
	runners RunnerFactory
	runner  Runner
	model   *engine.Model
	info    *protocol.ModelInfo
	last    *engine.Result
	// input is the last classified image (the network's input), for reruns with other
	// interventions and for attribution; edits are the interventions of the current request.
	input          *engine.Tensor
	inputW, inputH int // its size before preprocessing
	edits          []engine.Edit
	// logits are the last pass's, with the edits it ran with: attribution of the same
	// image under the same edits starts from them instead of a pass of its own.
	logits      []float32
	logitsEdits []engine.Edit
	teacher     *Teacher // the Teach view's classes and head (teach.go)
	// heads are the head files loaded (heads.go); useHead the one this request scores.
	heads   map[string]loadedHead
	useHead *teach.Head
	// fingerprint is gallery.Fingerprint of fingerprinted, kept because hashing every
	// weight takes seconds in a tab (AlexNet: 61 million of them).
	fingerprint   string
	fingerprinted *engine.Model
	fingerprints  FingerprintCache
}

// FingerprintCache keeps weights' fingerprints between page loads (the worker's is in
// IndexedDB), under the digest of the file they were loaded from: the same file always has
// the same fingerprint, at either precision.
type FingerprintCache interface {
	Fingerprint(fileSHA256 string) (string, bool)
	KeepFingerprint(fileSHA256, fingerprint string)
}

// SetFingerprintCache makes Fingerprint look in c before hashing, and keep what it hashes.
func (s *Session) SetFingerprintCache(c FingerprintCache) { s.fingerprints = c }

// Fingerprint identifies the loaded weights (gallery.Fingerprint), hashed once per model.
func (s *Session) Fingerprint() (string, error) {
	if s.model == nil {
		return "", ErrNoModel
	}
	if s.fingerprinted != s.model {
		file := s.info.SHA256
		fp, ok := "", false
		if s.fingerprints != nil && file != "" {
			fp, ok = s.fingerprints.Fingerprint(file)
		}
		if !ok {
			fp = gallery.Fingerprint(s.model)
			if s.fingerprints != nil && file != "" {
				s.fingerprints.KeepFingerprint(file, fp)
			}
		}
		s.fingerprint, s.fingerprinted = fp, s.model
	}
	return s.fingerprint, nil
}

// New returns a session that runs the network on backend (nil: the engine's default).
func New(c Codecs, backend engine.Backend) *Session {
	if backend == nil {
		backend = engine.DefaultBackend()
	}
	return &Session{codecs: c, backend: backend, runners: CPURunner}
}

// gradOptions are the options of the session's gradient passes (feature visualization,
// atlas icons, attribution): the CPU backend, and the runner as the engine's GradDevice when
// it has one (the worker's WebGPU runner, which declines while it runs on the CPU).
func (s *Session) gradOptions() engine.GradOptions {
	opt := engine.GradOptions{Backend: s.backend}
	if d, ok := s.runner.(engine.GradDevice); ok {
		opt.Device = d
	}
	return opt
}

// gradCompute is where the session's gradient passes run: on the GPU while the runner is a
// GradDevice on WebGPU (it leaves the GPU for good when a pass fails there).
func (s *Session) gradCompute() protocol.Compute {
	if _, ok := s.runner.(engine.GradDevice); ok {
		if c, _ := s.runner.Compute(); c == protocol.ComputeWebGPU {
			return c
		}
	}
	return protocol.ComputeCPU
}

// SetRunners replaces the CPU runner factory (the worker's WebGPU runner); it applies to
// the next Load.
func (s *Session) SetRunners(f RunnerFactory) { s.runners = f }

// ErrNoModel is returned by requests that need weights before any were loaded.
var ErrNoModel = errors.New("no weights loaded yet")

// LoadOptions is what a load asks besides the file's bytes.
type LoadOptions struct {
	// Hash is the file's SHA-256 (hex) when the caller computed it (the worker uses the
	// browser's native SHA-256, many times faster than Go's in wasm); "" hashes it here.
	Hash string
	// Want is the SHA-256 the manifest names. When the file matches it, the per-tensor
	// hashes are skipped, since the whole file is then known; "" checks every tensor's.
	Want string
	// Precision is f32 or int8 ("" keeps the file's own).
	Precision string
	Run       RunOptions
	// Start is when the load began (downloading included), for the reported load time;
	// zero is now.
	Start time.Time
}

// Load verifies data, decodes it and makes it the current model. The model keeps data as
// its tensors' memory (weights.DecodeOptions.Alias): data must not be modified after.
func (s *Session) Load(data []byte, opt LoadOptions) (*protocol.ModelInfo, error) {
	start, got, wantSHA256, precision := opt.Start, opt.Hash, opt.Want, opt.Precision
	if start.IsZero() {
		start = time.Now()
	}
	if got == "" {
		sum := sha256.Sum256(data)
		got = hex.EncodeToString(sum[:])
	}
	got = strings.ToLower(got)
	if wantSHA256 != "" && !strings.EqualFold(got, wantSHA256) {
		return nil, fmt.Errorf("weights are corrupt or changed: sha256 %s..., expected %s...", shortHash(got), shortHash(wantSHA256))
	}
	m, err := s.codecs.DecodeWeights(data, wantSHA256 != "")
	if err != nil {
		return nil, fmt.Errorf("cannot read weights: %w", err)
	}
	switch precision {
	case "":
	case string(engine.F32), string(engine.Int8):
		partial := m.Partial
		m = m.WithPrecision(engine.Precision(precision))
		m.Partial = partial
	default:
		return nil, fmt.Errorf("precision must be f32 or int8, not %q", precision)
	}
	info, err := describe(m)
	if err != nil {
		return nil, err
	}
	info.Bytes = int64(len(data))
	info.SHA256 = got
	info.Backend = s.backend.Name()
	if s.runner != nil {
		s.runner.Close() // the old model's GPU buffers go before the new one's are made
	}
	s.model, s.info, s.last, s.input, s.edits, s.logits = nil, nil, nil, nil, nil, nil
	s.runner = s.runners(m, opt.Run, s.backend)
	info.Compute, info.ComputeNote = s.runner.Compute()
	info.Threads = threadsOf(s.runner)
	if t, ok := s.runner.(Threaded); ok {
		info.ThreadsNote = t.ThreadsNote()
	}
	info.Kernel = kernelName(s.backend)
	info.LoadMs = ms(time.Since(start))
	s.model, s.info = m, info
	return info, nil
}

// kernelName names the kernel a CPU backend runs on (FastCPU's block GEMM or Go tile), or
// the backend itself.
func kernelName(be engine.Backend) string {
	if k, ok := be.(interface{ KernelName() string }); ok {
		return k.KernelName()
	}
	return be.Name()
}

// Model describes the loaded model, or nil.
func (s *Session) Model() *protocol.ModelInfo { return s.info }

func describe(m *engine.Model) (*protocol.ModelInfo, error) {
	a := m.Arch
	shapes, err := a.Shapes(a.InputSize, a.InputSize)
	if err != nil {
		return nil, err
	}
	info := &protocol.ModelInfo{
		Arch: a.Name, Title: a.Title, Precision: string(m.Precision()), Fixture: m.Fixture,
		Partial: m.Partial, Params: a.ParamCount(), InputSize: a.InputSize, Embedding: a.Embedding,
	}
	for _, name := range a.LayerNames() {
		sh := shapes[name]
		li := protocol.LayerInfo{Name: name}
		if len(sh) == 4 {
			li.Channels, li.Height, li.Width = sh[1], sh[2], sh[3]
		} else {
			li.Features = sh[1]
		}
		info.Layers = append(info.Layers, li)
		if name == m.Partial {
			break
		}
	}
	return info, nil
}

// ClassifyImage decodes an image file and runs the network on it.
func (s *Session) ClassifyImage(data []byte, progress func(protocol.Progress)) (*protocol.Classification, error) {
	if s.model == nil {
		return nil, ErrNoModel
	}
	start := time.Now()
	img, err := s.codecs.DecodeImage(data)
	if err != nil {
		return nil, err
	}
	x := s.codecs.ImageTensor(img, s.model.Arch.InputSize)
	b := img.Bounds()
	return s.run(x, time.Since(start), b.Dx(), b.Dy(), progress)
}

// ClassifyFrame runs the network on an RGBA frame of w x h pixels.
func (s *Session) ClassifyFrame(rgba []byte, w, h int, progress func(protocol.Progress)) (*protocol.Classification, error) {
	if s.model == nil {
		return nil, ErrNoModel
	}
	if w < 1 || h < 1 || w > protocol.MaxFrameSide || h > protocol.MaxFrameSide || len(rgba) != 4*w*h {
		return nil, fmt.Errorf("frame of %d bytes is not %dx%d RGBA", len(rgba), w, h)
	}
	start := time.Now()
	x, err := s.codecs.FrameTensor(rgba, w, h, s.model.Arch.InputSize)
	if err != nil {
		return nil, err
	}
	return s.run(x, time.Since(start), w, h, progress)
}

// layerProgressEvery is how often a forward pass reports the layer it reached: a person
// sees nothing faster, and a message costs the page a re-render. (A variable for tests.)
var layerProgressEvery = 100 * time.Millisecond

func (s *Session) run(x *engine.Tensor, prep time.Duration, w, h int, progress func(protocol.Progress)) (*protocol.Classification, error) {
	m := s.model
	total := len(m.Arch.LayerNames())
	if m.Partial != "" {
		total = m.Arch.LayerIndex(m.Partial) + 1
	}
	// The last pass's activations (kept for its maps) become this pass's: the page keeps
	// every activation, and allocating them afresh for each pass made an AlexNet pass in
	// Chromium a quarter slower.
	s.last.Release()
	s.last = nil
	opt := engine.ForwardOptions{}
	start := time.Now()
	if progress != nil {
		// A pass that ends within layerProgressEvery sends no progress at all: every message
		// re-renders the page on its main thread, which competes with the engine for cores.
		next := start.Add(layerProgressEvery)
		opt.OnLayer = func(name string, i, _ int, took time.Duration) {
			if now := time.Now(); !now.Before(next) {
				next = now.Add(layerProgressEvery)
				progress(protocol.Progress{Stage: protocol.StageLayer, Done: int64(i + 1), Total: int64(total), Layer: name, Millis: ms(took)})
			}
		}
	}
	runner := s.runner
	if len(s.edits) > 0 {
		// Interventions rewrite activations between layers: the CPU pass does, the WebGPU
		// plan (one submission for the whole network) has no place for them.
		runner, opt.Edits = cpuRunner{m, s.backend}, s.edits
	}
	res, err := runner.Forward(x, opt)
	if err != nil {
		return nil, err
	}
	s.input, s.inputW, s.inputH = x, w, h
	s.logits, s.logitsEdits = nil, s.edits
	if res.Logits != nil {
		s.logits = append(s.logits, res.Logits.Row(0)...)
	}
	compute, note := runner.Compute()
	c := &protocol.Classification{
		PreprocessMs: ms(prep), ForwardMs: ms(time.Since(start)), Backend: s.backend.Name(),
		Compute: compute, ComputeNote: note, Threads: threadsOf(runner),
		ImageWidth: w, ImageHeight: h, Top: []protocol.Prediction{}, Intervened: len(opt.Edits) > 0,
	}
	for _, name := range res.Order {
		c.Layers = append(c.Layers, protocol.LayerTime{Layer: name, Millis: ms(res.LayerTimes[name])})
	}
	if res.Logits != nil {
		probs := engine.Probabilities(res.Logits).Row(0)
		for _, k := range engine.TopK(probs, 5) {
			c.Top = append(c.Top, protocol.Prediction{Index: k.Index, Label: imagenet.Label(k.Index), Prob: k.Prob})
		}
	}
	c.Taught = s.taught(res)
	if e := res.Activations[m.Arch.Embedding]; e != nil {
		c.EmbeddingLayer = m.Arch.Embedding
		c.Embedding = embedding(e)
	}
	s.last = res
	return c, nil
}

// embedding flattens an activation to one vector, averaging feature maps over space so a
// convolutional embedding (SqueezeNet's fire9) stays one value per channel.
func embedding(t *engine.Tensor) []float32 {
	if len(t.Shape) != 4 {
		return append([]float32(nil), t.Row(0)...)
	}
	c, hw := t.Shape[1], t.Shape[2]*t.Shape[3]
	out := make([]float32, c)
	for ch := range c {
		var sum float64
		for _, v := range t.Data[ch*hw : (ch+1)*hw] {
			sum += float64(v)
		}
		out[ch] = float32(sum / float64(hw))
	}
	return out
}

// Maps renders the requested activation maps of the last forward pass. Values below
// threshold (a fraction of each map's range) are drawn black: "hide values near zero".
func (s *Session) Maps(reqs []protocol.MapRequest, threshold float32) ([]protocol.ActivationMap, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	if s.last == nil {
		return nil, errors.New("no image classified yet: activation maps come from the last forward pass")
	}
	if len(reqs) > protocol.MaxMaps {
		return nil, fmt.Errorf("%d activation maps asked for, at most %d at once", len(reqs), protocol.MaxMaps)
	}
	var out []protocol.ActivationMap
	for _, r := range reqs {
		t, ok := s.last.Activations[r.Layer]
		if !ok {
			return nil, fmt.Errorf("no activation %q (layers: %s)", r.Layer, strings.Join(s.last.Order, ", "))
		}
		m, err := ActivationImage(t, r.Layer, r.Channel, threshold)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// ActivationImage scales channel ch of an activation to 0..255 between its minimum and
// maximum. A flat (fully connected) activation becomes a near-square grid of its values.
func ActivationImage(t *engine.Tensor, layer string, ch int, threshold float32) (protocol.ActivationMap, error) {
	var plane []float32
	var w, h int
	if len(t.Shape) == 4 {
		c := t.Shape[1]
		if ch < 0 || ch >= c {
			return protocol.ActivationMap{}, fmt.Errorf("%s has channels 0..%d, not %d", layer, c-1, ch)
		}
		h, w = t.Shape[2], t.Shape[3]
		plane = t.Data[ch*h*w : (ch+1)*h*w]
	} else {
		if ch != 0 {
			return protocol.ActivationMap{}, fmt.Errorf("%s is fully connected: it has one map (channel 0), not channel %d", layer, ch)
		}
		plane = t.Row(0)
		w = int(math.Ceil(math.Sqrt(float64(len(plane)))))
		h = (len(plane) + w - 1) / w
	}
	lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
	for _, v := range plane {
		lo, hi = min(lo, v), max(hi, v)
	}
	am := protocol.ActivationMap{Layer: layer, Channel: ch, Width: w, Height: h, Pix: make([]byte, w*h), Min: lo, Max: hi}
	span := hi - lo
	if span <= 0 {
		return am, nil // a constant map is drawn black: nothing stands out
	}
	cut := threshold * span
	for i, v := range plane {
		d := v - lo
		if d < cut {
			continue
		}
		am.Pix[i] = byte(math.Round(float64(255 * d / span)))
	}
	return am, nil
}

// Kernels draws the first convolution's kernels, or returns nil when no model is loaded.
func (s *Session) Kernels() *protocol.KernelGrid {
	if s.model == nil {
		return nil
	}
	l := s.model.Arch.FirstConv()
	return KernelImages(s.model.Params[l.Key+".weight"])
}

// KernelImages turns an [O, 3, KH, KW] weight into O RGBA images. Each kernel is scaled by
// its own largest magnitude around mid-gray, as in the AlexNet paper's Figure 3, so the
// colour and orientation each one detects are visible whatever its norm.
func KernelImages(w *engine.Weight) *protocol.KernelGrid {
	if w == nil || len(w.Shape) != 4 || w.Shape[1] != 3 {
		return nil
	}
	o, kh, kw := w.Shape[0], w.Shape[2], w.Shape[3]
	g := &protocol.KernelGrid{Count: o, Width: kw, Height: kh}
	row := make([]float32, w.RowLen())
	for k := range o {
		vals := w.RowF32(k, row)
		var m float32
		for _, v := range vals {
			m = max(m, float32(math.Abs(float64(v))))
		}
		img := make([]byte, 4*kh*kw)
		for p := range kh * kw {
			for c := range 3 {
				v := float32(0)
				if m > 0 {
					v = vals[c*kh*kw+p] / m
				}
				img[4*p+c] = byte(math.Round(float64(127.5 + 127.5*v)))
			}
			img[4*p+3] = 255
		}
		g.RGBA = append(g.RGBA, img)
	}
	return g
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
