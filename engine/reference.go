package engine

import (
	"fmt"
	"math"
	"slices"
)

// Reference is the float32 ground truth: plain loops in float64 accumulators where it matters,
// written for clarity, never for speed. Every other backend is tested against it.
type Reference struct{}

func (Reference) Name() string { return "reference" }

func (Reference) Conv2D(x *Tensor, w *Weight, bias []float32, c ConvSpec) *Tensor {
	checkConv(x, w, bias, c)
	n, _, h, wd := x.dims4("conv2d")
	oh, ow := c.OutSize(h, wd)
	y := NewTensor(n, c.Out, max(oh, 0), max(ow, 0))
	cinG, coutG := c.In/c.Groups, c.Out/c.Groups
	row := make([]float32, w.RowLen())
	for b := 0; b < n; b++ {
		for o := 0; o < c.Out; o++ {
			g := o / coutG
			wr := w.RowF32(o, row)
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					var acc float64
					for ci := 0; ci < cinG; ci++ {
						plane := x.Data[((b*c.In)+g*cinG+ci)*h*wd:]
						for ky := 0; ky < c.KH; ky++ {
							iy := oy*c.StrideH - c.PadT + ky*c.DilH
							if iy < 0 || iy >= h {
								continue
							}
							for kx := 0; kx < c.KW; kx++ {
								ix := ox*c.StrideW - c.PadL + kx*c.DilW
								if ix < 0 || ix >= wd {
									continue
								}
								acc += float64(plane[iy*wd+ix]) * float64(wr[(ci*c.KH+ky)*c.KW+kx])
							}
						}
					}
					if bias != nil {
						acc += float64(bias[o])
					}
					if c.ReLU && acc < 0 {
						acc = 0
					}
					y.Data[((b*c.Out+o)*oh+oy)*ow+ox] = float32(acc)
				}
			}
		}
	}
	return y
}

func (Reference) Linear(x *Tensor, w *Weight, bias []float32, l LinearSpec) *Tensor {
	n := x.Shape[0]
	if x.Len() != n*l.In {
		panic(fmt.Sprintf("engine: linear expects %d inputs per item, got shape %v", l.In, x.Shape))
	}
	if !slices.Equal(w.Shape, []int{l.Out, l.In}) {
		panic(fmt.Sprintf("engine: linear weight shape %v, want [%d %d]", w.Shape, l.Out, l.In))
	}
	y := NewTensor(n, l.Out)
	row := make([]float32, l.In)
	for o := 0; o < l.Out; o++ {
		wr := w.RowF32(o, row)
		for b := 0; b < n; b++ {
			xr := x.Data[b*l.In : (b+1)*l.In]
			var acc float64
			for i, v := range xr {
				acc += float64(v) * float64(wr[i])
			}
			if bias != nil {
				acc += float64(bias[o])
			}
			if l.ReLU && acc < 0 {
				acc = 0
			}
			y.Data[b*l.Out+o] = float32(acc)
		}
	}
	return y
}

func (Reference) MaxPool2D(x *Tensor, p PoolSpec) *Tensor {
	return pool2D(x, p, true)
}

func (Reference) AvgPool2D(x *Tensor, p PoolSpec) *Tensor {
	return pool2D(x, p, false)
}

func pool2D(x *Tensor, p PoolSpec, isMax bool) *Tensor {
	n, c, h, w := x.dims4("pool2d")
	oh, ow := p.OutSize(h, w)
	y := NewTensor(n, c, oh, ow)
	for pl := 0; pl < n*c; pl++ {
		in := x.Data[pl*h*w : (pl+1)*h*w]
		out := y.Data[pl*oh*ow : (pl+1)*oh*ow]
		for oy := 0; oy < oh; oy++ {
			y0 := oy*p.StrideH - p.PadT
			y1 := min(y0+p.KH, h+p.PadB)
			for ox := 0; ox < ow; ox++ {
				x0 := ox*p.StrideW - p.PadL
				x1 := min(x0+p.KW, w+p.PadR)
				// Windows may hang over the padded edge in ceil mode; only real pixels count,
				// except that count_include_pad averages over the padded window.
				padded := (y1 - y0) * (x1 - x0)
				best, sum, cnt := float32(math.Inf(-1)), 0.0, 0
				for iy := max(y0, 0); iy < min(y1, h); iy++ {
					for ix := max(x0, 0); ix < min(x1, w); ix++ {
						v := in[iy*w+ix]
						if v > best || v != v {
							best = v
						}
						sum += float64(v)
						cnt++
					}
				}
				if isMax {
					out[oy*ow+ox] = best
				} else if p.CountIncludePad {
					out[oy*ow+ox] = float32(sum / float64(padded))
				} else if cnt > 0 {
					out[oy*ow+ox] = float32(sum / float64(cnt))
				}
			}
		}
	}
	return y
}

// AdaptiveAvgPool2D follows PyTorch: output cell i covers input rows
// floor(i*H/oh) to ceil((i+1)*H/oh).
func (Reference) AdaptiveAvgPool2D(x *Tensor, oh, ow int) *Tensor {
	n, c, h, w := x.dims4("adaptive_avg_pool2d")
	y := NewTensor(n, c, oh, ow)
	for pl := 0; pl < n*c; pl++ {
		in := x.Data[pl*h*w : (pl+1)*h*w]
		for oy := 0; oy < oh; oy++ {
			y0, y1 := oy*h/oh, ((oy+1)*h+oh-1)/oh
			for ox := 0; ox < ow; ox++ {
				x0, x1 := ox*w/ow, ((ox+1)*w+ow-1)/ow
				var s float64
				for iy := y0; iy < y1; iy++ {
					for ix := x0; ix < x1; ix++ {
						s += float64(in[iy*w+ix])
					}
				}
				y.Data[(pl*oh+oy)*ow+ox] = float32(s / float64((y1-y0)*(x1-x0)))
			}
		}
	}
	return y
}

func (Reference) LRN(x *Tensor, l LRNSpec) *Tensor {
	n, c, h, w := x.dims4("lrn")
	y := NewTensor(n, c, h, w)
	lo, hi := (l.Size-1)/2, l.Size/2 // window [ch-lo, ch+hi], as ONNX and PyTorch
	hw := h * w
	for b := 0; b < n; b++ {
		base := b * c * hw
		for ch := 0; ch < c; ch++ {
			for i := 0; i < hw; i++ {
				var sq float64
				for k := max(ch-lo, 0); k <= min(ch+hi, c-1); k++ {
					v := float64(x.Data[base+k*hw+i])
					sq += v * v
				}
				d := math.Pow(float64(l.K)+float64(l.Alpha)/float64(l.Size)*sq, float64(l.Beta))
				y.Data[base+ch*hw+i] = float32(float64(x.Data[base+ch*hw+i]) / d)
			}
		}
	}
	return y
}

func (Reference) ReLU(x *Tensor) *Tensor {
	y := x.Clone()
	for i, v := range y.Data {
		if v < 0 {
			y.Data[i] = 0
		}
	}
	return y
}

func (Reference) Concat(xs ...*Tensor) *Tensor { return concatChannels(xs) }

func concatChannels(xs []*Tensor) *Tensor {
	n, _, h, w := xs[0].dims4("concat")
	c := 0
	for _, t := range xs {
		tn, tc, th, tw := t.dims4("concat")
		if tn != n || th != h || tw != w {
			panic(fmt.Sprintf("engine: concat of mismatched shapes %v and %v", xs[0].Shape, t.Shape))
		}
		c += tc
	}
	y := newOutput(n, c, h, w)
	off := 0
	for b := 0; b < n; b++ {
		for _, t := range xs {
			off += copy(y.Data[off:], t.Row(b))
		}
	}
	return y
}

func (Reference) Softmax(x *Tensor) *Tensor { return softmax(x) }

func softmax(x *Tensor) *Tensor {
	y := x.Clone()
	d := x.Shape[len(x.Shape)-1]
	for r := 0; r+d <= len(y.Data) && d > 0; r += d {
		row := y.Data[r : r+d]
		m := float32(math.Inf(-1))
		for _, v := range row {
			m = max(m, v)
		}
		var s float64
		for i, v := range row {
			e := math.Exp(float64(v - m))
			row[i] = float32(e)
			s += e
		}
		for i := range row {
			row[i] = float32(float64(row[i]) / s)
		}
	}
	return y
}
