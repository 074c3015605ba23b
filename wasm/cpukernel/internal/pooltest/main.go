//go:build js && wasm

// Command pooltest runs in a Web Worker for cpukernel's browser test: on the shared memory the
// page gives it, it installs the kernel module and runs forward passes of the fixture
// networks on 1, 2 and 3 threads, then kills a kernel worker in the middle of a pool and
// runs again, then starts kernel workers that never answer. It posts {results: [{arch,
// precision, threads, logits}], afterKill, threadsAfterKill, silentError, silentMs,
// threadsAfterSilent} or {error}.
package main

import (
	"fmt"
	"math/rand/v2"
	"syscall/js"
	"time"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/wasm/cpukernel"
	"github.com/alexlens/alexlens/weights"
)

func main() {
	res, err := run()
	if err != nil {
		js.Global().Call("postMessage", map[string]any{"error": err.Error()})
		return
	}
	js.Global().Call("postMessage", res)
}

func logits(be engine.Backend, m *engine.Model, x *engine.Tensor) ([]any, error) {
	r, err := m.Forward(x, engine.ForwardOptions{Backend: be, Keep: func(string) bool { return false }})
	if err != nil {
		return nil, err
	}
	out := make([]any, len(r.Logits.Data))
	for i, v := range r.Logits.Data {
		out[i] = float64(v)
	}
	return out, nil
}

func run() (map[string]any, error) {
	be, err := cpukernel.Backend()
	if err != nil {
		return nil, err
	}
	if !cpukernel.Shared() {
		return nil, fmt.Errorf("the kernels are not on a shared memory")
	}
	var results []any
	var last *engine.Model
	var lastX *engine.Tensor
	for _, name := range []string{"squeezenet1_1", "alexnet"} {
		arch, err := engine.LookupArch(name)
		if err != nil {
			return nil, err
		}
		x := engine.NewTensor(1, 3, arch.InputSize, arch.InputSize)
		r := rand.New(rand.NewPCG(1, 2))
		for i := range x.Data {
			x.Data[i] = float32(r.NormFloat64())
		}
		for _, p := range []engine.Precision{engine.F32, engine.Int8} {
			m := weights.Fixture(arch, 3).WithPrecision(p)
			for _, threads := range []int{1, 2, 3} {
				if err := cpukernel.SetThreads(threads); err != nil {
					return nil, err
				}
				l, err := logits(be, m, x)
				if err != nil {
					return nil, err
				}
				results = append(results, map[string]any{"arch": name, "precision": string(p), "threads": cpukernel.Threads(), "logits": l, "failure": cpukernel.LastFailure()})
			}
			last, lastX = m, x
		}
	}
	// A kernel worker that stops answering: the next round waits out the timeout, stops the
	// pool and finishes on this thread, with the same result. (Worker.terminate cannot stand
	// in: Chromium lets a terminated worker that spins on Atomics run on for a while; raising
	// the stop word behind the Go side's back makes the worker leave its loop at once.)
	if err := cpukernel.SetThreads(2); err != nil {
		return nil, err
	}
	cpukernel.SetRoundTimeout(300 * time.Millisecond)
	pool := js.Global().Get("alexlensKernelPool")
	js.Global().Get("Atomics").Call("store", pool.Get("ctl"), 3, 1)
	js.Global().Get("Atomics").Call("notify", pool.Get("ctl"), 0)
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	l, err := logits(be, last, lastX)
	if err != nil {
		return nil, err
	}
	// Kernel workers that never say they are ready (silent-worker.js ignores its message):
	// SetThreads gives up after the start timeout, and the kernels stay on this thread.
	pool.Set("url", "silent-worker.js")
	cpukernel.SetStartTimeout(300 * time.Millisecond)
	start = time.Now()
	silentErr := cpukernel.SetThreads(2)
	silentMs := time.Since(start).Milliseconds()
	silent := "<nil>"
	if silentErr != nil {
		silent = silentErr.Error()
	}
	return map[string]any{
		"silentError":        silent,
		"silentMs":           silentMs,
		"threadsAfterSilent": cpukernel.Threads(),
		"results":            results,
		"afterKill":          l,
		"threadsAfterKill":   cpukernel.Threads(),
		"msAfterKill":        time.Since(start).Milliseconds(),
	}, nil
}
