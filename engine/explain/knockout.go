package explain

import (
	"context"
	"fmt"
	"slices"

	"github.com/alexlens/alexlens/engine"
)

// KnockOutOptions asks which units of a layer the class depends on most.
type KnockOutOptions struct {
	Layer string
	Class int // Top1: the network's top-1
	// Count is how many units to list and remove in order (10).
	Count int
	// Candidates is how many units, preselected by a first-order estimate, are tried
	// exactly (32; every unit when the layer has fewer).
	Candidates int
	Backend    engine.Backend
	Threads    int
	Device     engine.GradDevice // the ranking's gradient pass, as in Options
	Edits      []engine.Edit     // the reader's interventions, kept in every pass
}

// KnockedUnit is one unit of the ranking.
type KnockedUnit struct {
	Channel int `json:"channel"`
	// Drop is how much the class's probability falls when this unit alone is switched off
	// (set to 0); Estimate is the first-order guess of the logit's fall, sum(grad x act):
	// the logit's change is -sum(grad x act) to first order.
	Drop     float32 `json:"drop"`
	Estimate float32 `json:"estimate"`
}

// KnockOut is the answer: the units whose removal lowers the class most, and the class's
// probability as they are removed one after another.
type KnockOut struct {
	Layer string        `json:"layer"`
	Class int           `json:"class"`
	Units []KnockedUnit `json:"units"`
	// Curve[i] is the probability with the first i units switched off (Curve[0]: none).
	Curve []float32 `json:"curve"`
}

// MaxKnockOut bounds Count and Candidates.
const MaxKnockOut = 256

// FindKnockOut ranks the units of opt.Layer by how much switching each off lowers the class,
// without one pass per unit: one gradient pass estimates every unit's effect (the logit's
// first-order change when a channel goes to zero is -sum over positions of grad x act), the
// best candidates are then switched off one per batch item in a single batched pass from
// the layer onward, and a last batched pass removes the top units cumulatively.
func FindKnockOut(ctx context.Context, m *engine.Model, x *engine.Tensor, opt KnockOutOptions) (*KnockOut, error) {
	if opt.Count == 0 {
		opt.Count = 10
	}
	if opt.Candidates == 0 {
		opt.Candidates = 32
	}
	a := m.Arch
	if opt.Count < 1 || opt.Count > MaxKnockOut || opt.Candidates < 1 || opt.Candidates > MaxKnockOut {
		return nil, fmt.Errorf("knock-out: %d units of %d candidates; give 1 to %d", opt.Count, opt.Candidates, MaxKnockOut)
	}
	if opt.Class != Top1 && (opt.Class < 0 || opt.Class >= a.Classes) {
		return nil, fmt.Errorf("class %d is out of range: %s has classes 0 to %d", opt.Class, a.Name, a.Classes-1)
	}
	if names := a.LayerNames(); !slices.Contains(names, opt.Layer) || opt.Layer == names[len(names)-1] {
		return nil, fmt.Errorf("%s: cannot knock out units of %q: name a layer before the output (layers: %v)", a.Name, opt.Layer, names)
	}
	if x == nil || len(x.Shape) != 4 || x.Shape[0] != 1 || x.Shape[2] != a.InputSize || x.Shape[3] != a.InputSize {
		return nil, fmt.Errorf("knock-out: the photo must be one 1 x 3 x %d x %d input", a.InputSize, a.InputSize)
	}
	fwd := engine.ForwardOptions{Backend: opt.Backend, Edits: opt.Edits, Keep: func(string) bool { return false }}
	if opt.Class == Top1 {
		res, err := m.Forward(x, fwd)
		if err != nil {
			return nil, err
		}
		opt.Class = engine.TopK(engine.Probabilities(res.Logits).Data, 1)[0].Index
		res.Release()
	}
	_, act, g, err := m.ActivationGradient(x, []engine.Objective{engine.ClassLogit(opt.Class)}, opt.Layer,
		engine.GradOptions{Backend: opt.Backend, Threads: opt.Threads, Edits: opt.Edits, Device: opt.Device})
	if err != nil {
		return nil, err
	}
	c := act.Shape[1]
	hw := act.Len() / c
	est := make([]KnockedUnit, c)
	for k := range c {
		var s float64
		for p := k * hw; p < (k+1)*hw; p++ {
			s += float64(g.Data[p]) * float64(act.Data[p])
		}
		est[k] = KnockedUnit{Channel: k, Estimate: float32(s)}
	}
	slices.SortStableFunc(est, func(p, q KnockedUnit) int {
		return -cmpFloat(p.Estimate, q.Estimate)
	})
	cands := est[:min(opt.Candidates, c)]
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// Each candidate alone, then the top units cumulatively: one batch each, from the layer
	// on. Item 0 of the first batch is the unedited activation, the baseline.
	probs, err := knockedProbs(m, opt, act, fwd, len(cands)+1, func(i int) []int {
		if i == 0 {
			return nil
		}
		return []int{cands[i-1].Channel}
	})
	if err != nil {
		return nil, err
	}
	for i := range cands {
		cands[i].Drop = probs[0] - probs[i+1]
	}
	slices.SortStableFunc(cands, func(p, q KnockedUnit) int { return -cmpFloat(p.Drop, q.Drop) })
	out := &KnockOut{Layer: opt.Layer, Class: opt.Class, Units: slices.Clone(cands[:min(opt.Count, len(cands))])}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	curve, err := knockedProbs(m, opt, act, fwd, len(out.Units), func(i int) []int {
		var off []int
		for _, u := range out.Units[:i+1] {
			off = append(off, u.Channel)
		}
		return off
	})
	if err != nil {
		return nil, err
	}
	out.Curve = append([]float32{probs[0]}, curve...)
	return out, nil
}

// knockedProbs runs n copies of the layer's activation, copy i with the channels off(i) set
// to 0, through the rest of the network in one batch and returns the class's probability
// for each.
func knockedProbs(m *engine.Model, opt KnockOutOptions, act *engine.Tensor, fwd engine.ForwardOptions, n int, off func(i int) []int) ([]float32, error) {
	per := act.Len()
	hw := per / act.Shape[1]
	batch := engine.NewTensor(append([]int{n}, act.Shape[1:]...)...)
	for i := range n {
		item := batch.Data[i*per : (i+1)*per]
		copy(item, act.Data)
		for _, k := range off(i) {
			clear(item[k*hw : (k+1)*hw])
		}
	}
	res, err := m.ForwardFrom(opt.Layer, batch, fwd)
	if err != nil {
		return nil, err
	}
	p := engine.Probabilities(res.Logits)
	res.Release()
	k := p.Shape[1]
	out := make([]float32, n)
	for i := range n {
		out[i] = p.Data[i*k+opt.Class]
	}
	return out, nil
}

func cmpFloat(a, b float32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
