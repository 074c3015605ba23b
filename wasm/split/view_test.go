package split

import (
	"math/rand"
	"sync"
	"testing"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/weights"
)

// A pass where part 0 runs on a View of the whole model and the others on Slices gives the
// single instance's logits exactly, and the view holds no copy of the weights.
func TestViewPartEqualsWhole(t *testing.T) {
	for _, prec := range []engine.Precision{engine.F32, engine.Int8} {
		a := engine.SqueezeNet11
		m := weights.Fixture(a, 3).WithPrecision(prec)
		x := engine.NewTensor(1, 3, a.InputSize, a.InputSize)
		r := rand.New(rand.NewSource(2))
		for i := range x.Data {
			x.Data[i] = float32(r.NormFloat64())
		}
		whole, err := m.Forward(x, engine.ForwardOptions{Backend: engine.FastCPU{Threads: 1}})
		if err != nil {
			t.Fatal(err)
		}
		const parts = 2
		view, err := View(m, 0, parts)
		if err != nil {
			t.Fatal(err)
		}
		key := "features.3.expand3x3.weight"
		vw, mw := view.Params[key], m.Params[key]
		if prec == engine.Int8 {
			if &vw.I8[0] != &mw.I8[0] {
				t.Errorf("%s: the view copied %s's int8 rows", prec, key)
			}
		} else if &vw.F32[0] != &mw.F32[0] {
			t.Errorf("%s: the view copied %s's rows", prec, key)
		}
		if vw.Rows() >= mw.Rows() {
			t.Errorf("%s: view of part 0 has %d of %d rows", prec, vw.Rows(), mw.Rows())
		}
		other, err := Slice(m, 1, parts)
		if err != nil {
			t.Fatal(err)
		}
		xs := newExchanges(parts)
		models := []*engine.Model{view, other}
		results := make([]*engine.Result, parts)
		errs := make([]error, parts)
		var wg sync.WaitGroup
		for p := range parts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				be := &Backend{Inner: engine.FastCPU{Threads: 1}, Part: p, Parts: parts, X: xs[p]}
				results[p], errs[p] = models[p].Forward(x, engine.ForwardOptions{Backend: be})
			}()
		}
		wg.Wait()
		for p := range parts {
			if errs[p] != nil {
				t.Fatalf("%s part %d: %v", prec, p, errs[p])
			}
			for i, want := range whole.Logits.Data {
				if got := results[p].Logits.Data[i]; got != want {
					t.Fatalf("%s part %d: logit %d = %v, one instance gives %v", prec, p, i, got, want)
				}
			}
		}
	}
}

func TestPartsFor(t *testing.T) {
	cases := []struct {
		arch        string
		cores, want int
	}{
		{engine.AlexNet.Name, 0, 1},
		{engine.AlexNet.Name, 1, 1},
		{engine.AlexNet.Name, 2, 2},
		{engine.AlexNet.Name, 3, 3},
		{engine.AlexNet.Name, 16, 4},
		{engine.SqueezeNet11.Name, 8, 1},
		{engine.AlexNetBVLC.Name, 8, 1},
		{"unknown", 8, 1},
	}
	for _, c := range cases {
		if got := PartsFor(c.arch, c.cores); got != c.want {
			t.Errorf("PartsFor(%q, %d) = %d, want %d", c.arch, c.cores, got, c.want)
		}
	}
}
