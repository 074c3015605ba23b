package engine

import (
	"fmt"
	"math"
	"slices"
)

// Local passes. Occlusion runs hundreds of forward passes of one photo, each differing from
// it inside one small square. A convolution's or a pool's output at a position reads only a
// small window of its input, so a layer changes only inside the square's receptive-field
// cone: LocalPass runs the photo once and keeps each layer's activation, then recomputes a
// variant's layers only inside the cone, reading the cone of the layer before and the photo's
// activation around it. Once the cone covers a whole layer, or a layer mixes all positions
// (a pool to a fixed size, a fully connected layer), the rest runs as Forward runs it. On
// SqueezeNet at 224 px a 32 px square's pass does 62% of a whole pass's multiply-adds in the
// browser's kernels (their padding of panels and Winograd tiles counted): the layers from
// fire8 on, which every such square reaches, are most of what is left.

// Region is a rectangle of positions: rows Y0 to Y1-1 and columns X0 to X1-1.
type Region struct{ Y0, X0, Y1, X1 int }

func (r Region) empty() bool { return r.Y1 <= r.Y0 || r.X1 <= r.X0 }

// LocalPass runs variants of one image that differ from it in a region each. It is not safe
// for concurrent use.
type LocalPass struct {
	m   *Model
	opt ForwardOptions
	be  Backend
	// ins[i] is what layer i reads in the image's own pass (1 x C x H x W), for the layers
	// a variant may recompute locally: those before end.
	ins []*Tensor
	end int
	// wide caches widths by the changed region's size.
	wide map[[2]int][][2]int
}

// NewLocalPass runs x, one 1 x 3 x H x W normalized image, keeping what its variants' passes
// reuse. opt applies to every pass; layers that opt keeps or stops after are computed in
// full (so a nil Keep, which keeps every layer, saves nothing).
func (m *Model) NewLocalPass(x *Tensor, opt ForwardOptions) (*LocalPass, error) {
	if err := m.checkForward(x, &opt); err != nil {
		return nil, err
	}
	if x.Shape[0] != 1 {
		return nil, fmt.Errorf("%s: a local pass starts from one image, got %d", m.Arch.Name, x.Shape[0])
	}
	p := &LocalPass{m: m, opt: opt, be: opt.Backend}
	if p.be == nil {
		p.be = DefaultBackend()
	}
	for _, l := range m.Arch.Layers {
		if _, _, ok := spans(l); !ok || l.Name == opt.StopAfter || (l.Name != "" && (opt.Keep == nil || opt.Keep(l.Name))) {
			break
		}
		p.ins = append(p.ins, x)
		x = p.apply(l, x)
		p.end++
	}
	p.ins = append(p.ins, x) // what the first layer computed in full reads
	return p, nil
}

// apply is layer l on x in full, with the pass's edits.
func (p *LocalPass) apply(l Layer, x *Tensor) *Tensor {
	y, _ := p.m.applyLayer(p.be, l, x)
	return editLayer(y, x, editsFor(p.opt.Edits, l.Name))
}

// span is how a layer reads one axis: output o reads inputs o*stride-pad to
// o*stride-pad+(k-1)*dil.
type span struct{ k, stride, pad, dil int }

// spans are layer l's spans down and across, and whether its outputs read windows at all.
func spans(l Layer) (y, x span, ok bool) {
	switch l.Kind {
	case KindConv:
		c := l.Conv
		return span{c.KH, c.StrideH, c.PadT, c.DilH}, span{c.KW, c.StrideW, c.PadL, c.DilW}, true
	case KindMaxPool:
		q := l.Pool
		return span{q.KH, q.StrideH, q.PadT, 1}, span{q.KW, q.StrideW, q.PadL, 1}, true
	case KindFire: // the 3x3 expand convolution, pad 1, after the 1x1 squeeze
		return span{3, 1, 1, 1}, span{3, 1, 1, 1}, true
	case KindLRN, KindDropout: // across channels only
		return span{1, 1, 0, 1}, span{1, 1, 0, 1}, true
	}
	return span{}, span{}, false
}

// reach is the outputs, among out, whose inputs meet [r0, r1).
func (s span) reach(r0, r1, out int) (int, int) {
	a := -floorDiv(-(r0 + s.pad - (s.k-1)*s.dil), s.stride)
	b := floorDiv(r1-1+s.pad, s.stride) + 1
	return max(a, 0), min(b, out)
}

// reads is the first input the outputs from a on read, and how many inputs n outputs read.
func (s span) reads(a, n int) (first, size int) {
	return a*s.stride - s.pad, (n-1)*s.stride + (s.k-1)*s.dil + 1
}

func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// plan is one variant's pass: for each locally computed layer, the window of its output that
// it recomputes (windows[i] for layer i), before the first layer computed in full.
type plan struct{ windows []Region }

// plan follows the change from layer to layer: the outputs whose inputs it reaches, then
// widened to the most that a change of its size can reach anywhere in the image (never past
// the layer's edges), so that every variant changed in a region of one size has the same
// shapes and they batch together.
func (p *LocalPass) plan(changed Region) plan {
	var pl plan
	wide := p.widths(changed.Y1-changed.Y0, changed.X1-changed.X0)
	r := changed
	for i := range p.end {
		out := p.ins[i+1].Shape
		sy, sx, _ := spans(p.m.Arch.Layers[i])
		y0, y1 := sy.reach(r.Y0, r.Y1, out[2])
		x0, x1 := sx.reach(r.X0, r.X1, out[3])
		r = Region{y0, x0, y1, x1}
		if wide[i][0] >= out[2] && wide[i][1] >= out[3] {
			break // a change of this size can reach all of this layer: compute it in full
		}
		y0, y1 = widen(y0, y1, wide[i][0], out[2])
		x0, x1 = widen(x0, x1, wide[i][1], out[3])
		pl.windows = append(pl.windows, Region{y0, x0, y1, x1})
	}
	return pl
}

// widen grows [a, b) to n outputs of out, or all of them, keeping inside [0, out).
func widen(a, b, n, out int) (int, int) {
	if n >= out {
		return 0, out
	}
	b = a + n
	if b > out {
		a, b = out-n, out
	}
	return a, b
}

// widths is, for each local layer, the most rows and columns of its output that a change of
// h x w inputs reaches, over every alignment with the layers' strides.
func (p *LocalPass) widths(h, w int) [][2]int {
	if ws, ok := p.wide[[2]int{h, w}]; ok {
		return ws
	}
	ws := make([][2]int, p.end)
	for axis, n := range []int{h, w} {
		period := 1
		for _, l := range p.m.Arch.Layers[:p.end] {
			sy, sx, _ := spans(l)
			period = min(period*[]span{sy, sx}[axis].stride, 1024)
		}
		for o := range period {
			const far, huge = 1 << 20, 1 << 30 // away from every edge
			r0, r1 := far+o, far+o+n
			for i, l := range p.m.Arch.Layers[:p.end] {
				sy, sx, _ := spans(l)
				r0, r1 = []span{sy, sx}[axis].reach(r0, r1, huge)
				ws[i][axis] = max(ws[i][axis], r1-r0)
			}
		}
	}
	if p.wide == nil {
		p.wide = map[[2]int][][2]int{}
	}
	p.wide[[2]int{h, w}] = ws
	return ws
}

// batchKey is the same for variants whose passes compute the same shapes, which Forward
// runs as one batch: all those changed in regions of one size.
func (p *LocalPass) batchKey(changed Region) string {
	var k []byte
	for _, w := range p.plan(changed).windows {
		k = fmt.Appendf(k, "%dx%d ", w.Y1-w.Y0, w.X1-w.X0)
	}
	return string(k)
}

// Forward runs variants, an N x 3 x H x W batch of the image with item i changed only inside
// changed[i], as Forward would: the same logits and kept activations, up to the order in
// which float32 sums round.
func (p *LocalPass) Forward(variants *Tensor, changed []Region) (*Result, error) {
	x := p.ins[0]
	if len(variants.Shape) != 4 || variants.Shape[0] < 1 || !slices.Equal(variants.Shape[1:], x.Shape[1:]) {
		return nil, fmt.Errorf("%s: variants must be N x %v, got %v", p.m.Arch.Name, x.Shape[1:], variants.Shape)
	}
	n := variants.Shape[0]
	if len(changed) != n {
		return nil, fmt.Errorf("%s: %d variants with %d changed regions", p.m.Arch.Name, n, len(changed))
	}
	for _, r := range changed {
		if r.empty() || r.Y0 < 0 || r.X0 < 0 || r.Y1 > x.Shape[2] || r.X1 > x.Shape[3] {
			return nil, fmt.Errorf("%s: changed region %v is empty or outside the %dx%d image", p.m.Arch.Name, r, x.Shape[2], x.Shape[3])
		}
	}
	// Variants with the same plan shapes run as one batch.
	groups := map[string][]int{}
	var keys []string
	for i, r := range changed {
		k := p.batchKey(r)
		if groups[k] == nil {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], i)
	}
	if len(keys) == 1 {
		return p.run(variants, changed), nil
	}
	var out *Result
	for _, k := range keys {
		items := groups[k]
		res := p.run(gather(variants, items), gatherRegions(changed, items))
		if out == nil {
			out = &Result{Activations: map[string]*Tensor{}, Order: res.Order, LayerTimes: res.LayerTimes}
		}
		scatter(&out.Logits, res.Logits, items, n)
		for name, t := range res.Activations {
			a := out.Activations[name]
			scatter(&a, t, items, n)
			out.Activations[name] = a
		}
		res.Release()
	}
	return out, nil
}

// run is Forward for variants with one plan shape.
func (p *LocalPass) run(variants *Tensor, changed []Region) *Result {
	n := variants.Shape[0]
	plans := make([]plan, n)
	for i, r := range changed {
		plans[i] = p.plan(r)
	}
	stop := len(plans[0].windows)
	if stop == 0 { // the change reaches all of the first layer
		return p.m.forward(variants, 0, p.opt)
	}
	_, recycles := p.be.(FastCPU)
	var cur *Tensor // the last local layer's output inside each variant's window
	for i := range stop {
		l := p.m.Arch.Layers[i]
		sy, sx, _ := spans(l)
		src := variants // layer 0 reads the variants themselves
		if i > 0 {
			src = p.ins[i]
		}
		w := plans[0].windows[i]
		_, h := sy.reads(0, w.Y1-w.Y0)
		_, wd := sx.reads(0, w.X1-w.X0)
		reads := make([]Region, n) // where each crop lies in the layer's input
		for j, pl := range plans {
			wj := pl.windows[i]
			ry, _ := sy.reads(wj.Y0, 1)
			rx, _ := sx.reads(wj.X0, 1)
			reads[j] = Region{ry, rx, ry + h, rx + wd}
		}
		fill := float32(0) // a convolution's padding
		if l.Kind == KindMaxPool {
			fill = float32(math.Inf(-1)) // a max pool's: never the maximum
		}
		in := newOutput(n, src.Shape[1], h, wd)
		for j := range n {
			s := 0
			if src.Shape[0] > 1 {
				s = j
			}
			crop(in, j, reads[j], src, s, fill)
			if i > 0 {
				copyRect(in, j, reads[j], cur, j, plans[j].windows[i-1])
			}
		}
		y := p.applyWindow(l, in, reads, src.Shape[2], src.Shape[3])
		if es := editsFor(p.opt.Edits, l.Name); len(es) > 0 {
			applyEdits(y, es)
		}
		if recycles {
			if cur != nil {
				recycle(cur)
			}
			if !sharesData(in, y) {
				recycle(in)
			}
		}
		cur = y
	}
	// The first layer computed in full reads the image's activation with each variant's
	// window in place.
	base := p.ins[stop]
	act := newOutput(n, base.Shape[1], base.Shape[2], base.Shape[3])
	full := Region{0, 0, base.Shape[2], base.Shape[3]}
	for j := range n {
		copyRect(act, j, full, base, 0, full)
		copyRect(act, j, full, cur, j, plans[j].windows[stop-1])
	}
	if recycles {
		recycle(cur)
	}
	res := p.m.forward(act, stop, p.opt)
	kept := false
	for _, t := range res.Activations {
		kept = kept || sharesData(t, act)
	}
	if recycles && !kept {
		recycle(act)
	}
	return res
}

// applyWindow is layer l on crops of its input without padding (the crops hold it): each
// crop's outputs are its variant's window. reads places each crop in the h x w input, which
// a fire module needs: its expand convolution pads the squeeze's output, not its input.
func (p *LocalPass) applyWindow(l Layer, crop *Tensor, reads []Region, h, w int) *Tensor {
	m, be := p.m, p.be
	switch l.Kind {
	case KindConv:
		c := l.Conv
		c.PadT, c.PadL, c.PadB, c.PadR = 0, 0, 0, 0
		return be.Conv2D(crop, m.Params[l.Key+".weight"], m.bias(l.Key), c)
	case KindMaxPool:
		q := l.Pool
		q.PadT, q.PadL, q.PadB, q.PadR, q.Ceil = 0, 0, 0, 0, false
		return be.MaxPool2D(crop, q)
	case KindFire:
		sq, e1, e3 := l.Fire.Convs()
		e3.PadT, e3.PadL, e3.PadB, e3.PadR = 0, 0, 0, 0
		s := be.Conv2D(crop, m.Params[l.Key+".squeeze.weight"], m.bias(l.Key+".squeeze"), sq)
		// The expand convolution's padding: zero where a crop lies outside the input.
		n, c, ch, cw := s.Shape[0], s.Shape[1], s.Shape[2], s.Shape[3]
		inside := Region{0, 0, h, w}
		for j, r := range reads {
			for k := range c {
				plane := s.Data[((j*c)+k)*ch*cw : ((j*c)+k+1)*ch*cw]
				for y := range ch {
					row := plane[y*cw : (y+1)*cw]
					if y+r.Y0 < inside.Y0 || y+r.Y0 >= inside.Y1 {
						clear(row)
						continue
					}
					clear(row[:max(0, min(cw, -r.X0))])
					clear(row[max(0, min(cw, w-r.X0)):])
				}
			}
		}
		mid := newOutput(n, c, ch-2, cw-2)
		for j := range n {
			copyRect(mid, j, Region{1, 1, ch - 1, cw - 1}, s, j, Region{0, 0, ch, cw})
		}
		a := be.Conv2D(mid, m.Params[l.Key+".expand1x1.weight"], m.bias(l.Key+".expand1x1"), e1)
		b := be.Conv2D(s, m.Params[l.Key+".expand3x3.weight"], m.bias(l.Key+".expand3x3"), e3)
		y := be.Concat(a, b)
		if _, ok := be.(FastCPU); ok {
			recycle(s)
			recycle(mid)
			recycle(a)
			recycle(b)
		}
		return y
	case KindLRN:
		return be.LRN(crop, l.LRN)
	case KindDropout:
		return crop
	}
	panic(fmt.Sprintf("engine: %s: layer %q is not computed locally", m.Arch.Name, l.Name))
}

// crop copies the part of item j of src (all of a layer) under to into item i of dst, with
// fill where to lies past the layer's edges.
func crop(dst *Tensor, i int, to Region, src *Tensor, j int, fill float32) {
	if to.Y0 < 0 || to.X0 < 0 || to.Y1 > src.Shape[2] || to.X1 > src.Shape[3] {
		per := dst.Len() / dst.Shape[0]
		d := dst.Data[i*per : (i+1)*per]
		for k := range d {
			d[k] = fill
		}
	}
	copyRect(dst, i, to, src, j, Region{0, 0, src.Shape[2], src.Shape[3]})
}

// copyRect copies item j of src, which covers at of some layer, into item i of dst, which
// covers to of that layer, where they overlap.
func copyRect(dst *Tensor, i int, to Region, src *Tensor, j int, at Region) {
	c, dh, dw := dst.Shape[1], to.Y1-to.Y0, to.X1-to.X0
	sh, sw := at.Y1-at.Y0, at.X1-at.X0
	y0, y1 := max(to.Y0, at.Y0), min(to.Y1, at.Y1)
	x0, x1 := max(to.X0, at.X0), min(to.X1, at.X1)
	if y0 >= y1 || x0 >= x1 {
		return
	}
	for k := range c {
		d := dst.Data[((i*c)+k)*dh*dw : ((i*c)+k+1)*dh*dw]
		s := src.Data[((j*c)+k)*sh*sw : ((j*c)+k+1)*sh*sw]
		for y := y0; y < y1; y++ {
			copy(d[(y-to.Y0)*dw+x0-to.X0:(y-to.Y0)*dw+x1-to.X0], s[(y-at.Y0)*sw+x0-at.X0:(y-at.Y0)*sw+x1-at.X0])
		}
	}
}

// gather is the listed items of a batch; gatherRegions the same for their regions.
func gather(t *Tensor, items []int) *Tensor {
	per := t.Len() / t.Shape[0]
	g := NewTensor(append([]int{len(items)}, t.Shape[1:]...)...)
	for i, j := range items {
		copy(g.Data[i*per:(i+1)*per], t.Data[j*per:(j+1)*per])
	}
	return g
}

func gatherRegions(rs []Region, items []int) []Region {
	g := make([]Region, len(items))
	for i, j := range items {
		g[i] = rs[j]
	}
	return g
}

// scatter puts the items of part into *whole (made n items long on first use) at items.
func scatter(whole **Tensor, part *Tensor, items []int, n int) {
	if part == nil {
		return
	}
	per := part.Len() / part.Shape[0]
	if *whole == nil {
		*whole = NewTensor(append([]int{n}, part.Shape[1:]...)...)
	}
	for i, j := range items {
		copy((*whole).Data[j*per:(j+1)*per], part.Data[i*per:(i+1)*per])
	}
}
