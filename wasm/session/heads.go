package session

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/teach"
	"github.com/alexlens/alexlens/wasm/protocol"
	"github.com/alexlens/alexlens/weights"
)

// Heads saved as files (.alxw, the Teach view's or `alexlens teach`'s) and loaded to score
// every pass, as the embeds do (OpTeachHead): unlike the Teach view's own head, a loaded head
// is kept under its file's SHA-256, and a classify request names the one it wants
// (Request.Head), so that several embeds sharing one engine each get their own.

type loadedHead struct {
	head  *teach.Head
	model *engine.Model // the weights it was checked against
}

// maxLoadedHeads bounds the heads kept: a page has a few embeds, not hundreds.
const maxLoadedHeads = 8

// LoadHead reads a head file made for the loaded weights and keeps it for the passes that
// name it.
func (s *Session) LoadHead(data []byte) (*protocol.HeadInfo, error) {
	if s.model == nil {
		return nil, ErrNoModel
	}
	h, err := weights.DecodeHead(data)
	if err != nil {
		return nil, err
	}
	m := s.model
	if h.Arch != m.Arch.Name {
		return nil, fmt.Errorf("the head was taught on %s, these weights are %s", h.Arch, m.Arch.Name)
	}
	if m.Partial != "" {
		return nil, fmt.Errorf("these weights stop at %s: the head reads %s", m.Partial, h.Layer)
	}
	fp, err := s.Fingerprint()
	if err != nil {
		return nil, err
	}
	if h.WeightsSHA256 != fp {
		return nil, fmt.Errorf("the head was taught on other %s weights (%.12s, these are %.12s): teach it again on these", h.Arch, h.WeightsSHA256, fp)
	}
	if m.Arch.LayerIndex(h.Layer) < 0 {
		return nil, fmt.Errorf("the head reads %q, which %s does not have", h.Layer, m.Arch.Name)
	}
	sum := sha256.Sum256(data)
	key := hex.EncodeToString(sum[:])
	if s.heads == nil {
		s.heads = map[string]loadedHead{}
	}
	if _, ok := s.heads[key]; !ok && len(s.heads) >= maxLoadedHeads {
		for k := range s.heads { // any one: a page that loads more than eight reloads them
			delete(s.heads, k)
			break
		}
	}
	s.heads[key] = loadedHead{h, m}
	return &protocol.HeadInfo{Key: key, Layer: h.Layer, Classes: h.Classes}, nil
}

// UseHead makes the passes of the current request score the loaded head key beside the
// top-5 ("": the Teach view's head, if trained).
func (s *Session) UseHead(key string) error {
	if key == "" {
		s.useHead = nil
		return nil
	}
	l, ok := s.heads[key]
	if !ok || l.model != s.model {
		return fmt.Errorf("no head %.12s is loaded for these weights: load its file first", key)
	}
	s.useHead = l.head
	return nil
}

// taught scores a pass with the head in use, else the Teach view's.
func (s *Session) taught(res *engine.Result) []protocol.Prediction {
	if s.useHead != nil {
		return headPredictions(s.useHead, res)
	}
	return s.teacher.predict(res)
}

// headPredictions are h's classes for the pass, best first (at most five).
func headPredictions(h *teach.Head, res *engine.Result) []protocol.Prediction {
	if res == nil {
		return nil
	}
	act := res.Activations[h.Layer]
	if act == nil {
		return nil
	}
	p, err := h.Probabilities(embedding(act))
	if err != nil {
		return nil
	}
	var out []protocol.Prediction
	for _, k := range engine.TopK(p, min(5, len(p))) {
		out = append(out, protocol.Prediction{Index: k.Index, Label: h.Classes[k.Index], Prob: k.Prob})
	}
	return out
}
