package state

import (
	"strings"
	"testing"

	"github.com/alexlens/alexlens/wasm/protocol"
)

func TestThreadsParameter(t *testing.T) {
	for in, want := range map[string]int{"": 0, "auto": 0, "AUTO": 0, "1": 1, "2": 2, "8": 8} {
		if p := ParseParams("?arch=alexnet&threads=" + in); p.Threads != want || len(p.Notes) != 0 {
			t.Errorf("threads=%s: %d, notes %q; want %d and no note", in, p.Threads, p.Notes, want)
		}
	}
	for _, in := range []string{"0", "-2", "9", "two", "1e3"} {
		p := ParseParams("?threads=" + in)
		if p.Threads != 0 || len(p.Notes) != 1 || !strings.Contains(p.Notes[0], "1 to 8") {
			t.Errorf("threads=%s: %d, notes %q; want 0 and a note", in, p.Threads, p.Notes)
		}
		if a := NewApp(p); !strings.Contains(a.ComputeNote, "1 to 8") {
			t.Errorf("threads=%s: the page's note %q does not say what threads can be", in, a.ComputeNote)
		}
	}
}

// The compute path names the threads of the last pass, or of the loaded model before one.
func TestComputePathThreads(t *testing.T) {
	a := NewApp(ParseParams(""))
	a.Loaded(protocol.Response{Model: &protocol.ModelInfo{Compute: "cpu", Backend: "fastcpu", Precision: "f32", Threads: 2, Kernel: "wasm-module-simd128-5x8"}})
	if got := a.ComputePath(); got != "cpu · generated SIMD module · f32 · 2 threads (kernel workers)" {
		t.Errorf("after load: %q", got)
	}
	a.Classified(protocol.Response{Result: &protocol.Classification{Compute: "cpu", Threads: 1}}, "x.jpg")
	if got := a.ComputePath(); got != "cpu · generated SIMD module · f32 · 1 thread" {
		t.Errorf("after a pass on one thread (the pool gave up on a worker): %q", got)
	}
	a.Loaded(protocol.Response{Model: &protocol.ModelInfo{Compute: "cpu", Backend: "fastcpu", Precision: "int8", Threads: 1, Kernel: "portable-2x4",
		ThreadsNote: "2 threads need a cross-origin isolated page (SharedArrayBuffer): one thread runs the passes"}})
	if got := a.ComputePath(); got != "cpu · portable Go · int8 · 1 thread" {
		t.Errorf("portable: %q", got)
	}
	if !strings.Contains(a.ComputeNote, "cross-origin isolated page") {
		t.Errorf("the threads note is not shown: compute note %q", a.ComputeNote)
	}
	a.Loaded(protocol.Response{Model: &protocol.ModelInfo{Compute: "cpu", Backend: "fastcpu", Precision: "f32", Threads: 1, Kernel: "wasm-simd128-6x8"}})
	if got := a.ComputePath(); got != "cpu · Go wasm SIMD · f32 · 1 thread" {
		t.Errorf("Go SIMD: %q", got)
	}
	a.Loaded(protocol.Response{Model: &protocol.ModelInfo{Compute: "webgpu", Precision: "f32"}})
	if got, w := a.ComputePath(), a.Threads(); got != "webgpu · WGSL compute · f32" || w != 0 {
		t.Errorf("on WebGPU: %q, %d", got, w)
	}
}
