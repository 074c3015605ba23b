//go:build js && wasm

package main

import (
	"fmt"
	"time"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/wasm/protocol"
	"github.com/alexlens/alexlens/wasm/webgpu"
	"github.com/alexlens/alexlens/wasm/webgpu/report"
	"github.com/alexlens/alexlens/weights"
)

// runGrads compares gradient passes on the GPU (the WebGPU runner as the engine's
// GradDevice, as the app uses it) with the CPU path's, for one architecture with fixture
// weights: a class logit through the whole network, a channel of a middle layer before its
// ReLU, and a batch of two items with objectives of their own in float32; the class logit
// in int8.
func runGrads(rep *report.Report, archName string) {
	a, err := engine.LookupArch(archName)
	if err != nil {
		rep.Fatal = err.Error()
		return
	}
	// Sizes as small as each network allows (SwiftShader is slow); BVLC AlexNet has no
	// adaptive pool and needs 227.
	side, mid := 97, "fire6"
	switch a {
	case engine.AlexNet:
		side, mid = 67, "conv4"
	case engine.AlexNetBVLC:
		side, mid = a.InputSize, "conv3"
	}
	r := rng(23)
	x1, x2 := randTensor(&r, 1, 3, side, side), randTensor(&r, 2, 3, side, side)
	midCh := 5
	dir := randTensor(&r, 1, 384).Data // conv3/conv4 have 384 channels, fire6 384 too
	cases := []struct {
		name string
		x    *engine.Tensor
		objs []engine.Objective
	}{
		{"class 7 logit", x1, []engine.Objective{engine.ClassLogit(7)}},
		{mid + " channel pre-ReLU", x1, []engine.Objective{{Kind: engine.ObjectiveChannel, Layer: mid, Channel: midCh, PreReLU: true}}},
		{mid + " batch 2", x2, []engine.Objective{engine.ChannelMean(mid, 3), {Kind: engine.ObjectiveDirection, Layer: mid, Vector: dir, CosPow: 2}}},
	}
	base := weights.Fixture(a, 1)
	for _, p := range []engine.Precision{engine.F32, engine.Int8} {
		m := base.WithPrecision(p)
		label := fmt.Sprintf("%s %s %dx%d", a.Name, p, side, side)
		run := webgpu.NewRunner(m, protocol.ComputeWebGPU, nil, webgpu.Options{})
		if run.Compute != protocol.ComputeWebGPU {
			rep.Cases = append(rep.Cases, report.Case{Name: label + " load", Error: run.Reason})
			continue
		}
		if rep.Adapter == "" {
			rep.Adapter, rep.Limits = run.Device().Info(), run.Device().Limits()
		}
		for i, c := range cases {
			if p == engine.Int8 && i > 0 {
				break // int8 differs in the weight loads only, which the class logit reaches all of
			}
			name := label + " " + c.name
			wantV, want, err := m.InputGradientBatch(c.x, c.objs, engine.GradOptions{})
			if err != nil {
				rep.Cases = append(rep.Cases, report.Case{Name: name, Error: "CPU: " + err.Error()})
				continue
			}
			// One call (it includes building the program): SwiftShader takes seconds a step.
			start := time.Now()
			gotV, got, err := m.InputGradientBatch(c.x, c.objs, engine.GradOptions{Device: run})
			took := time.Since(start)
			cs := report.Case{Name: name + " gradient", Bound: f32Bound, Precision: string(p), Backend: string(run.Compute), Reason: run.Reason,
				Millis: float64(took.Microseconds()) / 1000}
			switch {
			case err != nil:
				cs.Error = err.Error()
			case run.Compute != protocol.ComputeWebGPU:
				cs.Error = "fell back to the CPU: " + run.Reason
			default:
				compare(&cs, got, want)
			}
			vs := report.Case{Name: name + " objective values", Bound: f32Bound}
			compare(&vs, &engine.Tensor{Shape: []int{len(gotV)}, Data: gotV}, &engine.Tensor{Shape: []int{len(wantV)}, Data: wantV})
			rep.Cases = append(rep.Cases, cs, vs)
		}
		run.Close()
		rep.Cases = append(rep.Cases, report.Case{Name: label + " release", Live: run.LeftBuffers})
	}
}
