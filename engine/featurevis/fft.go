package featurevis

import (
	"math"
	"math/cmplx"
)

// A small mixed-radix FFT, enough for the Fourier image parameterization: complex128, any
// length (fast when the length factors into small primes, like 224 = 2^5 * 7; a large prime
// factor falls back to its direct DFT, correct but slow).

// fftPlan holds the twiddle factors of one length.
type fftPlan struct {
	n       int
	tw      []complex128 // tw[j] = exp(-2*pi*i*j/n)
	scratch []complex128 // for the inverse; a plan is used by one goroutine at a time
	rev     []int32      // powers of two: the bit-reversal permutation
}

func newFFTPlan(n int) *fftPlan {
	p := &fftPlan{n: n, tw: make([]complex128, n), scratch: make([]complex128, n)}
	for j := range p.tw {
		s, c := math.Sincos(-2 * math.Pi * float64(j) / float64(n))
		p.tw[j] = complex(c, s)
	}
	if n > 1 && n&(n-1) == 0 {
		bits := 0
		for 1<<bits < n {
			bits++
		}
		p.rev = make([]int32, n)
		for i := range p.rev {
			r := 0
			for b := 0; b < bits; b++ {
				r |= (i >> b & 1) << (bits - 1 - b)
			}
			p.rev[i] = int32(r)
		}
	}
	return p
}

// radix2 is the transform for a power-of-two length, iteratively: the input in bit-reversed
// order, then log2(n) passes of butterflies over contiguous halves. The same sums as rec,
// without its recursion and strided reads (the app's 128 px images, the atlas's 64).
func (p *fftPlan) radix2(out, in []complex128) {
	n := p.n
	for i, r := range p.rev {
		out[r] = in[i]
	}
	for size := 2; size <= n; size <<= 1 {
		half, step := size/2, n/size
		for start := 0; start < n; start += size {
			lo, hi := out[start:start+half], out[start+half:start+size]
			for k := range lo {
				a, b := lo[k], hi[k]*p.tw[k*step]
				lo[k], hi[k] = a+b, a-b
			}
		}
	}
}

// transform sets out[k] = sum_j in[j] exp(-2*pi*i*j*k/n), or with +i when inverse (and no
// 1/n factor). in and out must not overlap; both have length n.
func (p *fftPlan) transform(out, in []complex128, inverse bool) {
	if inverse {
		// conj(FFT(conj(x))) is the unnormalized inverse.
		for i, v := range in {
			p.scratch[i] = cmplx.Conj(v)
		}
		p.forward(out, p.scratch)
		for i, v := range out {
			out[i] = cmplx.Conj(v)
		}
		return
	}
	p.forward(out, in)
}

func (p *fftPlan) forward(out, in []complex128) {
	if p.rev != nil {
		p.radix2(out, in)
		return
	}
	p.rec(out, in, 1, p.n)
}

// rec computes the length-n DFT of in[0], in[stride], in[2*stride], ... into out[:n] by
// decimation in time on n's smallest prime factor f: f interleaved sub-transforms of length
// m = n/f, then a radix-f butterfly per k < m:
//
//	X[k + q*m] = sum_r W_n^(r*k) * W_f^(r*q) * F_r[k]
func (p *fftPlan) rec(out, in []complex128, stride, n int) {
	if n == 1 {
		out[0] = in[0]
		return
	}
	f := smallestFactor(n)
	m := n / f
	for r := 0; r < f; r++ {
		p.rec(out[r*m:(r+1)*m], in[r*stride:], stride*f, m)
	}
	step := p.n / n // W_n^j = tw[j*step]
	if f == 2 {     // the common case, as a plain butterfly
		for k := 0; k < m; k++ {
			a, b := out[k], out[m+k]*p.tw[k*step]
			out[k], out[m+k] = a+b, a-b
		}
		return
	}
	var small [8]complex128
	t := small[:0]
	if f > len(small) {
		t = make([]complex128, f)
	} else {
		t = small[:f]
	}
	for k := 0; k < m; k++ {
		for r := 0; r < f; r++ {
			t[r] = out[r*m+k] * p.tw[r*k*step] // r*k < n, so no wrap-around
		}
		for q := 0; q < f; q++ {
			var s complex128
			for r := 0; r < f; r++ {
				s += t[r] * p.tw[(r*q%f)*m*step] // W_f^(r*q)
			}
			out[q*m+k] = s
		}
	}
}

func smallestFactor(n int) int {
	for f := 2; f*f <= n; f++ {
		if n%f == 0 {
			return f
		}
	}
	return n
}

// fft2 transforms an h x w row-major array in place: rows, then columns.
type fft2 struct {
	h, w       int
	rows, cols *fftPlan
	a, b       []complex128 // scratch, max(h, w) each
}

func newFFT2(h, w int) *fft2 {
	return &fft2{h: h, w: w, rows: newFFTPlan(w), cols: newFFTPlan(h), a: make([]complex128, max(h, w)), b: make([]complex128, max(h, w))}
}

// transform is the 2-D transform of a complex array, in place: rows, then columns.
func (f *fft2) transform(x []complex128, inverse bool) {
	f.rowPass(x, inverse)
	f.columns(x, inverse, f.w)
}

func (f *fft2) rowPass(x []complex128, inverse bool) {
	for y := 0; y < f.h; y++ {
		row := x[y*f.w : (y+1)*f.w]
		copy(f.a[:f.w], row)
		f.rows.transform(row, f.a[:f.w], inverse)
	}
}

func (f *fft2) columns(x []complex128, inverse bool, cols int) {
	for c := 0; c < cols; c++ {
		for y := 0; y < f.h; y++ {
			f.a[y] = x[y*f.w+c]
		}
		f.cols.transform(f.b[:f.h], f.a[:f.h], inverse)
		for y := 0; y < f.h; y++ {
			x[y*f.w+c] = f.b[y]
		}
	}
}

// The images are real, so their row transforms run two rows at a time: a complex row
// z = a + i*b holds two real rows, and one FFT of it gives both spectra (A[l] =
// (Z[l] + conj(Z[-l]))/2, B[l] = (Z[l] - conj(Z[-l]))/2i); backwards, two Hermitian spectra
// A + i*B transform to a + i*b. Half the row FFTs, for a third of all the work.

// irfft2 sets out (h x w) to Re(IFFT2(x)), unnormalized, for an x that is zero from column
// cols <= w/2+1 on (the scaled half spectra of render). x is overwritten.
func (f *fft2) irfft2(x []complex128, cols int, out []float64) {
	if cols > f.w/2+1 {
		panic("featurevis: irfft2 of more than a half spectrum")
	}
	f.columns(x, true, cols)
	w := f.w
	// hermitian writes into z the full spectrum whose inverse is Re(IFFT(row)): conjugate
	// pairs of half each (l, w-l) value, the real part of the self-mirrored DC and Nyquist
	// bins; times m, 1 or i.
	hermitian := func(z, row []complex128, m complex128) {
		for l := range cols {
			v := row[l]
			if l == 0 || 2*l == w {
				z[l] += complex(real(v), 0) * m
				continue
			}
			z[l] += v / 2 * m
			z[w-l] += complex(real(v), -imag(v)) / 2 * m
		}
	}
	z := f.b[:w]
	for y := 0; y < f.h; y += 2 {
		clear(z)
		hermitian(z, x[y*w:(y+1)*w], 1)
		if y+1 < f.h {
			hermitian(z, x[(y+1)*w:(y+2)*w], 1i)
		}
		f.rows.transform(f.a[:w], z, true)
		for t, v := range f.a[:w] {
			out[y*w+t] = real(v)
			if y+1 < f.h {
				out[(y+1)*w+t] = imag(v)
			}
		}
	}
}

// rfft2 sets x's columns below cols (h x w, row-major) to FFT2(in)'s, in real h x w; the
// columns from cols on are left as they are.
func (f *fft2) rfft2(in []float64, x []complex128, cols int) {
	w := f.w
	z := f.b[:w]
	for y := 0; y < f.h; y += 2 {
		for t := range w {
			im := 0.0
			if y+1 < f.h {
				im = in[(y+1)*w+t]
			}
			z[t] = complex(in[y*w+t], im)
		}
		f.rows.transform(f.a[:w], z, false)
		za := f.a[:w]
		for l := range cols {
			zl, zm := za[l], za[(w-l)%w]
			zm = complex(real(zm), -imag(zm)) // conj(Z[-l])
			x[y*w+l] = (zl + zm) / 2
			if y+1 < f.h {
				d := zl - zm // (Z[l] - conj(Z[-l])) / 2i
				x[(y+1)*w+l] = complex(imag(d)/2, -real(d)/2)
			}
		}
	}
	f.columns(x, false, cols)
}
