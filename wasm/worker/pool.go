//go:build js && wasm

package main

import (
	"fmt"
	"syscall/js"

	"github.com/alexlens/alexlens/wasm/cpukernel"
	"github.com/alexlens/alexlens/wasm/session"
	"github.com/alexlens/alexlens/wasm/split"
)

// On a cross-origin isolated page the engine runs on a shared memory (worker.js loads the
// build rewritten by wasm/sharedmem) and ?threads=N becomes kernel workers that take parts
// of every convolution, linear layer and pooling on that memory (wasm/cpukernel's pool):
// one Go worker, one copy of the weights, no exchange of activations. Elsewhere threads
// are the engine workers of threads.go.

// poolRunner is the CPU runner with the kernel pool running; Close stops the pool.
type poolRunner struct{ session.Runner }

func (p poolRunner) Threads() int { return cpukernel.Threads() }

func (p poolRunner) KernelWorkers() bool { return true }

func (p poolRunner) Close() {
	if err := cpukernel.SetThreads(1); err != nil {
		js.Global().Get("console").Call("warn", "alexlens: "+err.Error())
	}
	p.Runner.Close()
}

// poolThreads is the number of kernel threads: the request's, or as many as the
// visitor has cores (up to split.DefaultParts' bound), for every network: with nothing to
// exchange, small layers gain too.
func poolThreads(asked int) int {
	if asked > 0 {
		return asked
	}
	return split.DefaultParts(cores())
}

// newPoolRunner starts the kernel pool for r, or returns nil when it cannot run (an
// unshared memory, no kernels) or is not wanted (one thread).
func newPoolRunner(r session.Runner, asked int) session.Runner {
	n := poolThreads(asked)
	if n <= 1 {
		cpukernel.SetThreads(1)
		return nil
	}
	if err := cpukernel.SetThreads(n); err != nil {
		js.Global().Get("console").Call("info", "alexlens: no kernel workers: "+err.Error())
		return nil
	}
	js.Global().Get("console").Call("info", fmt.Sprintf("alexlens: kernels on %d threads over shared memory", cpukernel.Threads()))
	return poolRunner{r}
}
