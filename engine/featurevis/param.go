package featurevis

import "math"

// fourierImage is the image parameterization of Distill's "Feature Visualization" (Olah et
// al. 2017) as Lucid implements it (fft_image + to_valid_rgb): the optimized parameters are
// a half spectrum per channel, scaled by 1/frequency so that every frequency moves at a
// similar rate (plain pixel gradients are dominated by high frequencies); the inverse real
// FFT gives an image in a decorrelated colour space, which a fixed 3x3 matrix (the square
// root of ImageNet's colour correlation) turns into RGB, and a sigmoid keeps it in (0, 1).
type fourierImage struct {
	h, w, fw int             // fw = w/2 + 1 columns of the half spectrum
	spec     [3][]complex128 // parameters, h x fw per channel
	scale    []float64       // h x fw: 1/max(freq, 1/max(h, w)) * sqrt(h*w)
	weight   []float64       // per column: 1 for the DC (and Nyquist) column, 2 otherwise
	// toSpectrum (h x fw) is weight * scale / (fourierDivisor * h * w), the factor from a
	// parameter to the spectrum whose unnormalized inverse FFT render takes; backward's
	// fromSpectrum is the same (the adjoint of a real factor is itself).
	toSpectrum, fromSpectrum []float64
	fft                      *fft2
	bufRe, bufIm             []float64    // h x fw: a spectrum being transformed
	t                        [3][]float64 // the image in decorrelated colour space, h x w
	rgb                      [3][]float64 // the image, in (0, 1)
}

// colorSqrt is the square root of ImageNet's RGB correlation matrix (Lucid's
// color_correlation_svd_sqrt); it is divided by its largest column norm when used.
var colorSqrt = [3][3]float64{
	{0.26, 0.09, 0.02},
	{0.27, 0.00, -0.05},
	{0.27, -0.09, 0.03},
}

var colorMatrix = func() (m [3][3]float64) {
	var maxNorm float64
	for j := 0; j < 3; j++ {
		var s float64
		for i := 0; i < 3; i++ {
			s += colorSqrt[i][j] * colorSqrt[i][j]
		}
		maxNorm = max(maxNorm, math.Sqrt(s))
	}
	for i := range m {
		for j := range m[i] {
			m[i][j] = colorSqrt[i][j] / maxNorm
		}
	}
	return m
}()

// fourierDivisor is Lucid's "magic" 4: the inverse FFT of the initial spectrum is divided
// by it so that the first image is a faint noise around grey.
const fourierDivisor = 4

func newFourierImage(h, w int, init func() float64) *fourierImage {
	fw := w/2 + 1
	im := &fourierImage{h: h, w: w, fw: fw, scale: make([]float64, h*fw), weight: make([]float64, fw),
		toSpectrum: make([]float64, h*fw), fromSpectrum: make([]float64, h*fw),
		fft: newFFT2(h, w), bufRe: make([]float64, h*fw), bufIm: make([]float64, h*fw)}
	for c := 0; c < 3; c++ {
		im.spec[c] = make([]complex128, h*fw)
		for i := range im.spec[c] {
			re := init()
			im.spec[c][i] = complex(re, init())
		}
		im.t[c] = make([]float64, h*w)
		im.rgb[c] = make([]float64, h*w)
	}
	floor := 1 / float64(max(h, w))
	for k := 0; k < h; k++ {
		fy := float64(k) / float64(h) // numpy.fft.fftfreq: k/h, then negative above h/2
		if k >= (h+1)/2 {
			fy = float64(k-h) / float64(h)
		}
		for l := 0; l < fw; l++ {
			fx := float64(l) / float64(w)
			im.scale[k*fw+l] = math.Sqrt(float64(h*w)) / max(math.Hypot(fx, fy), floor)
		}
	}
	for l := range im.weight {
		im.weight[l] = 2
	}
	im.weight[0] = 1
	if w%2 == 0 {
		im.weight[w/2] = 1
	}
	n := float64(h * w)
	for i, s := range im.scale {
		f := im.weight[i%fw] * s / (fourierDivisor * n)
		im.toSpectrum[i], im.fromSpectrum[i] = f, f
	}
	return im
}

// render computes t and rgb from the spectrum. The inverse real FFT of a half spectrum X is
// Re(IFFT2(Y)) with Y[k, l] = weight[l] * X[k, l] for l < fw and 0 beyond, which is
// numpy.fft.irfft2 exactly (the columns past fw are X's mirror images, adding the same
// real part again).
func (im *fourierImage) render() {
	for c := 0; c < 3; c++ {
		for i, v := range im.spec[c] {
			s := im.toSpectrum[i]
			im.bufRe[i], im.bufIm[i] = real(v)*s, imag(v)*s
		}
		im.fft.irfft2(im.bufRe, im.bufIm, im.t[c])
	}
	// The pixel loops index local slices of equal length: Go's WebAssembly reloads a
	// slice header from an array at every access and checks bounds each time otherwise.
	t0, m := im.t[0], &colorMatrix
	t1, t2 := im.t[1][:len(t0)], im.t[2][:len(t0)]
	r, g, b := im.rgb[0][:len(t0)], im.rgb[1][:len(t0)], im.rgb[2][:len(t0)]
	for p, x := range t0 {
		y, z := t1[p], t2[p]
		r[p] = m[0][0]*x + m[0][1]*y + m[0][2]*z
		g[p] = m[1][0]*x + m[1][1]*y + m[1][2]*z
		b[p] = m[2][0]*x + m[2][1]*y + m[2][2]*z
	}
	for _, c := range im.rgb {
		sigmoidsImpl(c)
	}
}

// backward turns the gradient of a loss with respect to rgb (as last rendered) into its
// gradient with respect to the spectrum, written into g (real and imaginary parts as the
// two parameters of each coefficient). It is the transpose of render, step by step:
// sigmoid, colour matrix, then the inverse FFT's adjoint, a forward FFT with the same
// weights and scales.
func (im *fourierImage) backward(gRGB [3][]float64, g [3][]complex128) {
	var gt [3][]float64
	for c := range gt {
		gt[c] = im.t[c] // t is recomputed by the next render, so its storage is reused
	}
	sr, m := im.rgb[0], &colorMatrix
	sg, sb := im.rgb[1][:len(sr)], im.rgb[2][:len(sr)]
	gr, gg, gb := gRGB[0][:len(sr)], gRGB[1][:len(sr)], gRGB[2][:len(sr)]
	g0, g1, g2 := gt[0][:len(sr)], gt[1][:len(sr)], gt[2][:len(sr)]
	for p, s := range sr {
		lr := gr[p] * s * (1 - s) // through the sigmoids
		lg := gg[p] * sg[p] * (1 - sg[p])
		lb := gb[p] * sb[p] * (1 - sb[p])
		g0[p] = m[0][0]*lr + m[1][0]*lg + m[2][0]*lb // through the colour matrix, transposed
		g1[p] = m[0][1]*lr + m[1][1]*lg + m[2][1]*lb
		g2[p] = m[0][2]*lr + m[1][2]*lg + m[2][2]*lb
	}
	for c := 0; c < 3; c++ {
		im.fft.rfft2(gt[c], im.bufRe, im.bufIm)
		for i, s := range im.fromSpectrum {
			g[c][i] = complex(im.bufRe[i]*s, im.bufIm[i]*s)
		}
	}
}
