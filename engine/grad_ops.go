package engine

import (
	"math"
	"sync"
)

// One backward function per operator: each takes the gradient of the operator's output (and
// what the forward pass left on the tape) and returns the gradient of its input. Shapes were
// checked by the forward pass, so these only compute. FastCPU's methods are the Backward
// interface (grad.go); the WebGPU plan records the same calls as GPU work.

// reluMask zeroes g where the fused ReLU's output was not positive (PyTorch's
// threshold_backward: the gradient at exactly 0 is 0).
func reluMask(g, out *Tensor) { reluMaskImpl(g.Data[:len(out.Data)], out.Data) }

// reluMaskImpl is reluMaskSlice or a SIMD variant of it (grad_wasmsimd.go).
var reluMaskImpl = reluMaskSlice

// reluMaskSlice multiplies gd[i] by 1 where out[i] > 0 and by 0 elsewhere (so a NaN or
// infinite gradient under an off unit stays NaN, as it always has here).
func reluMaskSlice(gd, out []float32) {
	gd = gd[:len(out)]
	for i, v := range out {
		// A select rather than a branch: about half the units are off, at random, which
		// a branch predictor cannot learn.
		keep := float32(0)
		if v > 0 {
			keep = 1
		}
		gd[i] *= keep
	}
}

// ConvBackward is the gradient of a convolution with optional fused ReLU.
func (f FastCPU) ConvBackward(g, out *Tensor, w *Weight, c ConvSpec, inShape []int) *Tensor {
	if c.ReLU {
		reluMask(g, out)
	}
	return f.convInputGrad(g, w, c, inShape)
}

// convInputGrad computes dX from dY for y = conv(x, w): per batch item and group,
// dCol[k x P] = W_g^T [k x coutG] · dY_g [coutG x P] (k = cinG*KH*KW, P = oh*ow), then dCol
// is scattered back onto the input planes (col2im), the adjoint of the forward im2col.
//
// The product runs on the forward pass's GEMM micro-kernel: W^T is packed once per weight
// into panels of mr rows of k (cached like the forward packing), dY into panels of nr
// columns. Work is split over blocks of input channels, so that no two goroutines scatter
// into the same plane; when there are too few blocks to keep every goroutine busy (the
// 3-channel input of conv1), columns are split as well, each column chunk scattering into
// its own copy of the planes, summed at the end.
func (f FastCPU) convInputGrad(dy *Tensor, w *Weight, c ConvSpec, inShape []int) *Tensor {
	n, cin, h, wd := inShape[0], inShape[1], inShape[2], inShape[3]
	_, _, oh, ow := dy.dims4("conv2d backward")
	plane := oh * ow
	// Natively the scatter is cheap, and the transposed convolution's im2col (c.Out*KH*KW
	// rows) outgrows the scatter's dCol (c.In*KH*KW rows) when a layer widens: AlexNet's
	// conv2 and SqueezeNet's expand3x3 backward took 7-22% less at 1 thread by the scatter.
	if t, ok := transposedConv(c, h, wd, oh, ow); ok && plane > 0 && c.Out > 0 && (f.Block != nil || c.Out <= c.In) {
		return f.Conv2D(dy, flippedTransposedWeight(w, c.Groups), nil, t)
	}
	if f.Block != nil && plane > 0 && c.Out > 0 {
		dx := newOutput(n, cin, h, wd) // convInputGradBlock clears it where it must
		f.convInputGradBlock(dy, dx, w, c)
		return dx
	}
	dx := newZeroed(n, cin, h, wd)
	if plane == 0 || c.Out == 0 {
		return dx
	}
	kern := activeKernel
	mr, nr := kern.mr, kern.nr
	pt := packedConvTWeight(w, c.Groups, mr)
	cinG, coutG, kk := c.In/c.Groups, c.Out/c.Groups, c.KH*c.KW

	// Channel blocks: a multiple of unit channels spans whole mr-row panels, so that each
	// block starts on a panel boundary; aim for enough blocks to feed every goroutine.
	threads := f.threads()
	unit := mr / gcd(kk, mr)
	cb := roundUp(max(1, cinG/(2*threads)), unit)
	cb = min(cb, roundUp(max(1, 256/kk), unit)) // keep a block's rows near a few hundred
	blocks := (cinG + cb - 1) / cb
	// On the wide grid (see useWideGrid) dY gets zero columns where the padded input's rows
	// are wider than the output's, and dCol's rows then land on the padded dX planes as
	// contiguous stretches: added by a vector loop instead of one bounds-checked add a value.
	hp, wp := paddedSize(h, wd, c)
	wide := wideGridRule(c, oh, ow, wp, nr)
	cols := plane
	if wide {
		cols = (oh-1)*wp + ow
	}
	colPanels := (cols + nr - 1) / nr
	chunks := 1
	if base := n * c.Groups * blocks; base < threads {
		chunks = min(colPanels, (2*threads+base-1)/base)
	}

	// Pack dY of every (item, group) into column panels, coutG x nr each, k-major.
	bPacked := takeBuffer(n * c.Groups * colPanels * coutG * nr)
	defer giveBuffer(bPacked)
	bPanel := func(b, g, cp int) []float32 {
		off := ((b*c.Groups+g)*colPanels + cp) * coutG * nr
		return bPacked[off : off+coutG*nr]
	}
	parallelFor(n*c.Groups*colPanels, threads, func(_, job int) {
		b, g, cp := job/(c.Groups*colPanels), (job/colPanels)%c.Groups, job%colPanels
		p0 := cp * nr
		dst := bPanel(b, g, cp)
		if wide {
			outs := wideGridOutputs(nil, wp, ow, p0, min(nr, cols-p0))
			for o := 0; o < coutG; o++ {
				src := dy.Data[(b*c.Out+g*coutG+o)*plane:]
				row := dst[o*nr : (o+1)*nr]
				clear(row)
				for _, r := range outs {
					copy(row[r.j:r.j+r.n], src[r.at:r.at+r.n])
				}
			}
			return
		}
		cols := min(nr, plane-p0)
		for o := 0; o < coutG; o++ {
			src := dy.Data[(b*c.Out+g*coutG+o)*plane+p0:]
			row := dst[o*nr : (o+1)*nr]
			copy(row, src[:cols])
			clear(row[cols:])
		}
	})

	// The planes dCol is scattered onto: dX itself, or padded copies on the wide grid.
	ph, pw := h, wd
	partial := [][]float32{dx.Data}
	if wide {
		ph, pw = hp, wp
		partial[0] = newZeroed(n * cin * hp * wp).Data
	}
	for i := 1; i < chunks; i++ {
		partial = append(partial, newZeroed(len(partial[0])).Data)
	}
	type scratch struct {
		tile     []float32
		iy0, ix0 []int
		ep       epilogue
	}
	// A 1x1, stride-1, unpadded convolution (most of SqueezeNet's) maps dCol one to one onto
	// dX, so its tiles need no scatter.
	pointwise := kk == 1 && c.StrideH == 1 && c.StrideW == 1 && c.PadT == 0 && c.PadL == 0 && c.PadB == 0 && c.PadR == 0 && plane == h*wd
	jobs := n * c.Groups * blocks * chunks
	scr := make([]scratch, min(threads, jobs))
	panelsPerChunk := (colPanels + chunks - 1) / chunks
	parallelFor(jobs, threads, func(wk, job int) {
		s := &scr[wk]
		if s.tile == nil {
			s.tile = make([]float32, mr*nr)
			s.iy0, s.ix0 = make([]int, nr), make([]int, nr)
			for i := range s.ep.scale {
				s.ep.scale[i] = 1
			}
		}
		chunk := job % chunks
		job /= chunks
		blk := job % blocks
		job /= blocks
		g, b := job%c.Groups, job/c.Groups
		ci0, ci1 := blk*cb, min(cinG, (blk+1)*cb)
		r0, r1 := ci0*kk, ci1*kk // rows of W^T (and dCol) this job owns
		dst := partial[chunk][(b*cin+g*cinG)*ph*pw : (b*cin+(g+1)*cinG)*ph*pw]
		for cp := chunk * panelsPerChunk; cp < min(colPanels, (chunk+1)*panelsPerChunk); cp++ {
			p0 := cp * nr
			bp := bPanel(b, g, cp)
			if wide {
				// Column q of a tap's row lands at q plus the tap's offset in the padded
				// plane; the zero columns add nothing.
				m := min(nr, cols-p0)
				for r := r0; r < r1; r += mr {
					kern.tile(coutG, pt.panel(g, r/mr), bp, s.tile, nr, &s.ep)
					for i := 0; i < min(mr, r1-r); i++ {
						ci, rem := (r+i)/kk, (r+i)%kk
						at := ci*hp*wp + (rem/c.KW)*c.DilH*wp + (rem%c.KW)*c.DilW + p0
						axpyF32(1, s.tile[i*nr:i*nr+m], dst[at:at+m])
					}
				}
				continue
			}
			cols := min(nr, plane-p0)
			for j := 0; j < cols; j++ {
				oy, ox := (p0+j)/ow, (p0+j)%ow
				s.iy0[j] = oy*c.StrideH - c.PadT
				s.ix0[j] = ox*c.StrideW - c.PadL
			}
			for r := r0; r < r1; r += mr {
				if pointwise {
					// dCol is dX itself: full tiles are stored in place, edges copied.
					out := dst[r*plane+p0:]
					if r+mr <= r1 && cols == nr {
						kern.tile(coutG, pt.panel(g, r/mr), bp, out, plane, &s.ep)
						continue
					}
					kern.tile(coutG, pt.panel(g, r/mr), bp, s.tile, nr, &s.ep)
					for i := 0; i < min(mr, r1-r); i++ {
						copy(out[i*plane:i*plane+cols], s.tile[i*nr:i*nr+cols])
					}
					continue
				}
				kern.tile(coutG, pt.panel(g, r/mr), bp, s.tile, nr, &s.ep)
				for i := 0; i < min(mr, r1-r); i++ {
					ci, rem := (r+i)/kk, (r+i)%kk
					dy0, dx0 := (rem/c.KW)*c.DilH, (rem%c.KW)*c.DilW
					pl := dst[ci*h*wd : (ci+1)*h*wd]
					row := s.tile[i*nr : i*nr+cols]
					for j, v := range row {
						iy, ix := s.iy0[j]+dy0, s.ix0[j]+dx0
						if uint(iy) < uint(h) && uint(ix) < uint(wd) {
							pl[iy*wd+ix] += v
						}
					}
				}
			}
		}
	})
	for _, p := range partial[1:] {
		for i, v := range p {
			partial[0][i] += v
		}
		giveBuffer(p)
	}
	if wide {
		// dX is the padded planes without their padding.
		for p := 0; p < n*cin; p++ {
			for y := 0; y < h; y++ {
				at := (p*hp+y+c.PadT)*wp + c.PadL
				copy(dx.Data[(p*h+y)*wd:(p*h+y+1)*wd], partial[0][at:at+wd])
			}
		}
		giveBuffer(partial[0])
	}
	return dx
}

// transposedConv is the convolution that computes a stride-1 convolution's input gradient
// as a forward pass: dX = conv(dY, W flipped in space with its in and out channels swapped,
// padded by K-1-P on each side). It runs on the forward kernels (Winograd for 3x3 in the
// browser) and writes every dX value once, where the col2im scatter adds each of K*K
// products into dX one by one: Go's branches are dear in WebAssembly, where that scatter took
// as long as the product itself. ok is false for strides, dilations and paddings wider than
// the kernel, which keep the scatter.
func transposedConv(c ConvSpec, h, w, oh, ow int) (ConvSpec, bool) {
	if c.KH*c.KW == 1 || c.StrideH != 1 || c.StrideW != 1 || c.DilH != 1 || c.DilW != 1 ||
		max(c.PadT, c.PadB) > c.KH-1 || max(c.PadL, c.PadR) > c.KW-1 {
		return ConvSpec{}, false
	}
	t := ConvSpec{In: c.Out, Out: c.In, KH: c.KH, KW: c.KW, StrideH: 1, StrideW: 1,
		PadT: c.KH - 1 - c.PadT, PadL: c.KW - 1 - c.PadL, DilH: 1, DilW: 1, Groups: c.Groups}
	// The bottom and right padding make the output exactly h x w: input rows the forward
	// windows never reached (a bottom padding below c.PadB's share) get zero gradient.
	t.PadB, t.PadR = h-1+c.KH-oh-t.PadT, w-1+c.KW-ow-t.PadL
	if t.PadB < 0 || t.PadR < 0 {
		return ConvSpec{}, false
	}
	return t, true
}

// flipTCache maps weights to their flipped, transposed copies (transposedConv's weights),
// keyed by weak pointers as packCache; the copies' own packings are cached on them.
var flipTCache sync.Map // weak.Pointer[Weight] -> *Weight

// flippedTransposedWeight returns W' with W'[g*cinG+i][o][ky][kx] = W[g*coutG+o][i][KH-1-ky][KW-1-kx]
// in float32 (int8 weights are dequantized).
func flippedTransposedWeight(w *Weight, groups int) *Weight {
	return cachedPacking(&flipTCache, w, func(*Weight) bool { return true }, func() *Weight {
		cout, cinG, kh, kw := w.Shape[0], w.Shape[1], w.Shape[2], w.Shape[3]
		coutG := cout / groups
		t := &Weight{Shape: []int{cinG * groups, coutG, kh, kw}, F32: make([]float32, len(w.F32)+len(w.I8))}
		row := make([]float32, w.RowLen())
		for o := range cout {
			g, og := o/coutG, o%coutG
			src := w.RowF32(o, row)
			for i := range cinG {
				dst := t.F32[((g*cinG+i)*coutG+og)*kh*kw:]
				for k := range kh * kw {
					dst[kh*kw-1-k] = src[i*kh*kw+k]
				}
			}
		}
		return t
	})
}

// packedConvT is a convolution weight transposed for the backward GEMM: per group, the
// k x coutG matrix W_g^T in panels of mr rows, each stored coutG-major (dst[o*mr+i]).
type packedConvT struct {
	groups, mr, panels int
	coutG              int
	data               []float32
}

func (p *packedConvT) panel(g, i int) []float32 {
	off := (g*p.panels + i) * p.coutG * p.mr
	return p.data[off : off+p.coutG*p.mr]
}

// packTCache maps weights to their transposed packing, keyed by weak pointers as packCache.
var packTCache sync.Map // weak.Pointer[Weight] -> *packedConvT

// convInputGradBlock is convInputGrad on an installed BlockGEMM (in the browser, the
// generated WebAssembly module, on its kernel workers when there are some): per batch item
// and group one GEMM call computes the whole dCol = W_g^T · dY_g, and Go scatters it onto
// the input planes. The panels are those of convInputGrad, at the block's tile shape. dx's
// contents on entry do not matter: a pointwise convolution's dCol overwrites it, and it is
// cleared before any scatter.
func (f FastCPU) convInputGradBlock(dy, dx *Tensor, w *Weight, c ConvSpec) {
	blk := f.Block
	mr, nr := blk.MR, blk.NR
	n, cin, h, wd := dx.Shape[0], dx.Shape[1], dx.Shape[2], dx.Shape[3]
	_, _, oh, ow := dy.dims4("conv2d backward")
	plane := oh * ow
	pt := packedConvTWeight(w, c.Groups, mr)
	cinG, coutG, kk := c.In/c.Groups, c.Out/c.Groups, c.KH*c.KW
	colPanels := (plane + nr - 1) / nr
	ldc := colPanels * nr
	bPacked, dCol := takeBuffer(colPanels*coutG*nr), takeBuffer(pt.panels*mr*ldc)
	defer giveBuffer(bPacked)
	defer giveBuffer(dCol)
	scale, bias := takeBuffer(pt.panels*mr), takeBuffer(pt.panels*mr)
	defer giveBuffer(scale)
	defer giveBuffer(bias)
	for i := range scale {
		scale[i] = 1
	}
	clear(bias)
	pointwise := kk == 1 && c.StrideH == 1 && c.StrideW == 1 && c.PadT == 0 && c.PadL == 0 && plane == h*wd
	if !pointwise {
		clear(dx.Data)
	}
	// dY's planes are B's rows: the module's im2col packs them as a 1x1 convolution's
	// (one call, where a copy per 8-float panel row cost a runtime call each), columns past
	// the plane reading its last position (their products are never read).
	var offs []int32
	if blk.PackB != nil {
		buf := getBlockBuffers()
		defer putBlockBuffers(buf)
		if cap(buf.offs) < colPanels*nr {
			buf.offs = make([]int32, colPanels*nr)
		}
		offs = buf.offs[:colPanels*nr]
		for j := range offs {
			offs[j] = int32(min(j, plane-1))
		}
	}
	for b := range n {
		for g := range c.Groups {
			if dyG := dy.Data[(b*c.Out+g*coutG)*plane : (b*c.Out+(g+1)*coutG)*plane]; offs != nil {
				blk.PackB(bPacked, dyG, coutG, 1, 1, plane, 0, 0, offs, colPanels)
			} else {
				for cp := range colPanels {
					p0 := cp * nr
					cols := min(nr, plane-p0)
					dst := bPacked[cp*coutG*nr : (cp+1)*coutG*nr]
					for o := range coutG {
						row := dst[o*nr : (o+1)*nr]
						copy(row, dyG[o*plane+p0:][:cols])
						clear(row[cols:])
					}
				}
			}
			a := pt.data[g*pt.panels*coutG*mr : (g+1)*pt.panels*coutG*mr]
			blk.GEMM(coutG, a, pt.panels, bPacked, colPanels, dCol, ldc, scale, bias, false)
			planes := dx.Data[(b*cin+g*cinG)*h*wd : (b*cin+(g+1)*cinG)*h*wd]
			if pointwise { // dCol is dX itself
				for ci := range cinG {
					copy(planes[ci*plane:(ci+1)*plane], dCol[ci*ldc:ci*ldc+plane])
				}
				continue
			}
			// The scatter (col2im): dCol's row r = (ci, ky, kx) adds onto input plane ci
			// at (oy*strideH - padT + ky*dilH, ox*strideW - padL + kx*dilW), output row by
			// output row over the columns that land inside, in the order of positions.
			for r := range cinG * kk {
				ci, rem := r/kk, r%kk
				offY, offX := (rem/c.KW)*c.DilH-c.PadT, (rem%c.KW)*c.DilW-c.PadL
				oxLo, oxHi := insideRange(ow, c.StrideW, offX, wd)
				if oxLo >= oxHi {
					continue
				}
				pl := planes[ci*h*wd : (ci+1)*h*wd]
				src := dCol[r*ldc : r*ldc+plane]
				for oy := range oh {
					iy := oy*c.StrideH + offY
					if uint(iy) >= uint(h) {
						continue
					}
					dst, ix := pl[iy*wd:(iy+1)*wd], oxLo*c.StrideW+offX
					for _, v := range src[oy*ow+oxLo : oy*ow+oxHi] {
						dst[ix] += v
						ix += c.StrideW
					}
				}
			}
		}
	}
}

// insideRange is the range [lo, hi) of o < n for which o*stride + off lies in [0, size).
func insideRange(n, stride, off, size int) (lo, hi int) {
	hi = n
	for lo < n && lo*stride+off < 0 {
		lo++
	}
	for hi > lo && (hi-1)*stride+off >= size {
		hi--
	}
	return lo, hi
}

func packedConvTWeight(w *Weight, groups, mr int) *packedConvT {
	return cachedPacking(&packTCache, w,
		func(p *packedConvT) bool { return p.groups == groups && p.mr == mr },
		func() *packedConvT { return packConvT(w, groups, mr) })
}

func packConvT(w *Weight, groups, mr int) *packedConvT {
	cout, k := w.Rows(), w.RowLen()
	coutG := cout / groups
	panels := (k + mr - 1) / mr
	p := &packedConvT{groups: groups, mr: mr, panels: panels, coutG: coutG,
		data: make([]float32, groups*panels*coutG*mr)}
	row := make([]float32, k)
	for o := 0; o < cout; o++ {
		g, og := o/coutG, o%coutG
		wr := w.RowF32(o, row) // int8 weights are dequantized here
		for r, v := range wr {
			p.panel(g, r/mr)[og*mr+r%mr] = v
		}
	}
	return p
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }

// FireBackward is the gradient of a fire module: the concatenated gradient splits into the
// two expand branches, whose input gradients add up at the squeeze output.
func (f FastCPU) FireBackward(g *Tensor, fs FireSpec, w FireWeights, in, squeeze, out *Tensor) *Tensor {
	sq, e1, e3 := fs.Convs() // the tape's layer: without its ReLU for a pre-ReLU objective
	n, _, h, w4 := g.dims4("fire backward")
	hw := h * w4
	// The expand layers' halves of the gradient and of the output: for one item, views of g
	// and out (ConvBackward masks g in place, as for the other layers); for a batch, copies,
	// since an item's half is not contiguous with the next item's.
	var copies []*Tensor
	half := func(t *Tensor, lo, hi int) *Tensor {
		if n == 1 {
			return &Tensor{Shape: []int{1, hi - lo, h, w4}, Data: t.Data[lo*hw : hi*hw]}
		}
		c := newOutput(n, hi-lo, h, w4) // every value is copied in
		for b := 0; b < n; b++ {
			copy(c.Row(b), t.Row(b)[lo*hw:hi*hw])
		}
		copies = append(copies, c)
		return c
	}
	e := e1.Out + e3.Out
	g1, g3 := half(g, 0, e1.Out), half(g, e1.Out, e)
	// A half whose gradient is all zero (an objective on a channel of the other half, as the
	// Units view's) adds nothing to the squeeze output's gradient (the weights are finite,
	// weights.Decode checks): its convolution is skipped.
	var ds *Tensor
	switch {
	case allZero(g3.Data):
		ds = f.ConvBackward(g1, half(out, 0, e1.Out), w.Expand1x1, e1, squeeze.Shape)
	case allZero(g1.Data):
		ds = f.ConvBackward(g3, half(out, e1.Out, e), w.Expand3x3, e3, squeeze.Shape)
	default:
		ds = f.ConvBackward(g1, half(out, 0, e1.Out), w.Expand1x1, e1, squeeze.Shape)
		ds3 := f.ConvBackward(g3, half(out, e1.Out, e), w.Expand3x3, e3, squeeze.Shape)
		axpyF32(1, ds3.Data, ds.Data)
		recycle(ds3)
	}
	for _, t := range copies {
		recycle(t)
	}
	dx := f.ConvBackward(ds, squeeze, w.Squeeze, sq, in.Shape)
	recycle(ds)
	return dx
}

// allZero reports whether every value of x is 0 (it stops at the first that is not).
func allZero(x []float32) bool {
	for _, v := range x {
		if v != 0 {
			return false
		}
	}
	return true
}

// MaxPoolBackward routes each output's gradient to the first maximum of its window in
// row-major order, as PyTorch does (its kernel keeps the first index on ties and takes a
// NaN as the maximum). The forward pass's output out says what each window's maximum is,
// so finding it is a search for the first equal element, which leaves its window early and
// mispredicts one branch, where recomputing the maximum mispredicts at every new best.
// Planes are independent, so they run in parallel.
func (f FastCPU) MaxPoolBackward(g, in, out *Tensor, p PoolSpec) *Tensor {
	n, c, h, w := in.dims4("max pool backward")
	_, _, oh, ow := g.dims4("max pool backward")
	dx := newZeroed(n, c, h, w)
	if b := f.Block; b != nil && b.MaxPoolK3S2Backward != nil && isK3S2(p, oh, ow) {
		b.MaxPoolK3S2Backward(dx.Data, g.Data, in.Data, out.Data, n*c, h, w, oh, ow, p.KH, p.StrideH)
		return dx
	}
	square3 := p.KH == 3 && p.KW == 3
	parallelFor(n*c, f.threads(), func(_, pl int) {
		x, d := in.Data[pl*h*w:(pl+1)*h*w], dx.Data[pl*h*w:(pl+1)*h*w]
		gp, op := g.Data[pl*oh*ow:(pl+1)*oh*ow], out.Data[pl*oh*ow:(pl+1)*oh*ow]
		for oy := 0; oy < oh; oy++ {
			y0 := oy*p.StrideH - p.PadT
			y1 := min(y0+p.KH, h)
			y0 = max(y0, 0)
			for ox := 0; ox < ow; ox++ {
				x0 := ox*p.StrideW - p.PadL
				x1 := min(x0+p.KW, w)
				x0 = max(x0, 0)
				if m := op[oy*ow+ox]; square3 && y1-y0 == 3 && x1-x0 == 3 && m == m {
					d[y0*w+x0+firstEqual3x3(x[y0*w+x0:], w, m)] += gp[oy*ow+ox]
					continue
				}
				if at := firstEqual(x, w, y0, y1, x0, x1, op[oy*ow+ox]); at >= 0 {
					d[at] += gp[oy*ow+ox]
				}
			}
		}
	})
	return dx
}

// firstEqual3x3 is firstEqual for a whole 3x3 window starting at x[0] (rows of w) and a
// maximum m that is a number: the window's offset of its first element equal to m, 0 when
// none is (a window's maximum is always in it). Unrolled and checked last to first, so that
// every test is a select: Go's WebAssembly pays for each branch and loop, and this ran at
// about 100 ns a window there as firstEqual's loops.
func firstEqual3x3(x []float32, w int, m float32) int {
	r0, r1, r2 := x[:3:3], x[w:w+3:w+3], x[2*w:2*w+3:2*w+3]
	at := 0
	if r2[2] == m {
		at = 2*w + 2
	}
	if r2[1] == m {
		at = 2*w + 1
	}
	if r2[0] == m {
		at = 2 * w
	}
	if r1[2] == m {
		at = w + 2
	}
	if r1[1] == m {
		at = w + 1
	}
	if r1[0] == m {
		at = w
	}
	if r0[2] == m {
		at = 2
	}
	if r0[1] == m {
		at = 1
	}
	if r0[0] == m {
		at = 0
	}
	return at
}

// firstEqual is the row-major index of the first element of x's window [y0,y1) x [x0,x1)
// (rows of w) equal to m, a NaN matching a NaN; -1 if there is none.
func firstEqual(x []float32, w, y0, y1, x0, x1 int, m float32) int {
	nan := m != m
	for iy := y0; iy < y1; iy++ {
		row := x[iy*w : iy*w+x1]
		for ix := x0; ix < x1; ix++ {
			if v := row[ix]; v == m || (nan && v != v) {
				return iy*w + ix
			}
		}
	}
	return -1
}

// LRNBackward is the exact derivative of y_c = x_c * s_c^-beta with
// s_c = K + alpha/size * sum_{j in W(c)} x_j^2 and W(c) = [c-lo, c+hi]:
//
//	dx_j = g_j s_j^-beta - 2 alpha beta / size * x_j * sum_{c : j in W(c)} g_c x_c s_c^(-beta-1)
//
// where j is in W(c) exactly when c lies in [j-hi, j+lo]. Pixels are independent.
func (f FastCPU) LRNBackward(g, in *Tensor, l LRNSpec) *Tensor {
	n, c, h, w := in.dims4("lrn backward")
	dx := newZeroed(n, c, h, w)
	lo, hi := (l.Size-1)/2, l.Size/2
	hw := h * w
	alpha, beta := float64(l.Alpha)/float64(l.Size), float64(l.Beta)
	const pixelsPerJob = 256
	perItem := (hw + pixelsPerJob - 1) / pixelsPerJob
	type scratch struct{ sq, t []float64 }
	scr := make([]scratch, f.threads())
	parallelFor(n*perItem, f.threads(), func(wk, job int) {
		s := &scr[wk]
		if s.sq == nil {
			s.sq, s.t = make([]float64, c+1), make([]float64, c)
		}
		b, i0 := job/perItem, (job%perItem)*pixelsPerJob
		base := b * c * hw
		for i := i0; i < min(hw, i0+pixelsPerJob); i++ {
			// Prefix sums of x^2 give each window's sum; t_c = g_c x_c s_c^(-beta-1).
			s.sq[0] = 0
			for ch := 0; ch < c; ch++ {
				v := float64(in.Data[base+ch*hw+i])
				s.sq[ch+1] = s.sq[ch] + v*v
			}
			for ch := 0; ch < c; ch++ {
				sum := s.sq[min(ch+hi, c-1)+1] - s.sq[max(ch-lo, 0)]
				sc := float64(l.K) + alpha*max(sum, 0)
				pw := math.Pow(sc, -beta)
				gc := float64(g.Data[base+ch*hw+i])
				s.t[ch] = gc * float64(in.Data[base+ch*hw+i]) * pw / sc
				dx.Data[base+ch*hw+i] = float32(gc * pw) // first term; the second is added below
			}
			for j := 0; j < c; j++ {
				var acc float64
				for ch := max(j-hi, 0); ch <= min(j+lo, c-1); ch++ {
					acc += s.t[ch]
				}
				xj := float64(in.Data[base+j*hw+i])
				dx.Data[base+j*hw+i] = float32(float64(dx.Data[base+j*hw+i]) - 2*alpha*beta*xj*acc)
			}
		}
	})
	return dx
}

// AdaptiveAvgPoolBackward spreads each output's gradient evenly over its window (windows
// overlap when the input size is not a multiple of the output size).
func (FastCPU) AdaptiveAvgPoolBackward(g *Tensor, inShape []int) *Tensor {
	n, c, h, w := inShape[0], inShape[1], inShape[2], inShape[3]
	_, _, oh, ow := g.dims4("adaptive avg pool backward")
	dx := newZeroed(n, c, h, w)
	for pl := 0; pl < n*c; pl++ {
		d := dx.Data[pl*h*w : (pl+1)*h*w]
		for oy := 0; oy < oh; oy++ {
			y0, y1 := oy*h/oh, ((oy+1)*h+oh-1)/oh
			for ox := 0; ox < ow; ox++ {
				x0, x1 := ox*w/ow, ((ox+1)*w+ow-1)/ow
				v := g.Data[(pl*oh+oy)*ow+ox] / float32((y1-y0)*(x1-x0))
				for iy := y0; iy < y1; iy++ {
					for ix := x0; ix < x1; ix++ {
						d[iy*w+ix] += v
					}
				}
			}
		}
	}
	return dx
}

// LinearBackward is dX = dY · W after the ReLU mask, reshaped to the layer's input shape.
// It is bandwidth bound like the forward product: the input features are split into
// column chunks, each goroutine streaming its slice of every weight row whose output has a
// nonzero gradient (after a ReLU, often half of them), int8 rows read as int8.
func (f FastCPU) LinearBackward(g, out *Tensor, w *Weight, l LinearSpec, inShape []int) *Tensor {
	if l.ReLU {
		reluMask(g, out)
	}
	dx := newZeroed(inShape...)
	n := g.Shape[0]
	const colsPerJob = 512
	jobs := (l.In + colsPerJob - 1) / colsPerJob
	parallelFor(jobs, f.threads(), func(_, job int) {
		i0, i1 := job*colsPerJob, min(l.In, (job+1)*colsPerJob)
		for b := 0; b < n; b++ {
			acc := dx.Data[b*l.In+i0 : b*l.In+i1]
			for o, gv := range g.Data[b*l.Out : (b+1)*l.Out] {
				if gv == 0 {
					continue
				}
				if w.Quantized() {
					axpyI8(gv*w.Scale[o], w.I8[o*l.In+i0:o*l.In+i1], acc)
				} else {
					axpyF32(gv, w.F32[o*l.In+i0:o*l.In+i1], acc)
				}
			}
		}
	})
	return dx
}
