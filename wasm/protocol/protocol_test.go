package protocol

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDecodeRequest(t *testing.T) {
	ok := []string{
		`{"id":1,"op":"load","url":"weights/a.alxw","sha256":"ab","precision":"int8"}`,
		`{"id":2,"op":"classify","maps":[{"layer":"conv1","channel":3}],"threshold":0.5}`,
		`{"id":3,"op":"frame","width":640,"height":480}`,
		`{"id":4,"op":"maps"}`,
		`{"id":5,"op":"load","url":"a.alxw","compute":"cpu","threads":2}`,
		`{"id":6,"op":"load","manifest":"weights/manifest.json","arch":"squeezenet1_1","precision":"int8"}`,
	}
	for _, s := range ok {
		if _, err := DecodeRequest([]byte(s)); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	bad := map[string]string{
		`{"op":"load"}`:                                    "weights URL or a manifest URL",
		`{"op":"load","url":"x","manifest":"y"}`:           "one of them",
		`{"op":"load","url":"x","size":-1}`:                "size",
		`{"op":"load","url":"x","precision":"f16"}`:        "precision",
		`{"op":"load","url":"x","threads":-1}`:             "threads",
		`{"op":"load","url":"x","threads":9}`:              "threads",
		`{"op":"frame","width":0,"height":10}`:             "size",
		`{"op":"frame","width":9000,"height":10}`:          "size",
		`{"op":"explode"}`:                                 "unknown operation",
		`{"op":"maps","threshold":2}`:                      "threshold",
		`{"op":"maps","threshold":-0.1}`:                   "threshold",
		`not json`:                                         "malformed",
		`{"op":"maps","maps":` + manyMaps(MaxMaps+1) + `}`: "at most",
		strings.Repeat(" ", MaxRequestJSON+1):              "larger",
	}
	for s, want := range bad {
		_, err := DecodeRequest([]byte(s))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.60s: error %v, want one mentioning %q", s, err, want)
		}
	}
}

func manyMaps(n int) string {
	ms := make([]MapRequest, n)
	b, _ := json.Marshal(ms)
	return string(b)
}

// FuzzDecodeRequest: any bytes give a request that passes Validate or an error, never a
// panic.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"id":1,"op":"load","url":"w.alxw"}`))
	f.Add([]byte(`{"id":3,"op":"frame","width":640,"height":480,"maps":[{"layer":"fc7","channel":0}]}`))
	f.Add([]byte(`{"op":"maps","threshold":NaN}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRequest(data)
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("decoded request fails validation: %v", err)
		}
	})
}

func TestDefaultThreadsLeavesThePageACore(t *testing.T) {
	for cores, want := range map[int]int{0: 1, 1: 1, 2: 1, 3: 2, 4: 3, 5: 4, 16: 4} {
		if got := DefaultThreads(cores); got != want {
			t.Errorf("DefaultThreads(%d) = %d, want %d", cores, got, want)
		}
	}
}
