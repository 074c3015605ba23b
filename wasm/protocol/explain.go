package protocol

import (
	"fmt"
	"math"
)

// Messages of "why did it say that, and what if": attribution maps of the last classified
// image, interventions on units, and the knock-out helper. The interventions travel with
// every request that runs the network (Request.Edits), so the page's list is the one truth;
// the maps and rankings are computed on the image the last classify or frame request gave.

const (
	// OpRerun runs the last image again, with Request.Edits: an intervention's new top-5
	// (and Request.Maps), without sending the image again.
	OpRerun Op = "rerun"
	// OpExplain computes an attribution map (Request.Explain) of the last image.
	OpExplain Op = "explain"
	// OpKnockOut ranks the units of Request.Explain.Layer by how much switching each off
	// lowers Request.Explain.Class, and removes the top Count in order.
	OpKnockOut Op = "knockout"
)

// Limits on explain requests.
const (
	MaxEdits        = 64
	MaxExplainSteps = 256 // SmoothGrad samples, integrated gradients steps
	MaxKnockOut     = 64
)

// Edit is one intervention (engine.Edit): Op "set" (Channel to Value), "scale" (Channel
// times Value) or "add" (Value times Vector, one value per channel, at every position). An
// "add" may instead name gallery items, From and To: the direction mean(To) - mean(From) of
// their embeddings, added at the gallery's layer (the Embeddings view's directions).
type Edit struct {
	Op      string    `json:"op"`
	Layer   string    `json:"layer"`
	Channel int       `json:"channel"`
	Value   float32   `json:"value"`
	Vector  []float32 `json:"vector,omitempty"`
	From    []int     `json:"from,omitempty"`
	To      []int     `json:"to,omitempty"`
	// FromNames and ToNames name the gallery images of a direction instead of From and To:
	// what a shared link carries, since the same images sit at other places in another
	// browser's gallery.
	FromNames []string `json:"fromNames,omitempty"`
	ToNames   []string `json:"toNames,omitempty"`
}

// ExplainRequest holds the parameters of OpExplain and OpKnockOut; zero values take the
// engine's defaults (engine/explain).
type ExplainRequest struct {
	Method string `json:"method,omitempty"` // gradcam, saliency, smoothgrad, occlusion, ig
	Class  int    `json:"class"`            // -1: the top-1
	// Taught: Class is a class of the Teach view's trained head, not an ImageNet class.
	Taught  bool    `json:"taught,omitempty"`
	Layer   string  `json:"layer,omitempty"`
	Samples int     `json:"samples,omitempty"`
	Noise   float64 `json:"noise,omitempty"`
	Patch   int     `json:"patch,omitempty"`
	Stride  int     `json:"stride,omitempty"`
	Seed    int64   `json:"seed,omitempty"`
	Count   int     `json:"count,omitempty"` // knock-out: units to list
}

// ExplainResult is an attribution map: Values (Rows x Cols, before upsampling), and the map
// coloured at the network's input size (W x H RGBA, opaque: the page sets the opacity) over
// Photo, the pixels the network saw.
type ExplainResult struct {
	Method       string        `json:"method"`
	Class        int           `json:"class"`
	Label        string        `json:"label"`
	Taught       bool          `json:"taught,omitempty"` // Class is the trained head's
	Layer        string        `json:"layer,omitempty"`
	Rows         int           `json:"rows"`
	Cols         int           `json:"cols"`
	Values       []float32     `json:"values"`
	Logit        float32       `json:"logit"`
	Prob         float32       `json:"prob"`
	Completeness *Completeness `json:"completeness,omitempty"`
	Passes       int           `json:"passes"`
	W            int           `json:"w"`
	H            int           `json:"h"`
	Heat         []byte        `json:"heat"`
	Photo        []byte        `json:"photo"`
}

// Completeness is integrated gradients' check: the attributions' sum against the logit's
// change from the black baseline.
type Completeness struct {
	Sum   float64 `json:"sum"`
	Delta float64 `json:"delta"`
	Gap   float64 `json:"gap"`
}

// KnockOutResult ranks units by the class probability lost when each is switched off;
// Curve[i] is the probability with the first i units off.
type KnockOutResult struct {
	Layer string         `json:"layer"`
	Class int            `json:"class"`
	Label string         `json:"label"`
	Units []KnockOutUnit `json:"units"`
	Curve []float32      `json:"curve"`
}

// KnockOutUnit is one ranked unit.
type KnockOutUnit struct {
	Channel  int     `json:"channel"`
	Drop     float32 `json:"drop"`
	Estimate float32 `json:"estimate"`
}

// validateEdits checks the shape of the interventions; the session checks them against the
// network (layers, channels, lengths).
func validateEdits(op Op, edits []Edit) error {
	if len(edits) > MaxEdits {
		return fmt.Errorf("%s: %d interventions, at most %d", op, len(edits), MaxEdits)
	}
	for _, e := range edits {
		if e.Op != "set" && e.Op != "scale" && e.Op != "add" {
			return fmt.Errorf("%s: intervention %q is not set, scale or add", op, e.Op)
		}
		if math.IsNaN(float64(e.Value)) || math.IsInf(float64(e.Value), 0) {
			return fmt.Errorf("%s: the value of %s %s:%d is not a number", op, e.Op, e.Layer, e.Channel)
		}
		from, to := max(len(e.From), len(e.FromNames)), max(len(e.To), len(e.ToNames))
		if e.Op == "add" && e.Vector == nil && (from == 0 || to == 0 || from > MaxGroup || to > MaxGroup) {
			return fmt.Errorf("%s: a direction to add needs a vector, or 1..%d gallery items at each end", op, MaxGroup)
		}
		if len(e.From) > 0 && len(e.FromNames) > 0 || len(e.To) > 0 && len(e.ToNames) > 0 {
			return fmt.Errorf("%s: a direction's images are given by number or by name, not both", op)
		}
	}
	return nil
}

// validateExplain checks an explain or knock-out request's parameters.
func (r *Request) validateExplain() error {
	x := r.Explain
	if x == nil {
		return fmt.Errorf("%s: no parameters", r.Op)
	}
	if x.Class < -1 {
		return fmt.Errorf("%s: class %d is negative", r.Op, x.Class)
	}
	if x.Samples < 0 || x.Samples > MaxExplainSteps {
		return fmt.Errorf("%s: samples %d outside 0..%d", r.Op, x.Samples, MaxExplainSteps)
	}
	if x.Patch < 0 || x.Patch > 256 || x.Stride < 0 || x.Stride > 256 {
		return fmt.Errorf("%s: patch %d and stride %d must be 0..256 pixels", r.Op, x.Patch, x.Stride)
	}
	if !(x.Noise >= 0 && x.Noise <= 1) {
		return fmt.Errorf("%s: noise %v outside 0..1", r.Op, x.Noise)
	}
	if r.Op == OpKnockOut && x.Taught {
		return fmt.Errorf("knockout: ranks ImageNet classes only, not taught ones")
	}
	if r.Op == OpKnockOut && (x.Layer == "" || x.Count < 0 || x.Count > MaxKnockOut) {
		return fmt.Errorf("knockout: name a layer and ask for 0..%d units", MaxKnockOut)
	}
	return nil
}
