package gallery

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"runtime"
	"testing"
)

// TestLayoutsSameEverywhere: every layout gives bit for bit the map recorded here, natively
// (amd64) and as WebAssembly (scripts/test-wasm.sh runs this test under Node, in the portable
// and the SIMD build), so an atlas laid out in the browser is the one `alexlens atlas` draws.
// The recorded hashes are what these builds computed; a change to a layout's arithmetic
// changes them (run with -v to see the new ones, and check that both builds agree).
func TestLayoutsSameEverywhere(t *testing.T) {
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "wasm" {
		t.Skipf("the recorded maps are amd64's and WebAssembly's; %s may fuse multiply-adds", runtime.GOARCH)
	}
	defer func(l int) { exactTSNELimit = l }(exactTSNELimit)
	x, _ := clusters(10, 60, 64, 0.8, 11)
	for _, c := range []struct {
		method string
		exact  int // exactTSNELimit
		want   string
	}{
		{LayoutPCA, MaxTSNEPoints, "d2215eadb5da15f0"},
		{LayoutTSNE, MaxTSNEPoints, "6584e82249129bac"},
		{LayoutTSNE, 100, "c80f8109f4bc7a3f"}, // Barnes-Hut
		{LayoutUMAP, MaxTSNEPoints, "b0cb240a3ad3bd01"},
	} {
		exactTSNELimit = c.exact
		pts, err := Layout(context.Background(), x, LayoutOptions{Method: c.method, Iterations: 300})
		if err != nil {
			t.Fatal(err)
		}
		h := fnv.New64a()
		for _, p := range pts {
			binary.Write(h, binary.LittleEndian, math.Float64bits(p.X))
			binary.Write(h, binary.LittleEndian, math.Float64bits(p.Y))
		}
		got := fmt.Sprintf("%016x", h.Sum64())
		t.Logf("%s (exact t-SNE to %d points): %s, first point %v", c.method, c.exact, got, pts[0])
		if got != c.want {
			t.Errorf("%s (exact t-SNE to %d points): map %s, recorded %s", c.method, c.exact, got, c.want)
		}
	}
}
