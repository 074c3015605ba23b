//go:build js && wasm

package main

import (
	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/wasm/protocol"
	"github.com/alexlens/alexlens/wasm/session"
	"github.com/alexlens/alexlens/wasm/webgpu"
)

// gpuRunner adapts the WebGPU runner (with its own CPU fallback) to the session.
type gpuRunner struct{ r *webgpu.Runner }

func newGPURunner(m *engine.Model, mode protocol.Compute, cpu engine.Backend) session.Runner {
	return gpuRunner{webgpu.NewRunner(m, mode, cpu, webgpu.Options{})}
}

func (g gpuRunner) Forward(x *engine.Tensor, opt engine.ForwardOptions) (*engine.Result, error) {
	return g.r.Forward(x, opt)
}

func (g gpuRunner) Compute() (protocol.Compute, string) { return g.r.Compute, g.r.Reason }

// Gradient makes the runner the session's engine.GradDevice: gradient passes run on the
// GPU while the model does.
func (g gpuRunner) Gradient(x *engine.Tensor, target string, preReLU bool, at string, seed func(*engine.Tensor) *engine.Tensor) (*engine.Tensor, *engine.Tensor, error) {
	return g.r.Gradient(x, target, preReLU, at, seed)
}

func (g gpuRunner) Close() { g.r.Close() }
