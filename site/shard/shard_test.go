package shard

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func manifestWith(shards []Shard, bytes int64) []byte {
	b, _ := json.Marshal(map[string]any{"weights": []any{
		map[string]any{"file": "a.alxw", "bytes": 10, "sha256": sum("other")},
		map[string]any{"file": "big.alxw", "bytes": bytes, "sha256": sum("whole"), "shards": shards},
	}})
	return b
}

func TestFind(t *testing.T) {
	good := []Shard{{Name("big.alxw", 0, sum("x")), 0, 6, sum("x")}, {Name("big.alxw", 1, sum("y")), 6, 4, sum("y")}}
	got, n, err := Find(manifestWith(good, 10), "big.alxw", sum("whole"))
	if err != nil || n != 10 || len(got) != 2 || got[1].Offset != 6 {
		t.Fatalf("Find = %v, %d, %v", got, n, err)
	}
	if !strings.HasPrefix(got[0].File, "big.p00.") || !strings.HasSuffix(got[0].File, ".bin") {
		t.Errorf("shard name %q", got[0].File)
	}
	// A whole file, an unknown file and another version: no shards, no error.
	for _, c := range [][2]string{{"a.alxw", ""}, {"nope.alxw", ""}, {"big.alxw", sum("older")}} {
		if got, _, err := Find(manifestWith(good, 10), c[0], c[1]); got != nil || err != nil {
			t.Errorf("Find(%q, %q) = %v, %v; want nothing", c[0], c[1], got, err)
		}
	}
	bad := map[string][]Shard{
		"contiguous":      {good[1], good[0]},
		"plain file name": {{"../x.bin", 0, 6, sum("x")}, good[1]},
		"64 lowercase":    {{"x.bin", 0, 6, "ABC"}, good[1]},
		"does not fit":    {good[0], {"y.bin", 6, 40, sum("y")}},
		"shards end":      {good[0]},
	}
	for want, shards := range bad {
		if _, _, err := Find(manifestWith(shards, 10), "big.alxw", ""); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("shards %v: error %v, want one about %q", shards, err, want)
		}
	}
	if _, _, err := Find(manifestWith(good, MaxFileBytes+1), "big.alxw", ""); err == nil {
		t.Error("a file over the size limit was accepted")
	}
	if _, _, err := Find([]byte("{"), "big.alxw", ""); err == nil || !strings.Contains(err.Error(), "not valid") {
		t.Errorf("broken JSON: %v", err)
	}
}

func FuzzFind(f *testing.F) {
	good := []Shard{{"big.p00.0123456789ab.bin", 0, 6, sum("x")}, {"big.p01.0123456789ab.bin", 6, 4, sum("y")}}
	f.Add(manifestWith(good, 10), "big.alxw")
	f.Add([]byte(`{"weights":[{"file":"a","bytes":1,"shards":[{"file":"b","offset":0,"length":1,"sha256":"`+sum("")+`"}]}]}`), "a")
	f.Add([]byte(`{"weights":[{"file":"a","bytes":-1,"shards":[{"offset":-5}]}]}`), "a")
	f.Fuzz(func(t *testing.T, manifest []byte, file string) {
		shards, size, err := Find(manifest, file, "")
		if err != nil || shards == nil {
			return
		}
		// Whatever Find accepts can be assembled without going out of bounds.
		if size < 1 || size > MaxFileBytes {
			t.Fatalf("accepted size %d", size)
		}
		next := int64(0)
		for _, s := range shards {
			if s.Offset != next || s.Length < 1 || s.Offset+s.Length > size {
				t.Fatalf("accepted shard %+v of a %d byte file", s, size)
			}
			next += s.Length
		}
		if next != size {
			t.Fatalf("accepted shards ending at %d of %d", next, size)
		}
	})
}
