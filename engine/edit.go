package engine

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Interventions: what happens when a unit is switched off or turned up. An Edit changes a
// named layer's activation (as Forward returns it, after the fused ReLU) before the next
// layer reads it, as a PyTorch forward hook that rewrites a module's output would. Forward
// and the gradient passes apply the same edits, so attribution can be asked of an edited
// network too.

// EditOp is what an Edit does to its channel.
type EditOp int

const (
	// EditSet sets every position of the channel to Value (0 switches the unit off).
	EditSet EditOp = iota
	// EditScale multiplies the channel by Value.
	EditScale
	// EditAdd adds Value times Vector (one value per channel) at every position: a
	// direction in the layer's activation space, such as one from the Embeddings view.
	EditAdd
)

// Edit is one intervention on a layer's activation. For a fully connected layer a channel
// is one unit.
type Edit struct {
	Layer   string
	Op      EditOp
	Channel int // EditSet, EditScale
	Value   float32
	Vector  []float32 // EditAdd
}

// maxEditValue bounds values and factors: past it the network's arithmetic overflows
// float32 and every activation downstream is infinite, which explains nothing.
const maxEditValue = 1e6

// String writes the edit as ParseEdit reads it, with the op's flag word first:
// "set conv5:12=0", "scale fc7:100=2", "add fc7:(4096 values)=3".
func (e Edit) String() string {
	v := strconv.FormatFloat(float64(e.Value), 'g', -1, 32)
	switch e.Op {
	case EditSet:
		return fmt.Sprintf("set %s:%d=%s", e.Layer, e.Channel, v)
	case EditScale:
		return fmt.Sprintf("scale %s:%d=%s", e.Layer, e.Channel, v)
	case EditAdd:
		return fmt.Sprintf("add %s:(%d values)=%s", e.Layer, len(e.Vector), v)
	}
	return fmt.Sprintf("edit op %d", int(e.Op))
}

// ParseEdit reads "L:C=V", the CLI's --set and --scale argument and the app's URL form: layer
// L, channel C, value (or factor) V.
func ParseEdit(op EditOp, s string) (Edit, error) {
	word := map[EditOp]string{EditSet: "set", EditScale: "scale"}[op]
	if word == "" {
		return Edit{}, fmt.Errorf("ParseEdit reads set and scale edits only")
	}
	layer, rest, ok1 := strings.Cut(s, ":")
	ch, val, ok2 := strings.Cut(rest, "=")
	if !ok1 || !ok2 || layer == "" {
		return Edit{}, fmt.Errorf("%s %q: want LAYER:CHANNEL=VALUE, as in conv5:12=0", word, s)
	}
	c, err := strconv.Atoi(strings.TrimSpace(ch))
	if err != nil {
		return Edit{}, fmt.Errorf("%s %q: channel %q is not a whole number", word, s, ch)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(val), 32)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return Edit{}, fmt.Errorf("%s %q: %q is not a finite number", word, s, val)
	}
	return Edit{Layer: strings.TrimSpace(layer), Op: op, Channel: c, Value: float32(v)}, nil
}

// CheckEdits reports the first edit that cannot apply to this model: an unknown layer or
// unit, a value that is not a finite number, a direction of the wrong length.
func (m *Model) CheckEdits(edits []Edit) error {
	if len(edits) == 0 {
		return nil
	}
	a := m.Arch
	shapes, err := a.Shapes(a.InputSize, a.InputSize)
	if err != nil {
		return err
	}
	for _, e := range edits {
		shape, ok := shapes[e.Layer]
		if !ok {
			return fmt.Errorf("%s: cannot %s: no layer %q (layers: %v)", a.Name, e, e.Layer, a.LayerNames())
		}
		if m.Partial != "" && a.LayerIndex(e.Layer) > a.LayerIndex(m.Partial) {
			return fmt.Errorf("%s: cannot %s: these weights cover layers up to %s only", a.Name, e, m.Partial)
		}
		c, _, _ := actDims(shape)
		if math.IsNaN(float64(e.Value)) || math.Abs(float64(e.Value)) > maxEditValue {
			return fmt.Errorf("%s: cannot %s: the value must be a finite number within ±%g", a.Name, e, float64(maxEditValue))
		}
		switch e.Op {
		case EditSet, EditScale:
			if e.Channel < 0 || e.Channel >= c {
				return fmt.Errorf("%s: cannot %s: %s has %d channels (0 to %d)", a.Name, e, e.Layer, c, c-1)
			}
		case EditAdd:
			if len(e.Vector) != c {
				return fmt.Errorf("%s: cannot %s: a direction in %s has %d values (one per channel), this one %d", a.Name, e, e.Layer, c, len(e.Vector))
			}
			if HasNaN(e.Vector) {
				return fmt.Errorf("%s: cannot %s: the direction holds NaN or infinite values", a.Name, e)
			}
		default:
			return fmt.Errorf("%s: unknown edit op %d", a.Name, int(e.Op))
		}
	}
	return nil
}

// editsFor are the edits of one layer, in the order given.
func editsFor(edits []Edit, layer string) []Edit {
	var out []Edit
	for _, e := range edits {
		if e.Layer == layer && layer != "" {
			out = append(out, e)
		}
	}
	return out
}

// editLayer applies a layer's edits to its output y, on a copy when the layer passed its
// input in on as y (a dropout), so that the input stays as it was.
func editLayer(y, in *Tensor, es []Edit) *Tensor {
	if len(es) == 0 {
		return y
	}
	if sharesData(y, in) {
		c := newOutput(y.Shape...)
		copy(c.Data, y.Data)
		y = c
	}
	applyEdits(y, es)
	return y
}

// applyEdits rewrites t (a batch of one layer's activations) in place.
func applyEdits(t *Tensor, edits []Edit) {
	n := t.Shape[0]
	per := t.Len() / n
	c := t.Shape[1]
	hw := per / c
	for _, e := range edits {
		for b := range n {
			item := t.Data[b*per : (b+1)*per]
			switch e.Op {
			case EditSet:
				fill(item[e.Channel*hw:(e.Channel+1)*hw], e.Value)
			case EditScale:
				scale(item[e.Channel*hw:(e.Channel+1)*hw], e.Value)
			case EditAdd:
				for ch, u := range e.Vector {
					d := e.Value * u
					for i := ch * hw; i < (ch+1)*hw; i++ {
						item[i] += d
					}
				}
			}
		}
	}
}

// editsBackward turns the gradient with respect to an edited activation into the gradient
// with respect to the activation before the edits, in place: a set channel no longer
// depends on its input, a scaled one passes its factor on, an added direction is a constant.
func editsBackward(g *Tensor, edits []Edit) {
	n := g.Shape[0]
	per := g.Len() / n
	hw := per / g.Shape[1]
	for i := len(edits) - 1; i >= 0; i-- {
		e := edits[i]
		for b := range n {
			ch := g.Data[b*per+e.Channel*hw : b*per+(e.Channel+1)*hw]
			switch e.Op {
			case EditSet:
				fill(ch, 0)
			case EditScale:
				scale(ch, e.Value)
			}
		}
	}
}

func fill(x []float32, v float32) {
	for i := range x {
		x[i] = v
	}
}

func scale(x []float32, f float32) {
	for i := range x {
		x[i] *= f
	}
}
