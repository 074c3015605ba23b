//go:build !unix

package engine

import "time"

// processCPUTime is not available here; benchmarks then report wall time only.
func processCPUTime() time.Duration { return 0 }
