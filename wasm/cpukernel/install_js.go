//go:build js && wasm

package cpukernel

import (
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"syscall/js"
	"time"
	"unsafe"

	"github.com/alexlens/alexlens/engine"
)

// Name is the block GEMM's name in KernelName and benchmark reports.
const Name = "wasm-module-simd128-5x8"

// MemoryGlobal is the global through which the script that starts the Go program hands it
// its own WebAssembly.Memory (Go cannot reach its instance's exports):
//
//	self.alexlensGoMemory = result.instance.exports.mem; go.run(result.instance);
const MemoryGlobal = "alexlensGoMemory"

// Install compiles the kernel module and instantiates it on the Go program's memory; the
// block GEMM it returns is what engine.FastCPU.WithBlock runs the forward passes through.
// On error (no memory handed over, a memory that is not this program's, a browser without
// WebAssembly SIMD) nothing changes and the Go kernels stay.
func Install() (*engine.BlockGEMM, error) {
	mem := js.Global().Get(MemoryGlobal)
	if mem.Type() != js.TypeObject {
		return nil, fmt.Errorf("cpukernel: the page did not set %s before go.run", MemoryGlobal)
	}
	// The memory must be this program's: a marker written here must read back through it.
	marker := make([]byte, 32)
	rand.Read(marker)
	seen := make([]byte, len(marker))
	buf := mem.Get("buffer")
	if addr := addrOf(marker); addr+len(marker) <= buf.Get("byteLength").Int() {
		js.CopyBytesToGo(seen, js.Global().Get("Uint8Array").New(buf, addr, len(marker)))
	}
	if string(seen) != string(marker) {
		return nil, errors.New("cpukernel: " + MemoryGlobal + " is not this Go program's memory")
	}
	runtime.KeepAlive(marker)

	wa := js.Global().Get("WebAssembly")
	sab := js.Global().Get("SharedArrayBuffer")
	shared := sab.Type() == js.TypeFunction && buf.InstanceOf(sab)
	code := Module(shared)
	bytes := js.Global().Get("Uint8Array").New(len(code))
	js.CopyBytesToJS(bytes, code)
	if !wa.Call("validate", bytes).Bool() {
		return nil, errors.New("cpukernel: this browser cannot run WebAssembly SIMD")
	}
	var mod, inst js.Value
	if err := catch(func() {
		mod = wa.Get("Module").New(bytes)
		inst = wa.Get("Instance").New(mod, map[string]any{"env": map[string]any{"mem": mem}})
	}); err != nil {
		return nil, fmt.Errorf("cpukernel: instantiating the kernels: %w", err)
	}
	ex := inst.Get("exports")
	k := &kernels{
		fns: [nFuncs]js.Value{ex.Get("gemm"), ex.Get("pack_b"), ex.Get("matvec_f32"), ex.Get("matvec_i8"), ex.Get("maxpool_k3s2"),
			ex.Get("wino_in"), ex.Get("wino_out"), ex.Get("wino_gemm"), ex.Get("maxpool_k3s2_backward")},
		repeat: ex.Get("gemm_repeat"),
		module: mod, memory: mem, shared: shared,
	}
	g := &engine.BlockGEMM{
		Name: Name, MR: MR, NR: NR,
		GEMM: k.GEMM, PackB: k.PackB, MatVecF32: k.MatVecF32, MatVecI8: k.MatVecI8, MaxPoolK3S2: k.MaxPoolK3S2,
		MaxPoolK3S2Backward: k.MaxPoolK3S2Backward,
		WinogradIn:          k.WinogradIn, WinogradOut: k.WinogradOut, WinogradGEMM: k.WinogradGEMM,
	}
	if _, err := (engine.FastCPU{}).WithBlock(g); err != nil {
		return nil, err
	}
	stopPool()
	active = k
	return g, nil
}

// Backend is the engine's fast CPU backend on the generated kernels when they install, on
// the Go kernels otherwise (err says why).
func Backend() (engine.FastCPU, error) {
	g, err := Install()
	if err != nil {
		return engine.FastCPU{}, err
	}
	return engine.FastCPU{Block: g}, nil
}

// PeakGFLOPS measures the installed GEMM on one thread on panels small enough to stay in
// L1 (k = 256, two A and two B panels), best of several rounds for about d: the most a
// convolution can reach here with this kernel. 0 when the kernels are not installed.
func PeakGFLOPS(d time.Duration) float64 {
	k := active
	if k == nil {
		return 0
	}
	const kk, mp, np, calls = 256, 2, 2, 500
	a, b := make([]float32, mp*kk*MR), make([]float32, np*kk*NR)
	for i := range a {
		a[i] = float32(i%7) * 0.25
	}
	for i := range b {
		b[i] = float32(i%5) * 0.5
	}
	c, scale, bias := make([]float32, mp*MR*np*NR), make([]float32, mp*MR), make([]float32, mp*MR)
	flops := 2 * float64(kk*mp*MR*np*NR) * calls
	best := 0.0
	for round, deadline := 0, time.Now().Add(d); round < 3 || time.Now().Before(deadline); round++ {
		start := time.Now()
		k.repeat.Invoke(calls, kk, addrOf(a), mp, addrOf(b), np, addrOf(c), np*NR, addrOf(scale), addrOf(bias))
		if el := time.Since(start).Seconds(); el > 0 {
			best = max(best, flops/el/1e9)
		}
	}
	keepAlive(a, b, c, scale, bias)
	return best
}

// Uninstall stops the kernel pool and forgets the module: a block GEMM returned before must
// no longer be used (tests install it afresh).
func Uninstall() {
	stopPool()
	active = nil
}

// The module's functions, in the order kernel workers index them (kernel-worker.js).
const (
	fnGEMM = iota
	fnPackB
	fnMatVecF32
	fnMatVecI8
	fnMaxPool
	fnWinoIn
	fnWinoOut
	fnWinoGEMM
	fnMaxPoolBackward
	nFuncs
)

type kernels struct {
	fns            [nFuncs]js.Value
	repeat         js.Value // gemm_repeat, for PeakGFLOPS
	module, memory js.Value
	shared         bool
	pool           *pool        // nil: every kernel runs on this thread
	pending        *pendingPack // a packing held back for the next GEMM (with a pool)
	poolScratch    []float32
	winoEpilogue   []float32 // ones then zeros: WinogradGEMM's scale and bias
}

// active is the installed kernels, for SetThreads.
var active *kernels

// The module reads and writes wherever the addresses point, so every size is checked here,
// before the call, against the slices it will touch: a mistake panics with the shapes
// instead of corrupting the Go heap.

func (k *kernels) GEMM(kk int, a []float32, aPanels int, b []float32, bPanels int, c []float32, ldc int, scale, bias []float32, relu bool) {
	rows := aPanels * MR
	switch {
	case kk < 1 || aPanels < 1 || bPanels < 1:
		panic(fmt.Sprintf("cpukernel: gemm with k %d, %d A panels, %d B panels", kk, aPanels, bPanels))
	case len(a) < aPanels*kk*MR || len(b) < bPanels*kk*NR:
		panic(fmt.Sprintf("cpukernel: gemm panels: A has %d values (want %d), B %d (want %d)", len(a), aPanels*kk*MR, len(b), bPanels*kk*NR))
	case ldc < bPanels*NR || len(c) < rows*ldc:
		panic(fmt.Sprintf("cpukernel: gemm C has %d values with ldc %d, want %d rows of at least %d", len(c), ldc, rows, bPanels*NR))
	case len(scale) < rows || len(bias) < rows:
		panic(fmt.Sprintf("cpukernel: gemm epilogue has %d scales and %d biases, want %d", len(scale), len(bias), rows))
	}
	gemm := func(aLo, aHi, bLo, bHi int) call {
		return call{fnGEMM, []int{kk, addrOf(a) + aLo*kk*MR*4, aHi - aLo, addrOf(b) + bLo*kk*NR*4, bHi - bLo,
			addrOf(c) + (aLo*MR*ldc+bLo*NR)*4, ldc, addrOf(scale) + aLo*MR*4, addrOf(bias) + aLo*MR*4, flag(relu)}}
	}
	// Split the larger operand: each part streams its share of it and all of the other.
	if p := k.pool; p != nil && aPanels*MR > bPanels*NR && aPanels >= 2*p.parts {
		k.flushPack()
		k.round(aPanels, func(_, lo, hi int) []call { return []call{gemm(lo, hi, 0, bPanels)} })
	} else if pk := k.pending; pk != nil && pk.bPanels == bPanels && pk.rows() == kk && addrOf(pk.dst) == addrOf(b) {
		// Each part packs the B panels it multiplies: packing and GEMM in one round.
		k.pending = nil
		k.round(bPanels, func(_, lo, hi int) []call { return []call{pk.call(lo, hi), gemm(0, aPanels, lo, hi)} })
		runtime.KeepAlive(pk)
	} else {
		k.flushPack()
		k.round(bPanels, func(_, lo, hi int) []call { return []call{gemm(0, aPanels, lo, hi)} })
	}
	keepAlive(a, b, c, scale, bias)
}

func (k *kernels) PackB(dst, src []float32, cin, kh, kw, chanStride, rowStep, colStep int, offs []int32, bPanels int) {
	if cin < 1 || kh < 1 || kw < 1 || bPanels < 1 || chanStride < 0 || rowStep < 0 || colStep < 0 {
		panic(fmt.Sprintf("cpukernel: pack_b of %d channels, %dx%d window, %d panels, strides %d/%d/%d", cin, kh, kw, bPanels, chanStride, rowStep, colStep))
	}
	if len(offs) < bPanels*NR || len(dst) < bPanels*cin*kh*kw*NR {
		panic(fmt.Sprintf("cpukernel: pack_b has %d offsets (want %d) and %d values of room (want %d)", len(offs), bPanels*NR, len(dst), bPanels*cin*kh*kw*NR))
	}
	hi := 0
	for _, o := range offs[:bPanels*NR] {
		if o < 0 {
			panic(fmt.Sprintf("cpukernel: pack_b offset %d", o))
		}
		hi = max(hi, int(o))
	}
	if last := (cin-1)*chanStride + (kh-1)*rowStep + (kw-1)*colStep + hi; last >= len(src) {
		panic(fmt.Sprintf("cpukernel: pack_b would read value %d of a %d-value input", last, len(src)))
	}
	pk := &pendingPack{dst: dst, src: src, offs: offs, cin: cin, kh: kh, kw: kw, chanStride: chanStride, rowStep: rowStep, colStep: colStep, bPanels: bPanels}
	k.flushPack()
	if k.pool != nil {
		// With kernel workers the packing waits for the GEMM that reads it, so that both
		// run in one round (GEMM runs it first if it cannot).
		k.pending = pk
		return
	}
	k.round(bPanels, func(_, lo, hi int) []call { return []call{pk.call(lo, hi)} })
	keepAlive(dst, src, offs)
}

func (k *kernels) MaxPoolK3S2(out, in []float32, planes, h, w, oh, ow, kh, sh int) {
	if planes < 1 || oh < 1 || ow < 1 || kh < 1 || sh < 1 || (oh-1)*sh >= h || 2*(ow-1) >= w {
		panic(fmt.Sprintf("cpukernel: maxpool of %d planes %dx%d into %dx%d with %dx3 windows, strides %dx2", planes, h, w, oh, ow, kh, sh))
	}
	if len(in) < planes*h*w || len(out) < planes*oh*ow {
		panic(fmt.Sprintf("cpukernel: maxpool has %d inputs (want %d) and %d outputs (want %d)", len(in), planes*h*w, len(out), planes*oh*ow))
	}
	k.flushPack()
	n := max(w, 2*ow+12) // scratch per part
	if len(k.poolScratch) < n*maxParts {
		k.poolScratch = make([]float32, n*maxParts)
	}
	k.round(planes, func(part, lo, hi int) []call {
		return []call{{fnMaxPool, []int{addrOf(in) + lo*h*w*4, addrOf(out) + lo*oh*ow*4, hi - lo, h, w, oh, ow, kh, sh, addrOf(k.poolScratch) + part*n*4}}}
	})
	keepAlive(in, out, k.poolScratch)
}

func (k *kernels) MaxPoolK3S2Backward(dx, g, in, out []float32, planes, h, w, oh, ow, kh, sh int) {
	if planes < 1 || oh < 1 || ow < 1 || kh < 1 || sh < 1 || (oh-1)*sh >= h || 2*(ow-1) >= w {
		panic(fmt.Sprintf("cpukernel: maxpool backward of %d planes %dx%d from %dx%d with %dx3 windows, strides %dx2", planes, h, w, oh, ow, kh, sh))
	}
	if len(in) < planes*h*w || len(dx) < planes*h*w || len(out) < planes*oh*ow || len(g) < planes*oh*ow {
		panic(fmt.Sprintf("cpukernel: maxpool backward has %d inputs and %d input gradients (want %d), %d outputs and %d output gradients (want %d)",
			len(in), len(dx), planes*h*w, len(out), len(g), planes*oh*ow))
	}
	k.flushPack()
	k.round(planes, func(_, lo, hi int) []call {
		return []call{{fnMaxPoolBackward, []int{addrOf(in) + lo*h*w*4, addrOf(out) + lo*oh*ow*4, addrOf(g) + lo*oh*ow*4, addrOf(dx) + lo*h*w*4, hi - lo, h, w, oh, ow, kh, sh}}}
	})
	keepAlive(dx, g, in, out)
}

// WinogradIn runs wino_in, split across the kernel workers by input channel.
func (k *kernels) WinogradIn(v, src []float32, cin, th, twp, bPanels int) {
	if cin < 1 || th < 1 || twp < 4 || twp%4 != 0 || bPanels < 1 || bPanels*NR < th*twp {
		panic(fmt.Sprintf("cpukernel: wino_in of %d channels, %d x %d tiles, %d panels", cin, th, twp, bPanels))
	}
	plane := (2*th + 2) * (2*twp + 4)
	if len(src) < cin*plane || len(v) < 16*bPanels*cin*NR {
		panic(fmt.Sprintf("cpukernel: wino_in has %d inputs (want %d) and %d values of room (want %d)", len(src), cin*plane, len(v), 16*bPanels*cin*NR))
	}
	k.flushPack()
	k.round(cin, func(_, lo, hi int) []call {
		return []call{{fnWinoIn, []int{addrOf(v) + lo*NR*4, addrOf(src) + lo*plane*4, hi - lo, cin, th, twp, bPanels}}}
	})
	keepAlive(v, src)
}

// WinogradOut runs wino_out, split across the kernel workers by output channel.
func (k *kernels) WinogradOut(y, m []float32, mRows, ldc, rows int, scale, bias []float32, relu bool, oh, ow int) {
	th, tw := (oh+1)/2, (ow+1)/2
	twp := (tw + 3) / 4 * 4
	if rows < 1 || mRows < rows || oh < 1 || ow < 1 || ldc < th*twp {
		panic(fmt.Sprintf("cpukernel: wino_out of %d rows (of %d) into %dx%d planes with ldc %d", rows, mRows, oh, ow, ldc))
	}
	if len(m) < 16*mRows*ldc || len(y) < rows*oh*ow || len(scale) < rows || len(bias) < rows {
		panic(fmt.Sprintf("cpukernel: wino_out has %d products (want %d), %d values of room (want %d), %d scales and %d biases (want %d)",
			len(m), 16*mRows*ldc, len(y), rows*oh*ow, len(scale), len(bias), rows))
	}
	k.flushPack()
	k.round(rows, func(_, lo, hi int) []call {
		return []call{{fnWinoOut, []int{addrOf(y) + lo*oh*ow*4, addrOf(m) + lo*ldc*4, mRows * ldc, ldc, hi - lo,
			addrOf(scale) + lo*4, addrOf(bias) + lo*4, flag(relu), oh, ow}}}
	})
	keepAlive(y, m, scale, bias)
}

// WinogradGEMM runs the 16 products in one wino_gemm call, or with kernel workers in one
// round split by product (equal parts, nothing shared but reads). With more than 8 parts
// the round could not split 16 products; there every product is a GEMM call of its own,
// split by panels.
func (k *kernels) WinogradGEMM(kk int, a []float32, aStride, aPanels int, b []float32, bPanels int, c []float32, ldc int) {
	rows := aPanels * MR
	aSize, bSize, cSize := aPanels*kk*MR, bPanels*kk*NR, rows*ldc
	switch {
	case kk < 1 || aPanels < 1 || bPanels < 1 || aStride < aSize || ldc < bPanels*NR:
		panic(fmt.Sprintf("cpukernel: wino_gemm with k %d, %d A panels %d apart, %d B panels, ldc %d", kk, aPanels, aStride, bPanels, ldc))
	case len(a) < 15*aStride+aSize || len(b) < 16*bSize || len(c) < 16*cSize:
		panic(fmt.Sprintf("cpukernel: wino_gemm has %d A values (want %d), %d B (want %d), %d C (want %d)", len(a), 15*aStride+aSize, len(b), 16*bSize, len(c), 16*cSize))
	}
	if p := k.pool; p != nil && 16 < 2*p.parts {
		ones, zeros := k.epilogue(rows)
		for xi := range 16 {
			k.GEMM(kk, a[xi*aStride:], aPanels, b[xi*bSize:], bPanels, c[xi*cSize:], ldc, ones, zeros, false)
		}
		return
	}
	ones, _ := k.epilogue(rows)
	k.flushPack()
	k.round(16, func(_, lo, hi int) []call {
		return []call{{fnWinoGEMM, []int{hi - lo, kk, addrOf(a) + lo*aStride*4, aStride, aPanels, addrOf(b) + lo*bSize*4, bPanels,
			addrOf(c) + lo*cSize*4, ldc, addrOf(ones)}}}
	})
	keepAlive(a, b, c, ones)
}

// epilogue returns rows ones and rows zeros, one after the other in memory (wino_gemm
// finds the zeros after the ones).
func (k *kernels) epilogue(rows int) (ones, zeros []float32) {
	if len(k.winoEpilogue) < 2*rows {
		k.winoEpilogue = make([]float32, 2*rows)
	}
	e := k.winoEpilogue[:2*rows]
	for i := range rows {
		e[i], e[rows+i] = 1, 0
	}
	return e[:rows], e[rows:]
}

// pendingPack is a PackB call held back for the GEMM that follows it; it keeps its slices
// alive until then.
type pendingPack struct {
	dst, src                                           []float32
	offs                                               []int32
	cin, kh, kw, chanStride, rowStep, colStep, bPanels int
}

func (p *pendingPack) rows() int { return p.cin * p.kh * p.kw }

func (p *pendingPack) call(lo, hi int) call {
	return call{fnPackB, []int{addrOf(p.dst) + lo*p.rows()*NR*4, addrOf(p.src), p.cin, p.kh, p.kw,
		p.chanStride, p.rowStep, p.colStep, addrOf(p.offs) + lo*NR*4, hi - lo}}
}

// flushPack runs a held-back packing on its own.
func (k *kernels) flushPack() {
	if pk := k.pending; pk != nil {
		k.pending = nil
		k.round(pk.bPanels, func(_, lo, hi int) []call { return []call{pk.call(lo, hi)} })
		runtime.KeepAlive(pk)
	}
}

func (k *kernels) MatVecF32(w, x, y, scale, bias []float32, relu bool) {
	checkMatVec(len(w), len(x), len(y), len(scale), len(bias))
	k.matVec(fnMatVecF32, addrOf(w), 4, x, y, scale, bias, relu)
	keepAlive(w, x, y, scale, bias)
}

func (k *kernels) MatVecI8(w []int8, x, y, scale, bias []float32, relu bool) {
	checkMatVec(len(w), len(x), len(y), len(scale), len(bias))
	k.matVec(fnMatVecI8, addrOf(w), 1, x, y, scale, bias, relu)
	keepAlive(w, x, y, scale, bias)
}

// matVec splits a matrix-vector product by rows.
func (k *kernels) matVec(fn, w, wBytes int, x, y, scale, bias []float32, relu bool) {
	k.flushPack()
	n := len(x)
	k.round(len(y), func(_, lo, hi int) []call {
		return []call{{fn, []int{w + lo*n*wBytes, addrOf(x), n, addrOf(y) + lo*4, hi - lo, addrOf(scale) + lo*4, addrOf(bias) + lo*4, flag(relu)}}}
	})
}

func checkMatVec(w, x, y, scale, bias int) {
	if x < 1 || y < 1 || w < x*y || scale < y || bias < y {
		panic(fmt.Sprintf("cpukernel: matvec of %d rows by %d values with %d weights, %d scales, %d biases", y, x, w, scale, bias))
	}
}

// addrOf is a slice's address in linear memory. Go's garbage collector does not move heap
// objects, and nothing else runs while the module does (the call is synchronous), so the
// address holds for the call; callers keep the slice alive until it returns.
func addrOf[T any](s []T) int {
	return int(uintptr(unsafe.Pointer(unsafe.SliceData(s))))
}

// keepAlive keeps the slices a module call used reachable until it returns: the call only
// saw their addresses.
func keepAlive(xs ...any) { runtime.KeepAlive(xs) }

func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}

// catch turns a JavaScript exception thrown inside f (syscall/js panics with a js.Error)
// into an error.
func catch(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(js.Error); ok {
				err = e
				return
			}
			panic(r)
		}
	}()
	f()
	return nil
}
