//go:build js && wasm

package main

// Threads. Go's wasm has no threads of its own, so extra threads are kernel workers: on a
// cross-origin isolated page the engine runs on a shared memory (worker.js loads the build
// rewritten by wasm/sharedmem) and kernel workers take parts of every convolution, linear
// layer and pooling on that memory (wasm/cpukernel's pool): one Go worker, one copy of the
// weights, no exchange of activations. Elsewhere one engine worker runs every pass.

import (
	"fmt"
	"syscall/js"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/wasm/cpukernel"
	"github.com/alexlens/alexlens/wasm/protocol"
	"github.com/alexlens/alexlens/wasm/session"
)

// newRunner is the session's runner factory, the one place where a load request becomes
// the way its passes run: the CPU alone when asked for; otherwise WebGPU when available,
// falling back to the CPU by itself. On the CPU, as many kernel threads as asked for or as
// suit the visitor's cores, where the page allows them.
func newRunner(m *engine.Model, run session.RunOptions, cpu engine.Backend) session.Runner {
	var r session.Runner
	if run.Compute == protocol.ComputeCPU {
		r = session.CPURunner(m, run, cpu) // no GPU is opened
	} else {
		r = newGPURunner(m, run.Compute, cpu)
	}
	if compute, _ := r.Compute(); compute != protocol.ComputeCPU {
		return r
	}
	return withThreads(r, run.Threads)
}

// cores is navigator.hardwareConcurrency (1 when the browser does not say).
func cores() int {
	n := js.Global().Get("navigator").Get("hardwareConcurrency")
	if n.Type() != js.TypeNumber {
		return 1
	}
	return n.Int()
}

// threadedRunner is the CPU runner with the kernel pool running (pooled), or with a note
// on why it runs on one thread although more were asked for; Close stops the pool.
type threadedRunner struct {
	session.Runner
	pooled bool
	note   string
}

// Threads is the pool's size now: a pool that gave up on a stuck worker runs on one.
func (p threadedRunner) Threads() int {
	if p.pooled {
		return cpukernel.Threads()
	}
	return 1
}

func (p threadedRunner) ThreadsNote() string { return p.note }

func (p threadedRunner) Close() {
	if p.pooled {
		if err := cpukernel.SetThreads(1); err != nil {
			js.Global().Get("console").Call("warn", "alexlens: "+err.Error())
		}
	}
	p.Runner.Close()
}

// withThreads starts the kernel pool for r when more than one thread is wanted (asked, or
// 0 for the default) and the page allows it.
func withThreads(r session.Runner, asked int) session.Runner {
	n := asked
	if n == 0 {
		n = protocol.DefaultThreads(cores())
	}
	one := func(why string) session.Runner {
		cpukernel.SetThreads(1)
		if asked <= 1 {
			why = "" // nobody asked for more: nothing to explain
		}
		return threadedRunner{Runner: r, note: why}
	}
	switch {
	case n <= 1:
		return one("")
	case !cpukernel.Installed():
		return one(fmt.Sprintf("%d threads need the generated SIMD module, which this browser cannot run: one thread runs the passes", n))
	case !cpukernel.Shared():
		return one(fmt.Sprintf("%d threads need a cross-origin isolated page (SharedArrayBuffer): one thread runs the passes", n))
	}
	if err := cpukernel.SetThreads(n); err != nil {
		js.Global().Get("console").Call("info", "alexlens: no kernel workers: "+err.Error())
		return one(fmt.Sprintf("no kernel workers (%v): one thread runs the passes", err))
	}
	js.Global().Get("console").Call("info", fmt.Sprintf("alexlens: kernels on %d threads over shared memory", cpukernel.Threads()))
	return threadedRunner{Runner: r, pooled: true}
}
