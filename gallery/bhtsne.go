package gallery

import (
	"context"
	"math"
	"runtime"
	"sync"
)

// Barnes-Hut t-SNE (van der Maaten 2014), for maps larger than exact t-SNE allows: input
// affinities only between each point and its 3·perplexity nearest neighbours (found after a
// PCA to at most bhDims dimensions), and the map's repulsion between far groups of points
// summed through a quadtree, a group counting as one point at its centre of mass when it
// looks smaller than bhTheta from where the force is felt. O(n log n) a step instead of n².

const (
	bhDims  = 50  // input dimensions kept for the neighbour search
	bhTheta = 0.5 // the accuracy of the quadtree summary (0: exact)
	// bhPCAIterations of subspace iteration find the leading bhDims-dimensional subspace
	// well enough for neighbours (randomized SVD's usual few).
	bhPCAIterations = 8
	// MaxLayoutPoints bounds Barnes-Hut t-SNE: its neighbour search is brute force,
	// n²·bhDims/2 multiply-adds (2·10¹⁰ at this size).
	MaxLayoutPoints = 50000
)

// sparseP is the symmetric joint probability matrix in compressed rows.
type sparseP struct {
	start []int // row i is col[start[i]:start[i+1]]
	col   []int32
	val   []float64
}

// sparseAffinities finds each point's k nearest neighbours and calibrates a Gaussian over
// them to the wanted perplexity, then symmetrizes: P = (P_j|i + P_i|j) / 2n.
func sparseAffinities(ctx context.Context, x [][]float32, metric Metric, perp float64, report Progress) (*sparseP, error) {
	n := len(x)
	k := min(n-1, int(3*perp))
	red, err := reduced(ctx, x, metric)
	if err != nil {
		return nil, err
	}
	nbr, dist, err := nearestNeighbours(ctx, red, k, report)
	if err != nil {
		return nil, err
	}
	cond := make([]float64, n*k)
	for i := 0; i < n; i++ {
		calibrate(dist[i*k:(i+1)*k], perp, cond[i*k:(i+1)*k])
	}
	// Symmetrize: gather both directions of every pair.
	type entry struct {
		j int32
		p float64
	}
	adj := make([][]entry, n)
	for i := 0; i < n; i++ {
		for q := 0; q < k; q++ {
			j, p := nbr[i*k+q], cond[i*k+q]/float64(2*n)
			adj[i] = append(adj[i], entry{j, p})
			adj[j] = append(adj[j], entry{int32(i), p})
		}
	}
	P := &sparseP{start: make([]int, n+1)}
	for i, es := range adj {
		// Merge duplicates (a pair that is in both lists), keeping first-seen order.
		at := map[int32]int{}
		for _, e := range es {
			if q, ok := at[e.j]; ok {
				P.val[q] += e.p
				continue
			}
			at[e.j] = len(P.col)
			P.col = append(P.col, e.j)
			P.val = append(P.val, e.p)
		}
		P.start[i+1] = len(P.col)
	}
	return P, nil
}

// reduced is the rows (made unit length for Cosine) as float64, projected onto their first
// bhDims principal components (best first) when they have more: distances change little (the
// dropped directions carry little variance) and a neighbour search costs a fraction.
func reduced(ctx context.Context, x [][]float32, metric Metric) ([][]float64, error) {
	rows := x
	if metric == Cosine {
		rows = unitRows(x)
	}
	if len(rows[0]) > bhDims {
		return pca(ctx, rows, bhDims, bhPCAIterations, nil)
	}
	red := make([][]float64, len(rows))
	for i, v := range rows {
		red[i] = make([]float64, len(v))
		for j, a := range v {
			red[i][j] = float64(a)
		}
	}
	return red, nil
}

// nearestNeighbours finds each of the reduced rows' k nearest others by brute force, in
// float32 (squaredDistances): row i of nbr (k entries from i*k) lists them nearest first, and
// the same row of dist their squared distances. Ties go to the lower index. Each pair's
// distance is computed once and offered to both points' candidates; each thread keeps its
// own candidates for every point, merged at the end, so the result does not depend on the
// number of threads.
func nearestNeighbours(ctx context.Context, red [][]float64, k int, report Progress) (nbr []int32, dist []float64, _ error) {
	n := len(red)
	rows := packRows(red)
	threads := runtime.GOMAXPROCS(0)
	cands := make([][]nearHeap, threads) // cands[t][i]: thread t's candidates for point i
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for t := range threads {
		wg.Add(1)
		go func(t int) {
			defer wg.Done()
			hs := make([]nearHeap, n)
			cands[t] = hs
			d := make([]float32, n)
			for i := t; i < n; i += threads {
				if ctx.Err() != nil {
					return
				}
				squaredDistances(rows.row(i), rows, i+1, n, d)
				for j := i + 1; j < n; j++ {
					dij := float64(d[j-i-1])
					// Most pairs are farther than both points' k-th candidate: test
					// that here, before a call (Go's WebAssembly pays for each).
					if hi := hs[i]; len(hi) < k || dij <= hi[0].d {
						hs[i].offer(near{dij, int32(j)}, k)
					}
					if hj := hs[j]; len(hj) < k || dij <= hj[0].d {
						hs[j].offer(near{dij, int32(i)}, k)
					}
				}
				mu.Lock()
				done++
				if done%256 == 0 || done == n {
					report("neighbours", done, n)
				}
				mu.Unlock()
			}
		}(t)
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	nbr = make([]int32, n*k)
	dist = make([]float64, n*k)
	h := make(nearHeap, 0, k)
	for i := range n {
		h = h[:0]
		for _, hs := range cands {
			for _, e := range hs[i] {
				h.offer(e, k)
			}
		}
		h.sortAscending()
		for q, e := range h {
			nbr[i*k+q], dist[i*k+q] = e.j, e.d
		}
	}
	return nbr, dist, nil
}

// calibrate sets cond to a Gaussian over the squared distances d whose perplexity is perp
// (the width found by bisection), normalized to sum to 1.
func calibrate(d []float64, perp float64, cond []float64) {
	// Portable exp and log (fastpow.go): the map is then the same natively and in the browser.
	logPerp := log2Portable(perp) * math.Ln2
	dmin := math.Inf(1)
	var mean float64
	for _, v := range d {
		dmin = min(dmin, v)
	}
	for _, v := range d {
		mean += v - dmin
	}
	beta, lo, hi := 1.0, 0.0, math.Inf(1)
	if mean > 0 {
		beta = float64(len(d)) / mean
	}
	var sum float64
	for step := 0; step < 100; step++ {
		var wsum float64
		sum = 0
		for j, v := range d {
			e := expPortable(-beta * (v - dmin))
			cond[j] = e
			sum += e
			wsum += e * (v - dmin)
		}
		h := log2Portable(sum)*math.Ln2 + beta*wsum/sum
		if math.Abs(h-logPerp) < 1e-5 {
			break
		}
		if h > logPerp {
			lo = beta
			if math.IsInf(hi, 1) {
				beta *= 2
			} else {
				beta = (beta + hi) / 2
			}
		} else {
			hi = beta
			beta = (beta + lo) / 2
		}
	}
	for j := range cond {
		cond[j] /= sum
	}
}

// near is a neighbour candidate; nearHeap keeps the k nearest seen (a max-heap on d).
type near struct {
	d float64
	j int32
}

type nearHeap []near

func (h *nearHeap) offer(e near, k int) {
	s := *h
	if len(s) < k {
		s = append(s, e)
		for c := len(s) - 1; c > 0; { // sift up
			p := (c - 1) / 2
			if !s[c].farther(s[p]) {
				break
			}
			s[c], s[p] = s[p], s[c]
			c = p
		}
		*h = s
		return
	}
	if !s[0].farther(e) {
		return
	}
	s[0] = e
	s.siftDown(0, len(s))
}

// farther orders candidates by distance, then index, so ties resolve the same everywhere.
func (a near) farther(b near) bool { return a.d > b.d || (a.d == b.d && a.j > b.j) }

func (h nearHeap) siftDown(i, n int) {
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if c+1 < n && h[c+1].farther(h[c]) {
			c++
		}
		if !h[c].farther(h[i]) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// sortAscending turns the heap into a list, nearest first (heap sort).
func (h nearHeap) sortAscending() {
	for end := len(h) - 1; end > 0; end-- {
		h[0], h[end] = h[end], h[0]
		h.siftDown(0, end)
	}
}

// quadtree summarizes the map's points for the repulsive forces.
type quadtree struct {
	nodes []qnode
}

type qnode struct {
	mx, my     float64  // centre of mass
	size2      float64  // the square's side, squared
	count      float64  // points inside
	cx, cy, hw float64  // the square: centre and half width
	child      [4]int32 // -1: none
	point      int32    // a leaf's point
	leaf       bool
}

const maxTreeDepth = 48 // below this, coincident points share a leaf

func buildQuadtree(y []float64, t *quadtree) {
	n := len(y) / 2
	minX, maxX, minY, maxY := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for i := 0; i < n; i++ {
		minX, maxX = min(minX, y[2*i]), max(maxX, y[2*i])
		minY, maxY = min(minY, y[2*i+1]), max(maxY, y[2*i+1])
	}
	hw := max(maxX-minX, maxY-minY)/2 + 1e-9
	t.nodes = append(t.nodes[:0], qnode{cx: (minX + maxX) / 2, cy: (minY + maxY) / 2, hw: hw, size2: 4 * hw * hw, child: [4]int32{-1, -1, -1, -1}, point: -1, leaf: true})
	for i := 0; i < n; i++ {
		t.insert(0, int32(i), y, 0)
	}
}

func (t *quadtree) insert(at int, i int32, y []float64, depth int) {
	px, py := y[2*i], y[2*i+1]
	for {
		nd := &t.nodes[at]
		c := nd.count
		nd.mx = (nd.mx*c + px) / (c + 1)
		nd.my = (nd.my*c + py) / (c + 1)
		nd.count++
		if nd.leaf && (nd.count == 1 || depth >= maxTreeDepth) {
			if nd.count == 1 {
				nd.point = i
			}
			return
		}
		if nd.leaf { // split: move the resident point down first
			old := nd.point
			nd.point, nd.leaf = -1, false
			q := t.childFor(at, old, y)
			t.addOne(q, old, y)
		}
		at = t.childFor(at, i, y)
		depth++
	}
}

// addOne puts point i alone into the empty node at.
func (t *quadtree) addOne(at int, i int32, y []float64) {
	nd := &t.nodes[at]
	nd.mx, nd.my, nd.count, nd.point = y[2*i], y[2*i+1], 1, i
}

// childFor returns (making it if needed) the child of node at whose quarter holds point i.
func (t *quadtree) childFor(at int, i int32, y []float64) int {
	nd := t.nodes[at]
	q := 0
	if y[2*i] >= nd.cx {
		q |= 1
	}
	if y[2*i+1] >= nd.cy {
		q |= 2
	}
	if c := nd.child[q]; c >= 0 {
		return int(c)
	}
	h := nd.hw / 2
	cx, cy := nd.cx-h, nd.cy-h
	if q&1 != 0 {
		cx = nd.cx + h
	}
	if q&2 != 0 {
		cy = nd.cy + h
	}
	t.nodes = append(t.nodes, qnode{cx: cx, cy: cy, hw: h, size2: 4 * h * h, child: [4]int32{-1, -1, -1, -1}, point: -1, leaf: true})
	t.nodes[at].child[q] = int32(len(t.nodes) - 1)
	return len(t.nodes) - 1
}

// repulsion adds to (fx, fy) the sum over points j ≠ i of q_ij² (y_i - y_j), q_ij =
// 1/(1+|y_i-y_j|²), and returns Σ_j q_ij, with far groups summarized at their centre of mass.
func (t *quadtree) repulsion(i int, y []float64, stack []int32) (fx, fy, z float64, _ []int32) {
	px, py := y[2*i], y[2*i+1]
	self := int32(i)
	const theta2 = bhTheta * bhTheta
	stack = append(stack[:0], 0)
	for len(stack) > 0 {
		nd := &t.nodes[stack[len(stack)-1]]
		stack = stack[:len(stack)-1]
		dx, dy := px-nd.mx, py-nd.my
		d2 := dx*dx + dy*dy
		if nd.leaf || nd.size2 < theta2*d2 {
			cnt := nd.count
			if nd.leaf && (nd.point == self || d2 == 0) {
				cnt-- // the point itself (or a copy of it) exerts no force on it
			}
			if cnt <= 0 {
				continue
			}
			q := 1 / (1 + d2)
			cq := cnt * q
			z += cq
			fx += cq * q * dx
			fy += cq * q * dy
			continue
		}
		for _, c := range nd.child {
			if c >= 0 {
				stack = append(stack, c)
			}
		}
	}
	return fx, fy, z, stack
}

// bhGradient is gradient's Barnes-Hut counterpart: exact attraction over the sparse P,
// summarized repulsion.
func bhGradient(P *sparseP, y []float64, exag float64, grad []float64, tree *quadtree) {
	n := len(y) / 2
	buildQuadtree(y, tree)
	threads := runtime.GOMAXPROCS(0)
	zs := make([]float64, n) // each point's share of Z, summed in order below: any thread count gives the same Z
	rep := make([]float64, 2*n)
	var wg sync.WaitGroup
	for t := 0; t < threads; t++ {
		wg.Add(1)
		go func(t int) {
			defer wg.Done()
			var stack []int32
			for i := t; i < n; i += threads {
				var fx, fy float64
				fx, fy, zs[i], stack = tree.repulsion(i, y, stack)
				rep[2*i], rep[2*i+1] = fx, fy
			}
		}(t)
	}
	wg.Wait()
	var z float64
	for _, v := range zs {
		z += v
	}
	for i := 0; i < n; i++ {
		yix, yiy := y[2*i], y[2*i+1]
		var ax, ay float64
		for q := P.start[i]; q < P.start[i+1]; q++ {
			j := P.col[q]
			dx, dy := yix-y[2*j], yiy-y[2*j+1]
			pq := P.val[q] / (1 + dx*dx + dy*dy)
			ax += pq * dx
			ay += pq * dy
		}
		grad[2*i] = 4 * (exag*ax - rep[2*i]/z)
		grad[2*i+1] = 4 * (exag*ay - rep[2*i+1]/z)
	}
}
