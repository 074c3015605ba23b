package engine

// MultiplyAdds counts the multiply-adds of the network's convolutions and linear layers for
// one h x w image (pools, LRN and activations are not counted): twice this is the FLOP count
// benchmark reports divide by time to get GFLOP/s.
func (a *Arch) MultiplyAdds(h, w int) (int64, error) {
	if _, err := a.Shapes(h, w); err != nil {
		return 0, err
	}
	var macs int64
	conv := func(c ConvSpec, h, w int) (int, int) {
		oh, ow := c.OutSize(h, w)
		macs += int64(c.Out*oh*ow) * int64(c.In/c.Groups*c.KH*c.KW)
		return oh, ow
	}
	for _, l := range a.Layers {
		switch l.Kind {
		case KindConv:
			h, w = conv(l.Conv, h, w)
		case KindFire:
			sq, e1, e3 := l.Fire.Convs()
			h, w = conv(sq, h, w)
			conv(e1, h, w)
			conv(e3, h, w)
		case KindMaxPool:
			h, w = l.Pool.OutSize(h, w)
		case KindAdaptiveAvgPool:
			h, w = l.OutH, l.OutW
		case KindLinear:
			macs += int64(l.Linear.In * l.Linear.Out)
		}
	}
	return macs, nil
}
