package pth

// Real PyTorch is the reference: testdata/torchgen.py writes files with torch.save and a
// manifest of what each tensor holds (SHA-256 of its float32 bytes), and reads the files
// Write produces with torch.load. Values must match bit for bit.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/internal/testenv"
)

// torchPython is the Debian interpreter; the python3 first on PATH on the development
// machines has no torch.
const torchPython = "/usr/bin/python3"

var torchCheck = sync.OnceValue(func() error {
	if _, err := os.Stat(torchPython); err != nil {
		return err
	}
	out, err := exec.Command(torchPython, "-c", "import torch, torchvision").CombinedOutput()
	if err != nil {
		return &exec.Error{Name: string(bytes.TrimSpace(out)), Err: err}
	}
	return nil
})

func requireTorch(t testing.TB) {
	t.Helper()
	if err := torchCheck(); err != nil {
		t.Skipf("needs %s with python3-torch and python3-torchvision (scripts/install-test-deps.sh installs them): %v", torchPython, err)
	}
}

// torchgen runs testdata/torchgen.py.
func torchgen(t testing.TB, args ...string) {
	t.Helper()
	requireTorch(t)
	cmd := exec.Command(torchPython, append([]string{filepath.Join("testdata", "torchgen.py")}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("torchgen.py %v: %v\n%s", args, err, out)
	}
}

// The batch of PyTorch files and manifests, made once per test binary: starting Python
// with torch costs seconds, so every test shares one run.
var (
	fixtureOnce sync.Once
	fixtureDir  string
	fixtureErr  error
)

// fixture returns DIR/name from the batch, failing the test if torchgen.py failed.
func fixture(t testing.TB, name string) string {
	t.Helper()
	requireTorch(t)
	fixtureOnce.Do(func() {
		fixtureDir, fixtureErr = os.MkdirTemp("", "pth-torchgen-")
		if fixtureErr != nil {
			return
		}
		args := []string{filepath.Join("testdata", "torchgen.py"), "batch", fixtureDir}
		for _, f := range realFiles {
			if path, ok := sharedWeightsPath(f); ok {
				args = append(args, path)
			}
		}
		if out, err := exec.Command(torchPython, args...).CombinedOutput(); err != nil {
			fixtureErr = fmt.Errorf("torchgen.py batch: %v\n%s", err, out)
		}
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return filepath.Join(fixtureDir, name)
}

// realFiles are the shared real weights, in the order the batch describes them (real<i>.json).
var realFiles = []string{"squeezenet1_1-imagenet.pth", "bvlc_alexnet_conv1.pth"}

// realManifest is the batch's description of a shared real-weights file.
func realManifest(t testing.TB, file string) *manifest {
	t.Helper()
	i := 0
	for _, f := range realFiles[:slices.Index(realFiles, file)] {
		if _, ok := sharedWeightsPath(f); ok {
			i++
		}
	}
	return readManifest(t, fixture(t, fmt.Sprintf("real%d.json", i)))
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
	if dir, err := torchSeeds(); err == nil {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

type manifest struct {
	Tensors map[string]struct {
		Shape  []int
		SHA256 string
		Head   []float64
	}
	Order   []string
	Skipped []string
	Type    string
}

func readManifest(t testing.TB, path string) *manifest {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &m
}

func readFile(t testing.TB, path string) (map[string]*engine.Tensor, error) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Read(bytes.NewReader(b), int64(len(b)))
}

func tensorHash(x []float32) string {
	h := sha256.Sum256(float32Bytes(nil, x))
	return hex.EncodeToString(h[:])
}

// checkAgainst requires got to hold exactly the manifest's tensors, bit for bit.
func checkAgainst(t *testing.T, got map[string]*engine.Tensor, want *manifest) {
	t.Helper()
	if len(got) != len(want.Tensors) {
		var names []string
		for k := range got {
			names = append(names, k)
		}
		slices.Sort(names)
		t.Errorf("read %d tensors %v, PyTorch has %d float tensors %v", len(got), names, len(want.Tensors), want.Order)
	}
	for name, w := range want.Tensors {
		g, ok := got[name]
		if !ok {
			t.Errorf("tensor %q missing", name)
			continue
		}
		if !slices.Equal(g.Shape, w.Shape) {
			t.Errorf("%s: shape %v, PyTorch %v", name, g.Shape, w.Shape)
			continue
		}
		if h := tensorHash(g.Data); h != w.SHA256 {
			t.Errorf("%s: values differ from PyTorch's (first %v, PyTorch %v)", name, g.Data[:min(4, len(g.Data))], w.Head)
		}
	}
	for _, name := range want.Skipped {
		if _, ok := got[name]; ok {
			t.Errorf("integer tensor %q should have been skipped", name)
		}
	}
}

// TestReadTorchvision reads state_dicts of torchvision's own models, saved by torch.save.
func TestReadTorchvision(t *testing.T) {
	for _, c := range []struct {
		name string
		arch *engine.Arch
	}{{"squeezenet1_1", engine.SqueezeNet11}, {"alexnet", engine.AlexNet}} {
		t.Run(c.name, func(t *testing.T) {
			got, err := readFile(t, fixture(t, c.name+".pth"))
			if err != nil {
				t.Fatal(err)
			}
			checkAgainst(t, got, readManifest(t, fixture(t, c.name+".json")))
			if _, err := engine.NewModel(c.arch, got); err != nil {
				t.Errorf("engine.NewModel(%s): %v", c.arch.Name, err)
			}
		})
	}
}

// TestReadLayouts covers what a state_dict may hold beyond plain float32 tensors: views
// with offsets into a shared storage, transposed, strided and broadcast views, float16,
// bfloat16 and float64, scalars, empty tensors, Parameters, integer buffers to skip and the
// _metadata attribute; in pickle protocol 2 (torch.save's default) and 4 and 5.
func TestReadLayouts(t *testing.T) {
	for _, protocol := range []string{"2", "4", "5"} {
		t.Run("protocol"+protocol, func(t *testing.T) {
			got, err := readFile(t, fixture(t, "zoo"+protocol+".pth"))
			if err != nil {
				t.Fatal(err)
			}
			want := readManifest(t, fixture(t, "zoo"+protocol+".json"))
			checkAgainst(t, got, want)
			if len(want.Skipped) < 4 {
				t.Errorf("the zoo should hold integer tensors to skip, has %v", want.Skipped)
			}
		})
	}
}

// TestReadCheckpoint finds weights nested under "state_dict" beside optimizer state and
// other entries, and drops the "module." prefix DataParallel adds.
func TestReadCheckpoint(t *testing.T) {
	got, err := readFile(t, fixture(t, "checkpoint.pth"))
	if err != nil {
		t.Fatal(err)
	}
	checkAgainst(t, got, readManifest(t, fixture(t, "checkpoint.json")))
}

// TestReadLegacyFormat reads files in the format torch.save wrote before PyTorch 1.6
// (still written with _use_new_zipfile_serialization=False): a torchvision model, every
// tensor layout, a nested checkpoint.
func TestReadLegacyFormat(t *testing.T) {
	for _, name := range []string{"legacy_squeezenet1_1", "legacy_zoo", "legacy_checkpoint"} {
		t.Run(name, func(t *testing.T) {
			got, err := readFile(t, fixture(t, name+".pth"))
			if err != nil {
				t.Fatal(err)
			}
			checkAgainst(t, got, readManifest(t, fixture(t, name+".json")))
		})
	}
}

// writeSample is a state_dict with values that stress exactness: signed zeros, the
// smallest subnormal, infinities and NaN, and an empty and a scalar tensor.
func writeSample() (map[string]*engine.Tensor, []string) {
	special := []float32{0, float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32, -math.MaxFloat32,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1.0 / 3}
	conv := engine.NewTensor(8, 3, 5, 5)
	for i := range conv.Data {
		conv.Data[i] = float32(math.Sin(float64(i)*0.7)) * 0.1
	}
	ts := map[string]*engine.Tensor{
		"features.0.weight": conv,
		"features.0.bias":   {Shape: []int{8}, Data: special},
		"empty":             {Shape: []int{0, 4}, Data: []float32{}},
		"scalar":            {Shape: []int{}, Data: []float32{-2.5}},
		"ünïcode.name":      {Shape: []int{2, 1}, Data: []float32{1, 2}},
	}
	return ts, []string{"features.0.weight", "features.0.bias", "empty", "scalar", "ünïcode.name"}
}

// TestWriteTorchLoad checks Write against the real torch.load: PyTorch must read back the
// same keys in the same order with the same bits, as an OrderedDict.
func TestWriteTorchLoad(t *testing.T) {
	requireTorch(t)
	ts, order := writeSample()
	dir := t.TempDir()
	file, man := filepath.Join(dir, "written.pth"), filepath.Join(dir, "manifest.json")
	var buf bytes.Buffer
	if err := Write(&buf, ts, order); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	torchgen(t, "load", file, man)
	m := readManifest(t, man)
	if m.Type != "OrderedDict" {
		t.Errorf("torch.load returned a %s, want OrderedDict", m.Type)
	}
	if !slices.Equal(m.Order, order) {
		t.Errorf("torch.load key order %v, want %v", m.Order, order)
	}
	for _, name := range order {
		w := m.Tensors[name]
		if !slices.Equal(w.Shape, ts[name].Shape) || w.SHA256 != tensorHash(ts[name].Data) {
			t.Errorf("%s: torch.load has shape %v, first values %v; wrote %v, %v", name, w.Shape, w.Head, ts[name].Shape, ts[name].Data[:min(4, len(ts[name].Data))])
		}
	}
}

// TestWriteRoundTrip reads back what Write wrote, with no PyTorch needed, and checks
// that storages are 64-byte aligned as torch.save writes them.
func TestWriteRoundTrip(t *testing.T) {
	ts, order := writeSample()
	var buf bytes.Buffer
	if err := Write(&buf, ts, order); err != nil {
		t.Fatal(err)
	}
	got, err := Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ts) {
		t.Errorf("read back %d tensors, wrote %d", len(got), len(ts))
	}
	for name, w := range ts {
		g := got[name]
		if g == nil || !slices.Equal(g.Shape, w.Shape) || tensorHash(g.Data) != tensorHash(w.Data) {
			t.Errorf("%s: read back %v, wrote %v", name, g, w)
		}
	}
	for _, f := range zipEntries(t, buf.Bytes()) {
		off, err := f.DataOffset()
		if err != nil || off%dataAlign != 0 {
			t.Errorf("%s: data at offset %d (%v), want a multiple of %d", f.Name, off, err, dataAlign)
		}
	}

	// A tensor of several write chunks (the CRC is computed chunk by chunk, and Read
	// verifies it).
	big := engine.NewTensor(3, 40000)
	for i := range big.Data {
		big.Data[i] = float32(i) * 0.25
	}
	var bigBuf bytes.Buffer
	if err := Write(&bigBuf, map[string]*engine.Tensor{"big": big}, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := Read(bytes.NewReader(bigBuf.Bytes()), int64(bigBuf.Len())); err != nil || tensorHash(got["big"].Data) != tensorHash(big.Data) {
		t.Errorf("multi-chunk tensor did not read back: %v", err)
	}

	// Nil order means sorted keys.
	var sorted bytes.Buffer
	if err := Write(&sorted, ts, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := Read(bytes.NewReader(sorted.Bytes()), int64(sorted.Len())); err != nil || len(got) != len(ts) {
		t.Errorf("sorted write read back as %d tensors, %v", len(got), err)
	}
}

func TestWriteRejectsBadArguments(t *testing.T) {
	ts, order := writeSample()
	cases := map[string]struct {
		tensors map[string]*engine.Tensor
		order   []string
		want    string
	}{
		"missing from order": {ts, order[1:], "order names"},
		"unknown name":       {ts, append(order[1:], "nope"), "not among"},
		"duplicate":          {ts, append(order[1:], order[1]), "twice"},
		"shape mismatch":     {map[string]*engine.Tensor{"a": {Shape: []int{2, 2}, Data: []float32{1}}}, []string{"a"}, "holds 1"},
		"negative dim":       {map[string]*engine.Tensor{"a": {Shape: []int{-1}, Data: nil}}, []string{"a"}, "negative"},
		"nil tensor":         {map[string]*engine.Tensor{"a": nil}, []string{"a"}, "nil"},
		"bad utf8":           {map[string]*engine.Tensor{"\xff": {Shape: []int{1}, Data: []float32{1}}}, []string{"\xff"}, "UTF-8"},
	}
	for name, c := range cases {
		err := Write(&bytes.Buffer{}, c.tensors, c.order)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", name, err, c.want)
		}
	}
}

// sharedWeightsPath is the path of a shared real-weights file and whether it is there.
func sharedWeightsPath(file string) (string, bool) {
	path := filepath.Join(testenv.SharedWeightsDir(), file)
	_, err := os.Stat(path)
	return path, err == nil
}

// TestRealSqueezeNet reads the released SqueezeNet 1.1: every parameter of the engine's
// description, each value as PyTorch reads it when torch is installed.
func TestRealSqueezeNet(t *testing.T) {
	path := testenv.SharedWeight(t, "squeezenet1_1-imagenet.pth")
	got, err := readFile(t, path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := engine.NewModel(engine.SqueezeNet11, got)
	if err != nil {
		t.Fatalf("engine.NewModel(SqueezeNet11): %v", err)
	}
	if n := m.Arch.ParamCount(); n != 1235496 {
		t.Errorf("%d parameters, the release has 1,235,496", n)
	}
	if torchCheck() == nil {
		checkAgainst(t, got, realManifest(t, "squeezenet1_1-imagenet.pth"))
	}
}

// TestRealBVLCConv1 reads the original AlexNet's first layer and builds the partial model
// that shows its kernels, then runs conv1 on a 227x227 input.
func TestRealBVLCConv1(t *testing.T) {
	path := testenv.SharedWeight(t, "bvlc_alexnet_conv1.pth")
	got, err := readFile(t, path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]int{
		"features.0.weight": {96, 3, 11, 11}, "features.0.bias": {96},
		"caffe.conv1.weight_bgr_raw": {96, 3, 11, 11}, "caffe.conv1.bias_raw": {96},
	}
	if len(got) != len(want) {
		t.Errorf("read %d tensors, want %d", len(got), len(want))
	}
	for k, shape := range want {
		if g := got[k]; g == nil || !slices.Equal(g.Shape, shape) {
			t.Errorf("%s: got %v, want shape %v", k, g, shape)
		}
	}
	if torchCheck() == nil {
		checkAgainst(t, got, realManifest(t, "bvlc_alexnet_conv1.pth"))
	}
	features := map[string]*engine.Tensor{}
	for k, v := range got {
		if strings.HasPrefix(k, "features.") {
			features[k] = v
		}
	}
	m, err := engine.NewPartialModel(engine.AlexNetBVLC, features)
	if err != nil {
		t.Fatalf("engine.NewPartialModel(AlexNetBVLC): %v", err)
	}
	x := engine.NewTensor(1, 3, 227, 227)
	for i := range x.Data {
		x.Data[i] = float32(i%17)/17 - 0.5
	}
	res, err := m.Forward(x, engine.ForwardOptions{Backend: engine.Reference{}})
	if err != nil {
		t.Fatalf("conv1 forward: %v", err)
	}
	if m.Partial != "pool1" {
		t.Errorf("conv1 weights cover layers up to %q, want pool1 (conv1, norm1, pool1)", m.Partial)
	}
	act := res.Activations["conv1"]
	if act == nil || !slices.Equal(act.Shape, []int{1, 96, 55, 55}) || engine.HasNaN(act.Data) {
		t.Fatalf("conv1 activation missing, misshapen or not finite")
	}
	var pos int
	for _, v := range act.Data {
		if v > 0 {
			pos++
		}
	}
	if pos == 0 || pos == len(act.Data) {
		t.Errorf("conv1 after ReLU has %d of %d positive values: the kernels cannot be right", pos, len(act.Data))
	}
}

func BenchmarkReadSqueezeNet(b *testing.B) {
	path := testenv.SharedWeight(b, "squeezenet1_1-imagenet.pth")
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Read(bytes.NewReader(data), int64(len(data))); err != nil {
			b.Fatal(err)
		}
	}
}

// alexNetTensors are tensors of torchvision AlexNet's shapes (61 million values), for the
// benchmarks of files the size of the official weights.
func alexNetTensors() (map[string]*engine.Tensor, []string) {
	ts := map[string]*engine.Tensor{}
	var order []string
	for _, p := range engine.AlexNet.Params() {
		t := engine.NewTensor(p.Shape...)
		for i := range t.Data {
			t.Data[i] = float32(i%251) * 1e-3
		}
		ts[p.Name] = t
		order = append(order, p.Name)
	}
	return ts, order
}

func BenchmarkReadAlexNetSize(b *testing.B) {
	ts, order := alexNetTensors()
	var buf bytes.Buffer
	if err := Write(&buf, ts, order); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Read(bytes.NewReader(data), int64(len(data))); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteAlexNetSize(b *testing.B) {
	ts, order := alexNetTensors()
	var buf bytes.Buffer
	if err := Write(&buf, ts, order); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	for b.Loop() {
		buf.Reset()
		if err := Write(&buf, ts, order); err != nil {
			b.Fatal(err)
		}
	}
}
