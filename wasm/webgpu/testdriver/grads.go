//go:build js && wasm

package main

import (
	"fmt"
	"strings"
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
	shapes, err := a.Shapes(side, side)
	if err != nil {
		rep.Fatal = err.Error()
		return
	}
	r := rng(23)
	x1, x2 := randTensor(&r, 1, 3, side, side), randTensor(&r, 2, 3, side, side)
	dir := randTensor(&r, 1, shapes[mid][1]).Data
	type gradCase struct {
		name string
		x    *engine.Tensor
		objs []engine.Objective
	}
	class := gradCase{"class 7 logit", x1, []engine.Objective{engine.ClassLogit(7)}}
	cases := []gradCase{
		class,
		{mid + " channel pre-ReLU", x1, []engine.Objective{{Kind: engine.ObjectiveChannel, Layer: mid, Channel: 5, PreReLU: true}}},
		{mid + " batch 2", x2, []engine.Objective{engine.ChannelMean(mid, 3), {Kind: engine.ObjectiveDirection, Layer: mid, Vector: dir, CosPow: 2}}},
		// Grad-CAM's pass: back to a layer's output, not to the input.
		{"class 7 logit to " + mid, x1, []engine.Objective{engine.ClassLogit(7)}},
	}
	int8Cases := []gradCase{class} // int8 differs in the weight loads only, all on the class logit's path
	if a == engine.AlexNetBVLC {
		// At 227x227 SwiftShader takes minutes a pass: conv3 reaches everything this
		// network has and the others lack (LRN, grouped convolutions, a stride-4 conv1).
		cases, int8Cases = cases[1:2], nil
	}
	base := weights.Fixture(a, 1)
	for _, p := range []engine.Precision{engine.F32, engine.Int8} {
		if p == engine.Int8 {
			cases = int8Cases
		}
		if len(cases) == 0 {
			continue
		}
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
		for _, c := range cases {
			name := label + " " + c.name
			at, found := strings.CutPrefix(c.name, "class 7 logit to ")
			if !found {
				at = ""
			}
			gradient := func(opt engine.GradOptions) ([]float32, *engine.Tensor, *engine.Tensor, error) {
				if at == "" {
					v, g, err := m.InputGradientBatch(c.x, c.objs, opt)
					return v, nil, g, err
				}
				return m.ActivationGradient(c.x, c.objs, at, opt)
			}
			wantV, wantAct, want, err := gradient(engine.GradOptions{})
			if err != nil {
				rep.Cases = append(rep.Cases, report.Case{Name: name, Error: "CPU: " + err.Error()})
				continue
			}
			// One call (it includes building the program): SwiftShader takes seconds a step.
			start := time.Now()
			gotV, gotAct, got, err := gradient(engine.GradOptions{Device: run})
			took := time.Since(start)
			if at != "" && err == nil {
				ac := report.Case{Name: name + " activation", Bound: f32Bound}
				compare(&ac, gotAct, wantAct)
				rep.Cases = append(rep.Cases, ac)
			}
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
