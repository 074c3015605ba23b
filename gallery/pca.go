package gallery

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Point is a position on a 2-D map of the gallery.
type Point struct{ X, Y float64 }

// Progress reports how far a long computation has come: stage names the step, done of total
// units are finished. It is called from the computing goroutine; keep it quick.
type Progress func(stage string, done, total int)

// MaxLayoutDim bounds the components of vectors given to layouts.
const MaxLayoutDim = MaxDim

// PCA projects the vectors onto their first k principal components (the directions of
// largest variance, best first), returning n rows of k coordinates.
//
// It runs block power (subspace) iteration on the covariance without forming it: each
// iteration multiplies a block of k+4 vectors by X^T X (2·n·d·(k+4) multiply-adds), then
// orthonormalizes the block; a Rayleigh–Ritz step with a small Jacobi eigen solver orders the
// converged directions. The start block is fixed and each component's sign is chosen so its
// largest entry is positive, so the result is deterministic. ctx cancels between iterations.
func PCA(ctx context.Context, x [][]float32, k int, progress Progress) ([][]float64, error) {
	return pca(ctx, x, k, 500, progress)
}

// pca is PCA with at most maxIter block iterations. A few already find a subspace holding
// nearly all the leading variance, which is what a neighbour search needs; converging the
// order of 50 components whose variances are close can take hundreds.
func pca(ctx context.Context, x [][]float32, k, maxIter int, progress Progress) ([][]float64, error) {
	n, d, err := checkVectors(x)
	if err != nil {
		return nil, err
	}
	if k < 1 || k > d {
		return nil, fmt.Errorf("gallery: PCA to %d components of %d-component vectors", k, d)
	}
	mean := make([]float64, d)
	for _, v := range x {
		for j, a := range v {
			mean[j] += float64(a)
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	b := min(k+4, d) // a few extra vectors speed convergence of the last wanted one
	V := make([][]float64, b)
	rng := splitMix(0x5eed)
	for i := range V {
		V[i] = make([]float64, d)
		for j := range V[i] {
			V[i][j] = rng.normal()
		}
	}
	orthonormalize(V)
	xv := make([][]float64, b) // n x b projections of the centred data
	for i := range xv {
		xv[i] = make([]float64, n)
	}
	for it := 0; it < maxIter; it++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		W := make([][]float64, b)
		for i := range W {
			W[i] = make([]float64, d)
		}
		sweep(x, mean, V, xv, W) // xv = Xc V, W = Xc^T (Xc V)
		orthonormalize(W)
		// Converged when the wanted directions stopped turning.
		worst := 0.0
		for i := 0; i < k; i++ {
			worst = max(worst, 1-math.Abs(dot64(V[i], W[i])))
		}
		V = W
		if progress != nil {
			progress("pca", it+1, maxIter)
		}
		if worst < 1e-10 {
			break
		}
	}
	// Rayleigh–Ritz: eigenvectors of the small matrix V^T C V order the block's directions.
	sweep(x, mean, V, xv, nil)
	B := make([][]float64, b)
	for i := range B {
		B[i] = make([]float64, b)
		for j := range B[i] {
			B[i][j] = dot64(xv[i], xv[j])
		}
	}
	vals, vecs := jacobiEigen(B)
	order := make([]int, b)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, c int) int {
		switch {
		case vals[a] > vals[c]:
			return -1
		case vals[a] < vals[c]:
			return 1
		}
		return 0
	})
	comps := make([][]float64, k)
	for c := 0; c < k; c++ {
		e := order[c]
		u := make([]float64, d)
		for i := range V {
			for j := range u {
				u[j] += vecs[i][e] * V[i][j]
			}
		}
		// Sign convention: the entry of largest magnitude is positive.
		big := 0
		for j := range u {
			if math.Abs(u[j]) > math.Abs(u[big]) {
				big = j
			}
		}
		if u[big] < 0 {
			for j := range u {
				u[j] = -u[j]
			}
		}
		comps[c] = u
	}
	proj := make([][]float64, k) // proj[c][r]: row r's coordinate c
	for c := range proj {
		proj[c] = make([]float64, n)
	}
	sweep(x, mean, comps, proj, nil)
	out := make([][]float64, n)
	for r := range out {
		out[r] = make([]float64, k)
		for c := range comps {
			out[r][c] = proj[c][r]
		}
	}
	return out, nil
}

// PCA2 is PCA to two components as map points.
func PCA2(ctx context.Context, x [][]float32, progress Progress) ([]Point, error) {
	y, err := PCA(ctx, x, 2, progress)
	if err != nil {
		return nil, err
	}
	pts := make([]Point, len(y))
	for i, r := range y {
		pts[i] = Point{r[0], r[1]}
	}
	return pts, nil
}

// sweep sets xv[i][r] = (x[r] - mean) · V[i] and, when W is not nil, W[i] = the sum over r
// of xv[i][r] (x[r] - mean): both products of an iteration in one pass over the rows. It
// centres through the algebra ((x - m)·v = x·v - m·v; the sum of c_r (x_r - m) is the sum of
// c_r x_r less m times the sum of c_r) so that its inner loops are dot64 and axpy64, which
// WebAssembly runs in SIMD.
func sweep(x [][]float32, mean []float64, V, xv, W [][]float64) {
	mv := make([]float64, len(V))
	for i, v := range V {
		mv[i] = dot64(mean, v)
	}
	csum := make([]float64, len(V))
	xr := make([]float64, len(mean))
	for r, row := range x {
		for j, a := range row {
			xr[j] = float64(a)
		}
		for i, v := range V {
			c := dot64(xr, v) - mv[i]
			xv[i][r] = c
			if W != nil {
				axpy64(c, xr, W[i])
				csum[i] += c
			}
		}
	}
	for i := range W {
		axpy64(-csum[i], mean, W[i])
	}
}

func checkVectors(x [][]float32) (n, d int, err error) {
	if len(x) < 2 {
		return 0, 0, fmt.Errorf("gallery: a map needs at least 2 embeddings, have %d", len(x))
	}
	d = len(x[0])
	if d < 1 || d > MaxLayoutDim {
		return 0, 0, fmt.Errorf("gallery: embeddings of %d components (want 1..%d)", d, MaxLayoutDim)
	}
	for i, v := range x {
		if len(v) != d {
			return 0, 0, fmt.Errorf("gallery: embedding %d has %d components, the first has %d", i, len(v), d)
		}
		for _, a := range v {
			if math.IsNaN(float64(a)) || math.IsInf(float64(a), 0) {
				return 0, 0, errors.New("gallery: an embedding holds NaN or infinite values")
			}
		}
	}
	return len(x), d, nil
}

// orthonormalize runs modified Gram–Schmidt twice (enough for full precision); a vector that
// vanishes is replaced by a unit vector orthogonal to the others.
func orthonormalize(V [][]float64) {
	for i := range V {
		for pass := 0; pass < 2; pass++ {
			for j := 0; j < i; j++ {
				c := dot64(V[i], V[j])
				for t := range V[i] {
					V[i][t] -= c * V[j][t]
				}
			}
		}
		nrm := math.Sqrt(dot64(V[i], V[i]))
		if nrm < 1e-300 {
			// Rank-deficient data: any direction orthogonal to the previous ones will do.
			for e := 0; e < len(V[i]); e++ {
				clear(V[i])
				V[i][e] = 1
				for j := 0; j < i; j++ {
					c := dot64(V[i], V[j])
					for t := range V[i] {
						V[i][t] -= c * V[j][t]
					}
				}
				if nrm = math.Sqrt(dot64(V[i], V[i])); nrm > 1e-6 {
					break
				}
			}
		}
		for t := range V[i] {
			V[i][t] /= nrm
		}
	}
}

// dot64 is a·b, summed in two lanes (even and odd components) that meet at the end: the
// order of the WebAssembly SIMD build's dot64 (pca_wasmsimd.go), which gives the same value.
var dot64 = dot64Go

func dot64Go(a, b []float64) float64 {
	b = b[:len(a)]
	var s0, s1 float64
	j := 0
	for ; j+2 <= len(a); j += 2 {
		// The conversions keep each product rounded: no fused multiply-add, as in WebAssembly.
		s0 += float64(a[j] * b[j])
		s1 += float64(a[j+1] * b[j+1])
	}
	s := s0 + s1
	for ; j < len(a); j++ {
		s += float64(a[j] * b[j])
	}
	return s
}

// axpy64 adds c·x to y.
var axpy64 = axpy64Go

func axpy64Go(c float64, x, y []float64) {
	y = y[:len(x)]
	for j, a := range x {
		y[j] += float64(c * a)
	}
}

// jacobiEigen diagonalizes a small symmetric matrix by cyclic Jacobi rotations: it returns
// the eigenvalues and the eigenvectors as columns of vecs.
func jacobiEigen(a [][]float64) (vals []float64, vecs [][]float64) {
	n := len(a)
	m := make([][]float64, n)
	vecs = make([][]float64, n)
	for i := range m {
		m[i] = append([]float64(nil), a[i]...)
		vecs[i] = make([]float64, n)
		vecs[i][i] = 1
	}
	for sweep := 0; sweep < 100; sweep++ {
		off := 0.0
		for i := 0; i < n; i++ {
			for j := i + 1; j < n; j++ {
				off += m[i][j] * m[i][j]
			}
		}
		if off < 1e-30 {
			break
		}
		for p := 0; p < n; p++ {
			for q := p + 1; q < n; q++ {
				if m[p][q] == 0 {
					continue
				}
				theta := (m[q][q] - m[p][p]) / (2 * m[p][q])
				t := math.Copysign(1, theta) / (math.Abs(theta) + math.Sqrt(theta*theta+1))
				c := 1 / math.Sqrt(t*t+1)
				s := t * c
				for k := 0; k < n; k++ {
					mkp, mkq := m[k][p], m[k][q]
					m[k][p], m[k][q] = c*mkp-s*mkq, s*mkp+c*mkq
				}
				for k := 0; k < n; k++ {
					mpk, mqk := m[p][k], m[q][k]
					m[p][k], m[q][k] = c*mpk-s*mqk, s*mpk+c*mqk
				}
				for k := 0; k < n; k++ {
					vkp, vkq := vecs[k][p], vecs[k][q]
					vecs[k][p], vecs[k][q] = c*vkp-s*vkq, s*vkp+c*vkq
				}
			}
		}
	}
	vals = make([]float64, n)
	for i := range vals {
		vals[i] = m[i][i]
	}
	return vals, vecs
}

// splitMix is a small deterministic generator (SplitMix64), the same on every platform.
type splitMix uint64

func (s *splitMix) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// uniform is in (0, 1).
func (s *splitMix) uniform() float64 { return (float64(s.next()>>11) + 0.5) / (1 << 53) }

// normal is a standard normal deviate (Box–Muller).
func (s *splitMix) normal() float64 {
	// log2Portable, not math.Log (assembly on amd64): the same deviates in every build.
	return math.Sqrt(-2*math.Ln2*log2Portable(s.uniform())) * math.Cos(2*math.Pi*s.uniform())
}
