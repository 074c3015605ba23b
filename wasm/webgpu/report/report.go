// Package report is the JSON that the in-page WebGPU test driver (wasm/webgpu/testdriver,
// js/wasm) leaves in window.alexlensReport and that the native harness
// (wasm/webgpu/browsertest) and bench/browserbench read: one definition for both sides of
// the page boundary. It holds measured numbers only; verdicts live in the native tests.
package report

import "github.com/alexlens/alexlens/wasm/webgpu"

// Case is one comparison: GPU against CPU on the same inputs and weights.
type Case struct {
	Name      string  `json:"name"`
	RelL2     float64 `json:"relL2"`
	MaxAbs    float64 `json:"maxAbs"`
	Bound     float64 `json:"bound"` // what the test will require
	Error     string  `json:"error,omitempty"`
	Live      int     `json:"liveBuffers"` // GPU buffers still held after the case
	Backend   string  `json:"backend,omitempty"`
	Reason    string  `json:"reason,omitempty"`
	GPUTop5   []int   `json:"gpuTop5,omitempty"`
	CPUTop5   []int   `json:"cpuTop5,omitempty"`
	Millis    float64 `json:"ms"`
	NaN       bool    `json:"nan,omitempty"`
	Precision string  `json:"precision,omitempty"`
}

// BenchRow is one timed configuration: median forward time and per-layer medians.
type BenchRow struct {
	Arch      string             `json:"arch"`
	Precision string             `json:"precision"`
	Backend   string             `json:"backend"`
	Batch     int                `json:"batch"`
	Runs      int                `json:"runs"`
	MedianMs  float64            `json:"medianMs"`
	LayerMs   map[string]float64 `json:"layerMs"`
	Layers    []string           `json:"layers"`
	GPUBytes  int64              `json:"gpuBytes"`  // all GPU buffers while the model is loaded
	WeightsMB float64            `json:"weightsMB"` // of which weights
	Adapter   string             `json:"adapter,omitempty"`
	Error     string             `json:"error,omitempty"`
}

// Report is the page's answer for one suite.
type Report struct {
	Suite   string         `json:"suite"`
	Adapter string         `json:"adapter"`
	Limits  webgpu.Limits  `json:"limits"`
	Cases   []Case         `json:"cases"`
	Bench   []BenchRow     `json:"bench,omitempty"`
	Fatal   string         `json:"fatal,omitempty"`
	Extra   map[string]any `json:"extra,omitempty"`
}
