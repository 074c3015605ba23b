package shard

import (
	"bytes"
	"strings"
	"testing"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/weights"
)

// layersOf encodes fixture weights and returns the file's size and layer ranges: the real
// layout the exporter shards.
func layersOf(t *testing.T, a *engine.Arch, p engine.Precision) (int64, []Range, []string) {
	t.Helper()
	var buf bytes.Buffer
	if err := weights.Encode(&buf, weights.Fixture(a, 1).WithPrecision(p), "test"); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	h, err := weights.ReadHeader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var rs []Range
	var names []string
	for _, l := range h.Layers {
		rs = append(rs, Range{l.Offset, l.Length})
		names = append(names, l.Name)
	}
	return int64(len(data)), rs, names
}

func TestPlanAlexNetF32(t *testing.T) {
	size, layers, _ := layersOf(t, engine.AlexNet, engine.F32)
	plan, err := Plan(size, layers, DefaultLimit)
	if err != nil {
		t.Fatal(err)
	}
	checkCovers(t, plan, size, DefaultLimit)
	// fc6 (151 MB) and fc7 (67 MB) cannot fit: they are cut inside; every other cut is a
	// layer start.
	starts := map[int64]bool{}
	var big []Range
	for _, l := range layers {
		starts[l.Offset] = true
		if l.Length > DefaultLimit {
			big = append(big, l)
		}
	}
	if len(big) != 2 {
		t.Fatalf("expected fc6 and fc7 over the limit, got %v", big)
	}
	inside := 0
	for _, r := range plan[1:] {
		if starts[r.Offset] {
			continue
		}
		ok := false
		for _, b := range big {
			ok = ok || (r.Offset > b.Offset && r.Offset < b.Offset+b.Length)
		}
		if !ok {
			t.Errorf("cut at %d is neither a layer start nor inside a layer over the limit", r.Offset)
		}
		inside++
	}
	if inside < 8 {
		t.Errorf("%d cuts inside fc6 and fc7; expected at least 8", inside)
	}
	// The convolutions (a few MB) fit in the first shard with the header.
	if first := plan[0]; first.Offset != 0 || first.Length < layers[4].Offset+layers[4].Length {
		t.Errorf("first shard %+v should hold the header and conv1..conv5", first)
	}
	t.Logf("AlexNet f32 (%d bytes): %d shards", size, len(plan))
}

func TestPlanSmallFileIsOneShard(t *testing.T) {
	size, layers, _ := layersOf(t, engine.SqueezeNet11, engine.Int8)
	plan, err := Plan(size, layers, DefaultLimit)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan) != 1 || plan[0] != (Range{0, size}) {
		t.Fatalf("plan %v, want one shard of %d bytes", plan, size)
	}
}

func TestPlanSmallLimitsCutOnLayers(t *testing.T) {
	size, layers, _ := layersOf(t, engine.SqueezeNet11, engine.F32)
	for _, limit := range []int64{1, 1000, 64 << 10, 1 << 20, 3 << 20} {
		plan, err := Plan(size, layers, limit)
		if err != nil {
			t.Fatal(err)
		}
		checkCovers(t, plan, size, limit)
	}
}

func checkCovers(t *testing.T, plan []Range, size, limit int64) {
	t.Helper()
	next := int64(0)
	for i, r := range plan {
		if r.Offset != next || r.Length < 1 || r.Length > limit {
			t.Fatalf("shard %d = %+v: not contiguous from %d or not in 1..%d bytes", i, r, next, limit)
		}
		next += r.Length
	}
	if next != size {
		t.Fatalf("shards end at %d, file has %d", next, size)
	}
}

func TestPlanErrors(t *testing.T) {
	for _, c := range []struct {
		size   int64
		layers []Range
		limit  int64
		want   string
	}{
		{100, nil, 0, "limit"},
		{-1, nil, 10, "negative"},
		{100, []Range{{50, 60}}, 10, "outside"},
		{100, []Range{{50, 10}, {10, 5}}, 10, "out of order"},
	} {
		if _, err := Plan(c.size, c.layers, c.limit); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Plan(%d, %v, %d) = %v, want an error about %q", c.size, c.layers, c.limit, err, c.want)
		}
	}
}
