// Package cpukernel generates the WebAssembly SIMD module that runs AlexLens's CPU
// convolutions and fully connected layers in the browser, and (in the js build) installs it
// as the engine's block GEMM.
//
// Why a generated module: Go's wasm backend keeps each function resumable (its branches
// dispatch through a table and loop state lives in linear memory), so a Go micro-kernel
// with archsimd vectors peaks at ~25-28 GFLOP/s per thread, while the same 5 x 8 tile as
// straight wasm, with its accumulators in wasm locals that the browser keeps in vector
// registers, runs at ~60 GFLOP/s on the same machine. The module imports the Go program's
// own memory, so Go passes addresses and nothing is copied.
//
// The arithmetic is the Go kernels' exactly where it can be: every output of a direct
// convolution is accumulated in k order with a separate multiply and add (no fused
// multiply-add) in float32, then scaled, biased and clamped, so those equal the Go SIMD
// kernel's results bit for bit. 3x3 stride-1 convolutions run as Winograd F(2x2,3x3)
// (winograd.go; within 1e-5 of the direct ones), and matrix-vector products sum in a
// different order (8 partial sums per row).
//
// On a shared memory (a program rewritten by wasm/sharedmem, on a cross-origin isolated
// page), kernel workers instantiate the same module on the same memory and take parts of
// every call (pool_js.go).
package cpukernel

import "math"

// The GEMM tile: MR rows of A by NR columns of B. 5 x 8 keeps 10 accumulators, two B
// vectors, one broadcast and a product in x86's 16 vector registers; 6 x 8 needs 16 and the
// browser spills (33 GFLOP/s against 60 in V8 on the development machine), 4 x 8 and
// 4 x 16 measured 50 and 43.
const (
	MR = 5
	NR = 8
	// KC is how much of k one pass over the tiles covers: a B panel slice of KC x NR floats
	// (8 KiB) stays in L1 while the A panels' slices stream past it.
	KC = 256
	// MC is how many A panels' KC slices (MC*KC*MR floats, 125 KiB) one sweep over the B
	// panels reuses from L2: without it a layer with large weights (SqueezeNet's conv10,
	// 2 MB) streamed all of A from L3 once per B panel.
	MC = 25
)

// Module returns the kernels as a WebAssembly module importing its memory as env.mem and
// exporting gemm (function 0: gemm_repeat and wino_gemm call it), pack_b, matvec_f32,
// matvec_i8, maxpool_k3s2, gemm_repeat, wino_in, wino_out, wino_gemm and
// maxpool_k3s2_backward (see BlockGEMM in package engine for what they compute; the
// arguments are addresses and counts, all i32).
// With shared, the memory is declared shared (4 GiB maximum), to run on the shared memory
// of a program rewritten by wasm/sharedmem, in its own worker and in kernel workers alike.
func Module(shared bool) []byte {
	return module(shared, gemmFn(), packBFn(), matVecFn(false), matVecFn(true), maxPoolFn(), gemmRepeatFn(), winoInFn(), winoOutFn(), winoGemmFn(), maxPoolBackwardFn())
}

// maxPoolFn: maxpool_k3s2(in, out, planes, h, w, oh, ow, kh, sh, scratch) is max pooling
// with windows kh rows by 3 columns, strides sh by 2, no padding, windows clipped at the
// bottom and right edges (ceil mode): per output row, the maximum of the window's rows
// (a vector pass over the row, into scratch), then of each three neighbours at even
// columns, four outputs from three loads and three shuffles. scratch holds at least
// max(w, 2*ow+12) floats. f32x4.max and f32.max have the builtin max's semantics (NaN
// wins), as the Go pools do.
func maxPoolFn() *fn {
	var in, out, planes, h, w, oh, ow, kh, sh, scratch int
	f := newFn("maxpool_k3s2", &in, &out, &planes, &h, &w, &oh, &ow, &kh, &sh, &scratch)
	pl, oy, y, y1, x, row, o, w4, ow4 := f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T)
	va, vb, vc, even := f.local(v128T), f.local(v128T), f.local(v128T), f.local(v128T)
	negInf := float32(math.Inf(-1))

	// scratch[w : 2*ow+12] = -Inf once: the columns a clipped window reaches past the row.
	f.get(w).set(x)
	f.block().loop()
	f.get(x).get(ow).i32(2).mul().i32(12).add().geS().brIf(1)
	f.get(scratch).get(x).i32(4).mul().add().f32(negInf).f32Store(0)
	f.inc(x, 1).br(0)
	f.end().end()
	f.get(w).i32(-4).op(0x71).set(w4)   // i32.and: whole vectors of a row
	f.get(ow).i32(-4).op(0x71).set(ow4) // whole vectors of outputs

	// rowOp emits scratch[x] = op(scratch[x], row[x]) for x < w (or a copy when first).
	rowOp := func(first bool) {
		f.i32(0).set(x)
		f.block().loop()
		f.get(x).get(w4).geS().brIf(1)
		f.get(scratch).get(x).i32(4).mul().add()
		if !first {
			f.get(scratch).get(x).i32(4).mul().add().v128Load(0)
		}
		f.get(row).get(x).i32(4).mul().add().v128Load(0)
		if !first {
			f.f32x4Max()
		}
		f.v128Store(0)
		f.inc(x, 4).br(0)
		f.end().end()
		f.block().loop()
		f.get(x).get(w).geS().brIf(1)
		f.get(scratch).get(x).i32(4).mul().add()
		if !first {
			f.get(scratch).get(x).i32(4).mul().add().f32Load(0)
		}
		f.get(row).get(x).i32(4).mul().add().f32Load(0)
		if !first {
			f.f32Max()
		}
		f.f32Store(0)
		f.inc(x, 1).br(0)
		f.end().end()
	}

	f.block().loop() // planes
	f.get(pl).get(planes).geS().brIf(1)
	f.i32(0).set(oy).get(out).set(o)
	f.block().loop() // output rows
	f.get(oy).get(oh).geS().brIf(1)
	f.get(oy).get(sh).mul().set(y)
	f.get(y).get(kh).add().set(y1)
	f.get(h).get(y1).get(y1).get(h).gtS().sel().set(y1) // y1 = min(y+kh, h)
	f.get(in).get(y).get(w).mul().i32(4).mul().add().set(row)
	rowOp(true)
	f.inc(y, 1)
	f.block().loop()
	f.get(y).get(y1).geS().brIf(1)
	f.get(row).get(w).i32(4).mul().add().set(row)
	rowOp(false)
	f.inc(y, 1).br(0)
	f.end().end()

	// out[ox] = max(s[2ox], s[2ox+1], s[2ox+2]), four at a time.
	f.i32(0).set(x)
	f.block().loop()
	f.get(x).get(ow4).geS().brIf(1)
	f.get(scratch).get(x).i32(8).mul().add().set(row) // &s[2x]
	f.get(row).v128Load(0).set(va).get(row).v128Load(16).set(vb).get(row).v128Load(32).set(vc)
	f.get(va).get(vb).shuffle32(0, 2, 4, 6).set(even)
	f.get(o).get(x).i32(4).mul().add()
	f.get(even).get(va).get(vb).shuffle32(1, 3, 5, 7).f32x4Max()
	f.get(even).get(vc).shuffle32(1, 2, 3, 4).f32x4Max()
	f.v128Store(0)
	f.inc(x, 4).br(0)
	f.end().end()
	f.block().loop()
	f.get(x).get(ow).geS().brIf(1)
	f.get(scratch).get(x).i32(8).mul().add().set(row)
	f.get(o).get(x).i32(4).mul().add()
	f.get(row).f32Load(0).get(row).f32Load(4).f32Max().get(row).f32Load(8).f32Max()
	f.f32Store(0)
	f.inc(x, 1).br(0)
	f.end().end()

	f.get(o).get(ow).i32(4).mul().add().set(o)
	f.inc(oy, 1).br(0)
	f.end().end()
	f.get(in).get(h).get(w).mul().i32(4).mul().add().set(in)
	f.get(out).get(oh).get(ow).mul().i32(4).mul().add().set(out)
	f.inc(pl, 1).br(0)
	f.end().end()
	return f
}

// maxPoolBackwardFn: maxpool_k3s2_backward(in, out, g, dx, planes, h, w, oh, ow, kh, sh)
// is max pooling's backward pass for maxpool_k3s2's windows: each output's gradient g is
// added to dx at the first element of its window, in row-major order, equal to the
// window's maximum out (a NaN maximum matching the first NaN), as PyTorch routes it. A
// whole 3x3 window with a number for its maximum (nearly all of them) is searched without
// a branch: nine compares feeding selects, last element to first, so that the first match
// wins; as loops leaving at the first match, whose exits a random maximum makes
// unpredictable, this took 38 ns a window. Windows clipped by the edges, and NaN maxima,
// take the loops.
func maxPoolBackwardFn() *fn {
	var in, out, g, dx, planes, h, w, oh, ow, kh, sh int
	f := newFn("maxpool_k3s2_backward", &in, &out, &g, &dx, &planes, &h, &w, &oh, &ow, &kh, &sh)
	pl, oy, ox, o, y, y0, y1, x, x0, x1, nan, at := f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T)
	m, v := f.local(f32T), f.local(f32T)
	rowA, rowB, rowC, w2 := f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T)
	f.get(w).i32(2).mul().set(w2)

	f.block().loop() // planes
	f.get(pl).get(planes).geS().brIf(1)
	f.i32(0).set(o).i32(0).set(oy)
	f.block().loop() // output rows
	f.get(oy).get(oh).geS().brIf(1)
	f.get(oy).get(sh).mul().set(y0)
	f.get(y0).get(kh).add().set(y1)
	f.get(h).get(y1).get(y1).get(h).gtS().sel().set(y1) // y1 = min(y0+kh, h)
	f.i32(0).set(ox)
	f.block().loop() // output columns
	f.get(ox).get(ow).geS().brIf(1)
	f.get(ox).i32(2).mul().set(x0)
	f.get(x0).i32(3).add().set(x1)
	f.get(w).get(x1).get(x1).get(w).gtS().sel().set(x1) // x1 = min(x0+3, w)
	f.get(out).get(o).i32(4).mul().add().f32Load(0).set(m)
	f.get(m).get(m).op(0x5C).set(nan) // f32.ne: m is a NaN
	// A whole window, m a number: at = the first of its offsets r*w+c whose value is m.
	f.get(x1).get(x0).sub().i32(3).eq()
	f.get(y1).get(y0).sub().i32(3).eq().and()
	f.get(nan).eqz().and()
	f.ifThen()
	f.get(in).get(y0).get(w).mul().get(x0).add().i32(4).mul().add().set(rowA)
	f.get(rowA).get(w).i32(4).mul().add().set(rowB)
	f.get(rowB).get(w).i32(4).mul().add().set(rowC)
	f.i32(0).set(at)
	for r := 2; r >= 0; r-- {
		for c := 2; c >= 0; c-- {
			switch r { // the offset if this element matches
			case 0:
				f.i32(int32(c))
			case 1:
				f.get(w).i32(int32(c)).add()
			case 2:
				f.get(w2).i32(int32(c)).add()
			}
			f.get(at)
			f.get([]int{rowA, rowB, rowC}[r]).f32Load(4 * c).get(m).op(0x5B) // f32.eq
			f.sel().set(at)
		}
	}
	f.get(dx).get(y0).get(w).mul().get(x0).add().get(at).add().i32(4).mul().add().set(at)
	f.get(at).get(at).f32Load(0).get(g).get(o).i32(4).mul().add().f32Load(0).f32Add().f32Store(0)
	f.inc(o, 1).inc(ox, 1).br(1) // the next output column
	f.end()
	f.block() // next: no element matched (none can: a window holds its maximum)
	f.block() // found: y, x is the first match
	f.get(y0).set(y)
	f.loop() // window rows
	f.get(y).get(y1).geS().brIf(2)
	f.get(x0).set(x)
	f.block().loop() // window columns
	f.get(x).get(x1).geS().brIf(1)
	f.get(in).get(y).get(w).mul().get(x).add().i32(4).mul().add().f32Load(0).set(v)
	f.get(v).get(m).op(0x5B)                // f32.eq
	f.get(nan).get(v).get(v).op(0x5C).and() // or both NaN
	f.op(0x72).brIf(3)                      // i32.or; to found
	f.inc(x, 1).br(0)
	f.end().end()
	f.inc(y, 1).br(0)
	f.end() // window rows
	f.end() // found
	f.get(dx).get(y).get(w).mul().get(x).add().i32(4).mul().add().set(at)
	f.get(at).get(at).f32Load(0).get(g).get(o).i32(4).mul().add().f32Load(0).f32Add().f32Store(0)
	f.end() // next
	f.inc(o, 1).inc(ox, 1).br(0)
	f.end().end()
	f.inc(oy, 1).br(0)
	f.end().end()
	f.get(in).get(h).get(w).mul().i32(4).mul().add().set(in)
	f.get(dx).get(h).get(w).mul().i32(4).mul().add().set(dx)
	f.get(out).get(oh).get(ow).mul().i32(4).mul().add().set(out)
	f.get(g).get(oh).get(ow).mul().i32(4).mul().add().set(g)
	f.inc(pl, 1).br(0)
	f.end().end()
	return f
}

// gemmRepeatFn: gemm_repeat(n, k, a, aPanels, b, bPanels, c, ldc, scale, bias) calls gemm
// (function 0) n times on the same operands: the kernel's peak on panels that stay in L1,
// timed without a JavaScript call per GEMM (PeakGFLOPS).
func gemmRepeatFn() *fn {
	var n, k, a, mp, b, np, c, ldc, scale, bias int
	f := newFn("gemm_repeat", &n, &k, &a, &mp, &b, &np, &c, &ldc, &scale, &bias)
	f.block().loop()
	f.get(n).eqz().brIf(1)
	for _, l := range []int{k, a, mp, b, np, c, ldc, scale, bias} {
		f.get(l)
	}
	f.i32(0).op(0x10, 0) // relu = 0; call gemm
	f.get(n).i32(1).sub().set(n).br(0)
	f.end().end()
	return f
}

// packBFn: pack_b(dst, src, cin, kh, kw, chanStride, rowStep, colStep, offs, bPanels)
// writes the im2col of a convolution's (padded) input in the panel layout gemm reads:
// for panel p, row r = (ci*kh+ky)*kw+kx and column j < NR,
//
//	dst[(p*k + r)*NR + j] = src[ci*chanStride + ky*rowStep + kx*colStep + offs[p*NR+j]]
//
// with k = cin*kh*kw. offs holds each output position's offset in the input (its window's
// top-left corner); strides and offsets count floats, and every address they form must lie
// in src (the caller pads the input so that windows never leave it). A panel whose eight
// columns are consecutive in memory (stride 1, one output row) is copied two vectors at a
// time; the others are gathered value by value.
func packBFn() *fn {
	var dst, src, cin, kh, kw, chanStride, rowStep, colStep, offs, np int
	f := newFn("pack_b", &dst, &src, &cin, &kh, &kw, &chanStride, &rowStep, &colStep, &offs, &np)
	p, ci, ky, kx, chanBase, rowBase, at := f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T)
	var off [NR]int
	for j := range off {
		off[j] = f.local(i32T)
	}
	// Strides in bytes from here on.
	for _, l := range []int{chanStride, rowStep, colStep} {
		f.get(l).i32(4).mul().set(l)
	}
	// rows emits the loops over ci, ky, kx with body reading from address at.
	rows := func(body func()) {
		f.get(src).set(chanBase).get(cin).set(ci)
		f.loop() // ci (cin >= 1)
		f.get(chanBase).set(rowBase).get(kh).set(ky)
		f.loop() // ky
		f.get(rowBase).set(at).get(kw).set(kx)
		f.loop() // kx
		body()
		f.inc(dst, NR*4)
		f.get(at).get(colStep).add().set(at)
		f.get(kx).i32(1).sub().set(kx).get(kx).brIf(0)
		f.end()
		f.get(rowBase).get(rowStep).add().set(rowBase)
		f.get(ky).i32(1).sub().set(ky).get(ky).brIf(0)
		f.end()
		f.get(chanBase).get(chanStride).add().set(chanBase)
		f.get(ci).i32(1).sub().set(ci).get(ci).brIf(0)
		f.end()
	}

	f.block().loop() // for each panel
	f.get(p).get(np).geS().brIf(1)
	for j := range off {
		f.get(offs).get(p).i32(NR*4).mul().add().mem(0x28, 4*j).i32(4).mul().set(off[j]) // i32.load
	}
	f.get(off[NR-1]).get(off[0]).sub().i32((NR - 1) * 4).eq().ifThen()
	rows(func() {
		f.get(dst).get(at).get(off[0]).add().v128Load(0).v128Store(0)
		f.get(dst).get(at).get(off[0]).add().v128Load(16).v128Store(16)
	})
	f.elseDo()
	rows(func() {
		for j := range off {
			f.get(dst).get(at).get(off[j]).add().f32Load(0).f32Store(4 * j)
		}
	})
	f.end()
	f.inc(p, 1).br(0)
	f.end().end()
	return f
}

// gemmFn: gemm(k, a, aPanels, b, bPanels, c, ldc, scale, bias, relu).
func gemmFn() *fn {
	var k, a, mp, b, np, c, ldc, scale, bias, relu int
	f := newFn("gemm", &k, &a, &mp, &b, &np, &c, &ldc, &scale, &bias, &relu)
	k0, kc, last := f.local(i32T), f.local(i32T), f.local(i32T)
	jp, ip, pb0, pa, pb := f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T)
	ip0, ip1 := f.local(i32T), f.local(i32T)
	pc, row, n, ldc4 := f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T)
	av := f.local(v128T)
	bv := [2]int{f.local(v128T), f.local(v128T)}
	var acc [MR][2]int
	for i := range acc {
		acc[i] = [2]int{f.local(v128T), f.local(v128T)}
	}
	// eachRow emits body once per tile row with the row's address in row.
	eachRow := func(body func(i int)) {
		f.get(pc).set(row)
		for i := range MR {
			body(i)
			if i < MR-1 {
				f.get(row).get(ldc4).add().set(row)
			}
		}
	}

	f.get(ldc).i32(4).mul().set(ldc4)

	f.block().loop() // for k0 := 0; k0 < k; k0 += KC
	f.get(k0).get(k).geS().brIf(1)
	f.get(k).get(k0).sub().set(kc)
	f.i32(KC).get(kc).get(kc).i32(KC).gtS().sel().set(kc)
	f.get(k0).get(kc).add().get(k).eq().set(last)

	f.i32(0).set(ip0)
	f.block().loop() // for each block of MC A panels (their k0 slices stay in L2)
	f.get(ip0).get(mp).geS().brIf(1)
	f.get(ip0).i32(MC).add().set(ip1)
	f.get(mp).get(ip1).get(ip1).get(mp).gtS().sel().set(ip1) // ip1 = min(ip0+MC, mp)

	f.i32(0).set(jp)
	f.block().loop() // for each B panel (its k0 slice stays in L1)
	f.get(jp).get(np).geS().brIf(1)
	f.get(b).get(jp).get(k).mul().get(k0).add().i32(NR * 4).mul().add().set(pb0)

	f.get(ip0).set(ip)
	f.block().loop() // for each A panel of the block
	f.get(ip).get(ip1).geS().brIf(1)
	f.get(a).get(ip).get(k).mul().get(k0).add().i32(MR * 4).mul().add().set(pa)
	f.get(pb0).set(pb)
	f.get(c).get(ip).i32(MR).mul().get(ldc).mul().get(jp).i32(NR).mul().add().i32(4).mul().add().set(pc)

	// The first slice of k starts from zero, later ones from the partial sums in C.
	f.get(k0).eqz().ifThen()
	for i := range acc {
		for j := range 2 {
			f.v128Zero().set(acc[i][j])
		}
	}
	f.elseDo()
	eachRow(func(i int) {
		f.get(row).v128Load(0).set(acc[i][0])
		f.get(row).v128Load(16).set(acc[i][1])
	})
	f.end()

	// The hot loop: one k step of the tile, 20 multiplies and adds on 4 lanes.
	f.get(kc).set(n)
	f.block().loop()
	f.get(n).eqz().brIf(1)
	f.get(pb).v128Load(0).set(bv[0])
	f.get(pb).v128Load(16).set(bv[1])
	for i := range MR {
		f.get(pa).v128Splat32(4 * i).set(av)
		for j := range 2 {
			f.get(acc[i][j]).get(av).get(bv[j]).f32x4Mul().f32x4Add().set(acc[i][j])
		}
	}
	f.inc(pa, MR*4).inc(pb, NR*4)
	f.get(n).i32(1).sub().set(n)
	f.br(0)
	f.end().end()

	// After the last slice: acc*scale + bias, clamped.
	f.get(last).ifThen()
	for i := range MR {
		for j := range 2 {
			f.get(acc[i][j])
			f.get(scale).get(ip).i32(MR * 4).mul().add().v128Splat32(4 * i).f32x4Mul()
			f.get(bias).get(ip).i32(MR * 4).mul().add().v128Splat32(4 * i).f32x4Add()
			// The clamp: max(v, 0) for ReLU, max(v, -Inf) = v otherwise (NaN stays NaN
			// either way). It is made here rather than kept in a local: a vector live across
			// the hot loop would push it past the 15 registers V8 allocates and spill.
			f.f32(0).f32(float32(math.Inf(-1))).get(relu).sel().f32x4Splat().f32x4Max().set(acc[i][j])
		}
	}
	f.end()
	eachRow(func(i int) {
		f.get(row).get(acc[i][0]).v128Store(0)
		f.get(row).get(acc[i][1]).v128Store(16)
	})

	f.inc(ip, 1).br(0)
	f.end().end()
	f.inc(jp, 1).br(0)
	f.end().end()
	f.inc(ip0, MC).br(0)
	f.end().end()
	f.inc(k0, KC).br(0)
	f.end().end()
	return f
}

// matVecFn: matvec_f32 / matvec_i8 (w, x, n, y, rows, scale, bias, relu): y[o] =
// clamp(dot(w row o, x)*scale[o] + bias[o]) for o < rows, where w holds rows rows of n
// float32 or int8 values. Four rows share each load of x (the layer is bound by reading w
// once); the rows left over go one at a time.
func matVecFn(int8W bool) *fn {
	name, wBytes := "matvec_f32", 4
	if int8W {
		name, wBytes = "matvec_i8", 1
	}
	var w, x, n, y, rows, scale, bias, relu int
	f := newFn(name, &w, &x, &n, &y, &rows, &scale, &bias, &relu)
	o, px, i, rowStride, floor := f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T), f.local(f32T)
	const maxR = 4
	var pw [maxR]int
	var sum [maxR]int
	var acc [maxR][2]int
	for r := range maxR {
		pw[r], sum[r] = f.local(i32T), f.local(f32T)
		acc[r] = [2]int{f.local(v128T), f.local(v128T)}
	}
	xv := [4]int{f.local(v128T), f.local(v128T), f.local(v128T), f.local(v128T)}
	wv, half := f.local(v128T), f.local(v128T)

	f.get(n).i32(int32(wBytes)).mul().set(rowStride)
	f.f32(0).f32(float32(math.Inf(-1))).get(relu).sel().set(floor)

	rowBlock := func(R int) {
		f.block().loop()
		f.get(rows).get(o).sub().i32(int32(R)).ltS().brIf(1)
		for r := range R {
			f.get(w).get(o).get(rowStride).mul().add()
			if r > 0 {
				f.get(rowStride).i32(int32(r)).mul().add()
			}
			f.set(pw[r])
			f.v128Zero().set(acc[r][0]).v128Zero().set(acc[r][1])
		}
		f.get(x).set(px).get(n).set(i)
		if !int8W {
			// 8 floats per row per step: two x vectors shared by R rows.
			f.block().loop()
			f.get(i).i32(8).ltS().brIf(1)
			f.get(px).v128Load(0).set(xv[0]).get(px).v128Load(16).set(xv[1])
			for r := range R {
				for j := range 2 {
					f.get(acc[r][j]).get(pw[r]).v128Load(16 * j).get(xv[j]).f32x4Mul().f32x4Add().set(acc[r][j])
				}
				f.inc(pw[r], 32)
			}
			f.inc(px, 32).inc(i, -8).br(0)
			f.end().end()
		} else {
			// 16 int8 weights per row per step, widened i8 -> i16 -> i32 -> f32.
			f.block().loop()
			f.get(i).i32(16).ltS().brIf(1)
			for j := range 4 {
				f.get(px).v128Load(16 * j).set(xv[j])
			}
			for r := range R {
				f.get(pw[r]).v128Load(0).set(wv)
				for h := range 2 {
					f.get(wv)
					if h == 0 {
						f.i16x8FromI8Lo()
					} else {
						f.i16x8FromI8Hi()
					}
					f.set(half)
					for q := range 2 {
						f.get(acc[r][q]).get(half)
						if q == 0 {
							f.i32x4FromI16Lo()
						} else {
							f.i32x4FromI16Hi()
						}
						f.f32x4FromI32().get(xv[2*h+q]).f32x4Mul().f32x4Add().set(acc[r][q])
					}
				}
				f.inc(pw[r], 16)
			}
			f.inc(px, 64).inc(i, -16).br(0)
			f.end().end()
		}
		// Horizontal sums, then the tail of n one value at a time.
		for r := range R {
			f.get(acc[r][0]).get(acc[r][1]).f32x4Add().set(acc[r][0])
			f.get(acc[r][0]).f32x4Lane(0).get(acc[r][0]).f32x4Lane(1).f32Add()
			f.get(acc[r][0]).f32x4Lane(2).get(acc[r][0]).f32x4Lane(3).f32Add()
			f.f32Add().set(sum[r])
		}
		f.block().loop()
		f.get(i).eqz().brIf(1)
		for r := range R {
			f.get(sum[r]).get(pw[r])
			if int8W {
				f.i32Load8S(0).f32FromI32()
			} else {
				f.f32Load(0)
			}
			f.get(px).f32Load(0).f32Mul().f32Add().set(sum[r])
			f.inc(pw[r], int32(wBytes))
		}
		f.inc(px, 4).inc(i, -1).br(0)
		f.end().end()
		for r := range R {
			// y[o+r] = max(sum*scale[o+r] + bias[o+r], floor)
			f.get(y).get(o).i32(4).mul().add()
			f.get(sum[r]).get(scale).get(o).i32(4).mul().add().f32Load(4 * r).f32Mul()
			f.get(bias).get(o).i32(4).mul().add().f32Load(4 * r).f32Add()
			f.get(floor).f32Max().f32Store(4 * r)
		}
		f.inc(o, int32(R)).br(0)
		f.end().end()
	}
	rowBlock(maxR)
	rowBlock(1)
	return f
}
