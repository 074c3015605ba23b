package state

import (
	"strings"
	"testing"

	"github.com/alexlens/alexlens/wasm/protocol"
)

func TestThreadsCount(t *testing.T) {
	for in, want := range map[string]int{"": 0, "auto": 0, "1": 1, "2": 2, "8": 8} {
		if n, note := ThreadsCount(in); n != want || note != "" {
			t.Errorf("ThreadsCount(%q) = %d, %q; want %d and no note", in, n, note, want)
		}
	}
	for _, in := range []string{"0", "-2", "9", "two", "1e3"} {
		if n, note := ThreadsCount(in); n != 0 || !strings.Contains(note, "1 to 8") {
			t.Errorf("ThreadsCount(%q) = %d, %q; want 0 and a note", in, n, note)
		}
	}
	if p := ParseParams("?arch=alexnet&threads=AUTO"); p.Threads != "auto" {
		t.Errorf("threads parameter read as %q", p.Threads)
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
	if !strings.Contains(a.BackendNote, "cross-origin isolated page") {
		t.Errorf("the threads note is not shown: backend note %q", a.BackendNote)
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
