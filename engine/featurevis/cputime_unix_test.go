//go:build unix

package featurevis

import (
	"syscall"
	"time"
)

// processCPUTime is this process's user+system CPU time: on a shared machine, CPU time per
// single-threaded step is what its wall time would be alone.
func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
