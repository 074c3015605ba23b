//go:build unix

package testenv

import (
	"syscall"
	"time"
)

// ProcessCPUTime is the user+system CPU time of this process so far. Benchmarks report it
// per pass beside wall time: on a machine shared with other work it stays meaningful when
// wall time does not (for one thread, CPU time per pass is what the wall time would be
// alone). It is 0 where the system cannot say.
func ProcessCPUTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
