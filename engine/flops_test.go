package engine

import "testing"

// The published counts: torchvision's model docs give AlexNet 0.71 and SqueezeNet 1.1 0.35
// GFLOPS (multiply-adds) at 224 x 224.
func TestMultiplyAdds(t *testing.T) {
	for _, c := range []struct {
		a        *Arch
		min, max int64
	}{{AlexNet, 0.70e9, 0.72e9}, {SqueezeNet11, 0.34e9, 0.36e9}} {
		got, err := c.a.MultiplyAdds(224, 224)
		if err != nil {
			t.Fatal(err)
		}
		if got < c.min || got > c.max {
			t.Errorf("%s: %d multiply-adds, want %d..%d", c.a.Name, got, c.min, c.max)
		}
	}
	if _, err := AlexNet.MultiplyAdds(20, 20); err == nil {
		t.Error("AlexNet at 20x20: want an error (too small)")
	}
}
