package engine

import (
	"fmt"
	"image"
)

// Receptive fields: which input pixels a unit of a layer can see. The "top-activating
// patches" view crops each source image to the field of its most active unit.

// Span is a receptive field along one axis: unit i of a layer sees input pixels
// [Offset + i*Stride, Offset + i*Stride + Size) before clipping to the image. A negative
// Offset means the first units' fields reach into the zero padding.
type Span struct{ Size, Stride, Offset int }

// ReceptiveField is a layer's receptive field geometry. Global fields (fully connected
// layers, global pools, and everything after them) cover the whole input: Y and X then give
// the input size with Stride 0.
type ReceptiveField struct {
	Y, X   Span
	Global bool
}

// window is one layer's sliding window along both axes, for the composition.
type window struct{ kh, kw, sh, sw, pt, pl int }

// layerWindow is the window of a spatial layer (kernel extent with dilation, stride, leading
// pad), with ok false for layers that have none (LRN, dropout). A fire module's window is its
// expand3x3 branch (3x3, pad 1), the larger of the two: the field of the expand1x1 channels
// is smaller by one unit of stride on every side.
func layerWindow(l Layer) (w window, ok bool) {
	switch l.Kind {
	case KindConv:
		c := l.Conv
		return window{(c.KH-1)*c.DilH + 1, (c.KW-1)*c.DilW + 1, c.StrideH, c.StrideW, c.PadT, c.PadL}, true
	case KindMaxPool:
		p := l.Pool
		return window{p.KH, p.KW, p.StrideH, p.StrideW, p.PadT, p.PadL}, true
	case KindFire:
		return window{3, 3, 1, 1, 1, 1}, true
	}
	return window{}, false
}

// ReceptiveField composes the windows of the layers up to and including layer, for an
// h x w input (which matters only for adaptive pools: at AlexNet's 224 its 6x6 pool is the
// identity, elsewhere it may average windows of varying size, which is no regular grid: an
// error then, and ReceptiveRect still gives each unit's rectangle).
func (a *Arch) ReceptiveField(layer string, h, w int) (ReceptiveField, error) {
	ins, idx, err := a.layerInputs(layer, h, w)
	if err != nil {
		return ReceptiveField{}, err
	}
	y, x := Span{1, 1, 0}, Span{1, 1, 0}
	for i, l := range a.Layers[:idx+1] {
		if l.Kind == KindLinear {
			return ReceptiveField{Y: Span{h, 0, 0}, X: Span{w, 0, 0}, Global: true}, nil
		}
		win, ok := layerWindow(l)
		if l.Kind == KindAdaptiveAvgPool {
			ih, iw := ins[i][0], ins[i][1]
			switch {
			case l.OutH == 1 && l.OutW == 1:
				return ReceptiveField{Y: Span{h, 0, 0}, X: Span{w, 0, 0}, Global: true}, nil
			case ih%l.OutH != 0 || iw%l.OutW != 0:
				return ReceptiveField{}, fmt.Errorf("%s: at %dx%d input, %s averages %dx%d into %dx%d with windows of varying size: no regular receptive field (ReceptiveRect gives each unit's)",
					a.Name, h, w, l.Name, ih, iw, l.OutH, l.OutW)
			}
			win, ok = window{ih / l.OutH, iw / l.OutW, ih / l.OutH, iw / l.OutW, 0, 0}, true
		}
		if ok {
			y = Span{y.Size + (win.kh-1)*y.Stride, y.Stride * win.sh, y.Offset - win.pt*y.Stride}
			x = Span{x.Size + (win.kw-1)*x.Stride, x.Stride * win.sw, x.Offset - win.pl*x.Stride}
		}
	}
	return ReceptiveField{Y: y, X: x}, nil
}

// ReceptiveRect is the rectangle of input pixels that unit (y, x) of layer can see in an
// h x w input, clipped to the image. Each layer's window is clipped to its own input on
// the way down, so padding never widens the rectangle: it is exactly the set of pixels the
// unit depends on (for fire modules, through the expand3x3 channels). Fully connected
// layers see the whole image.
func (a *Arch) ReceptiveRect(layer string, y, x, h, w int) (image.Rectangle, error) {
	ins, idx, err := a.layerInputs(layer, h, w)
	if err != nil {
		return image.Rectangle{}, err
	}
	oh, ow := ins[idx+1][0], ins[idx+1][1]
	if y < 0 || y >= oh || x < 0 || x >= ow {
		return image.Rectangle{}, fmt.Errorf("%s: %s is %dx%d at %dx%d input, no unit at (%d, %d)", a.Name, layer, oh, ow, h, w, y, x)
	}
	y0, y1, x0, x1 := y, y, x, x // inclusive, in the current layer's output
	for i := idx; i >= 0; i-- {
		l := a.Layers[i]
		ih, iw := ins[i][0], ins[i][1]
		if win, ok := layerWindow(l); ok {
			y0, y1 = y0*win.sh-win.pt, y1*win.sh-win.pt+win.kh-1
			x0, x1 = x0*win.sw-win.pl, x1*win.sw-win.pl+win.kw-1
		}
		switch l.Kind {
		case KindAdaptiveAvgPool:
			oh, ow := ins[i+1][0], ins[i+1][1]
			y0, y1 = y0*ih/oh, ((y1+1)*ih+oh-1)/oh-1
			x0, x1 = x0*iw/ow, ((x1+1)*iw+ow-1)/ow-1
		case KindLinear:
			y0, y1, x0, x1 = 0, ih-1, 0, iw-1
		}
		y0, y1 = max(y0, 0), min(y1, ih-1)
		x0, x1 = max(x0, 0), min(x1, iw-1)
	}
	return image.Rect(x0, y0, x1+1, y1+1), nil
}

// layerInputs finds layer and returns the spatial size at the input of every layer up to
// it and at its output (ins[i] is layer i's input; ins[idx+1] its output). After a fully
// connected layer the size is 1x1.
func (a *Arch) layerInputs(layer string, h, w int) (ins [][2]int, idx int, err error) {
	if h < 1 || w < 1 {
		return nil, 0, fmt.Errorf("%s: input size %dx%d", a.Name, h, w)
	}
	if _, err := a.Shapes(h, w); err != nil {
		return nil, 0, err
	}
	idx = -1
	for i, l := range a.Layers {
		if l.Name == layer && l.Name != "" {
			idx = i
		}
	}
	if idx < 0 {
		return nil, 0, fmt.Errorf("%s has no layer %q (layers: %v)", a.Name, layer, a.LayerNames())
	}
	ins = append(ins, [2]int{h, w})
	for _, l := range a.Layers[:idx+1] {
		switch l.Kind {
		case KindConv:
			h, w = l.Conv.OutSize(h, w)
		case KindMaxPool:
			h, w = l.Pool.OutSize(h, w)
		case KindAdaptiveAvgPool:
			h, w = l.OutH, l.OutW
		case KindLinear:
			h, w = 1, 1
		}
		ins = append(ins, [2]int{h, w})
	}
	return ins, idx, nil
}
