//go:build !unix

package testenv

import "time"

// ProcessCPUTime is not available here; benchmarks then report wall time only.
func ProcessCPUTime() time.Duration { return 0 }
