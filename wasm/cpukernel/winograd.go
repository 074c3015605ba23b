package cpukernel

import "math"

// Winograd F(2x2,3x3) transforms (BlockGEMM.WinogradIn/Out in package engine): the 3x3
// stride-1 convolutions run as 16 GEMMs of k = cin (the gemm above) between an input
// transform V = B^T d B per 4x4 window and an output transform Y = A^T M A per 2x2 tile.
// Both work on four tiles side by side at once, one tile per vector lane: the tile rows
// of the B and C matrices are padded to a multiple of four tiles (twp), so four
// neighbours are four consecutive columns of one panel, read and written as one vector.

// The panel arithmetic below shifts and masks by NR.
const nrShift = 3

func init() {
	if 1<<nrShift != NR {
		panic("cpukernel: nrShift does not match NR")
	}
}

// winoInFn: wino_in(dst, src, cin, cinTotal, th, twp, bPanels) writes, for the cin input
// channels at src (planes of (2*th+2) x (2*twp+4) floats, zero-padded) and every xi < 16,
// tile t = ty*twp + tx < th*twp:
//
//	dst[((xi*bPanels + t/NR)*cinTotal + ci)*NR + t%NR] = (B^T d B)[xi]
//
// with d the 4x4 window at row 2*ty, column 2*tx of channel ci (dst points at channel 0 of
// this call's range within panels of cinTotal channels). Per four tiles of a row, each
// window row is three vector loads (columns 2*tx .. 2*tx+11) and four shuffles into the
// window's four columns, one tile per lane; the transform is 32 vector adds; the 16 results
// are 16 vector stores into the 16 matrices.
func winoInFn() *fn {
	var dst, src, cin, cinTotal, th, twp, bPanels int
	f := newFn("wino_in", &dst, &src, &cin, &cinTotal, &th, &twp, &bPanels)
	ci, ty, tx, t, wp4, chanB, panelB, xiB := f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T)
	chanP, oc, rowP, p, o := f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T)
	v0, v1, v2 := f.local(v128T), f.local(v128T), f.local(v128T)
	var e [4][4]int
	for r := range e {
		for c := range e[r] {
			e[r][c] = f.local(v128T)
		}
	}

	f.get(twp).i32(2).mul().i32(4).add().i32(4).mul().set(wp4)    // bytes per padded row
	f.get(th).i32(2).mul().i32(2).add().get(wp4).mul().set(chanB) // bytes per padded plane
	f.get(cinTotal).i32(NR * 4).mul().set(panelB)
	f.get(bPanels).get(panelB).mul().set(xiB)

	f.get(src).set(chanP).get(dst).set(oc)
	f.block().loop() // input channels
	f.get(ci).get(cin).geS().brIf(1)
	f.i32(0).set(ty).i32(0).set(t)
	f.block().loop() // tile rows
	f.get(ty).get(th).geS().brIf(1)
	f.get(chanP).get(ty).i32(2).mul().get(wp4).mul().add().set(rowP)
	f.i32(0).set(tx)
	f.block().loop() // four tiles of the row
	f.get(tx).get(twp).geS().brIf(1)
	f.get(rowP).get(tx).i32(8).mul().add().set(p)
	f.get(oc).get(t).i32(nrShift).shr().get(panelB).mul().add().get(t).i32(NR - 1).and().i32(4).mul().add().set(o)
	for r := range 4 {
		// Window row r of the four tiles, column c in e[r][c], then d·B in place:
		// [d0-d2, d1+d2, d2-d1, d1-d3].
		f.get(p).v128Load(0).set(v0).get(p).v128Load(16).set(v1).get(p).v128Load(32).set(v2)
		f.get(v0).get(v1).shuffle32(0, 2, 4, 6).set(e[r][0])
		f.get(v0).get(v1).shuffle32(1, 3, 5, 7).set(e[r][1])
		f.get(e[r][0]).get(v2).shuffle32(1, 2, 3, 4).set(e[r][2])
		f.get(e[r][1]).get(v2).shuffle32(1, 2, 3, 5).set(e[r][3])
		f.get(e[r][0]).get(e[r][2]).f32x4Sub().set(v0)
		f.get(e[r][1]).get(e[r][2]).f32x4Add().set(v1)
		f.get(e[r][2]).get(e[r][1]).f32x4Sub().set(e[r][2])
		f.get(e[r][1]).get(e[r][3]).f32x4Sub().set(e[r][3])
		f.get(v0).set(e[r][0]).get(v1).set(e[r][1])
		if r < 3 {
			f.get(p).get(wp4).add().set(p)
		}
	}
	// B^T·(d B), row by row: [e0-e2, e1+e2, e2-e1, e1-e3]; xi = 4*row + column.
	rowOps := [4]func(c int){
		func(c int) { f.get(e[0][c]).get(e[2][c]).f32x4Sub() },
		func(c int) { f.get(e[1][c]).get(e[2][c]).f32x4Add() },
		func(c int) { f.get(e[2][c]).get(e[1][c]).f32x4Sub() },
		func(c int) { f.get(e[1][c]).get(e[3][c]).f32x4Sub() },
	}
	for r := range 4 {
		for c := range 4 {
			f.get(o)
			rowOps[r](c)
			f.v128Store(0)
			f.get(o).get(xiB).add().set(o)
		}
	}
	f.inc(tx, 4).inc(t, 4).br(0)
	f.end().end()
	f.inc(ty, 1).br(0)
	f.end().end()
	f.get(chanP).get(chanB).add().set(chanP)
	f.inc(oc, NR*4).inc(ci, 1).br(0)
	f.end().end()
	return f
}

// winoOutFn: wino_out(y, m, xiStride, ldc, rows, scale, bias, relu, oh, ow) sets, for
// r < rows and each 2x2 tile (ty, tx), the valid part of
//
//	y[r*oh*ow + (2*ty+a)*ow + 2*tx+b] = clamp((A^T M A)[a][b]*scale[r] + bias[r])
//
// with M[xi] = m[xi*xiStride + r*ldc + ty*twp + tx], th = ceil(oh/2), tw = ceil(ow/2) and
// twp = tw rounded up to a multiple of 4; clamp is max(v, 0) if relu. Four tiles of a row
// at a time: 16 vector loads, 24 adds, the epilogue on the four results, then two
// shuffles interleave each output row's eight values, stored as two vectors unless the row
// ends first (odd widths, the last tiles), then value by value.
func winoOutFn() *fn {
	var y, m, xiStride, ldc, rows, scale, bias, relu, oh, ow int
	f := newFn("wino_out", &y, &m, &xiStride, &ldc, &rows, &scale, &bias, &relu, &oh, &ow)
	r, ty, tx, th, tw, twp, xiB, ldc4, ow4, planeB := f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T)
	cRow, oRow, q, oa := f.local(i32T), f.local(i32T), f.local(i32T), f.local(i32T)
	sc, bs, floor, v, lo, hi := f.local(v128T), f.local(v128T), f.local(v128T), f.local(v128T), f.local(v128T), f.local(v128T)
	var s [2][4]int
	for a := range s {
		for c := range s[a] {
			s[a][c] = f.local(v128T)
		}
	}
	var yv [2][2]int
	for a := range yv {
		yv[a] = [2]int{f.local(v128T), f.local(v128T)}
	}

	f.get(oh).i32(1).add().i32(1).shr().set(th)
	f.get(ow).i32(1).add().i32(1).shr().set(tw)
	f.get(tw).i32(3).add().i32(-4).and().set(twp)
	f.get(xiStride).i32(4).mul().set(xiB)
	f.get(ldc).i32(4).mul().set(ldc4)
	f.get(ow).i32(4).mul().set(ow4)
	f.get(oh).get(ow4).mul().set(planeB)
	f.f32(0).f32(float32(math.Inf(-1))).get(relu).sel().f32x4Splat().set(floor)

	// storeRow writes output row a of the four tiles (lo, hi: its eight values in order)
	// at oa.
	storeRow := func() {
		f.get(tx).i32(2).mul().i32(8).add().get(ow).leS().ifThen()
		f.get(oa).get(lo).v128Store(0)
		f.get(oa).get(hi).v128Store(16)
		f.elseDo()
		for e := range 8 {
			f.get(tx).i32(2).mul().i32(int32(e)).add().get(ow).ltS().ifThen()
			src := lo
			if e >= 4 {
				src = hi
			}
			f.get(oa).get(src).f32x4Lane(byte(e % 4)).f32Store(4 * e)
			f.end()
		}
		f.end()
	}

	f.get(m).set(cRow).get(y).set(oRow)
	f.block().loop() // output channels
	f.get(r).get(rows).geS().brIf(1)
	f.get(scale).get(r).i32(4).mul().add().v128Splat32(0).set(sc)
	f.get(bias).get(r).i32(4).mul().add().v128Splat32(0).set(bs)
	f.i32(0).set(ty)
	f.block().loop() // tile rows
	f.get(ty).get(th).geS().brIf(1)
	f.i32(0).set(tx)
	f.block().loop() // four tiles of the row
	f.get(tx).get(tw).geS().brIf(1)
	// A^T M: s0 = M0+M1+M2, s1 = M1-M2-M3 (rows of M), column by column.
	f.get(cRow).get(ty).get(twp).mul().get(tx).add().i32(4).mul().add().set(q)
	for i := range 4 {
		for c := range 4 {
			f.get(q).v128Load(0).set(v)
			switch i {
			case 0:
				f.get(v).set(s[0][c])
			case 1:
				f.get(s[0][c]).get(v).f32x4Add().set(s[0][c])
				f.get(v).set(s[1][c])
			case 2:
				f.get(s[0][c]).get(v).f32x4Add().set(s[0][c])
				f.get(s[1][c]).get(v).f32x4Sub().set(s[1][c])
			case 3:
				f.get(s[1][c]).get(v).f32x4Sub().set(s[1][c])
			}
			if i < 3 || c < 3 {
				f.get(q).get(xiB).add().set(q)
			}
		}
	}
	// (A^T M) A, then the epilogue.
	for a := range 2 {
		f.get(s[a][0]).get(s[a][1]).f32x4Add().get(s[a][2]).f32x4Add().set(yv[a][0])
		f.get(s[a][1]).get(s[a][2]).f32x4Sub().get(s[a][3]).f32x4Sub().set(yv[a][1])
		for b := range 2 {
			f.get(yv[a][b]).get(sc).f32x4Mul().get(bs).f32x4Add().get(floor).f32x4Max().set(yv[a][b])
		}
	}
	f.get(oRow).get(ty).i32(2).mul().get(ow).mul().get(tx).i32(2).mul().add().i32(4).mul().add().set(oa)
	for a := range 2 {
		f.get(yv[a][0]).get(yv[a][1]).shuffle32(0, 4, 1, 5).set(lo)
		f.get(yv[a][0]).get(yv[a][1]).shuffle32(2, 6, 3, 7).set(hi)
		if a == 0 {
			storeRow()
		} else {
			// The second row of the last tile row lies past the plane when oh is odd.
			f.get(ty).i32(2).mul().i32(1).add().get(oh).ltS().ifThen()
			f.get(oa).get(ow4).add().set(oa)
			storeRow()
			f.end()
		}
	}
	f.inc(tx, 4).br(0)
	f.end().end()
	f.inc(ty, 1).br(0)
	f.end().end()
	f.get(cRow).get(ldc4).add().set(cRow)
	f.get(oRow).get(planeB).add().set(oRow)
	f.inc(r, 1).br(0)
	f.end().end()
	return f
}

// winoGemmFn: wino_gemm(n, k, a, aStride, aPanels, b, bPanels, c, ldc, ones) runs gemm
// for n of the 16 Winograd products, xi = 0..n-1 from the given addresses: C_xi = A_xi·B_xi
// with A_xi at a + xi*aStride floats, B_xi and C_xi following each other (bPanels*k*NR and
// aPanels*MR*ldc floats apart), scale 1 and bias 0 (ones: aPanels*MR ones, then as many
// zeros), no ReLU. One call, and with kernel workers one round, for all 16 products
// instead of 16 of each.
func winoGemmFn() *fn {
	var n, k, a, aStride, mp, b, np, c, ldc, ones int
	f := newFn("wino_gemm", &n, &k, &a, &aStride, &mp, &b, &np, &c, &ldc, &ones)
	f.block().loop()
	f.get(n).eqz().brIf(1)
	f.get(k).get(a).get(mp).get(b).get(np).get(c).get(ldc).get(ones)
	f.get(ones).get(mp).i32(MR * 4).mul().add() // bias: the zeros after the ones
	f.i32(0).op(0x10, 0)                        // relu = 0; call gemm (function 0)
	f.get(a).get(aStride).i32(4).mul().add().set(a)
	f.get(b).get(np).get(k).mul().i32(NR * 4).mul().add().set(b)
	f.get(c).get(mp).i32(MR * 4).mul().get(ldc).mul().add().set(c)
	f.get(n).i32(1).sub().set(n).br(0)
	f.end().end()
	return f
}
