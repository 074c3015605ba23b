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
	fft      *fft2
	buf      []complex128 // h x w
	t        [3][]float64 // the image in decorrelated colour space, h x w
	rgb      [3][]float64 // the image, in (0, 1)
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
		fft: newFFT2(h, w), buf: make([]complex128, h*w)}
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
	return im
}

// render computes t and rgb from the spectrum. The inverse real FFT of a half spectrum X is
// Re(IFFT2(Y)) with Y[k, l] = weight[l] * X[k, l] for l < fw and 0 beyond, which is
// numpy.fft.irfft2 exactly (the columns past fw are X's mirror images, adding the same
// real part again).
func (im *fourierImage) render() {
	n := float64(im.h * im.w)
	for c := 0; c < 3; c++ {
		clear(im.buf)
		for k := 0; k < im.h; k++ {
			for l := 0; l < im.fw; l++ {
				i := k*im.fw + l
				im.buf[k*im.w+l] = im.spec[c][i] * complex(im.weight[l]*im.scale[i]/fourierDivisor, 0)
			}
		}
		im.fft.irfft2(im.buf, im.fw, im.t[c])
		for p, v := range im.t[c] {
			im.t[c][p] = v / n
		}
	}
	for p := range im.t[0] {
		for i := 0; i < 3; i++ {
			lin := colorMatrix[i][0]*im.t[0][p] + colorMatrix[i][1]*im.t[1][p] + colorMatrix[i][2]*im.t[2][p]
			im.rgb[i][p] = 1 / (1 + math.Exp(-lin))
		}
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
	for p := range gRGB[0] {
		var gl [3]float64
		for i := 0; i < 3; i++ {
			s := im.rgb[i][p]
			gl[i] = gRGB[i][p] * s * (1 - s)
		}
		for j := 0; j < 3; j++ {
			gt[j][p] = colorMatrix[0][j]*gl[0] + colorMatrix[1][j]*gl[1] + colorMatrix[2][j]*gl[2]
		}
	}
	n := float64(im.h * im.w)
	for c := 0; c < 3; c++ {
		im.fft.rfft2(gt[c], im.buf, im.fw)
		for k := 0; k < im.h; k++ {
			for l := 0; l < im.fw; l++ {
				i := k*im.fw + l
				g[c][i] = im.buf[k*im.w+l] * complex(im.weight[l]*im.scale[i]/(fourierDivisor*n), 0)
			}
		}
	}
}
