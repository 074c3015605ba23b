package split

import (
	"fmt"
	"math"
	"time"

	"github.com/alexlens/alexlens/engine"
)

// The shared exchange: every part writes its share into its own slot of one block of
// memory that all parts see (in the browser a SharedArrayBuffer posted to every worker,
// shared_js.go), publishes it by raising its counter, and reads the others' slots once
// their counters say they are there. No message and no event-loop turn per layer: a part
// that waits blocks on the counter (Atomics.wait) and wakes when it changes.
//
// Layout, in 32-bit words (the control block) followed by the data slots:
//
//	word 0                     abort: 0, or 1 + the part that gave up (Fail)
//	word 1 + p                 ready[p]: the last round part p has published
//	word 1 + n + p             done[p]: the last round whose shares part p has all copied
//	word 1 + 2n + 3*s + 0..2   slot s's header: round, seq, total (s = 2*p + round%2)
//	then 2*n slots of capacity float32 values: part p's slots are 2*p and 2*p + 1
//	(n parts; the control words are padded to a multiple of 8 bytes)
//
// A round is one slot-sized piece of an all-gather. An exchange whose shares all fit a slot
// is one round; a larger one (a batch, a bigger image than the buffer was sized for) takes
// as many rounds as the largest share needs, capacity values per round, so any share size
// works without resizing the buffer. All parts agree on the number of rounds because every
// part reads every share's total in the first round. Rounds are numbered from 1 across the
// buffer's whole life (not per pass): a counter never goes back, so "ready[q] >= r" means
// "part q has published round r" whatever happened in earlier passes.
//
// Why a slot is never overwritten while another part still reads it (double buffering,
// by round parity): part p writes round r into slot 2p + r%2, which last held round r-2.
// Part p starts round r only after its round r-1 finished, and round r-1 finished only
// after p saw ready[q] >= r-1 for every q. Part q raises ready[q] to r-1 only at the start
// of its round r-1, that is after its round r-2 finished, and finishing round r-2 means q
// had copied p's round r-2 slot out. So when p overwrites that slot, every q is done with
// it. The same argument bounds how far ahead a part can run: p cannot publish round r+1
// before every q has published round r, so while q reads p's round r, ready[p] is r or r+1
// and slot 2p + r%2 still holds round r. So the all-gather is itself a barrier, and the
// done counters are a safety net on top: before writing round r, part p also waits until
// done[q] >= r-2 for every q, which by the argument above is always already true (a load
// per part, no wait). They keep the slots safe by construction should the all-gather ever
// stop being a full barrier (say, a part that skips waiting for parts with empty shares).
// The reader also checks that the slot's header names the round and exchange it expects
// before copying: a part that ran ahead or runs another pass is an error.
//
// Memory order: the writer copies its data and the slot's header, then stores ready[p]
// with Atomics.store; the reader sees ready[p] through Atomics.load or Atomics.wait before
// it copies the header and the data. Atomic stores and loads are sequentially consistent,
// so what was written before the store is visible after the load (the JavaScript memory
// model's synchronizes-with, as Go's sync/atomic in the tests).
//
// Cost: each call from Go to JavaScript costs about 1-3 µs in Chromium, so a round makes
// few: the writer loads the others' done counters, copies the data and the header (two
// copies), stores its ready counter and notifies; a reader loads a counter, copies the
// header and the data, and at the end of the round stores its done counter and notifies.

// sharedMem is the memory a shared exchange works on: a SharedArrayBuffer in the browser,
// Go memory with sync/atomic in the tests.
type sharedMem interface {
	load(i int) int32
	store(i int, v int32)
	// wait blocks while control word i holds v, at most d; it returns early when notified
	// (or spuriously: callers check the word again). An error is a failure of the wait
	// itself, such as a thread that may not block.
	wait(i int, v int32, d time.Duration) error
	notify(i int)
	// put copies src to the start of data slot s, get fills dst from the start of slot s.
	put(s int, src []float32)
	get(s int, dst []float32)
	// putHeader and getHeader copy slot s's three header words (plain copies: the store
	// of the ready counter that follows orders them).
	putHeader(s int, h *[3]int32)
	getHeader(s int, h *[3]int32)
}

// DefaultSharedTimeout is how long a part waits for another part's share before the
// exchange fails: far more than any layer takes, so that a worker that died or hangs ends
// the pass with an error instead of blocking the others forever.
const DefaultSharedTimeout = 10 * time.Second

// abortPoll bounds one wait, so that a part notices another's Fail within it even when
// the notify came just before it began to wait.
const abortPoll = 50 * time.Millisecond

// maxRound is the last round number: counters are int32. At 30 exchanges per pass that is
// 70 million passes of one buffer; past it the exchange fails rather than wrap around.
const maxRound = math.MaxInt32 - 1

// SharedWords is the number of 32-bit control words before the data slots for parts parts.
// The data start on a multiple of 8 bytes.
func SharedWords(parts int) int {
	w := 1 + 2*parts + 3*2*parts
	return (w + 1) / 2 * 2
}

// SharedBytes is the size of a shared exchange buffer for parts parts whose slots hold
// capacity float32 values each.
func SharedBytes(parts, capacity int) int {
	return 4*SharedWords(parts) + 2*parts*capacity*4
}

// SharedCapacity is the slot size (float32 values) that a buffer of the given byte length
// has for parts parts, or an error when the length is not one that SharedBytes gives.
func SharedCapacity(parts, bytes int) (int, error) {
	if parts < 2 || parts > MaxParts {
		return 0, fmt.Errorf("a shared exchange for %d parts (want 2 to %d)", parts, MaxParts)
	}
	data := bytes - 4*SharedWords(parts)
	if data <= 0 || data%(2*parts*4) != 0 {
		return 0, fmt.Errorf("a shared exchange buffer of %d bytes does not fit %d parts", bytes, parts)
	}
	return data / (2 * parts * 4), nil
}

// ShareCapacity is the largest share (float32 values) any of parts parts sends for one image
// at the network's input size: the slot size at which every exchange of a batch-1 pass is
// one round. Larger inputs still work, in several rounds.
func ShareCapacity(a *engine.Arch, parts int) (int, error) {
	shapes, err := a.Shapes(a.InputSize, a.InputSize)
	if err != nil {
		return 0, err
	}
	largest := 1
	share := func(out, plane int) {
		for p := 0; p < parts; p++ {
			lo, hi := Range(out, p, parts)
			largest = max(largest, (hi-lo)*plane)
		}
	}
	for _, l := range a.Layers {
		s := shapes[l.Name]
		plane := 1
		if len(s) == 4 {
			plane = s[2] * s[3]
		}
		switch l.Kind {
		case engine.KindConv:
			if l.Conv.Groups == 1 {
				share(l.Conv.Out, plane)
			}
		case engine.KindLinear:
			share(l.Linear.Out, 1)
		case engine.KindFire: // squeeze and both expands keep the module's plane
			share(l.Fire.Squeeze, plane)
			share(l.Fire.Expand1x1, plane)
			share(l.Fire.Expand3x3, plane)
		}
	}
	return largest, nil
}

// sharedCore is the protocol, whatever the memory.
type sharedCore struct {
	part, parts, capacity int
	mem                   sharedMem
	timeout               time.Duration
	round                 int32 // the last round this part took part in
}

func (x *sharedCore) readyWord(p int) int { return 1 + p }
func (x *sharedCore) doneWord(p int) int  { return 1 + x.parts + p }

// headerWord is the index of field of slot s's header among the control words of parts parts.
func headerWord(parts, s, field int) int      { return 1 + 2*parts + 3*s + field }
func (x *sharedCore) slot(p int, r int32) int { return 2*p + int(r%2) }

const (
	hdrRound = iota
	hdrSeq
	hdrTotal
)

func (x *sharedCore) allGather(seq int, mine []float32) ([][]float32, error) {
	if seq < 0 || seq > math.MaxInt32 {
		return nil, fmt.Errorf("exchange number %d out of range", seq)
	}
	if len(mine) > math.MaxInt32 {
		return nil, fmt.Errorf("a share of %d values is too large", len(mine))
	}
	out := make([][]float32, x.parts)
	out[x.part] = mine
	rounds := 1
	for i := 0; i < rounds; i++ {
		if x.round >= maxRound {
			return nil, fmt.Errorf("the shared exchange has used up its %d rounds", maxRound)
		}
		r := x.round + 1
		lo := i * x.capacity
		// Publish this part's piece of round r, once every part is done with round r-2
		// (always the case already: see the argument above).
		for q := 0; q < x.parts; q++ {
			if q != x.part {
				if err := x.await(x.doneWord(q), q, r-2, seq); err != nil {
					return nil, err
				}
			}
		}
		s := x.slot(x.part, r)
		x.mem.put(s, mine[min(lo, len(mine)):min(lo+x.capacity, len(mine))])
		x.mem.putHeader(s, &[3]int32{hdrRound: r, hdrSeq: int32(seq), hdrTotal: int32(len(mine))})
		x.mem.store(x.readyWord(x.part), r)
		x.mem.notify(x.readyWord(x.part))
		// Copy everyone else's piece.
		for q := 0; q < x.parts; q++ {
			if q == x.part {
				continue
			}
			if err := x.await(x.readyWord(q), q, r, seq); err != nil {
				return nil, err
			}
			s := x.slot(q, r)
			var h [3]int32
			x.mem.getHeader(s, &h)
			if h[hdrRound] != r {
				return nil, fmt.Errorf("part %d's slot holds round %d, expected %d (a part ran ahead: protocol bug)", q, h[hdrRound], r)
			}
			if h[hdrSeq] != int32(seq) {
				return nil, fmt.Errorf("part %d sent exchange %d while this part (%d) is at exchange %d (the parts run different passes)", q, h[hdrSeq], x.part, seq)
			}
			total := int(h[hdrTotal])
			if i == 0 {
				if total < 0 {
					return nil, fmt.Errorf("part %d announced a share of %d values", q, total)
				}
				out[q] = make([]float32, total)
				rounds = max(rounds, (total+x.capacity-1)/x.capacity)
			} else if total != len(out[q]) {
				return nil, fmt.Errorf("part %d's share changed size from %d to %d values during exchange %d", q, len(out[q]), total, seq)
			}
			x.mem.get(s, out[q][min(lo, total):min(lo+x.capacity, total)])
		}
		if i == 0 {
			rounds = max(rounds, (len(mine)+x.capacity-1)/x.capacity)
		}
		x.mem.store(x.doneWord(x.part), r)
		x.mem.notify(x.doneWord(x.part))
		x.round = r
	}
	return out, nil
}

// await blocks until part q's counter at word reaches r (ready: q has published round r;
// done: q has copied round r out), another part gave up, or the timeout.
func (x *sharedCore) await(word, q int, r int32, seq int) error {
	v := x.mem.load(word)
	if v >= r {
		return nil // the common case when this part was the slower: no clock read
	}
	// No polling before blocking: in Chromium on 2 cores, polling Atomics.load for 30 µs
	// before Atomics.wait made passes no faster (one load from Go costs 1-3 µs).
	deadline := time.Now().Add(x.timeout)
	for {
		if a := x.mem.load(0); a != 0 {
			return fmt.Errorf("part %d gave up the pass (exchange %d)", a-1, seq)
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("part %d did not take part in exchange %d within %v (its worker stopped or hangs)", q, seq, x.timeout)
		}
		// In slices: a Fail that lands between the abort check above and the wait would
		// otherwise go unseen until the timeout (its notify finds no waiter yet).
		if err := x.mem.wait(word, v, min(left, abortPoll)); err != nil {
			return fmt.Errorf("waiting for part %d in exchange %d: %w", q, seq, err)
		}
		if v = x.mem.load(word); v >= r {
			return nil
		}
	}
}

// fail marks the exchange as given up by this part and wakes every waiting part, so that
// their AllGather returns an error at once rather than after the timeout.
func (x *sharedCore) fail() {
	x.mem.store(0, int32(x.part)+1)
	for p := 0; p < x.parts; p++ {
		x.mem.notify(x.readyWord(p))
		x.mem.notify(x.doneWord(p))
	}
}
