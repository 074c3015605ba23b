package engine

import (
	"sync"
)

// Winograd F(2x2,3x3) convolutions through a block GEMM (BlockGEMM.WinogradIn/Out).
//
// A 2x2 output tile Y of a 3x3 convolution over a 4x4 input window d is
// Y = A^T [ sum over ci of (G g G^T) ⊙ (B^T d B) ] A: per tile and input channel, 16
// products instead of 36 multiplies. Per position xi of the 4x4 transformed tile the sum
// over input channels is a matrix product, U_xi (cout x cin) times V_xi (cin x tiles), so a
// convolution becomes 16 GEMMs of k = cin, through the same micro-kernel as the direct
// path, plus two cheap transforms. On AlexNet's 13x13 planes (7x7 tiles) that is 16*49
// products per channel pair against 9*169 (1.9x fewer).
//
// The result is not bit-identical to the direct convolution (the transforms round
// differently); the error stays at float32 rounding level (tests bound it).
//
//	B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//	G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
//	A^T = [1 1 1 0; 0 1 -1 -1]

// winogradApplies reports whether conv2DBlock runs c as Winograd: 3x3 windows, stride 1,
// no dilation, on a block GEMM that offers the transforms. Padding may be anything (the
// input is copied into a zero-padded buffer either way).
func winogradApplies(g *BlockGEMM, c ConvSpec) bool {
	return g.WinogradIn != nil && g.WinogradOut != nil && g.NR%4 == 0 &&
		c.KH == 3 && c.KW == 3 && c.StrideH == 1 && c.StrideW == 1 && c.DilH == 1 && c.DilW == 1
}

// winoConv is a 3x3 weight transformed for Winograd: for each xi < 16, the matrix U_xi of
// every group in the panel layout of packedConv (k = cinG), one after another.
type winoConv struct {
	groups, coutG, cinG int
	mr, panels          int       // panels per group
	data                []float32 // 16 * groups * panels * cinG * mr values
	scale               []float32 // per output channel for int8 weights, nil for float32
}

// a is U_xi of group g: panels panels of cinG x mr.
func (p *winoConv) a(xi, g int) []float32 {
	n := p.panels * p.cinG * p.mr
	off := (xi*p.groups + g) * n
	return p.data[off : off+n]
}

// winoCache is packCache for Winograd weights (same weak keys, same rules).
var winoCache sync.Map // weak.Pointer[Weight] -> *winoConv

func winogradWeight(w *Weight, groups, mr int) *winoConv {
	return cachedPacking(&winoCache, w,
		func(p *winoConv) bool { return p.groups == groups && p.mr == mr },
		func() *winoConv { return packWinograd(w, groups, mr) })
}

// packWinograd computes U = G g G^T for every (output, input) channel pair, in float64
// rounded once to float32, and packs it. int8 weights are transformed as their integer
// values; their scale is applied in WinogradOut's epilogue, as the direct path does.
func packWinograd(w *Weight, groups, mr int) *winoConv {
	cout := w.Rows()
	cinG := w.RowLen() / 9
	coutG := cout / groups
	panels := (coutG + mr - 1) / mr
	p := &winoConv{groups: groups, coutG: coutG, cinG: cinG, mr: mr, panels: panels,
		data: make([]float32, 16*groups*panels*cinG*mr)}
	if w.Quantized() {
		p.scale = w.Scale
	}
	n := w.RowLen()
	wr := make([]float32, n)
	for o := range cout {
		grp, r := o/coutG, o%coutG
		if w.Quantized() {
			for i, q := range w.I8[o*n : (o+1)*n] {
				wr[i] = float32(q)
			}
		} else {
			copy(wr, w.F32[o*n:(o+1)*n])
		}
		for ci := range cinG {
			u := winogradKernel(wr[ci*9 : ci*9+9])
			for xi := range 16 {
				p.a(xi, grp)[((r/mr)*cinG+ci)*mr+r%mr] = u[xi]
			}
		}
	}
	return p
}

// winogradKernel is G g G^T of a 3x3 kernel g (row-major), row-major 4x4.
func winogradKernel(g []float32) [16]float32 {
	var t [4][3]float64 // G g
	for c := range 3 {
		g0, g1, g2 := float64(g[c]), float64(g[3+c]), float64(g[6+c])
		t[0][c], t[1][c], t[2][c], t[3][c] = g0, (g0+g1+g2)/2, (g0-g1+g2)/2, g2
	}
	var u [16]float32
	for r := range 4 {
		g0, g1, g2 := t[r][0], t[r][1], t[r][2]
		u[4*r], u[4*r+1], u[4*r+2], u[4*r+3] = float32(g0), float32((g0+g1+g2)/2), float32((g0-g1+g2)/2), float32(g2)
	}
	return u
}

// conv2DWinograd is conv2DBlock for 3x3 stride-1 convolutions: per batch item and group,
// copy the input into zero-padded planes of (2*th+2) x (2*twp+4) (every tile's window,
// and the vector loads of four tiles side by side, lie inside), transform it into 16 B
// matrices V_xi (WinogradIn), multiply U_xi·V_xi into 16 C matrices with scale 1 and bias
// 0, and transform those back into the output with the layer's epilogue (WinogradOut).
func conv2DWinograd(g *BlockGEMM, x *Tensor, w *Weight, bias []float32, c ConvSpec, y *Tensor) {
	n, _, h, wd := x.dims4("conv2d")
	oh, ow := c.OutSize(h, wd)
	pw := winogradWeight(w, c.Groups, g.MR)
	cinG := c.In / c.Groups
	plane := oh * ow
	th, tw := (oh+1)/2, (ow+1)/2
	twp := (tw + 3) / 4 * 4
	hp, wp := 2*th+2, 2*twp+4
	tiles := th * twp
	bPanels := (tiles + g.NR - 1) / g.NR
	ldc := bPanels * g.NR
	rows := pw.panels * g.MR
	bSize, cSize := bPanels*cinG*g.NR, rows*ldc

	buf := getBlockBuffers()
	defer putBlockBuffers(buf)
	buf.b = grow(buf.b, 16*bSize)
	buf.c = grow(buf.c, 16*cSize)
	buf.padded = grow(buf.padded, cinG*hp*wp)
	buf.scale, buf.bias = grow(buf.scale, rows), grow(buf.bias, rows)
	buf.ones, buf.zeros = grow(buf.ones, rows), grow(buf.zeros, rows)
	for r := range rows {
		buf.ones[r], buf.zeros[r] = 1, 0
	}
	// The padding is zeroed once: every batch item and group writes the same interior.
	clear(buf.padded)
	for grp := 0; grp < c.Groups; grp++ {
		groupEpilogue(buf.scale[:pw.coutG], buf.bias[:pw.coutG], pw.coutG, grp*pw.coutG, pw.scale, bias)
		for b := 0; b < n; b++ {
			in := x.Data[(b*c.In+grp*cinG)*h*wd : (b*c.In+(grp+1)*cinG)*h*wd]
			for ci := 0; ci < cinG; ci++ {
				for yy := 0; yy < h; yy++ {
					at := (ci*hp+yy+c.PadT)*wp + c.PadL
					copy(buf.padded[at:at+wd], in[(ci*h+yy)*wd:(ci*h+yy+1)*wd])
				}
			}
			g.WinogradIn(buf.b, buf.padded, cinG, th, twp, bPanels)
			if g.WinogradGEMM != nil {
				// U_xi of this group are aStride floats apart: the other groups' lie between.
				aStride := c.Groups * pw.panels * cinG * pw.mr
				g.WinogradGEMM(cinG, pw.data[grp*pw.panels*cinG*pw.mr:], aStride, pw.panels, buf.b, bPanels, buf.c, ldc)
			} else {
				for xi := range 16 {
					g.GEMM(cinG, pw.a(xi, grp), pw.panels, buf.b[xi*bSize:(xi+1)*bSize], bPanels,
						buf.c[xi*cSize:(xi+1)*cSize], ldc, buf.ones, buf.zeros, false)
				}
			}
			out := y.Data[(b*c.Out+grp*pw.coutG)*plane : (b*c.Out+(grp+1)*pw.coutG)*plane]
			g.WinogradOut(out, buf.c, rows, ldc, pw.coutG, buf.scale, buf.bias, c.ReLU, oh, ow)
		}
	}
}
