package engine

import (
	"math/rand"
	"testing"
)

// TestForwardFrom: running from a layer's activation gives the logits of the whole pass,
// with the later layers' edits applied and the named layer's own not applied twice.
func TestForwardFrom(t *testing.T) {
	for _, a := range []*Arch{AlexNet, SqueezeNet11} {
		m := randomModel(a, 1)
		x := NewTensor(1, 3, a.InputSize, a.InputSize)
		r := rand.New(rand.NewSource(1))
		for i := range x.Data {
			x.Data[i] = float32(r.NormFloat64())
		}
		names := a.LayerNames()
		mid, late := names[3], names[len(names)-2]
		edits := []Edit{{Layer: mid, Op: EditScale, Channel: 1, Value: 3}, {Layer: late, Op: EditSet, Channel: 2, Value: 1}}
		full, err := m.Forward(x, ForwardOptions{Edits: edits, Backend: Reference{}})
		if err != nil {
			t.Fatal(err)
		}
		from, err := m.ForwardFrom(mid, full.Activations[mid], ForwardOptions{Edits: edits, Backend: Reference{}})
		if err != nil {
			t.Fatal(err)
		}
		if e := RelL2(from.Logits.Data, full.Logits.Data); e > 1e-6 {
			t.Errorf("%s from %s: logits differ by %.3g", a.Name, mid, e)
		}
		if _, err := m.ForwardFrom(mid, NewTensor(1, 3, 5, 5), ForwardOptions{}); err == nil {
			t.Errorf("%s: a wrong-shaped activation was accepted", a.Name)
		}
		if _, err := m.ForwardFrom("conv99", full.Activations[mid], ForwardOptions{}); err == nil {
			t.Errorf("%s: an unknown layer was accepted", a.Name)
		}
	}
}
