package state

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/alexlens/alexlens/wasm/protocol"
)

// threadsCount turns the threads parameter into the load request's Threads (0: the worker
// chooses) and a note for a value it cannot use.
func threadsCount(requested string) (n int, note string) {
	if requested == "" || strings.EqualFold(requested, "auto") {
		return 0, ""
	}
	n, err := strconv.Atoi(requested)
	if err != nil || n < 1 || n > protocol.MaxThreads {
		return 0, fmt.Sprintf("threads=%q is not a number of threads from 1 to %d: the engine chooses", requested, protocol.MaxThreads)
	}
	return n, ""
}

// Threads is how many threads ran the last pass, or will run the next before any (0 when
// unknown, or on WebGPU). The views need not care: results are the same.
func (a *App) Threads() int {
	if a.Result != nil && a.Result.Compute == protocol.ComputeCPU {
		return a.Result.Threads
	}
	if a.Model != nil && a.Model.Compute == protocol.ComputeCPU {
		return a.Model.Threads
	}
	return 0
}

// threadsText is Threads in words: "1 thread", or "2 threads (kernel workers)": extra
// threads are always kernel workers sharing the engine worker's memory.
func threadsText(n int) string {
	if n == 1 {
		return "1 thread"
	}
	return fmt.Sprintf("%d threads (kernel workers)", n)
}

// KernelText names a CPU kernel (engine.KernelName) for people: the generated WebAssembly
// SIMD module, Go's own wasm SIMD tile, the portable Go tile, or native SIMD. fallback
// is shown when the kernel is not known.
func KernelText(kernel, fallback string) string {
	switch {
	case kernel == "":
		return fallback
	case strings.HasPrefix(kernel, "wasm-module-"):
		return "generated SIMD module"
	case strings.HasPrefix(kernel, "wasm-simd128-"):
		return "Go wasm SIMD"
	case strings.HasPrefix(kernel, "portable-"):
		return "portable Go"
	}
	return kernel
}
