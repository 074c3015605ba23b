package protocol

import (
	"strings"
	"testing"
)

func TestValidateLook(t *testing.T) {
	ok := []string{
		`{"op":"gallery-open"}`,
		`{"op":"gallery-add","look":{"name":"cat.jpg"}}`,
		`{"op":"gallery-load","look":{"append":true}}`,
		`{"op":"neighbors","look":{"item":-1,"k":8,"metric":"euclidean"}}`,
		`{"op":"walk","look":{"item":2,"k":4,"steps":7,"from":[1],"to":[3,4]}}`,
		`{"op":"atlas","look":{"method":"tsne","grid":8,"iterations":500}}`,
		`{"op":"atlas","look":{"method":"umap","grid":8}}`,
		`{"op":"units","look":{"layer":"fire6","channel":3,"k":12,"patch":96}}`,
		`{"op":"featurevis","look":{"objective":"class","channel":281,"size":128,"steps":64,"preview":4}}`,
		`{"op":"cancel","look":{"target":7}}`,
	}
	for _, s := range ok {
		if _, err := DecodeRequest([]byte(s)); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	bad := map[string]string{
		`{"op":"gallery-add"}`:                                                    "name",
		`{"op":"neighbors","look":{"k":0}}`:                                       "k 0",
		`{"op":"neighbors","look":{"k":5,"metric":"manhattan"}}`:                  "metric",
		`{"op":"walk","look":{"k":5,"steps":7,"to":[1]}}`:                         "direction",
		`{"op":"walk","look":{"k":5,"steps":65,"from":[0],"to":[1]}}`:             "steps 65",
		`{"op":"atlas","look":{"method":"isomap","grid":4}}`:                      "method",
		`{"op":"atlas","look":{"method":"pca","grid":65}}`:                        "grid 65",
		`{"op":"atlas","look":{"method":"tsne","grid":4,"perplexity":-1}}`:        "perplexity",
		`{"op":"units","look":{"k":4}}`:                                           "layer",
		`{"op":"units","look":{"layer":"conv1","k":4,"channel":-2}}`:              "negative",
		`{"op":"featurevis","look":{"objective":"neuron","size":64,"steps":4}}`:   "objective",
		`{"op":"featurevis","look":{"objective":"class","size":4096,"steps":4}}`:  "size",
		`{"op":"featurevis","look":{"objective":"class","size":64,"steps":1e6}}`:  "malformed",
		`{"op":"featurevis","look":{"objective":"class","size":64,"steps":9999}}`: "steps",
	}
	for s, want := range bad {
		_, err := DecodeRequest([]byte(s))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one mentioning %q", s, err, want)
		}
	}
}

// FuzzDecodeLookRequest: whatever the bytes, a look-inside request that decodes stays within
// the limits the worker relies on to bound its work and memory.
func FuzzDecodeLookRequest(f *testing.F) {
	f.Add([]byte(`{"op":"walk","look":{"item":2,"k":4,"steps":7,"from":[1],"to":[3,4]}}`))
	f.Add([]byte(`{"op":"atlas","look":{"method":"tsne","grid":8,"iterations":500,"perplexity":30}}`))
	f.Add([]byte(`{"op":"featurevis","look":{"objective":"channel","layer":"conv1","channel":3,"size":128,"steps":64}}`))
	f.Add([]byte(`{"op":"units","look":{"layer":"fire6","channel":3,"k":12}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRequest(data)
		if err != nil || !IsLook(r.Op) || r.Look == nil {
			return
		}
		l := r.Look
		switch r.Op {
		case OpNeighbors, OpWalk:
			if l.K < 1 || l.K > MaxNeighbors || (r.Op == OpWalk && (l.Steps > MaxWalkSteps || len(l.From) > MaxGroup || len(l.To) > MaxGroup)) {
				t.Fatalf("accepted %+v", l)
			}
		case OpAtlas:
			if l.Grid < 1 || l.Grid > MaxAtlasGrid || l.Iterations > MaxTSNEIter || !(l.Perplexity >= 0 && l.Perplexity <= 1000) {
				t.Fatalf("accepted %+v", l)
			}
		case OpFeatureVis:
			if l.Size > MaxFeatureVisPix || l.Steps > MaxFeatureVisRun || l.Steps < 1 {
				t.Fatalf("accepted %+v", l)
			}
		case OpUnits:
			if l.K > MaxUnitPatches || l.Patch > 256 || l.Patch < 0 {
				t.Fatalf("accepted %+v", l)
			}
		}
		if l.Channel < 0 {
			t.Fatalf("accepted channel %d", l.Channel)
		}
	})
}
