//go:build js && wasm

package main

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/wasm/webgpu"
	"github.com/alexlens/alexlens/wasm/webgpu/report"
)

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// runBench times the forward pass per backend, precision and layer. Query: arch, runs,
// batch, backends (comma list of webgpu,cpu).
func runBench(rep *report.Report, q url.Values) {
	a, err := engine.LookupArch(q.Get("arch"))
	if err != nil {
		rep.Fatal = err.Error()
		return
	}
	runs, _ := strconv.Atoi(q.Get("runs"))
	runs = max(runs, 1)
	batch, _ := strconv.Atoi(q.Get("batch"))
	batch = max(batch, 1)
	r := rng(3)
	x := randTensor(&r, batch, 3, a.InputSize, a.InputSize)
	for _, p := range []engine.Precision{engine.F32, engine.Int8} {
		m := fixture(a, p)
		for _, be := range []string{"webgpu", "cpu"} {
			if q.Get("backends") != "" && !containsComma(q.Get("backends"), be) {
				continue
			}
			row := report.BenchRow{Arch: a.Name, Precision: string(p), Backend: be, Batch: batch, Runs: runs, LayerMs: map[string]float64{}}
			if be == "webgpu" {
				benchGPU(&row, m, x, runs)
			} else {
				benchCPU(&row, m, x, runs)
			}
			rep.Bench = append(rep.Bench, row)
		}
	}
}

func containsComma(list, s string) bool {
	for _, f := range splitComma(list) {
		if f == s {
			return true
		}
	}
	return false
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

func benchGPU(row *report.BenchRow, m *engine.Model, x *engine.Tensor, runs int) {
	d, err := webgpu.Open(webgpu.Options{})
	if err != nil {
		row.Error = err.Error()
		return
	}
	defer d.Close()
	row.Adapter = d.Info()
	gm, err := d.Load(m)
	if err != nil {
		row.Error = err.Error()
		return
	}
	defer gm.Release()
	row.WeightsMB = float64(gm.WeightBytes()) / 1e6
	want := webgpu.Want{Probs: true}
	if _, err := gm.Forward(x, want); err != nil { // warm-up: plan, buffers, bind groups
		row.Error = err.Error()
		return
	}
	_, row.GPUBytes = d.LiveBuffers()
	var totals []float64
	for i := 0; i < runs; i++ {
		start := time.Now()
		if _, err := gm.Forward(x, want); err != nil {
			row.Error = err.Error()
			return
		}
		totals = append(totals, ms(time.Since(start)))
	}
	row.MedianMs = median(totals)
	per := map[string][]float64{}
	for i := 0; i < runs; i++ {
		out, err := gm.Forward(x, webgpu.Want{Probs: true, LayerTimes: true})
		if err != nil {
			row.Error = err.Error()
			return
		}
		row.Layers = append(out.Order, "softmax")
		for k, v := range out.LayerTimes {
			per[k] = append(per[k], ms(v))
		}
	}
	for k, v := range per {
		row.LayerMs[k] = median(v)
	}
}

func benchCPU(row *report.BenchRow, m *engine.Model, x *engine.Tensor, runs int) {
	var totals []float64
	per := map[string][]float64{}
	opt := engine.ForwardOptions{Backend: engine.DefaultBackend()}
	if _, err := m.Forward(x, opt); err != nil {
		row.Error = err.Error()
		return
	}
	for i := 0; i < runs; i++ {
		start := time.Now()
		res, err := m.Forward(x, opt)
		if err != nil {
			row.Error = err.Error()
			return
		}
		engine.Probabilities(res.Logits)
		totals = append(totals, ms(time.Since(start)))
		row.Layers = res.Order
		for k, v := range res.LayerTimes {
			per[k] = append(per[k], ms(v))
		}
	}
	row.MedianMs = median(totals)
	for k, v := range per {
		row.LayerMs[k] = median(v)
	}
	_ = fmt.Sprint
}
