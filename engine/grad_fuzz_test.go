package engine

import (
	"slices"
	"sync"
	"testing"
)

// Objectives and receptive-field queries come from the UI: whatever their fields hold, the
// answer is a value or an error, never a panic.

var fuzzModel = sync.OnceValue(func() *Model { return randomModel(SqueezeNet11, 9) })

func FuzzInputGradientObjective(f *testing.F) {
	f.Add(uint8(0), uint8(0), 5, 0, 0, 0, 17)
	f.Add(uint8(1), uint8(3), 300, 0, 0, 0, 33)
	f.Add(uint8(2), uint8(1), 2, 3, 4, 0, 40)
	f.Add(uint8(3), uint8(2), 0, 0, 0, 128, 40)
	f.Add(uint8(9), uint8(200), -1, -5, 1<<30, -3, 0)
	f.Fuzz(func(t *testing.T, kind, layer uint8, ch, y, x, vec, side int) {
		m := fuzzModel()
		names := append(m.Arch.LayerNames(), "", "nope")
		obj := Objective{Kind: ObjectiveKind(kind % 6), Layer: names[int(layer)%len(names)], Channel: ch, Y: y, X: x, PreReLU: kind&8 != 0}
		if vec >= 0 && vec <= 1<<16 {
			obj.Vector = make([]float32, vec)
			for i := range obj.Vector {
				obj.Vector[i] = float32(i%7) - 3
			}
		}
		// Small inputs keep each run fast; sizes below the network's minimum must be errors.
		side = min(max(side, -1), 48)
		if side < 0 {
			side = 0
		}
		in := NewTensor(1, 3, side, side)
		for i := range in.Data {
			in.Data[i] = float32(i%13) / 13
		}
		v, g, err := m.InputGradient(in, obj)
		if err != nil {
			return
		}
		if g == nil || !slices.Equal(g.Shape, in.Shape) || HasNaN(g.Data) || v != v {
			t.Fatalf("%v at %dx%d: value %v, gradient %v", obj, side, side, v, g)
		}
	})
}

func FuzzReceptiveRect(f *testing.F) {
	f.Add(uint8(0), uint8(3), 10, 10, 224, 224)
	f.Add(uint8(1), uint8(8), 0, 0, 256, 250)
	f.Add(uint8(2), uint8(30), -1, 1<<40, 1, -5)
	f.Fuzz(func(t *testing.T, arch, layer uint8, y, x, h, w int) {
		a := []*Arch{AlexNet, AlexNetBVLC, SqueezeNet11}[int(arch)%3]
		names := append(a.LayerNames(), "", "x")
		name := names[int(layer)%len(names)]
		h, w = min(h, 4096), min(w, 4096) // the input size bounds the work
		r, err := a.ReceptiveRect(name, y, x, h, w)
		if err != nil {
			return
		}
		if r.Empty() || r.Min.X < 0 || r.Min.Y < 0 || r.Max.X > w || r.Max.Y > h {
			t.Fatalf("%s %s (%d, %d) in %dx%d: rectangle %v outside the image", a.Name, name, y, x, h, w, r)
		}
		_, _ = a.ReceptiveField(name, h, w)
	})
}
