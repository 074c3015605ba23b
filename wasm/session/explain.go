package session

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/engine/explain"
	"github.com/alexlens/alexlens/engine/imagenet"
	"github.com/alexlens/alexlens/engine/preprocess"
	"github.com/alexlens/alexlens/wasm/protocol"
)

// Why did it say that, and what if (wasm/protocol/explain.go): attribution maps and the
// knock-out helper on the last classified image, and the interventions every pass applies.

// ErrNoImage is returned by requests that need a classified image first.
var ErrNoImage = errors.New("classify an image first")

// SetEdits makes edits the interventions of the next passes, or says which one cannot
// apply to the loaded network (and keeps the ones before).
func (s *Session) SetEdits(edits []protocol.Edit) error {
	if len(edits) == 0 {
		s.edits = nil
		return nil
	}
	if s.model == nil {
		return ErrNoModel
	}
	out, err := engineEdits(edits)
	if err != nil {
		return err
	}
	if err := s.model.CheckEdits(out); err != nil {
		return err
	}
	s.edits = out
	return nil
}

func engineEdits(edits []protocol.Edit) ([]engine.Edit, error) {
	var out []engine.Edit
	for _, e := range edits {
		op, ok := map[string]engine.EditOp{"set": engine.EditSet, "scale": engine.EditScale, "add": engine.EditAdd}[e.Op]
		if !ok {
			return nil, fmt.Errorf("intervention %q is not set, scale or add", e.Op)
		}
		out = append(out, engine.Edit{Layer: e.Layer, Op: op, Channel: e.Channel, Value: e.Value, Vector: e.Vector})
	}
	return out, nil
}

// Rerun runs the last image again with the current interventions.
func (s *Session) Rerun(progress func(protocol.Progress)) (*protocol.Classification, error) {
	if s.model == nil {
		return nil, ErrNoModel
	}
	if s.input == nil {
		return nil, ErrNoImage
	}
	c, err := s.run(s.input, 0, s.inputW, s.inputH, progress)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// explainable is the model and image an explain request works on.
func (s *Session) explainable() (*engine.Model, *engine.Tensor, error) {
	if s.model == nil {
		return nil, nil, ErrNoModel
	}
	if s.model.Partial != "" {
		return nil, nil, fmt.Errorf("these weights hold only the first layers: they have no classes to explain")
	}
	if s.input == nil {
		return nil, nil, ErrNoImage
	}
	return s.model, s.input, nil
}

// Explain computes an attribution map of the last image, with the current interventions.
func (s *Session) Explain(ctx context.Context, r protocol.ExplainRequest, progress func(done, total int)) (*protocol.ExplainResult, error) {
	m, x, err := s.explainable()
	if err != nil {
		return nil, err
	}
	method, err := explain.ParseMethod(r.Method)
	if err != nil {
		return nil, err
	}
	opt := explain.Options{Method: method, Class: r.Class, Layer: r.Layer,
		Samples: r.Samples, Noise: r.Noise, Patch: r.Patch, Stride: r.Stride, Seed: r.Seed,
		Backend: s.backend, Device: s.gradOptions().Device, Edits: s.edits, Progress: progress, Logits: s.lastLogits()}
	label := imagenet.Label
	if r.Taught {
		if opt.Head, err = s.Teacher().Trained(); err != nil {
			return nil, err
		}
		label = func(c int) string { return opt.Head.Classes[c] }
	}
	mp, err := explain.Explain(ctx, m, x, opt)
	if err != nil {
		return nil, err
	}
	photo := preprocess.Pixels(x, 0)
	heat := mp.Heat(photo.W, photo.H, 1)
	out := &protocol.ExplainResult{Method: string(mp.Method), Class: mp.Class, Label: label(mp.Class), Taught: r.Taught,
		Layer: mp.Layer, Rows: mp.Rows, Cols: mp.Cols, Values: mp.Values, Logit: mp.Logit, Prob: mp.Prob,
		Passes: mp.Passes, W: photo.W, H: photo.H, Heat: heat.Pix, Photo: rgbToRGBA(photo.Pix)}
	if c := mp.Completeness; c != nil {
		out.Completeness = &protocol.Completeness{Sum: c.Sum, Delta: c.Delta, Gap: c.Gap}
	}
	return out, nil
}

// KnockOut ranks the units of a layer by how much switching each off lowers the class.
func (s *Session) KnockOut(ctx context.Context, r protocol.ExplainRequest) (*protocol.KnockOutResult, error) {
	m, x, err := s.explainable()
	if err != nil {
		return nil, err
	}
	ko, err := explain.FindKnockOut(ctx, m, x, explain.KnockOutOptions{Layer: r.Layer, Class: r.Class, Count: r.Count,
		Backend: s.backend, Device: s.gradOptions().Device, Edits: s.edits})
	if err != nil {
		return nil, err
	}
	out := &protocol.KnockOutResult{Layer: ko.Layer, Class: ko.Class, Label: imagenet.Label(ko.Class), Curve: ko.Curve}
	for _, u := range ko.Units {
		out.Units = append(out.Units, protocol.KnockOutUnit{Channel: u.Channel, Drop: u.Drop, Estimate: u.Estimate})
	}
	return out, nil
}

// lastLogits are the last pass's logits when it ran with the current edits, else nil.
func (s *Session) lastLogits() []float32 {
	if len(s.edits) != len(s.logitsEdits) {
		return nil
	}
	for i, e := range s.edits {
		o := s.logitsEdits[i]
		if e.Layer != o.Layer || e.Op != o.Op || e.Channel != o.Channel || e.Value != o.Value || !slices.Equal(e.Vector, o.Vector) {
			return nil
		}
	}
	return s.logits
}

func rgbToRGBA(rgb []byte) []byte {
	out := make([]byte, len(rgb)/3*4)
	for i := range len(rgb) / 3 {
		out[4*i], out[4*i+1], out[4*i+2], out[4*i+3] = rgb[3*i], rgb[3*i+1], rgb[3*i+2], 255
	}
	return out
}
