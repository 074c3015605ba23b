package gallery

// The neighbour search's inner loop: a squared distance between two rows, in float32 with four
// running sums (lane j%4 adds components j, j+4, ...), combined as (s0+s1)+(s2+s3). The
// WebAssembly SIMD build (dist_wasmsimd.go) does the same operations in the same order in
// one vector, so a map's neighbours, and so the map, are the same natively and in the
// browser.

// packedRows are rows of float32, each padded with zeros to stride, a multiple of 4.
type packedRows struct {
	data   []float32
	stride int
}

func packRows(rows [][]float64) packedRows {
	d := 0
	if len(rows) > 0 {
		d = len(rows[0])
	}
	p := packedRows{stride: (d + 3) &^ 3}
	p.data = make([]float32, len(rows)*p.stride)
	for i, r := range rows {
		row := p.data[i*p.stride:]
		for j, v := range r {
			row[j] = float32(v)
		}
	}
	return p
}

func (p packedRows) row(i int) []float32 { return p.data[i*p.stride : (i+1)*p.stride] }

// squaredDistances sets out[j-from] to |a - row j|² for the rows from to to-1 of p (a as
// long as a row): one call a row of the search, not one a pair.
var squaredDistances = squaredDistancesGo

func squaredDistancesGo(a []float32, p packedRows, from, to int, out []float32) {
	for j := from; j < to; j++ {
		out[j-from] = squaredDistanceGo(a, p.row(j))
	}
}

func squaredDistanceGo(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	for j := 0; j+4 <= len(a); j += 4 {
		d0, d1, d2, d3 := a[j]-b[j], a[j+1]-b[j+1], a[j+2]-b[j+2], a[j+3]-b[j+3]
		// The conversions round each product before the sum: Go may otherwise fuse them
		// into one multiply-add, which WebAssembly does not have.
		s0 += float32(d0 * d0)
		s1 += float32(d1 * d1)
		s2 += float32(d2 * d2)
		s3 += float32(d3 * d3)
	}
	return (s0 + s1) + (s2 + s3)
}
