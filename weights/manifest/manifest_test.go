package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
)

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func manifestWith(shards []Shard, bytes int64) []byte {
	b, _ := json.Marshal(map[string]any{"weights": []any{
		map[string]any{"file": "a.alxw", "arch": "alexnet", "bytes": 10, "sha256": sum("other")},
		map[string]any{"file": "big.alxw", "arch": "alexnet", "bytes": bytes, "sha256": sum("whole"), "shards": shards},
	}})
	return b
}

// find is Parse then Shards, as the engine worker reads a manifest.
func find(data []byte, file, sha string) ([]Shard, int64, error) {
	m, err := Parse(data)
	if err != nil {
		return nil, 0, err
	}
	return m.Shards(file, sha)
}

// name is a shard's file name as site/shard.Name makes it.
func name(file string, i int, sha string) string {
	return strings.TrimSuffix(file, ".alxw") + ".p0" + string(rune('0'+i)) + "." + sha[:12] + ".bin"
}

func TestShards(t *testing.T) {
	good := []Shard{{name("big.alxw", 0, sum("x")), 0, 6, sum("x")}, {name("big.alxw", 1, sum("y")), 6, 4, sum("y")}}
	got, n, err := find(manifestWith(good, 10), "big.alxw", sum("whole"))
	if err != nil || n != 10 || len(got) != 2 || got[1].Offset != 6 {
		t.Fatalf("Shards = %v, %d, %v", got, n, err)
	}
	if !strings.HasPrefix(got[0].File, "big.p00.") || !strings.HasSuffix(got[0].File, ".bin") {
		t.Errorf("shard name %q", got[0].File)
	}
	// A whole file, an unknown file and another version: no shards, no error.
	for _, c := range [][2]string{{"a.alxw", ""}, {"nope.alxw", ""}, {"big.alxw", sum("older")}} {
		if got, _, err := find(manifestWith(good, 10), c[0], c[1]); got != nil || err != nil {
			t.Errorf("Shards(%q, %q) = %v, %v; want nothing", c[0], c[1], got, err)
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
		if _, _, err := find(manifestWith(shards, 10), "big.alxw", ""); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("shards %v: error %v, want one about %q", shards, err, want)
		}
	}
	if _, _, err := find(manifestWith(good, MaxFileBytes+1), "big.alxw", ""); err == nil {
		t.Error("a file over the size limit was accepted")
	}
	if _, _, err := find([]byte("{"), "big.alxw", ""); err == nil || !strings.Contains(err.Error(), "not valid") {
		t.Errorf("broken JSON: %v", err)
	}
}

func FuzzShards(f *testing.F) {
	good := []Shard{{"big.p00.0123456789ab.bin", 0, 6, sum("x")}, {"big.p01.0123456789ab.bin", 6, 4, sum("y")}}
	f.Add(manifestWith(good, 10), "big.alxw")
	f.Add([]byte(`{"weights":[{"file":"a","arch":"x","bytes":1,"shards":[{"file":"b","offset":0,"length":1,"sha256":"`+sum("")+`"}]}]}`), "a")
	f.Add([]byte(`{"weights":[{"file":"a","arch":"x","bytes":-1,"shards":[{"offset":-5}]}]}`), "a")
	f.Fuzz(func(t *testing.T, manifest []byte, file string) {
		shards, size, err := find(manifest, file, "")
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

func TestParseErrors(t *testing.T) {
	for s, want := range map[string]string{
		`nope`: "not valid",
		`{"weights":[{"file":"","arch":"alexnet"}]}`:        "no file or arch",
		`{"weights":[{"file":"../x","arch":"alexnet"}]}`:    "plain name",
		`{"weights":[{"file":"a","arch":"b","partial":3}]}`: "partial",
		strings.Repeat(" ", MaxBytes+1):                     "larger",
	} {
		if _, err := Parse([]byte(s)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.50q: %v, want %q", s, err, want)
		}
	}
	m, err := Parse([]byte(`{"weights":[{"file":"a","arch":"b","partial":true},{"file":"c","arch":"b","partial":false}]}`))
	if err != nil || !m.Weights[0].IsPartial() || m.Weights[1].IsPartial() {
		t.Errorf("boolean partial: %+v %v", m, err)
	}
}

func TestChoose(t *testing.T) {
	m, err := Parse([]byte(`{"weights":[
 {"file":"bvlc-f32.alxw","arch":"alexnet-bvlc","precision":"f32","kind":"trained","partial":"conv1"},
 {"file":"a-fix-f32.alxw","arch":"alexnet","precision":"f32","kind":"fixture","partial":""},
 {"file":"a-int8.alxw","arch":"alexnet","precision":"int8","kind":"trained","partial":""},
 {"file":"a-f32.alxw","arch":"alexnet","precision":"f32","kind":"trained","partial":""},
 {"file":"a-fix-int8.alxw","arch":"alexnet","precision":"int8","kind":"fixture","partial":""}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		arch, precision string
		partialOK       bool
		want            string
	}{
		{"alexnet", "", false, "a-f32.alxw"},      // trained float32 first
		{"alexnet", "int8", false, "a-int8.alxw"}, // the wanted precision, still trained
		{"alexnet", "f16", false, "a-f32.alxw"},   // no such precision: the best
		{"alexnet-bvlc", "", true, "bvlc-f32.alxw"},
		{"", "", false, "a-f32.alxw"},
	} {
		e, err := m.Choose(c.arch, c.precision, c.partialOK)
		if err != nil || e.File != c.want {
			t.Errorf("Choose(%q, %q, %v) = %s, %v; want %s", c.arch, c.precision, c.partialOK, e.File, err, c.want)
		}
	}
	if _, err := m.Choose("alexnet-bvlc", "", false); err == nil || !strings.Contains(err.Error(), "it has: alexnet-bvlc, alexnet") {
		t.Errorf("only a partial file, partial not allowed: %v", err)
	}
}

func TestWithFirstLayers(t *testing.T) {
	m, err := Parse([]byte(`{"weights":[
 {"file":"bvlc-f32.alxw","arch":"alexnet-bvlc","precision":"f32","kind":"trained","partial":"conv1"},
 {"file":"a-int8.alxw","arch":"alexnet","precision":"int8","kind":"trained","partial":""},
 {"file":"a-f32.alxw","arch":"alexnet","precision":"f32","kind":"trained","partial":""}]}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(m.WithFirstLayers())
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range [][3]string{{"alexnet", "", "a-f32.alxw"}, {"alexnet", "int8", "a-int8.alxw"}, {"alexnet-bvlc", "", "bvlc-f32.alxw"}, {"alexnet-bvlc", "int8", "bvlc-f32.alxw"}, {"", "", "a-f32.alxw"}} {
		if got := back.FirstLayers[c[0]][c[1]]; got != c[2] {
			t.Errorf("firstLayers[%q][%q] = %q, want %q", c[0], c[1], got, c[2])
		}
	}
}
