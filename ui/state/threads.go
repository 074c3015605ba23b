package state

import (
	"fmt"
	"strconv"

	"github.com/alexlens/alexlens/wasm/protocol"
)

// ThreadsCount turns the threads parameter into the load request's Threads (0: the worker
// chooses) and a note for a value it cannot use.
func ThreadsCount(requested string) (n int, note string) {
	if requested == "" || requested == "auto" {
		return 0, ""
	}
	n, err := strconv.Atoi(requested)
	if err != nil || n < 1 || n > protocol.MaxThreads {
		return 0, fmt.Sprintf("threads=%q is not a number of workers from 1 to %d: the engine chooses", requested, protocol.MaxThreads)
	}
	return n, ""
}

// Workers is how many engine workers ran the last pass, or will run the next before any
// (0 when unknown, or on WebGPU). The views need not care: results are the same.
func (a *App) Workers() int {
	if a.Result != nil && a.Result.Compute == "cpu" {
		return a.Result.Threads
	}
	if a.Model != nil && a.Model.Compute == "cpu" {
		return a.Model.Threads
	}
	return 0
}

// WorkersText is Workers in words ([data-testid=workers]), "" when unknown.
func (a *App) WorkersText() string {
	if n := a.Workers(); n > 0 {
		return workersText(n)
	}
	return ""
}

func workersText(n int) string {
	if n == 1 {
		return "1 worker"
	}
	return fmt.Sprintf("%d workers", n)
}
