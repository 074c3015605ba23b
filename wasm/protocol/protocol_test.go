package protocol

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
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
		`{"id":7,"op":"rerun","edits":[{"op":"add","layer":"fire9","value":1,"fromNames":["a.jpg"],"toNames":["b.jpg","c.jpg"]}]}`,
		`{"id":8,"op":"classify","head":"ab12","edits":[{"op":"add","layer":"fire9","value":1,"from":[0],"to":[1]}]}`,
	}
	for _, s := range ok {
		if _, err := DecodeRequest([]byte(s)); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	bad := map[string]string{
		`{"op":"load"}`:                             "weights URL or a manifest URL",
		`{"op":"load","url":"x","manifest":"y"}`:    "one of them",
		`{"op":"load","url":"x","size":-1}`:         "size",
		`{"op":"load","url":"x","precision":"f16"}`: "precision",
		`{"op":"load","url":"x","threads":-1}`:      "threads",
		`{"op":"load","url":"x","threads":9}`:       "threads",
		`{"op":"frame","width":0,"height":10}`:      "size",
		`{"op":"frame","width":9000,"height":10}`:   "size",
		`{"op":"explode"}`:                          "unknown operation",
		`{"op":"maps","threshold":2}`:               "threshold",
		`{"op":"rerun","edits":[{"op":"add","layer":"fire9","value":1,"fromNames":["a.jpg"]}]}`:                     "at each end",
		`{"op":"rerun","edits":[{"op":"add","layer":"fire9","value":1,"from":[0],"fromNames":["a.jpg"],"to":[1]}]}`: "not both",
		`{"op":"maps","threshold":-0.1}`: "threshold",
		`not json`:                       "malformed",
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

func TestPixelsDetachAndAttach(t *testing.T) {
	r := Response{Maps: []ActivationMap{
		{Layer: "conv1", Channel: 0, Width: 2, Height: 3, Pix: []byte{1, 2, 3, 4, 5, 6}},
		{Layer: "conv1", Channel: 1, Width: 1, Height: 1, Pix: []byte{7}},
		{Layer: "fc8", Channel: 0, Width: 2, Height: 2, Pix: []byte{8, 9, 10, 11}},
	}}
	want := Response{Maps: append([]ActivationMap(nil), r.Maps...)}
	buf := r.DetachPixels()
	if len(buf) != 11 {
		t.Fatalf("detached %d bytes, want 11", len(buf))
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "pix") {
		t.Errorf("detached maps still carry pixels in JSON: %s", b)
	}
	var got Response
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if err := got.AttachPixels(buf); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Maps, want.Maps) {
		t.Errorf("round trip: %+v, want %+v", got.Maps, want.Maps)
	}
	for _, bad := range [][]byte{buf[:10], append(append([]byte(nil), buf...), 0), nil} {
		var again Response
		json.Unmarshal(b, &again)
		if err := again.AttachPixels(bad); err == nil {
			t.Errorf("%d bytes for 11 of pixels: no error", len(bad))
		}
	}
	neg := Response{Maps: []ActivationMap{{Width: -1, Height: -1}}}
	if err := neg.AttachPixels([]byte{1}); err == nil {
		t.Error("a map of negative size took pixels")
	}
}

// TestFeatureVisFrameDetachAndAttach: a feature visualization frame's RGBA travels beside
// the JSON and comes back whole; a buffer of the wrong size is an error, and a frame that
// had none (a progress step without a preview) stays without.
func TestFeatureVisFrameDetachAndAttach(t *testing.T) {
	rgba := []byte{1, 2, 3, 255, 4, 5, 6, 255, 7, 8, 9, 255, 10, 11, 12, 255, 13, 14, 15, 255, 16, 17, 18, 255}
	r := Response{Kind: KindProgress, Look: &LookResult{FeatureVis: &FeatureVisImg{Step: 4, Steps: 8, W: 3, H: 2, RGBA: slices.Clone(rgba)}}}
	buf := r.DetachPixels()
	if !bytes.Equal(buf, rgba) || r.Look.FeatureVis.RGBA != nil {
		t.Fatalf("detached %v, left %v", buf, r.Look.FeatureVis.RGBA)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "rgba") {
		t.Errorf("the detached frame is still in the JSON: %s", b)
	}
	decode := func() Response {
		var got Response
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	got := decode()
	if err := got.AttachPixels(buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Look.FeatureVis.RGBA, rgba) {
		t.Errorf("round trip: %v, want %v", got.Look.FeatureVis.RGBA, rgba)
	}
	for _, bad := range [][]byte{buf[:23], append(slices.Clone(buf), 0)} {
		again := decode()
		if err := again.AttachPixels(bad); err == nil {
			t.Errorf("%d bytes for a 3x2 frame: no error", len(bad))
		}
	}
	step := Response{Look: &LookResult{FeatureVis: &FeatureVisImg{Step: 5, Steps: 8}}}
	if buf := step.DetachPixels(); len(buf) != 0 {
		t.Errorf("a step without a frame detached %d bytes", len(buf))
	}
	if err := step.AttachPixels(nil); err != nil || step.Look.FeatureVis.RGBA != nil {
		t.Errorf("a step without a frame: %v, %v", err, step.Look.FeatureVis.RGBA)
	}
}
