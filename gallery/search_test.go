package gallery

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// bruteForce ranks every item by a float64 distance to the decoded embedding.
func bruteForce(g *Gallery, q []float32, m Metric, exclude func(int) bool) []Neighbor {
	var all []Neighbor
	for i := 0; i < g.Len(); i++ {
		if exclude != nil && exclude(i) {
			continue
		}
		x := g.Embedding(i, nil)
		var dot, qq, xx, sq float64
		for j := range x {
			a, b := float64(q[j]), float64(x[j])
			dot += a * b
			qq += a * a
			xx += b * b
			sq += (a - b) * (a - b)
		}
		d := math.Sqrt(sq)
		if m == Cosine {
			d = 1 - dot/math.Sqrt(qq*xx)
		}
		all = append(all, Neighbor{i, float32(d)})
	}
	slices.SortStableFunc(all, cmpNeighbor)
	return all
}

func TestSearchMatchesBruteForce(t *testing.T) {
	for _, e := range []Encoding{F16, Int8} {
		g, vs := randomGallery(t, e, 700, 6)
		rng := splitMix(7)
		for _, nq := range []int{1, 3, 4, 9} {
			var qs [][]float32
			for i := 0; i < nq; i++ {
				// Queries near gallery items, as real queries are.
				q := append([]float32(nil), vs[(i*97)%len(vs)]...)
				for j := range q {
					q[j] += float32(rng.normal())
				}
				qs = append(qs, q)
			}
			for _, m := range []Metric{Cosine, Euclidean} {
				for _, threads := range []int{1, 3} {
					exclude := func(i int) bool { return i%5 == 0 }
					got, err := g.Search(qs, SearchOptions{K: 10, Metric: m, Threads: threads, Exclude: exclude})
					if err != nil {
						t.Fatal(err)
					}
					for qi, q := range qs {
						want := bruteForce(g, q, m, exclude)[:10]
						for r := range want {
							gi, wi := got[qi][r], want[r]
							if exclude(gi.Index) {
								t.Fatalf("%s %s: excluded item %d returned", e, m, gi.Index)
							}
							// Ranks may swap only between distances equal to rounding.
							if gi.Index != wi.Index && math.Abs(float64(gi.Distance-wi.Distance)) > 1e-6 {
								t.Fatalf("%s %s q%d rank %d: item %d (%v), brute force item %d (%v)", e, m, qi, r, gi.Index, gi.Distance, wi.Index, wi.Distance)
							}
							if math.Abs(float64(gi.Distance-wi.Distance)) > 1e-5*math.Max(1, float64(wi.Distance)) {
								t.Fatalf("%s %s: distance %v, brute force %v", e, m, gi.Distance, wi.Distance)
							}
						}
					}
				}
			}
		}
	}
}

func TestSearchEdgeCases(t *testing.T) {
	g, vs := randomGallery(t, Int8, 5, 8)
	// k beyond the gallery gives every item; an item finds itself first at distance ~0.
	res, err := g.Search([][]float32{g.Embedding(2, nil)}, SearchOptions{K: 50, Metric: Euclidean})
	if err != nil {
		t.Fatal(err)
	}
	if len(res[0]) != 5 || res[0][0].Index != 2 || res[0][0].Distance != 0 {
		t.Fatalf("self search: %+v", res[0])
	}
	// Zero vectors have cosine distance 1 to everything.
	zero := make([]float32, len(vs[0]))
	res, err = g.Search([][]float32{zero}, SearchOptions{K: 2})
	if err != nil || res[0][0].Distance != 1 {
		t.Fatalf("zero query: %+v %v", res, err)
	}
	// Identical items tie; the lower index comes first, every time.
	h, _ := New(testHeader(F16))
	for i := 0; i < 300; i++ {
		h.Add(Item{Name: "x" + itoa(i)}, vs[0])
	}
	res, _ = h.Search([][]float32{vs[1]}, SearchOptions{K: 4, Threads: 4})
	for r, n := range res[0] {
		if n.Index != r {
			t.Fatalf("ties: %+v", res[0])
		}
	}
	empty, _ := New(testHeader(F16))
	if res, err := empty.Search([][]float32{vs[0]}, SearchOptions{K: 3}); err != nil || len(res[0]) != 0 {
		t.Fatalf("empty gallery: %v %v", res, err)
	}
	for _, c := range []struct {
		q    [][]float32
		opt  SearchOptions
		want string
	}{
		{[][]float32{vs[0]}, SearchOptions{K: 0}, "k must be"},
		{[][]float32{vs[0]}, SearchOptions{K: 1, Metric: "manhattan"}, "unknown metric"},
		{[][]float32{vs[0][:7]}, SearchOptions{K: 1}, "7 components"},
		{[][]float32{append([]float32{float32(math.Inf(1))}, vs[0][1:]...)}, SearchOptions{K: 1}, "+Inf"},
	} {
		if _, err := g.Search(c.q, c.opt); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one saying %q", err, c.want)
		}
	}
}

// Walking from one cluster's item towards another cluster's mean ends among the other
// cluster: the direction is the difference of the groups' means.
func TestWalkAlongDirection(t *testing.T) {
	g, err := New(testHeader(Int8))
	if err != nil {
		t.Fatal(err)
	}
	rng := splitMix(9)
	centre := func() []float32 {
		c := make([]float32, 512)
		for j := range c {
			c[j] = float32(max(0, rng.normal()*4))
		}
		return c
	}
	a, b := centre(), centre()
	var groupA, groupB [][]float32
	for i := 0; i < 40; i++ {
		for gi, c := range [][]float32{a, b} {
			v := make([]float32, 512)
			for j := range v {
				v[j] = max(0, c[j]+float32(rng.normal()))
			}
			name := "a"
			if gi == 1 {
				name = "b"
				groupB = append(groupB, v)
			} else {
				groupA = append(groupA, v)
			}
			g.Add(Item{Name: name + itoa(i)}, v)
		}
	}
	dir, err := Direction(groupA[:10], groupB[:10])
	if err != nil {
		t.Fatal(err)
	}
	walk, err := g.Walk(groupA[20], dir, 5, SearchOptions{K: 5, Metric: Cosine})
	if err != nil {
		t.Fatal(err)
	}
	if len(walk) != 5 || walk[0].T != 0 || walk[4].T != 1 {
		t.Fatalf("walk steps %d, t from %v to %v", len(walk), walk[0].T, walk[len(walk)-1].T)
	}
	share := func(s Step, prefix string) int {
		n := 0
		for _, nb := range s.Neighbors {
			if strings.HasPrefix(g.Items[nb.Index].Name, prefix) {
				n++
			}
		}
		return n
	}
	if share(walk[0], "a") != 5 || share(walk[4], "b") != 5 {
		t.Fatalf("walk starts with %d/5 a-neighbours and ends with %d/5 b-neighbours", share(walk[0], "a"), share(walk[4], "b"))
	}
	if _, err := Direction(nil, groupB); err == nil {
		t.Error("direction from an empty group accepted")
	}
	if _, err := g.Walk(groupA[0], dir[:3], 5, SearchOptions{K: 1}); err == nil {
		t.Error("walk along a short direction accepted")
	}
	if _, err := g.Walk(groupA[0], dir, 1, SearchOptions{K: 1}); err == nil {
		t.Error("walk of one step accepted")
	}
}
