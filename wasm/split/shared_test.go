package split

import (
	"math/rand"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/weights"
)

// goMem is the shared exchange's memory for goroutines: control words through sync/atomic
// (sequentially consistent, as Atomics in JavaScript), plain data slots, and a wait that
// wakes on notify. The protocol code is the browser's (sharedCore); the browser's memory
// itself is tested in Chromium (browser_test.go). Under -race the detector sees every data
// slot access, so a slot written while another part reads it would be reported.
type goMem struct {
	words []atomic.Int32
	slots [][]float32
	mu    sync.Mutex
	woken chan struct{} // closed and replaced by every notify
}

func newGoMem(parts, capacity int) *goMem {
	m := &goMem{words: make([]atomic.Int32, SharedWords(parts)), woken: make(chan struct{})}
	for s := 0; s < 2*parts; s++ {
		m.slots = append(m.slots, make([]float32, capacity))
	}
	return m
}

func (m *goMem) load(i int) int32     { return m.words[i].Load() }
func (m *goMem) store(i int, v int32) { m.words[i].Store(v) }
func (m *goMem) notify(int) {
	m.mu.Lock()
	close(m.woken)
	m.woken = make(chan struct{})
	m.mu.Unlock()
}
func (m *goMem) wait(i int, v int32, d time.Duration) error {
	m.mu.Lock()
	ch := m.woken
	m.mu.Unlock()
	if m.words[i].Load() != v {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	}
	return nil
}
func (m *goMem) putHeader(s int, h *[3]int32) {
	for i, v := range h {
		m.words[headerWord(len(m.slots)/2, s, i)].Store(v)
	}
}
func (m *goMem) getHeader(s int, h *[3]int32) {
	for i := range h {
		h[i] = m.words[headerWord(len(m.slots)/2, s, i)].Load()
	}
}
func (m *goMem) put(s int, src []float32) { copy(m.slots[s], src) }
func (m *goMem) get(s int, dst []float32) { copy(dst, m.slots[s]) }

func newSharedCores(parts, capacity int) []*sharedCore {
	m := newGoMem(parts, capacity)
	xs := make([]*sharedCore, parts)
	for p := range xs {
		xs[p] = &sharedCore{part: p, parts: parts, capacity: capacity, mem: m, timeout: 5 * time.Second}
	}
	return xs
}

type coreExchange struct{ *sharedCore }

func (x coreExchange) AllGather(seq int, mine []float32) ([][]float32, error) {
	return x.allGather(seq, mine)
}

// The shared protocol gives the one-instance logits and activations exactly, over several
// passes on one buffer, with slots as large as ShareCapacity says (one round per exchange)
// and with small ones (many rounds per exchange).
func TestSharedSplitEqualsWhole(t *testing.T) {
	for _, a := range []*engine.Arch{engine.SqueezeNet11, engine.AlexNet} {
		m := weights.Fixture(a, 3)
		x := engine.NewTensor(1, 3, a.InputSize, a.InputSize)
		r := rand.New(rand.NewSource(2))
		for i := range x.Data {
			x.Data[i] = float32(r.NormFloat64())
		}
		whole, err := m.Forward(x, engine.ForwardOptions{Backend: engine.FastCPU{Threads: 1}})
		if err != nil {
			t.Fatal(err)
		}
		for _, parts := range []int{2, 3} {
			full, err := ShareCapacity(a, parts)
			if err != nil {
				t.Fatal(err)
			}
			for _, capacity := range []int{full, 1000} {
				xs := newSharedCores(parts, capacity)
				models := make([]*engine.Model, parts)
				for p := range models {
					if models[p], err = Slice(m, p, parts); err != nil {
						t.Fatal(err)
					}
				}
				for pass := 0; pass < 2; pass++ {
					results := make([]*engine.Result, parts)
					errs := make([]error, parts)
					var wg sync.WaitGroup
					for p := 0; p < parts; p++ {
						wg.Add(1)
						go func() {
							defer wg.Done()
							be := &Backend{Inner: engine.FastCPU{Threads: 1}, Part: p, Parts: parts, X: coreExchange{xs[p]}}
							results[p], errs[p] = models[p].Forward(x, engine.ForwardOptions{Backend: be})
						}()
					}
					wg.Wait()
					for p, res := range results {
						if errs[p] != nil {
							t.Fatalf("%s %d parts, capacity %d, pass %d, part %d: %v", a.Name, parts, capacity, pass, p, errs[p])
						}
						for _, name := range a.LayerNames() {
							got, want := res.Activations[name].Data, whole.Activations[name].Data
							for i := range want {
								if got[i] != want[i] {
									t.Fatalf("%s %d parts, capacity %d, part %d: %s[%d] = %v, one instance gives %v", a.Name, parts, capacity, p, name, i, got[i], want[i])
								}
							}
						}
					}
				}
			}
		}
	}
}

// ShareCapacity is the largest share: SqueezeNet's conv1 half (32 of 64 channels at
// 111x111), AlexNet's conv1 half (32 of 64 at 55x55).
func TestShareCapacity(t *testing.T) {
	for _, c := range []struct {
		a           *engine.Arch
		parts, want int
	}{{engine.SqueezeNet11, 2, 32 * 111 * 111}, {engine.AlexNet, 2, 32 * 55 * 55}, {engine.AlexNet, 3, 24 * 55 * 55}} {
		got, err := ShareCapacity(c.a, c.parts)
		if err != nil || got != c.want {
			t.Errorf("ShareCapacity(%s, %d) = %d, %v; want %d", c.a.Name, c.parts, got, err, c.want)
		}
		if cp, err := SharedCapacity(c.parts, SharedBytes(c.parts, got)); err != nil || cp != got {
			t.Errorf("SharedCapacity(SharedBytes(%d, %d)) = %d, %v", c.parts, got, cp, err)
		}
	}
	for _, c := range [][2]int{{1, 4096}, {2, 0}, {2, 4*SharedWords(2) + 12}, {MaxParts + 1, 1 << 20}} {
		if _, err := SharedCapacity(c[0], c[1]); err == nil {
			t.Errorf("SharedCapacity(%d parts, %d bytes): want an error", c[0], c[1])
		}
	}
}

// Shares of different sizes, empty ones and ones many times a slot, in exchanges that
// follow each other at once: every part gets every share whole, in order.
func TestSharedRoundsAndSizes(t *testing.T) {
	const parts, capacity = 3, 7
	xs := newSharedCores(parts, capacity)
	sizes := [][]int{{1, 1, 1}, {0, 0, 0}, {7, 0, 8}, {50, 3, 21}, {0, 15, 0}, {2, 2, 2}}
	share := func(seq, p int) []float32 {
		s := make([]float32, sizes[seq-1][p])
		for i := range s {
			s[i] = float32(1000*seq + 100*p + i)
		}
		return s
	}
	var wg sync.WaitGroup
	errs := make(chan error, parts)
	for p := 0; p < parts; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 1; seq <= len(sizes); seq++ {
				got, err := xs[p].allGather(seq, share(seq, p))
				if err != nil {
					errs <- err
					return
				}
				for q := range got {
					want := share(seq, q)
					if len(got[q]) != len(want) {
						t.Errorf("part %d, exchange %d: part %d's share has %d values, want %d", p, seq, q, len(got[q]), len(want))
						continue
					}
					for i := range want {
						if got[q][i] != want[i] {
							t.Errorf("part %d, exchange %d: part %d's share [%d] = %v, want %v", p, seq, q, i, got[q][i], want[i])
							break
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// A part that never sends its share ends the others' wait with an error after the timeout;
// a part that gives up (Fail) ends it at once; parts at different exchanges are an error.
func TestSharedFailures(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		xs := newSharedCores(2, 4)
		xs[0].timeout = 200 * time.Millisecond
		start := time.Now()
		_, err := xs[0].allGather(1, []float32{1})
		if err == nil || !strings.Contains(err.Error(), "did not take part") {
			t.Fatalf("got %v, want a timeout error", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("the timeout of 200ms took %v", d)
		}
	})
	t.Run("fail", func(t *testing.T) {
		xs := newSharedCores(3, 4)
		done := make(chan error)
		go func() {
			_, err := xs[0].allGather(1, []float32{1})
			done <- err
		}()
		time.Sleep(20 * time.Millisecond)
		start := time.Now()
		xs[2].fail()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "part 2 gave up") {
				t.Fatalf("got %v, want part 2's giving up", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("noticed the failure after %v", d)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("Fail did not end the wait")
		}
		if _, err := xs[1].allGather(1, nil); err == nil {
			t.Error("an exchange after Fail succeeded")
		}
	})
	t.Run("seq mismatch", func(t *testing.T) {
		xs := newSharedCores(2, 4)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for p := range xs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[p] = xs[p].allGather(5+p, []float32{1})
			}()
		}
		wg.Wait()
		for p, err := range errs {
			if err == nil || !strings.Contains(err.Error(), "different passes") {
				t.Errorf("part %d: got %v, want a mismatch error", p, err)
			}
		}
	})
}
