package engine

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// FastCPU is the fast CPU backend: convolutions as blocked GEMM with weights packed once
// for a register-tiled micro-kernel, fully connected layers as row-parallel dot products
// that read int8 weights directly, and the cheap operators as parallel loops.
//
// int8 weights are multiplied as their integer values by float32 activations, and each
// output channel's scale is applied once at the end; activations are never quantized, so
// int8 results match Reference on the same int8 weights to float32 rounding.
type FastCPU struct {
	// Threads is the number of goroutines an operator splits its work into;
	// 0 means runtime.GOMAXPROCS(0).
	Threads int
	// Block, when set (WithBlock), runs the forward convolutions, linear layers and 3x3
	// stride-2 max pooling instead of the Go micro-kernel loops: the browser's generated
	// WebAssembly SIMD module (wasm/cpukernel).
	Block *BlockGEMM
}

// DefaultBackend is the backend Forward uses when none is named.
func DefaultBackend() Backend { return defaultBackend }

var defaultBackend Backend = FastCPU{}

// KernelName names the Go GEMM micro-kernel this build runs (portable Go or a SIMD
// variant), for benchmark reports.
func KernelName() string { return activeKernel.name }

// KernelName names the kernel f's forward passes run on: its block GEMM, or the Go
// micro-kernel.
func (f FastCPU) KernelName() string {
	if f.Block != nil {
		return f.Block.Name
	}
	return activeKernel.name
}

func (f FastCPU) Name() string { return "fastcpu" }

func (f FastCPU) threads() int {
	if f.Threads > 0 {
		return f.Threads
	}
	return runtime.GOMAXPROCS(0)
}

// parallelFor runs body(worker, i) for i in [0, n) on up to threads goroutines; each worker
// index is used by one goroutine at a time, so per-worker scratch needs no locking.
func parallelFor(n, threads int, body func(worker, i int)) {
	workers := min(threads, n)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			body(0, i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	wg.Add(workers)
	for wk := 0; wk < workers; wk++ {
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				body(wk, i)
			}
		}()
	}
	wg.Wait()
}

// Conv2D computes, for each batch item and group, C[coutG x oh*ow] = A[coutG x k] · B[k x
// oh*ow] with B the im2col of the input. Work is split over column panels of B: a worker
// packs one panel (k x nr, fused im2col) and multiplies every A panel of the group by it
// while it is hot in cache.
func (f FastCPU) Conv2D(x *Tensor, w *Weight, bias []float32, c ConvSpec) *Tensor {
	checkConv(x, w, bias, c)
	n, _, h, wd := x.dims4("conv2d")
	oh, ow := c.OutSize(h, wd)
	if oh <= 0 || ow <= 0 || c.Out == 0 {
		return NewTensor(n, c.Out, max(oh, 0), max(ow, 0))
	}
	y := newOutput(n, c.Out, oh, ow)
	if g := f.Block; g != nil {
		conv2DBlock(g, x, w, bias, c, y)
		return y
	}
	pw := packedConvWeight(w, c.Groups)
	kern := activeKernel
	mr, nr := kern.mr, kern.nr
	cinG := c.In / c.Groups
	plane := oh * ow

	// Pad the input once, so that packing a panel never clips a window.
	src, hp, wp := padPlanes(nil, x.Data, n*c.In, h, wd, c)
	if hp != h || wp != wd {
		defer giveBuffer(src)
	}
	// B's columns: the output positions, or for a wide-grid convolution every position of
	// the padded plane's rows up to the last output (see useWideGrid).
	cols := plane
	wide := wideGridRule(c, oh, ow, wp, nr)
	if wide {
		cols = (oh-1)*wp + ow
	}
	colPanels := (cols + nr - 1) / nr
	jobs := n * c.Groups * colPanels
	threads := f.threads()
	scratch := make([]convScratch, min(threads, jobs))
	defer func() {
		for _, s := range scratch {
			giveBuffer(s.b)
			giveBuffer(s.tile)
		}
	}()
	parallelFor(jobs, threads, func(wk, job int) {
		s := &scratch[wk]
		if s.b == nil {
			// From the free list: a fresh panel a call (hundreds of KB for AlexNet's
			// conv4) spent more time faulting its pages in than being filled.
			s.b = takeBuffer(pw.k * nr)
			s.tile = takeBuffer(mr * nr)
		}
		b, rest := job/(c.Groups*colPanels), job%(c.Groups*colPanels)
		g, cp := rest/colPanels, rest%colPanels
		p0 := cp * nr
		in := src[(b*c.In+g*cinG)*hp*wp : (b*c.In+(g+1)*cinG)*hp*wp]
		if wide {
			wideGridPanel(s, in, cinG, hp, wp, ow, p0, min(nr, cols-p0), nr, c)
		} else {
			im2colPanel(s, in, cinG, hp, wp, ow, p0, min(nr, plane-p0), nr, c)
		}
		cols := min(nr, plane-p0)
		for mp := 0; mp < pw.panels; mp++ {
			o0 := g*pw.coutG + mp*mr
			rows := min(mr, (g+1)*pw.coutG-o0)
			ep := &s.ep
			ep.relu = c.ReLU
			for i := 0; i < mr; i++ {
				ep.scale[i], ep.bias[i] = 1, 0
				if i < rows && pw.scale != nil {
					ep.scale[i] = pw.scale[o0+i]
				}
				if i < rows && bias != nil {
					ep.bias[i] = bias[o0+i]
				}
			}
			if wide {
				// The tile's columns are padded-plane positions: keep the outputs.
				kern.tile(pw.k, pw.panel(g, mp), s.b, s.tile, nr, ep)
				out := y.Data[(b*c.Out+o0)*plane:]
				for _, r := range s.outs {
					for i := 0; i < rows; i++ {
						copy(out[i*plane+r.at:i*plane+r.at+r.n], s.tile[i*nr+r.j:i*nr+r.j+r.n])
					}
				}
				continue
			}
			out := y.Data[(b*c.Out+o0)*plane+p0:]
			if rows == mr && cols == nr {
				kern.tile(pw.k, pw.panel(g, mp), s.b, out, plane, ep)
				continue
			}
			// An edge tile goes through scratch and only its valid part is copied.
			kern.tile(pw.k, pw.panel(g, mp), s.b, s.tile, nr, ep)
			for i := 0; i < rows; i++ {
				copy(out[i*plane:i*plane+cols], s.tile[i*nr:i*nr+cols])
			}
		}
	})
	return y
}

// useWideGrid decides whether a convolution packs B on the wide grid (wideGridPanel): when
// it has stride 1 and a window wider than one column, and its output rows are short (at most
// shortRun), so that the compact im2col would copy B in runs of a few values by a loop; and
// when the wide grid's (oh-1)*wp+ow columns, wp-ow more a row, fill no more column panels than
// the compact oh*ow do plus one in eight. At 128 px that is AlexNet's 7x7 planes (61 against
// 49 columns: two panels of 32 either way) and conv2's 15x15 (281 against 225). Per layer, 1
// thread, on a Zen 5 EPYC, with the archsimd 4x32 tiles of the day (medians of five runs):
// conv2 2.17 -> 1.84 ms, conv4 1.44 -> 1.30 ms; SqueezeNet's 31x31 planes, where the runs are
// memmoves, took 0.35 -> 0.37 ms, so they keep the compact im2col.
func useWideGrid(c ConvSpec, oh, ow, wp, nr int) bool {
	if c.StrideH != 1 || c.StrideW != 1 || c.KW == 1 || ow > shortRun {
		return false
	}
	compact := (oh*ow + nr - 1) / nr
	wide := ((oh-1)*wp + ow + nr - 1) / nr
	return wide*8 <= compact*9
}

// wideGridRule is the decision Conv2D and convInputGrad ask; tests replace it with
// alwaysWideGrid to run the wide grid on shapes the rule would not choose.
var wideGridRule = useWideGrid

// alwaysWideGrid takes the wide grid for every stride-1 convolution (for tests).
func alwaysWideGrid(c ConvSpec, _, _, _, _ int) bool { return c.StrideH == 1 && c.StrideW == 1 }

// wideGridPanel packs columns [p0, p0+cols) of B for a stride-1 convolution computed on the
// wide grid: column q is position q of the padded planes' rows (row q/wp, column q%wp), an
// output where q%wp < ow and a discarded value elsewhere. On that grid a tap's row of B is
// the padded plane itself from the tap's offset, so each row is one contiguous copy, where
// the compact im2col copies one run per output row. s.outs gets the panel's outputs.
func wideGridPanel(s *convScratch, in []float32, cinG, hp, wp, ow, p0, cols, nr int, c ConvSpec) {
	dst := s.b
	k := 0
	for ci := 0; ci < cinG; ci++ {
		for ky := 0; ky < c.KH; ky++ {
			for kx := 0; kx < c.KW; kx++ {
				row := dst[k*nr : (k+1)*nr]
				at := ci*hp*wp + ky*c.DilH*wp + kx*c.DilW + p0
				// The discarded columns of the last planes' last row may run past the input.
				m := copy(row[:cols], in[min(at, len(in)):])
				clear(row[m:])
				k++
			}
		}
	}
	s.outs = wideGridOutputs(s.outs[:0], wp, ow, p0, cols)
}

// wideGridOutputs appends to outs the outputs among wide-grid columns [p0, p0+cols).
func wideGridOutputs(outs []outRun, wp, ow, p0, cols int) []outRun {
	for q := p0; q < p0+cols; {
		oy, ox := q/wp, q%wp
		if ox >= ow {
			q += wp - ox
			continue
		}
		n := min(p0+cols-q, ow-ox)
		outs = append(outs, outRun{j: q - p0, n: n, at: oy*ow + ox})
		q += n
	}
	return outs
}

// outRun is a stretch of n outputs in a wide-grid panel, from panel column j, at offset at
// of the output plane.
type outRun struct{ j, n, at int }

// shortRun is the longest im2col run moved by a loop rather than by memmove.
const shortRun = 16

type convScratch struct {
	b, tile []float32
	runs    []colRun
	outs    []outRun
	ep      epilogue
}

// im2colPanel packs columns [p0, p0+cols) of the im2col matrix of one group's input planes
// into s.b, k-major with nr values per row (missing columns are zero). Row k = (ci*KH+ky)*KW+kx
// matches the weight layout [cinG][KH][KW]. The planes are h x w and already padded
// (padPlanes), so c's padding is ignored and every tap reads inside its plane: a row of the
// panel is a few runs of input read at the stride, with no clipping.
func im2colPanel(s *convScratch, in []float32, cinG, h, w, ow, p0, cols, nr int, c ConvSpec) {
	dst := s.b
	hw := h * w
	// A 1x1, stride-1 convolution's im2col is its input: copy rows.
	if c.KH == 1 && c.KW == 1 && c.StrideH == 1 && c.StrideW == 1 && w == ow {
		for ci := 0; ci < cinG; ci++ {
			row := dst[ci*nr : (ci+1)*nr]
			copy(row, in[ci*hw+p0:ci*hw+p0+cols])
			clear(row[cols:])
		}
		return
	}
	// The panel's columns as runs that stay within one output row; a run starts at its first
	// window's top-left corner.
	runs := s.runs[:0]
	for j := 0; j < cols; {
		oy, ox := (p0+j)/ow, (p0+j)%ow
		n := min(cols-j, ow-ox)
		runs = append(runs, colRun{j: j, n: n, at: oy*c.StrideH*w + ox*c.StrideW})
		j += n
	}
	s.runs = runs
	k := 0
	for ci := 0; ci < cinG; ci++ {
		for ky := 0; ky < c.KH; ky++ {
			for kx := 0; kx < c.KW; kx++ {
				tap := in[ci*hw+ky*c.DilH*w+kx*c.DilW:]
				row := dst[k*nr : (k+1)*nr]
				clear(row[cols:])
				for _, r := range runs {
					seg := row[r.j : r.j+r.n]
					switch {
					case c.StrideW != 1:
						for t := range seg {
							seg[t] = tap[r.at+t*c.StrideW]
						}
					case r.n <= shortRun:
						// A memmove call costs more than a few floats; the small planes
						// of feature visualization and of the backward pass (7 to 31
						// wide at 128 px) cut a panel into runs this short.
						src := tap[r.at : r.at+len(seg)]
						for t := range seg {
							seg[t] = src[t]
						}
					default:
						copy(seg, tap[r.at:])
					}
				}
				k++
			}
		}
	}
}

// padPlanes returns planes (each h x w) with c's zero padding around each, and the padded
// size; the planes themselves when every window lies inside them. Windows are those of
// c.OutSize, which keeps one output where a window is larger than the padded input (where
// PyTorch refuses the convolution): the bottom and right padding grow to hold the last
// window whole. The copy goes into buf when it is large enough, else into a buffer from
// the free list (giveBuffer returns it).
func padPlanes(buf, planes []float32, n, h, w int, c ConvSpec) (padded []float32, hp, wp int) {
	hp, wp = paddedSize(h, w, c)
	if c.PadT == 0 && c.PadL == 0 && hp == h && wp == w {
		return planes, h, w
	}
	if cap(buf) < n*hp*wp {
		buf = takeBuffer(n * hp * wp)
	}
	padded = buf[:n*hp*wp]
	clear(padded)
	for p := 0; p < n; p++ {
		for y := 0; y < h; y++ {
			at := (p*hp+y+c.PadT)*wp + c.PadL
			copy(padded[at:at+w], planes[(p*h+y)*w:(p*h+y+1)*w])
		}
	}
	return padded, hp, wp
}

// paddedSize is the size of an h x w plane padded for c: its padding, grown at the bottom
// and right where c.OutSize's last window reaches further.
func paddedSize(h, w int, c ConvSpec) (hp, wp int) {
	oh, ow := c.OutSize(h, w)
	hp = max(h+c.PadT+c.PadB, (oh-1)*c.StrideH+(c.KH-1)*c.DilH+1)
	wp = max(w+c.PadL+c.PadR, (ow-1)*c.StrideW+(c.KW-1)*c.DilW+1)
	return hp, wp
}

// colRun is a stretch of n im2col columns, starting at panel column j, whose windows lie
// on one output row; at is the offset in the padded plane of its first window's top-left
// corner.
type colRun struct{ j, n, at int }

// Linear at batch 1 is bandwidth bound: every weight is read once, so output rows are split
// across goroutines and int8 weights are read as int8 (a quarter of the float32 traffic).
// For larger batches each row, once loaded, is dotted with every batch item.
func (f FastCPU) Linear(x *Tensor, w *Weight, bias []float32, l LinearSpec) *Tensor {
	checkLinear(x, w, bias, l)
	n := x.Shape[0]
	y := newOutput(n, l.Out)
	if g := f.Block; g != nil {
		linearBlock(g, x, w, bias, l, y)
		return y
	}
	kern := activeKernel
	const rowsPerJob = 16 // enough work per job to amortize scheduling, fine enough to balance
	jobs := (l.Out + rowsPerJob - 1) / rowsPerJob
	parallelFor(jobs, f.threads(), func(_, job int) {
		for o := job * rowsPerJob; o < min(l.Out, (job+1)*rowsPerJob); o++ {
			for b := 0; b < n; b++ {
				xr := x.Data[b*l.In : (b+1)*l.In]
				var v float32
				if w.Quantized() {
					v = kern.dotI8(w.I8[o*l.In:(o+1)*l.In], xr) * w.Scale[o]
				} else {
					v = kern.dotF32(w.F32[o*l.In:(o+1)*l.In], xr)
				}
				if bias != nil {
					v += bias[o]
				}
				if l.ReLU && v < 0 {
					v = 0
				}
				y.Data[b*l.Out+o] = v
			}
		}
	})
	return y
}

// MaxPool2D and AvgPool2D run the reference loops on planes in parallel.
func (f FastCPU) MaxPool2D(x *Tensor, p PoolSpec) *Tensor { return f.pool(x, p, true) }
func (f FastCPU) AvgPool2D(x *Tensor, p PoolSpec) *Tensor { return f.pool(x, p, false) }

// isK3S2 says whether pooling p with an oh x ow output is what the block's MaxPoolK3S2 and
// MaxPoolK3S2Backward compute: windows 3 wide with a column stride of 2, any height and row
// stride, no padding (all of AlexNet's and SqueezeNet's pools).
func isK3S2(p PoolSpec, oh, ow int) bool {
	return p.KW == 3 && p.StrideW == 2 && p.PadT == 0 && p.PadL == 0 && p.PadB == 0 && p.PadR == 0 && oh > 0 && ow > 0
}

func (f FastCPU) pool(x *Tensor, p PoolSpec, isMax bool) *Tensor {
	n, c, h, w := x.dims4("pool2d")
	oh, ow := p.OutSize(h, w)
	y := newOutput(n, c, oh, ow)
	planes := n * c
	if g := f.Block; isMax && g != nil && g.MaxPoolK3S2 != nil && isK3S2(p, oh, ow) {
		g.MaxPoolK3S2(y.Data, x.Data, planes, h, w, oh, ow, p.KH, p.StrideH)
		return y
	}
	const planesPerJob = 8
	parallelFor((planes+planesPerJob-1)/planesPerJob, f.threads(), func(_, job int) {
		p0, p1 := job*planesPerJob, min(planes, (job+1)*planesPerJob)
		if isMax {
			hmax := make([]float32, h*ow)
			cols := make([][2]int, ow)
			for ox := range cols {
				x0 := ox*p.StrideW - p.PadL
				x1 := min(x0+p.KW, w)
				x0 = min(max(x0, 0), w)
				cols[ox] = [2]int{x0, max(x0, x1)} // empty for a window wholly in the padding
			}
			for pl := p0; pl < p1; pl++ {
				maxPoolPlaneImpl(y.Data[pl*oh*ow:(pl+1)*oh*ow], x.Data[pl*h*w:(pl+1)*h*w], hmax, cols, h, w, oh, ow, p)
			}
			return
		}
		in := &Tensor{Shape: []int{1, p1 - p0, h, w}, Data: x.Data[p0*h*w : p1*h*w]}
		out := pool2D(in, p, false)
		copy(y.Data[p0*oh*ow:p1*oh*ow], out.Data)
	})
	return y
}

// maxPoolPlaneImpl is maxPoolPlane or a SIMD variant of it (pool_wasmsimd.go).
var maxPoolPlaneImpl = maxPoolPlane

// maxPoolPlane is max pooling of one plane, separably: first the maximum over each
// window's columns for every input row (hmax, h x ow), then over each window's rows; both
// passes walk memory in order. Windows are clipped to the image (cols holds each output
// column's clipped range); the builtin max propagates NaN as Reference does.
func maxPoolPlane(out, in, hmax []float32, cols [][2]int, h, w, oh, ow int, p PoolSpec) {
	negInf := float32(math.Inf(-1))
	for iy := 0; iy < h; iy++ {
		row, hrow := in[iy*w:(iy+1)*w], hmax[iy*ow:(iy+1)*ow]
		for ox, c := range cols {
			m := negInf
			for _, v := range row[c[0]:c[1]] {
				m = maxF32(m, v) // the builtin max, without a runtime call on wasm (fmax.go)
			}
			hrow[ox] = m
		}
	}
	for oy := 0; oy < oh; oy++ {
		y0 := oy*p.StrideH - p.PadT
		y1 := min(y0+p.KH, h)
		y0 = max(y0, 0)
		orow := out[oy*ow : (oy+1)*ow]
		for ox := range orow {
			orow[ox] = negInf
		}
		for iy := y0; iy < y1; iy++ {
			for ox, v := range hmax[iy*ow : (iy+1)*ow] {
				orow[ox] = maxF32(orow[ox], v)
			}
		}
	}
}

func (f FastCPU) AdaptiveAvgPool2D(x *Tensor, oh, ow int) *Tensor {
	return Reference{}.AdaptiveAvgPool2D(x, oh, ow)
}

// LRN keeps a running sum of squares across the channel window for a strip of pixels and
// slides it channel by channel, so every pass reads rows in memory order; for the networks'
// beta of 0.75 it replaces pow with two square roots. Strips are split across goroutines.
func (f FastCPU) LRN(x *Tensor, l LRNSpec) *Tensor {
	n, c, h, w := x.dims4("lrn")
	y := newOutput(n, c, h, w)
	lo, hi := (l.Size-1)/2, l.Size/2
	hw := h * w
	alpha := float64(l.Alpha) / float64(l.Size)
	const strip = 512
	perItem := (hw + strip - 1) / strip
	parallelFor(n*perItem, f.threads(), func(_, job int) {
		b, i0 := job/perItem, (job%perItem)*strip
		i1 := min(hw, i0+strip)
		base := b * c * hw
		sq := make([]float64, i1-i0)
		addSquares := func(ch int, sign float64) {
			for i, v := range x.Data[base+ch*hw+i0 : base+ch*hw+i1] {
				sq[i] += sign * float64(v) * float64(v)
			}
		}
		for k := 0; k <= min(hi, c-1); k++ { // the window of channel 0
			addSquares(k, 1)
		}
		for ch := 0; ch < c; ch++ {
			if ch > 0 {
				if add := ch + hi; add < c {
					addSquares(add, 1)
				}
				if drop := ch - lo - 1; drop >= 0 {
					addSquares(drop, -1)
				}
			}
			src := x.Data[base+ch*hw+i0 : base+ch*hw+i1]
			dst := y.Data[base+ch*hw+i0 : base+ch*hw+i1]
			for i, v := range src {
				s := float64(l.K) + alpha*max(sq[i], 0)
				var d float64
				if l.Beta == 0.75 {
					r := math.Sqrt(s)
					d = r * math.Sqrt(r)
				} else {
					d = math.Pow(s, float64(l.Beta))
				}
				dst[i] = float32(float64(v) / d)
			}
		}
	})
	return y
}

func (f FastCPU) ReLU(x *Tensor) *Tensor       { return Reference{}.ReLU(x) }
func (f FastCPU) Concat(xs ...*Tensor) *Tensor { return concatChannels(xs) }
func (f FastCPU) Softmax(x *Tensor) *Tensor    { return softmax(x) }

// checkLinear panics with a clear message on shapes that do not fit: like checkConv, a
// mismatch here is a bug in a network description, not bad user input.
func checkLinear(x *Tensor, w *Weight, bias []float32, l LinearSpec) {
	if len(x.Shape) < 1 || x.Shape[0] < 0 || x.Len() != x.Shape[0]*l.In {
		panic(fmt.Sprintf("engine: linear expects %d inputs per item, got shape %v", l.In, x.Shape))
	}
	if !slices.Equal(w.Shape, []int{l.Out, l.In}) {
		panic(fmt.Sprintf("engine: linear weight shape %v, want [%d %d]", w.Shape, l.Out, l.In))
	}
	if bias != nil && len(bias) != l.Out {
		panic(fmt.Sprintf("engine: linear bias has %d values, want %d", len(bias), l.Out))
	}
}
