// Package colormap is the ramp the app draws activation maps with: dark to bright (near
// black, indigo, magenta, orange, pale yellow), so weak activations recede and strong ones
// stand out. Its lightness rises at every step, so the order reads without telling hues
// apart: for colour-blind readers, and in greyscale print.
package colormap

// Ramp maps an activation scaled to 0..255 to RGB.
var Ramp = func() (m [256][3]byte) {
	stops := [][3]float64{{4, 4, 16}, {60, 15, 110}, {180, 45, 110}, {245, 125, 40}, {252, 250, 190}}
	for i := range 256 {
		t := float64(i) / 255 * float64(len(stops)-1)
		s := min(int(t), len(stops)-2)
		f := t - float64(s)
		for c := range 3 {
			m[i][c] = byte(stops[s][c]*(1-f) + stops[s+1][c]*f + 0.5)
		}
	}
	return m
}()
