package engine

import (
	"math"
	"math/rand/v2"
	"testing"
)

// withPackB is g with PackB and MaxPoolK3S2Backward in plain Go, written from BlockGEMM's
// contract.
func withPackB(g *BlockGEMM) *BlockGEMM {
	h := *g
	h.Name += "+packb"
	h.MaxPoolK3S2Backward = func(dx, g, in, out []float32, planes, ih, iw, oh, ow, kh, sh int) {
		for o, m := range out[:planes*oh*ow] {
			pl, oy, ox := o/(oh*ow), o/ow%oh, o%ow
		search:
			for y := oy * sh; y < min(oy*sh+kh, ih); y++ {
				for x := 2 * ox; x < min(2*ox+3, iw); x++ {
					if v := in[(pl*ih+y)*iw+x]; v == m || (m != m && v != v) {
						dx[(pl*ih+y)*iw+x] += g[o]
						break search
					}
				}
			}
		}
	}
	h.PackB = func(dst, src []float32, cin, kh, kw, chanStride, rowStep, colStep int, offs []int32, bPanels int) {
		k := cin * kh * kw
		for p := range bPanels {
			for r := range k {
				ci, ky, kx := r/(kh*kw), r/kw%kh, r%kw
				for j := range h.NR {
					dst[(p*k+r)*h.NR+j] = src[ci*chanStride+ky*rowStep+kx*colStep+int(offs[p*h.NR+j])]
				}
			}
		}
	}
	return &h
}

// goWinograd is a block GEMM in plain Go with the Winograd transforms, written from
// BlockGEMM's contract: it checks conv2DWinograd's layouts and padding natively (the
// generated module is checked against the same contract in wasm/cpukernel).
func goWinograd(mr, nr int) *BlockGEMM {
	return &BlockGEMM{
		Name: "go-winograd-test", MR: mr, NR: nr,
		GEMM: func(k int, a []float32, aPanels int, b []float32, bPanels int, c []float32, ldc int, scale, bias []float32, relu bool) {
			for i := range aPanels * mr {
				for j := range bPanels * nr {
					var s float32
					for p := range k {
						s += a[((i/mr)*k+p)*mr+i%mr] * b[((j/nr)*k+p)*nr+j%nr]
					}
					s = s*scale[i] + bias[i]
					if relu {
						s = max(s, 0)
					}
					c[i*ldc+j] = s
				}
			}
		},
		MatVecF32: func(w, x, y, scale, bias []float32, relu bool) { panic("unused") },
		MatVecI8:  func(w []int8, x, y, scale, bias []float32, relu bool) { panic("unused") },
		WinogradIn: func(v, src []float32, cin, th, twp, bPanels int) {
			hp, wp := 2*th+2, 2*twp+4
			for ci := range cin {
				for t := range th * twp {
					ty, tx := t/twp, t%twp
					var d [4][4]float32
					for r := range 4 {
						for q := range 4 {
							d[r][q] = src[(ci*hp+2*ty+r)*wp+2*tx+q]
						}
					}
					var e [4][4]float32 // B^T d
					for q := range 4 {
						e[0][q], e[1][q], e[2][q], e[3][q] = d[0][q]-d[2][q], d[1][q]+d[2][q], d[2][q]-d[1][q], d[1][q]-d[3][q]
					}
					for r := range 4 {
						u := [4]float32{e[r][0] - e[r][2], e[r][1] + e[r][2], e[r][2] - e[r][1], e[r][1] - e[r][3]}
						for q := range 4 {
							v[(((4*r+q)*bPanels+t/nr)*cin+ci)*nr+t%nr] = u[q]
						}
					}
				}
			}
		},
		WinogradOut: func(y, m []float32, mRows, ldc, rows int, scale, bias []float32, relu bool, oh, ow int) {
			th, tw := (oh+1)/2, (ow+1)/2
			twp := (tw + 3) / 4 * 4
			for r := range rows {
				for ty := range th {
					for tx := range tw {
						t := ty*twp + tx
						var s [2][4]float32 // A^T M
						for q := range 4 {
							m0, m1, m2, m3 := m[(q*mRows+r)*ldc+t], m[((4+q)*mRows+r)*ldc+t], m[((8+q)*mRows+r)*ldc+t], m[((12+q)*mRows+r)*ldc+t]
							s[0][q], s[1][q] = m0+m1+m2, m1-m2-m3
						}
						for a := range 2 {
							o := [2]float32{s[a][0] + s[a][1] + s[a][2], s[a][1] - s[a][2] - s[a][3]}
							for b := range 2 {
								if 2*ty+a < oh && 2*tx+b < ow {
									v := o[b]*scale[r] + bias[r]
									if relu {
										v = max(v, 0)
									}
									y[r*oh*ow+(2*ty+a)*ow+2*tx+b] = v
								}
							}
						}
					}
				}
			}
		},
	}
}

// convErr compares got with want relative to the sum of |w*x| of each output: it returns
// the relative L2 error and the largest per-element error so scaled.
func convErr(got, want *Tensor, x *Tensor, w *Weight, c ConvSpec) (relL2, maxScaled float64) {
	// mag: the same convolution on |x| and |w| (no bias, no ReLU) bounds each sum's terms.
	ax := &Tensor{Shape: x.Shape, Data: make([]float32, len(x.Data))}
	for i, v := range x.Data {
		ax.Data[i] = float32(math.Abs(float64(v)))
	}
	aw := &Weight{Shape: w.Shape, F32: make([]float32, w.Rows()*w.RowLen())}
	row := make([]float32, w.RowLen())
	for o := range w.Rows() {
		for i, v := range w.RowF32(o, row) {
			aw.F32[o*w.RowLen()+i] = float32(math.Abs(float64(v)))
		}
	}
	ac := c
	ac.ReLU = false
	mag := Reference{}.Conv2D(ax, aw, nil, ac)
	var num, den float64
	for i := range want.Data {
		d := float64(got.Data[i]) - float64(want.Data[i])
		num, den = num+d*d, den+float64(want.Data[i])*float64(want.Data[i])
		maxScaled = max(maxScaled, math.Abs(d)/(float64(mag.Data[i])+1e-30))
	}
	return math.Sqrt(num / max(den, 1e-300)), maxScaled
}

func TestWinogradBlockConvMatchesGo(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	conv3 := func(in, out, groups, pad int, relu bool) ConvSpec {
		return ConvSpec{In: in, Out: out, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadT: pad, PadL: pad, PadB: pad, PadR: pad, DilH: 1, DilW: 1, Groups: groups, ReLU: relu}
	}
	cases := []struct {
		c    ConvSpec
		h, w int
	}{
		{conv3(16, 11, 1, 1, true), 13, 13},
		{conv3(3, 7, 1, 1, false), 27, 27},
		{conv3(8, 12, 2, 1, true), 9, 14},
		{conv3(5, 6, 1, 0, false), 12, 7},
		{conv3(4, 5, 1, 1, true), 1, 2},
		{ConvSpec{In: 6, Out: 4, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadT: 0, PadL: 2, PadB: 1, PadR: 0, DilH: 1, DilW: 1, Groups: 1}, 8, 11},
	}
	for _, tc := range cases {
		for _, int8W := range []bool{false, true} {
			x := NewTensor(2, tc.c.In, tc.h, tc.w)
			for i := range x.Data {
				x.Data[i] = float32(r.NormFloat64())
			}
			w := &Weight{Shape: []int{tc.c.Out, tc.c.In / tc.c.Groups, 3, 3}, F32: make([]float32, tc.c.Out*tc.c.In/tc.c.Groups*9)}
			for i := range w.F32 {
				w.F32[i] = float32(r.NormFloat64())
			}
			if int8W {
				w = QuantizeWeight(w)
			}
			bias := make([]float32, tc.c.Out)
			for i := range bias {
				bias[i] = float32(r.NormFloat64())
			}
			want := FastCPU{}.Conv2D(x, w, bias, tc.c)
			for _, oneCall := range []bool{false, true} {
				g := goWinograd(5, 8)
				if oneCall { // the 16 products through WinogradGEMM, from its contract
					g.WinogradGEMM = func(k int, a []float32, aStride, aPanels int, b []float32, bPanels int, c []float32, ldc int) {
						rows := aPanels * g.MR
						ones, zeros := make([]float32, rows), make([]float32, rows)
						for i := range ones {
							ones[i] = 1
						}
						for xi := range 16 {
							g.GEMM(k, a[xi*aStride:], aPanels, b[xi*bPanels*k*g.NR:], bPanels, c[xi*rows*ldc:], ldc, ones, zeros, false)
						}
					}
				}
				if !winogradApplies(g, tc.c) {
					t.Fatalf("%+v does not qualify for Winograd", tc.c)
				}
				be, err := FastCPU{}.WithBlock(g)
				if err != nil {
					t.Fatal(err)
				}
				got := be.Conv2D(x, w, bias, tc.c)
				rel, scaled := convErr(got, want, x, w, tc.c)
				if rel > 1e-5 || scaled > 1e-5 {
					t.Errorf("%+v on %dx%d int8=%v one call=%v: rel L2 %.2g, max error / sum|w*x| %.2g (limit 1e-5)", tc.c, tc.h, tc.w, int8W, oneCall, rel, scaled)
				} else {
					t.Logf("%dx%d in %d out %d groups %d int8=%v one call=%v: rel L2 %.2g, max error / sum|w*x| %.2g", tc.h, tc.w, tc.c.In, tc.c.Out, tc.c.Groups, int8W, oneCall, rel, scaled)
				}
			}
		}
	}
}
