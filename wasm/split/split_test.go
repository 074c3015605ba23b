package split

import (
	"fmt"
	"math/rand"
	"sync"
	"testing"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/weights"
)

// chanExchange is an all-gather between goroutines standing in for the workers: the
// browser's MessagePorts deliver the same shares in the same way.
type chanExchange struct {
	part  int
	inbox []chan share              // inbox[p] receives the shares sent to part p
	early map[int]map[int][]float32 // shares of a later exchange that arrived first
}

type share struct {
	from, seq int
	data      []float32
}

func newExchanges(n int) []*chanExchange {
	inbox := make([]chan share, n)
	for i := range inbox {
		inbox[i] = make(chan share, 64)
	}
	xs := make([]*chanExchange, n)
	for p := range xs {
		xs[p] = &chanExchange{part: p, inbox: inbox, early: map[int]map[int][]float32{}}
	}
	return xs
}

// AllGather may see a share of the next exchange before the last share of this one (a fast
// part moves on as soon as it has everything): it keeps those for later, as PortExchange does.
func (x *chanExchange) AllGather(seq int, mine []float32) ([][]float32, error) {
	out := make([][]float32, len(x.inbox))
	out[x.part] = mine
	for p, ch := range x.inbox {
		if p != x.part {
			ch <- share{x.part, seq, append([]float32(nil), mine...)}
		}
	}
	got := 1
	for from, d := range x.early[seq] {
		out[from] = d
		got++
	}
	delete(x.early, seq)
	for got < len(x.inbox) {
		s := <-x.inbox[x.part]
		switch {
		case s.seq == seq:
			out[s.from] = s.data
			got++
		case s.seq > seq:
			if x.early[s.seq] == nil {
				x.early[s.seq] = map[int][]float32{}
			}
			x.early[s.seq][s.from] = s.data
		default:
			return nil, fmt.Errorf("part %d: got exchange %d from part %d during exchange %d", x.part, s.seq, s.from, seq)
		}
	}
	return out, nil
}

// A pass split over 2 and 3 parts gives exactly the logits and activations of one instance,
// for float32 and int8 weights, on the networks whose layers are split.
func TestSplitEqualsWhole(t *testing.T) {
	for _, a := range []*engine.Arch{engine.SqueezeNet11, engine.AlexNet} {
		for _, prec := range []engine.Precision{engine.F32, engine.Int8} {
			m := weights.Fixture(a, 7).WithPrecision(prec)
			x := engine.NewTensor(1, 3, a.InputSize, a.InputSize)
			r := rand.New(rand.NewSource(1))
			for i := range x.Data {
				x.Data[i] = float32(r.NormFloat64())
			}
			whole, err := m.Forward(x, engine.ForwardOptions{Backend: engine.FastCPU{Threads: 1}})
			if err != nil {
				t.Fatal(err)
			}
			for _, parts := range []int{2, 3} {
				xs := newExchanges(parts)
				results := make([]*engine.Result, parts)
				errs := make([]error, parts)
				var wg sync.WaitGroup
				for p := 0; p < parts; p++ {
					sm, err := Slice(m, p, parts)
					if err != nil {
						t.Fatal(err)
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						be := &Backend{Inner: engine.FastCPU{Threads: 1}, Part: p, Parts: parts, X: xs[p]}
						results[p], errs[p] = sm.Forward(x, engine.ForwardOptions{Backend: be})
					}()
				}
				wg.Wait()
				for p, res := range results {
					if errs[p] != nil {
						t.Fatalf("%s %s part %d of %d: %v", a.Name, prec, p, parts, errs[p])
					}
					for _, name := range a.LayerNames() {
						got, want := res.Activations[name].Data, whole.Activations[name].Data
						if len(got) != len(want) {
							t.Fatalf("%s %s %d parts, part %d: %s has %d values, want %d", a.Name, prec, parts, p, name, len(got), len(want))
						}
						for i := range want {
							if got[i] != want[i] {
								t.Fatalf("%s %s %d parts, part %d: %s[%d] = %v, one instance gives %v", a.Name, prec, parts, p, name, i, got[i], want[i])
							}
						}
					}
				}
			}
		}
	}
}

func TestRange(t *testing.T) {
	for _, out := range []int{1, 7, 16, 64, 1000, 4096} {
		for n := 1; n <= 5; n++ {
			next := 0
			for p := 0; p < n; p++ {
				lo, hi := Range(out, p, n)
				if lo != next || hi < lo {
					t.Fatalf("Range(%d, %d, %d) = [%d, %d), want it to start at %d", out, p, n, lo, hi, next)
				}
				next = hi
			}
			if next != out {
				t.Fatalf("Range(%d, *, %d) covers [0, %d), want [0, %d)", out, n, next, out)
			}
		}
	}
}

func TestSliceRejectsMissingPart(t *testing.T) {
	m := weights.Fixture(engine.SqueezeNet11, 1)
	for _, c := range [][2]int{{-1, 2}, {2, 2}, {0, 0}} {
		if _, err := Slice(m, c[0], c[1]); err == nil {
			t.Errorf("Slice(part %d of %d): want an error", c[0], c[1])
		}
	}
}
