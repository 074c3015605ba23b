package imagenet

import "testing"

func TestLabels(t *testing.T) {
	if len(Labels) != 1000 {
		t.Fatalf("have %d labels, want 1000", len(Labels))
	}
	for i, want := range map[int]string{0: "tench", 281: "tabby", 967: "espresso", 999: "toilet tissue"} {
		if Labels[i] != want {
			t.Errorf("Labels[%d] = %q, want %q", i, Labels[i], want)
		}
	}
	if Label(1000) != "class 1000" || Label(-3) != "class -3" {
		t.Errorf("out-of-range labels: %q %q", Label(1000), Label(-3))
	}
}
