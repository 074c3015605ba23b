package colormap

import (
	"math"
	"testing"
)

// lightness is CIE L* (0..100) of an sRGB colour.
func lightness(c [3]byte) float64 {
	lin := func(v byte) float64 {
		x := float64(v) / 255
		if x <= 0.04045 {
			return x / 12.92
		}
		return math.Pow((x+0.055)/1.055, 2.4)
	}
	y := 0.2126*lin(c[0]) + 0.7152*lin(c[1]) + 0.0722*lin(c[2])
	if y > 216.0/24389 {
		return 116*math.Cbrt(y) - 16
	}
	return y * 24389 / 27
}

// simulate is how a reader with a colour vision deficiency sees c (Machado, Oliveira and
// Fernandes 2009, severity 1.0, applied to linear RGB).
func simulate(c [3]byte, m [3][3]float64) [3]byte {
	lin := func(v byte) float64 {
		x := float64(v) / 255
		if x <= 0.04045 {
			return x / 12.92
		}
		return math.Pow((x+0.055)/1.055, 2.4)
	}
	enc := func(x float64) byte {
		x = math.Max(0, math.Min(1, x))
		if x <= 0.0031308 {
			x *= 12.92
		} else {
			x = 1.055*math.Pow(x, 1/2.4) - 0.055
		}
		return byte(math.Round(255 * x))
	}
	in := [3]float64{lin(c[0]), lin(c[1]), lin(c[2])}
	var out [3]byte
	for r := range 3 {
		out[r] = enc(m[r][0]*in[0] + m[r][1]*in[1] + m[r][2]*in[2])
	}
	return out
}

// TestRampReadsWithoutHue: lightness rises along the whole ramp, for normal vision and as
// protanopes, deuteranopes and tritanopes see it, by a clear step from end to end.
func TestRampReadsWithoutHue(t *testing.T) {
	visions := map[string]*[3][3]float64{
		"normal":       nil,
		"protanopia":   {{0.152286, 1.052583, -0.204868}, {0.114503, 0.786281, 0.099216}, {-0.003882, -0.048116, 1.051998}},
		"deuteranopia": {{0.367322, 0.860646, -0.227968}, {0.280085, 0.672501, 0.047413}, {-0.011820, 0.042940, 0.968881}},
		"tritanopia":   {{1.255528, -0.076749, -0.178779}, {-0.078411, 0.930809, 0.147602}, {0.004733, 0.691367, 0.303900}},
	}
	for name, m := range visions {
		prev := -1.0
		for i, c := range Ramp {
			if m != nil {
				c = simulate(c, *m)
			}
			l := lightness(c)
			// Steps of 1/255 may round to the same byte; lightness must never fall.
			if l < prev-0.05 {
				t.Errorf("%s: lightness falls at %d (%.2f after %.2f)", name, i, l, prev)
			}
			prev = math.Max(prev, l)
		}
		if lo, hi := lightness(sim(Ramp[0], m)), lightness(sim(Ramp[255], m)); hi-lo < 80 {
			t.Errorf("%s: lightness from %.1f to %.1f, want a range of at least 80", name, lo, hi)
		}
	}
}

func sim(c [3]byte, m *[3][3]float64) [3]byte {
	if m == nil {
		return c
	}
	return simulate(c, *m)
}
