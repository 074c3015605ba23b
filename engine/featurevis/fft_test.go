package featurevis

import (
	"math"
	"math/cmplx"
	"math/rand"
	"testing"
)

func naiveDFT(x []complex128, inverse bool) []complex128 {
	n := len(x)
	sign := -1.0
	if inverse {
		sign = 1
	}
	out := make([]complex128, n)
	for k := range out {
		for j, v := range x {
			out[k] += v * cmplx.Rect(1, sign*2*math.Pi*float64(j*k%n)/float64(n))
		}
	}
	return out
}

func randComplex(r *rand.Rand, n int) []complex128 {
	x := make([]complex128, n)
	for i := range x {
		x[i] = complex(r.NormFloat64(), r.NormFloat64())
	}
	return x
}

func maxAbsDiff(a, b []complex128) float64 {
	var m float64
	for i := range a {
		m = max(m, cmplx.Abs(a[i]-b[i]))
	}
	return m
}

// naiveDFT2 is the 2-D DFT of the h x w row-major x, by its definition.
func naiveDFT2(x []complex128, h, w int, inverse bool) []complex128 {
	sign := -1.0
	if inverse {
		sign = 1
	}
	out := make([]complex128, h*w)
	for k := 0; k < h; k++ {
		for l := 0; l < w; l++ {
			for py := 0; py < h; py++ {
				for px := 0; px < w; px++ {
					phase := float64(k*py%h)/float64(h) + float64(l*px%w)/float64(w)
					out[k*w+l] += x[py*w+px] * cmplx.Rect(1, sign*2*math.Pi*phase)
				}
			}
		}
	}
	return out
}

// TestFFTMatchesNaiveDFT transforms the columns of planar matrices of 1, 2 and 5 columns
// (odd counts leave the SIMD kernel a tail) for every length up to 64 (powers of two, odd
// and prime factors, primes) and the sizes used for images: 224 = 2^5*7, 227 (a prime),
// 240, both ways.
func TestFFTMatchesNaiveDFT(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	lengths := []int{128, 224, 227, 240, 256}
	for n := 1; n <= 64; n++ {
		lengths = append(lengths, n)
	}
	for _, n := range lengths {
		p := newFFTPlan(n)
		for _, m := range []int{1, 2, 5} {
			cols := make([][]complex128, m)
			re, im := make([]float64, n*m), make([]float64, n*m)
			for c := range cols {
				cols[c] = randComplex(r, n)
				for y, v := range cols[c] {
					re[y*m+c], im[y*m+c] = real(v), imag(v)
				}
			}
			for _, inv := range []bool{false, true} {
				gr, gi := append([]float64(nil), re...), append([]float64(nil), im...)
				p.columns(gr, gi, m, inv)
				for c := range cols {
					got := make([]complex128, n)
					for y := range got {
						got[y] = complex(gr[y*m+c], gi[y*m+c])
					}
					if d := maxAbsDiff(got, naiveDFT(cols[c], inv)); d > 1e-9*float64(n) {
						t.Errorf("n=%d, column %d of %d, inverse=%v: max difference %.3g from the naive DFT", n, c, m, inv, d)
					}
				}
			}
		}
	}
}

// TestRealFFT2MatchesComplex: rfft2 (two real rows to a complex FFT) gives the 2-D DFT's
// half spectrum, and irfft2 the real part of the inverse DFT of any half spectrum, Hermitian
// or not (render's spectra are not), for even and odd sizes, powers of two or not.
func TestRealFFT2MatchesComplex(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	for _, hw := range [][2]int{{8, 8}, {9, 7}, {5, 12}, {1, 6}, {16, 16}, {7, 1}, {2, 2}} {
		h, w := hw[0], hw[1]
		fw := w/2 + 1
		f := newFFT2(h, w)
		in := make([]float64, h*w)
		x := make([]complex128, h*w)
		for i := range in {
			in[i] = r.NormFloat64()
			x[i] = complex(in[i], 0)
		}
		want := naiveDFT2(x, h, w, false)
		re, im := make([]float64, h*fw), make([]float64, h*fw)
		f.rfft2(in, re, im)
		for k := range h {
			for l := range fw {
				if d := cmplx.Abs(complex(re[k*fw+l], im[k*fw+l]) - want[k*w+l]); d > 1e-12 {
					t.Errorf("%dx%d: rfft2 (%d, %d) off by %.3g", h, w, k, l, d)
				}
			}
		}

		full := make([]complex128, h*w) // zero past column fw
		for k := range h {
			for l, v := range randComplex(r, fw) {
				full[k*w+l] = v
				re[k*fw+l], im[k*fw+l] = real(v), imag(v)
			}
		}
		want = naiveDFT2(full, h, w, true)
		out := make([]float64, h*w)
		f.irfft2(re, im, out)
		for i, v := range want {
			if d := math.Abs(out[i] - real(v)); d > 1e-12 {
				t.Fatalf("%dx%d: irfft2 value %d is %v, Re(IDFT2) %v", h, w, i, out[i], real(v))
			}
		}
	}
}

// TestFourierImageIsInverseRealFFT: rendering the half spectrum of a real image, with
// weights and scales undone, gives the image back: the parameterization is numpy's irfft2.
func TestFourierImageIsInverseRealFFT(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for _, hw := range [][2]int{{8, 8}, {9, 7}, {12, 10}} {
		h, w := hw[0], hw[1]
		im := newFourierImage(h, w, func() float64 { return 0 })
		img := make([]float64, h*w)
		x := make([]complex128, h*w)
		for i := range img {
			img[i] = r.NormFloat64()
			x[i] = complex(img[i], 0)
		}
		spectrum := naiveDFT2(x, h, w, false) // rfft2 = the first w/2+1 columns
		for k := 0; k < h; k++ {
			for l := 0; l < im.fw; l++ {
				i := k*im.fw + l
				im.spec[0][i] = spectrum[k*w+l] * complex(fourierDivisor/im.scale[i], 0)
			}
		}
		im.render()
		var d float64
		for i := range img {
			d = max(d, math.Abs(im.t[0][i]-img[i]))
		}
		if d > 1e-12 {
			t.Errorf("%dx%d: irfft2(rfft2(x)) differs from x by %.3g", h, w, d)
		}
	}
}

// TestFourierImageGradient compares backward with central finite differences of a loss
// sum(rgb * G) on random parameters, for real and imaginary parts of several coefficients
// (DC, Nyquist column, mirrored rows, interior).
func TestFourierImageGradient(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	h, w := 10, 8
	im := newFourierImage(h, w, func() float64 { return 0.3 * r.NormFloat64() })
	var G [3][]float64
	var g [3][]complex128
	for c := range G {
		G[c] = make([]float64, h*w)
		for i := range G[c] {
			G[c][i] = r.NormFloat64()
		}
		g[c] = make([]complex128, len(im.spec[c]))
	}
	loss := func() float64 {
		im.render()
		var s float64
		for c := range G {
			for i, v := range G[c] {
				s += im.rgb[c][i] * v
			}
		}
		return s
	}
	loss()
	im.backward(G, g)
	const eps = 1e-6
	for _, c := range []int{0, 2} {
		for _, i := range []int{0, 4, 3*im.fw + 1, 7*im.fw + 2, 5*im.fw + 4, 9*im.fw + 0} {
			for _, part := range []complex128{1, 1i} {
				orig := im.spec[c][i]
				im.spec[c][i] = orig + part*eps
				up := loss()
				im.spec[c][i] = orig - part*eps
				down := loss()
				im.spec[c][i] = orig
				num := (up - down) / (2 * eps)
				got := real(g[c][i])
				if part == 1i {
					got = imag(g[c][i])
				}
				if math.Abs(num-got) > 1e-6*max(1, math.Abs(num)) {
					t.Errorf("channel %d coefficient %d part %v: gradient %.9g, finite difference %.9g", c, i, part, got, num)
				}
			}
		}
	}
}

// TestSamplerAdjoint: <apply(x), y> = <x, adjoint(y)> for the linear part of the sampler,
// with a rotation, zoom and shift that put some taps outside the image.
func TestSamplerAdjoint(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	h, w, n := 13, 11, 9
	s := newSampler(n)
	tf := Transforms{Jitter: 4, ScaleSpan: 0.1, RotateDeg: 10}
	for trial := 0; trial < 5; trial++ {
		s.set(tf.draw(r), h, w)
		x := make([]float64, h*w)
		for i := range x {
			x[i] = r.NormFloat64()
		}
		y := make([]float32, n*n)
		for i := range y {
			y[i] = float32(r.NormFloat64())
		}
		// With std 1 and mean padValue, apply(x) - apply(0) is the linear part.
		ax, a0 := make([]float32, n*n), make([]float32, n*n)
		s.apply(ax, x, 0, 1)
		s.apply(a0, make([]float64, h*w), 0, 1)
		var lhs, rhs float64
		for i := range y {
			lhs += float64(ax[i]-a0[i]) * float64(y[i])
		}
		aty := make([]float64, h*w)
		s.adjoint(aty, y, 1)
		for i := range x {
			rhs += x[i] * aty[i]
		}
		if math.Abs(lhs-rhs) > 1e-4*max(1, math.Abs(lhs)) {
			t.Errorf("trial %d: <Sx, y> = %.6g, <x, S'y> = %.6g", trial, lhs, rhs)
		}
	}
}

// BenchmarkFourierImage is one render and one backward of the app's 128 px image: the
// image's share of a feature-visualization step.
func BenchmarkFourierImage(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	im := newFourierImage(128, 128, r.NormFloat64)
	var g [3][]float64
	var gs [3][]complex128
	for c := range g {
		g[c] = make([]float64, 128*128)
		gs[c] = make([]complex128, len(im.spec[c]))
	}
	for range b.N {
		im.render()
		im.backward(g, gs)
	}
}
