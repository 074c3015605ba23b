package featurevis

import (
	"math"
	"math/cmplx"
)

// A small mixed-radix FFT, enough for the Fourier image parameterization: float64, any
// length (fast when the length is a power of two, like the app's 128 and the atlas's 64;
// other lengths factor into small primes, like 224 = 2^5 * 7, and a large prime factor
// falls back to its direct DFT, correct but slow).
//
// The 2-D transforms keep real and imaginary parts in separate row-major planes and
// transform columns: a butterfly then combines two whole rows with one twiddle factor,
// a long loop over contiguous memory that runs two columns per instruction with
// WebAssembly SIMD (butterflyRowsImpl). Rows are transformed as columns of a transposed
// copy. Go's WebAssembly pays for every loop iteration and bounds check, and transformed
// one row at a time over complex128 values the image's FFTs took a fifth of a step there.

// fftPlan holds the twiddle factors of one length.
type fftPlan struct {
	n   int
	tw  []complex128 // tw[j] = exp(-2*pi*i*j/n)
	rev []int32      // powers of two: the bit-reversal permutation
	col []complex128 // one column, for lengths that are not powers of two
	out []complex128
}

func newFFTPlan(n int) *fftPlan {
	p := &fftPlan{n: n, tw: make([]complex128, n)}
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
	} else {
		p.col, p.out = make([]complex128, n), make([]complex128, n)
	}
	return p
}

// columns transforms, in place, each of the m columns of the n x m row-major matrix with
// real parts re and imaginary parts im: X[k] = sum_j x[j] exp(-2*pi*i*j*k/n), or with +i
// when inverse (and no 1/n factor). A plan is used by one goroutine at a time.
func (p *fftPlan) columns(re, im []float64, m int, inverse bool) {
	n := p.n
	re, im = re[:n*m], im[:n*m]
	if p.rev == nil {
		p.columnsByDFT(re, im, m, inverse)
		return
	}
	// Radix 2, decimation in time: the rows in bit-reversed order, then log2(n) passes,
	// each combining row start+k with row start+k+half for blocks of size rows.
	for i, r := range p.rev {
		if j := int(r); i < j {
			swapRows(re[i*m:(i+1)*m], re[j*m:(j+1)*m])
			swapRows(im[i*m:(i+1)*m], im[j*m:(j+1)*m])
		}
	}
	for size := 2; size <= n; size <<= 1 {
		half, step := size/2, n/size
		for start := 0; start < n; start += size {
			for k := 0; k < half; k++ {
				t := p.tw[k*step]
				tr, ti := real(t), imag(t)
				if inverse {
					ti = -ti
				}
				lo, hi := (start+k)*m, (start+k+half)*m
				butterflyRowsImpl(re[lo:lo+m], im[lo:lo+m], re[hi:hi+m], im[hi:hi+m], tr, ti)
			}
		}
	}
}

func swapRows(a, b []float64) {
	b = b[:len(a)]
	for j, v := range a {
		a[j], b[j] = b[j], v
	}
}

// butterflyRowsImpl is butterflyRows, or a SIMD version of it where one is built in.
var butterflyRowsImpl = butterflyRows

// butterflyRows is the radix-2 butterfly of rows lo and hi with twiddle t = tr + i*ti:
// lo, hi = lo + t*hi, lo - t*hi, column by column.
func butterflyRows(lr, li, hr, hi []float64, tr, ti float64) {
	li, hr, hi = li[:len(lr)], hr[:len(lr)], hi[:len(lr)]
	for j, ar := range lr {
		br := hr[j]*tr - hi[j]*ti
		bi := hr[j]*ti + hi[j]*tr
		ai := li[j]
		lr[j], li[j] = ar+br, ai+bi
		hr[j], hi[j] = ar-br, ai-bi
	}
}

// columnsByDFT is columns for any length: each column gathered and transformed by rec.
func (p *fftPlan) columnsByDFT(re, im []float64, m int, inverse bool) {
	n := p.n
	for c := 0; c < m; c++ {
		for y := 0; y < n; y++ {
			v := complex(re[y*m+c], im[y*m+c])
			if inverse { // conj(FFT(conj(x))) is the unnormalized inverse
				v = cmplx.Conj(v)
			}
			p.col[y] = v
		}
		p.rec(p.out, p.col, 1, n)
		for y, v := range p.out {
			if inverse {
				v = cmplx.Conj(v)
			}
			re[y*m+c], im[y*m+c] = real(v), imag(v)
		}
	}
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

// fft2 holds the plans and scratch of the real 2-D transforms of an h x w image and its
// half spectrum (h x fw, fw = w/2+1 columns, in separate real and imaginary planes).
//
// The image is real, so its row transforms run two rows at a time: a complex row z = a + i*b
// holds two real rows, and one FFT of it gives both spectra (A[l] = (Z[l] + conj(Z[-l]))/2,
// B[l] = (Z[l] - conj(Z[-l]))/2i); backwards, two Hermitian spectra A + i*B transform to
// a + i*b. The hp = ceil(h/2) pairs are the columns of z (w x hp, z[t][p] = pair p at t).
type fft2 struct {
	h, w, fw, hp int
	rows, cols   *fftPlan
	zr, zi       []float64 // w x hp
}

func newFFT2(h, w int) *fft2 {
	hp := (h + 1) / 2
	return &fft2{h: h, w: w, fw: w/2 + 1, hp: hp, rows: newFFTPlan(w), cols: newFFTPlan(h),
		zr: make([]float64, w*hp), zi: make([]float64, w*hp)}
}

// irfft2 sets out (h x w) to Re(IFFT2(X)), unnormalized, for the half spectrum X = re + i*im
// (h x fw; the columns past fw count as zero, so X need not be Hermitian: render's spectra
// are not). re and im are overwritten.
func (f *fft2) irfft2(re, im, out []float64) {
	h, w, fw, hp := f.h, f.w, f.fw, f.hp
	f.cols.columns(re, im, fw, true)
	zr, zi := f.zr, f.zi
	for p := 0; p < hp; p++ {
		ar, ai := re[2*p*fw:(2*p+1)*fw], im[2*p*fw:(2*p+1)*fw]
		var br, bi []float64 // none when h is odd and the last pair has one row
		if 2*p+1 < h {
			br, bi = re[(2*p+1)*fw:(2*p+2)*fw], im[(2*p+1)*fw:(2*p+2)*fw]
		}
		for l := 0; l < fw; l++ {
			vr, vi := ar[l], ai[l]
			var ur, ui float64
			if len(br) > 0 {
				ur, ui = br[l], bi[l]
			}
			// The full spectrum whose inverse is Re(IFFT(row)): the real part of the
			// self-mirrored DC and Nyquist bins, conjugate halves at l and w-l; a's plus
			// i times b's.
			if l == 0 || 2*l == w {
				zr[l*hp+p], zi[l*hp+p] = vr, ur
				continue
			}
			zr[l*hp+p], zi[l*hp+p] = vr/2-ui/2, vi/2+ur/2
			zr[(w-l)*hp+p], zi[(w-l)*hp+p] = vr/2+ui/2, ur/2-vi/2
		}
	}
	f.rows.columns(zr, zi, hp, true)
	for p := 0; p < hp; p++ {
		a := out[2*p*w : (2*p+1)*w]
		for t := range a {
			a[t] = zr[t*hp+p]
		}
		if 2*p+1 < h {
			b := out[(2*p+1)*w : (2*p+2)*w]
			for t := range b {
				b[t] = zi[t*hp+p]
			}
		}
	}
}

// rfft2 sets re + i*im (h x fw) to the first fw columns of FFT2(in), in real h x w.
func (f *fft2) rfft2(in, re, im []float64) {
	h, w, fw, hp := f.h, f.w, f.fw, f.hp
	zr, zi := f.zr, f.zi
	for p := 0; p < hp; p++ {
		a := in[2*p*w : (2*p+1)*w]
		for t, v := range a {
			zr[t*hp+p] = v
		}
		if 2*p+1 < h {
			for t, v := range in[(2*p+1)*w : (2*p+2)*w] {
				zi[t*hp+p] = v
			}
		} else {
			for t := range a {
				zi[t*hp+p] = 0
			}
		}
	}
	f.rows.columns(zr, zi, hp, false)
	for p := 0; p < hp; p++ {
		for l := 0; l < fw; l++ {
			m := (w - l) % w
			zlr, zli := zr[l*hp+p], zi[l*hp+p]
			zmr, zmi := zr[m*hp+p], -zi[m*hp+p] // conj(Z[-l])
			re[2*p*fw+l], im[2*p*fw+l] = (zlr+zmr)/2, (zli+zmi)/2
			if 2*p+1 < h { // (Z[l] - conj(Z[-l])) / 2i
				dr, di := zlr-zmr, zli-zmi
				re[(2*p+1)*fw+l], im[(2*p+1)*fw+l] = di/2, -dr/2
			}
		}
	}
	f.cols.columns(re, im, fw, false)
}
