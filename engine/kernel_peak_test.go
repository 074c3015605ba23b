package engine

import (
	"testing"
	"time"
)

func TestKernelPeakGFLOPS(t *testing.T) {
	g := KernelPeakGFLOPS(20 * time.Millisecond)
	// A tile of any kernel does at least 2*k*mr*nr flops in well under a second per call,
	// and no single core reaches a TFLOP/s.
	if !(g > 0.01) || g > 1e3 {
		t.Fatalf("KernelPeakGFLOPS = %v, want a plausible single-core rate", g)
	}
	t.Logf("%s: %.1f GFLOP/s", KernelName(), g)
}
