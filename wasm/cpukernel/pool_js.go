//go:build js && wasm

package cpukernel

import (
	"errors"
	"fmt"
	"syscall/js"
	"time"
)

// The kernel pool: with a shared memory (a program rewritten by wasm/sharedmem on a
// cross-origin isolated page), n-1 kernel workers instantiate the same module on the same
// memory, and each kernel call is split into n ranges (B panels of a GEMM or packing, rows
// of a matrix-vector product, planes of a pooling) run at once: this thread's part by a
// direct call, the others by the workers. Nothing is copied: every part reads and writes
// Go's own slices, which stay put (Go's collector does not move objects) and alive while
// this thread waits for the round to finish.
//
// Control words, an []int32 in Go's memory that kernel-worker.js reads through Atomics:
// [0] round number, [1] parts done, [2] set by a kernel worker whose call failed, [3] set
// when the pool stops (its workers then leave their loop), then for kernel worker p >= 1, two calls at ctlHeader + (p-1)*ctlPerPart, each the
// function index, the argument count (0: no call) and callArgs argument slots. Go writes a round's arguments with ordinary stores, then kick() publishes the round with
// Atomics.add and notify (sequentially consistent), so a worker that sees the new round
// number sees its arguments.

const (
	ctlHeader  = 4
	callArgs   = 12                 // argument slots of one call
	ctlPerPart = 2 * (2 + callArgs) // two calls: function index, argument count, arguments
	maxParts   = 16
)

// roundTimeout bounds a wait for the kernel workers: a worker that died or hangs turns into
// the whole round done here, never into a hung engine. SetRoundTimeout changes it (tests).
var roundTimeout = 20 * time.Second

// startTimeout bounds the wait for new kernel workers to say they are ready: past it,
// SetThreads gives up on them and the kernels stay on this thread. SetStartTimeout changes
// it (tests).
var startTimeout = 20 * time.Second

// SetStartTimeout sets how long SetThreads waits for its kernel workers to start.
func SetStartTimeout(d time.Duration) { startTimeout = d }

// SetRoundTimeout sets how long a round waits for the kernel workers before it stops them
// and finishes on this thread.
func SetRoundTimeout(d time.Duration) { roundTimeout = d }

type pool struct {
	ctl   []int32
	parts int // this thread included
	js    js.Value
}

// SetThreads runs the kernels on n threads: this one and n-1 kernel workers. n <= 1 stops
// the workers. It needs the installed module on a shared memory and the page's
// alexlensKernelPool (ui/static/shared-memory.js); without them it returns an error and
// the kernels stay on this thread.
func SetThreads(n int) error {
	k := active
	if k == nil {
		return errors.New("cpukernel: the kernels are not installed")
	}
	stopPool()
	if n <= 1 {
		return nil
	}
	if n > maxParts {
		n = maxParts
	}
	if !k.shared {
		return errors.New("cpukernel: kernel workers need a shared memory (a cross-origin isolated page and the program rewritten by wasm/sharedmem)")
	}
	pj := js.Global().Get("alexlensKernelPool")
	if pj.Type() != js.TypeObject {
		return errors.New("cpukernel: the page has no alexlensKernelPool (shared-memory.js)")
	}
	ctl := make([]int32, ctlHeader+(n-1)*ctlPerPart)
	if err := await(pj.Call("resize", n-1, k.module, k.memory, addrOf(ctl), len(ctl), startTimeout.Milliseconds())); err != nil {
		pj.Call("stop")
		return fmt.Errorf("cpukernel: starting kernel workers: %w", err)
	}
	k.pool = &pool{ctl: ctl, parts: n, js: pj}
	return nil
}

// Shared reports whether the installed kernels run on a shared memory, where SetThreads
// can start kernel workers.
func Shared() bool { return active != nil && active.shared }

// Installed reports whether the generated kernels run (Install succeeded).
func Installed() bool { return active != nil }

// Threads is the number of threads the kernels run on.
func Threads() int {
	if active == nil || active.pool == nil {
		return 1
	}
	return active.pool.parts
}

// lastFailure says why the pool last stopped itself (tests and diagnostics).
var lastFailure string

// LastFailure is why the kernel pool last gave up on its workers, "" if it never did.
func LastFailure() string { return lastFailure }

// retired keeps the control words of stopped pools alive: Worker.terminate takes effect
// later, and a worker still spinning on words whose memory Go had reused for a new pool's
// would take that pool's rounds (found by TestBrowserKernelPool: wrong logits at 3 threads).
var retired [][]int32

func stopPool() {
	if active != nil && active.pool != nil {
		active.pool.js.Call("stop") // raises word 3 first
		retired = append(retired, active.pool.ctl)
		active.pool = nil
	}
}

// call is one call of a module function with its arguments (at most callArgs).
type call struct {
	fn   int
	args []int
}

// round runs the range [0, n) split into parts at once: calls(part, lo, hi) are the calls
// (at most two, run in order) for one part's subrange. Small ranges, and every range
// without a pool, run here whole.
func (k *kernels) round(n int, calls func(part, lo, hi int) []call) {
	p := k.pool
	if p == nil || n < 2*p.parts {
		k.invoke(calls(0, 0, n))
		return
	}
	for part := 1; part < p.parts; part++ {
		o := ctlHeader + (part-1)*ctlPerPart
		clear(p.ctl[o : o+ctlPerPart])
		for i, c := range calls(part, n*part/p.parts, n*(part+1)/p.parts) {
			at := o + i*(2+callArgs)
			p.ctl[at], p.ctl[at+1] = int32(c.fn), int32(len(c.args))
			for j, v := range c.args {
				p.ctl[at+2+j] = int32(v) // addresses above 2 GiB wrap to the same i32 bits
			}
		}
	}
	p.js.Call("kick")
	k.invoke(calls(0, 0, n/p.parts))
	if !p.js.Call("wait", p.parts-1, roundTimeout.Milliseconds()).Bool() {
		// A kernel worker failed, died or hangs: stop them all, then redo the whole range here
		// (every kernel overwrites its outputs, so finished parts are simply redone).
		why := fmt.Sprintf("no answer in %v (round %d, %d of %d parts done, function %d over %d)", roundTimeout, p.ctl[0], p.ctl[1], p.parts-1, p.ctl[ctlHeader], n)
		if p.ctl[2] != 0 {
			why = "failed: " + p.js.Get("lastError").String()
		}
		js.Global().Get("console").Call("warn", "alexlens: a kernel worker "+why+"; running on one thread")
		lastFailure = why
		stopPool()
		k.invoke(calls(0, 0, n))
	}
}

func (k *kernels) invoke(calls []call) {
	for _, c := range calls {
		k.fns[c.fn].Invoke(anys(c.args)...)
	}
}

func anys(a []int) []any {
	out := make([]any, len(a))
	for i, v := range a {
		out[i] = v
	}
	return out
}

// await blocks until a JavaScript promise settles. The caller must not be inside a
// JavaScript callback (the event loop has to run meanwhile).
func await(p js.Value) error {
	done := make(chan error, 1)
	then := js.FuncOf(func(js.Value, []js.Value) any { done <- nil; return nil })
	fail := js.FuncOf(func(_ js.Value, args []js.Value) any {
		msg := "rejected"
		if len(args) > 0 {
			msg = args[0].Call("toString").String()
		}
		done <- errors.New(msg)
		return nil
	})
	defer then.Release()
	defer fail.Release()
	p.Call("then", then, fail)
	return <-done
}
