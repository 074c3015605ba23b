package state

import (
	"strings"
	"testing"

	"github.com/alexlens/alexlens/wasm/protocol"

	"github.com/alexlens/alexlens/weights/manifest"
)

const manifestJSON = `{"weights":[
 {"file":"alexnet-f32-aaaaaaaaaaaa.alxw","arch":"alexnet","precision":"f32","kind":"fixture","partial":"","bytes":244000000,"sha256":"a1","layers":[{"name":"conv1","offset":4096,"length":93000}]},
 {"file":"alexnet-bvlc-f32-bbbbbbbbbbbb.alxw","arch":"alexnet-bvlc","precision":"f32","kind":"trained","partial":"pool1","bytes":140000,"sha256":"b1","layers":[]},
 {"file":"squeezenet1_1-int8-cccccccccccc.alxw","arch":"squeezenet1_1","precision":"int8","kind":"trained","partial":"","bytes":1300000,"sha256":"c2","layers":[]},
 {"file":"squeezenet1_1-f32-dddddddddddd.alxw","arch":"squeezenet1_1","precision":"f32","kind":"trained","partial":"","bytes":4900000,"sha256":"c1","layers":[]}
]}`

func TestChooseWeights(t *testing.T) {
	m, err := manifest.Parse([]byte(manifestJSON))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		params   string
		wantFile string
		fixture  bool
	}{
		{"", "squeezenet1_1-f32-dddddddddddd.alxw", false},       // trained and complete first, f32 first
		{"?arch=alexnet", "alexnet-f32-aaaaaaaaaaaa.alxw", true}, // only a fixture: take it
		{"arch=squeezenet1_1&precision=int8", "squeezenet1_1-int8-cccccccccccc.alxw", false},
		{"arch=alexnet-bvlc", "alexnet-bvlc-f32-bbbbbbbbbbbb.alxw", false},
	}
	for _, c := range cases {
		ch, err := ChooseWeights(m, ParseParams(c.params), "weights")
		if err != nil {
			t.Errorf("%q: %v", c.params, err)
			continue
		}
		if ch.URL != "weights/"+c.wantFile || ch.Fixture != c.fixture || ch.SHA256 == "" {
			t.Errorf("%q: chose %+v, want %s (fixture %v)", c.params, ch, c.wantFile, c.fixture)
		}
	}
	// A weights URL wins; the manifest still vouches for a file it lists.
	ch, err := ChooseWeights(m, ParseParams("weights=weights/alexnet-f32-aaaaaaaaaaaa.alxw"), "weights")
	if err != nil || ch.SHA256 != "a1" || !ch.Fixture {
		t.Errorf("listed URL: %+v %v", ch, err)
	}
	ch, err = ChooseWeights(nil, ParseParams("weights=https://example.org/x.alxw"), "weights")
	if err != nil || ch.URL != "https://example.org/x.alxw" || ch.SHA256 != "" {
		t.Errorf("unlisted URL: %+v %v", ch, err)
	}
	if _, err := ChooseWeights(m, ParseParams("arch=vgg16"), "weights"); err == nil || !strings.Contains(err.Error(), "it has: alexnet") {
		t.Errorf("unknown arch: %v", err)
	}
	if _, err := ChooseWeights(&manifest.Manifest{}, Params{}, "weights"); err == nil || !strings.Contains(err.Error(), "alexlens weights fetch") {
		t.Errorf("empty manifest: %v", err)
	}
}

func TestComputeParameter(t *testing.T) {
	for req, want := range map[string]protocol.Compute{"cpu": "cpu", "webgpu": "webgpu", "WebGPU": "webgpu", "auto": "auto", "": "auto", "cuda": "cpu"} {
		a := NewApp(ParseParams("?backend=" + req))
		if a.Compute != want || (req == "cuda") != (a.ComputeNote != "") {
			t.Errorf("backend=%s: compute %q note %q", req, a.Compute, a.ComputeNote)
		}
	}
	a := NewApp(ParseParams("?backend=webgpu"))
	a.Loaded(protocol.Response{Model: &protocol.ModelInfo{Compute: "cpu", ComputeNote: "WebGPU is not available: no adapter"}})
	if a.Compute != "cpu" || a.ComputeNote != "WebGPU is not available: no adapter: running on the CPU (WebAssembly)" {
		t.Errorf("after a CPU load: %q %q", a.Compute, a.ComputeNote)
	}
	a.Loaded(protocol.Response{Model: &protocol.ModelInfo{Compute: "webgpu"}})
	a.Classified(protocol.Response{Result: &protocol.Classification{Compute: "cpu", ComputeNote: "WebGPU failed, finished on the CPU: device lost"}}, "x")
	if a.Compute != "cpu" || !strings.Contains(a.ComputeNote, "device lost") {
		t.Errorf("after a mid-run fallback: %q %q", a.Compute, a.ComputeNote)
	}
}

func TestAppFlow(t *testing.T) {
	a := NewApp(ParseParams(""))
	if a.Status != StatusStarting || a.WeightsKind() != "" || a.FixtureBanner() != "" {
		t.Fatalf("fresh app %+v", a)
	}
	a.Failed("no manifest")
	if a.Status != StatusFailed {
		t.Errorf("failure before weights: status %q", a.Status)
	}
	a.Progressed(protocol.Progress{Stage: protocol.StageDownload, Done: 512 << 10, Total: 1 << 20})
	if a.Fraction != 0.5 || !strings.Contains(a.Progress, "512 KB of 1.0 MB") {
		t.Errorf("progress %v %q", a.Fraction, a.Progress)
	}
	model := &protocol.ModelInfo{Arch: "alexnet", Title: "AlexNet", Fixture: true, Layers: []protocol.LayerInfo{
		{Name: "conv1", Channels: 64, Height: 55, Width: 55}, {Name: "fc8", Features: 1000}}}
	a.Loaded(protocol.Response{Model: model})
	if a.Status != StatusReady || a.WeightsKind() != "fixture" || !strings.Contains(a.FixtureBanner(), "alexlens weights fetch alexnet") {
		t.Errorf("loaded: %q %q %q", a.Status, a.WeightsKind(), a.FixtureBanner())
	}
	reqs := a.MapRequests()
	if len(reqs) != 1+OverviewSize || reqs[0] != (protocol.MapRequest{Layer: "conv1", Channel: 0}) {
		t.Errorf("map requests %v", reqs)
	}
	a.SelectChannel(60) // the strip covers the last 16 channels
	reqs = a.MapRequests()
	if reqs[0].Channel != 60 || reqs[1].Channel != 48 || reqs[len(reqs)-1].Channel != 63 {
		t.Errorf("strip for channel 60: %v", reqs)
	}
	a.SelectChannel(1000)
	if a.Channel != 63 {
		t.Errorf("channel clamped to %d", a.Channel)
	}
	a.SelectLayer("fc8")
	if a.Channel != 0 || len(a.MapRequests()) != 1 {
		t.Errorf("fc8: channel %d, requests %v", a.Channel, a.MapRequests())
	}
	a.SelectLayer("nope")
	if a.Layer != "fc8" {
		t.Errorf("unknown layer selected")
	}
	a.Classified(protocol.Response{Result: &protocol.Classification{ForwardMs: 12.34}}, "cat.jpg")
	if a.Seq != 1 || a.ForwardMs() != "12.3" || a.Source != "cat.jpg" {
		t.Errorf("classified: %d %q %q", a.Seq, a.ForwardMs(), a.Source)
	}
	a.Failed("bad.jpg: not an image")
	if a.Status != StatusReady || a.Error == "" || a.Result == nil {
		t.Errorf("a failure after loading keeps the app ready with its last result: %+v", a)
	}
}

// FuzzChooseWeights: any bytes give a manifest whose entries are plain names, or an error,
// and no choice leads outside the weights folder.
func FuzzChooseWeights(f *testing.F) {
	f.Add([]byte(manifestJSON))
	f.Add([]byte(`{"weights":[{"file":"a","arch":"b","partial":true}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := manifest.Parse(data)
		if err != nil {
			return
		}
		for _, e := range m.Weights {
			if e.File == "" || strings.Contains(e.File, "..") || strings.HasPrefix(e.File, "/") {
				t.Fatalf("accepted file name %q", e.File)
			}
		}
		for _, arch := range []string{"", "alexnet"} {
			if c, err := ChooseWeights(m, Params{Arch: arch}, "weights"); err == nil && !strings.HasPrefix(c.URL, "weights/") {
				t.Fatalf("choice outside the weights folder: %q", c.URL)
			}
		}
	})
}

// TestLowMemoryChoosesInt8: on a device that reports little memory, AlexNet's large float32
// file gives way to int8 by default, saying why; an explicit precision, a small network or
// a roomy device keep float32. A float32 load that runs out of memory retries with int8.
func TestLowMemoryChoosesInt8(t *testing.T) {
	m, err := manifest.Parse([]byte(`{"weights":[
 {"file":"alexnet-f32-aaaaaaaaaaaa.alxw","arch":"alexnet","precision":"f32","kind":"trained","partial":"","bytes":244000000,"sha256":"a1","layers":[]},
 {"file":"alexnet-int8-eeeeeeeeeeee.alxw","arch":"alexnet","precision":"int8","kind":"trained","partial":"","bytes":61000000,"sha256":"a2","layers":[]},
 {"file":"squeezenet1_1-int8-cccccccccccc.alxw","arch":"squeezenet1_1","precision":"int8","kind":"trained","partial":"","bytes":1300000,"sha256":"c2","layers":[]},
 {"file":"squeezenet1_1-f32-dddddddddddd.alxw","arch":"squeezenet1_1","precision":"f32","kind":"trained","partial":"","bytes":4900000,"sha256":"c1","layers":[]}
]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		query     string
		memory    float64
		precision string
		note      bool
	}{
		{"arch=alexnet", 2, "int8", true},
		{"arch=alexnet", 4, "int8", true},
		{"arch=alexnet", 8, "f32", false},
		{"arch=alexnet", 0, "f32", false}, // the browser does not say
		{"arch=alexnet&precision=f32", 2, "f32", false},
		{"arch=squeezenet1_1", 2, "f32", false}, // 4.9 MB is no burden
	} {
		p := ParseParams(c.query)
		p.DeviceMemoryGB = c.memory
		ch, err := ChooseWeights(m, p, "weights")
		if err != nil {
			t.Fatal(err)
		}
		if ch.Entry.Precision != c.precision || (ch.Note != "") != c.note {
			t.Errorf("%s on %g GB: %s, note %q; want %s (note %v)", c.query, c.memory, ch.Entry.File, ch.Note, c.precision, c.note)
		}
		if c.note && (!strings.Contains(ch.Note, "GB of memory") || !strings.Contains(ch.Note, "precision=f32")) {
			t.Errorf("note %q does not say why and how to get float32", ch.Note)
		}
	}

	f32, _ := ChooseWeights(m, ParseParams("arch=alexnet"), "weights")
	next, ok := OnOutOfMemory(m, ParseParams("arch=alexnet"), f32, "cannot read weights: RangeError: WebAssembly.Memory.grow(): Maximum memory size exceeded", "weights")
	if !ok || next.Entry.Precision != "int8" || !strings.Contains(next.Note, "did not fit") {
		t.Errorf("out of memory on float32: %+v %v", next, ok)
	}
	if _, ok := OnOutOfMemory(m, ParseParams("arch=alexnet"), f32, "cannot download weights: HTTP 404", "weights"); ok {
		t.Error("a 404 is not a memory failure")
	}
	if _, ok := OnOutOfMemory(m, ParseParams("arch=alexnet&precision=f32"), f32, "out of memory", "weights"); ok {
		t.Error("float32 asked for by name is not swapped")
	}
	if _, ok := OnOutOfMemory(m, ParseParams("arch=alexnet"), next, "out of memory", "weights"); ok {
		t.Error("int8 has nothing smaller to fall back to")
	}
}
