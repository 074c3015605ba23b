package state

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"

	"github.com/alexlens/alexlens/engine/imagenet"
	"github.com/alexlens/alexlens/wasm/protocol"
)

// Why is the state of "why did it say that, and what if" in the Classify view: the
// attribution map asked for and shown, and the interventions every pass applies. The
// interventions live in the URL (set=LAYER:C=V, scale=LAYER:C=F, each repeatable, the CLI's
// --set and --scale syntax; add= for a direction between gallery images, by name), so a link
// shares the exact experiment.
type Why struct {
	Method string // an attribution method (WhyMethods)
	Class  int    // the class explained; -1: the top-1
	// Taught: Class is one of the Teach view's head's classes, called TaughtLabel.
	Taught      bool
	TaughtLabel string
	Layer       string // Grad-CAM's layer; "": the engine's default
	Opacity     float64

	Map   *protocol.ExplainResult
	Seq   int    // counts maps, so views and tests can tell a new one from the last
	Busy  string // "explaining", "ranking units" ("" idle)
	Done  int
	Total int
	ReqID int // the running request, for cancel
	Error string
	// Millis is the worker's own time for the last map or ranking.
	Millis float64

	Edits     []protocol.Edit
	EditError string // why the last intervention asked for was refused
	// KnockLayer is the layer the intervention form and the knock-out helper work on.
	KnockLayer string
	KnockOut   *protocol.KnockOutResult
}

// WhyMethods are the attribution methods the page offers, with their labels.
var WhyMethods = []struct{ Value, Label string }{
	{"gradcam", "Grad-CAM"}, {"saliency", "Saliency (gradient)"}, {"smoothgrad", "SmoothGrad"},
	{"occlusion", "Occlusion"}, {"ig", "Integrated gradients"},
}

// NewWhy starts with Grad-CAM of the top-1 at 60% opacity.
func NewWhy() *Why { return &Why{Method: "gradcam", Class: -1, Opacity: 0.6} }

// ExplainRequest asks for the map of the chosen class by the chosen method.
func (w *Why) ExplainRequest() protocol.Request {
	x := &protocol.ExplainRequest{Method: w.Method, Class: w.Class, Taught: w.Taught}
	if w.Method == "gradcam" {
		x.Layer = w.Layer
	}
	return protocol.Request{Op: protocol.OpExplain, Explain: x, Edits: w.Edits}
}

// KnockOutRequest ranks KnockLayer's units for the chosen class (the explained one, or the
// top-1).
func (w *Why) KnockOutRequest() protocol.Request {
	return protocol.Request{Op: protocol.OpKnockOut, Explain: &protocol.ExplainRequest{Class: w.Class, Taught: w.Taught, Layer: w.KnockLayer, Count: 8},
		Edits: w.Edits}
}

// ClassText is the class as the class field shows it.
func (w *Why) ClassText() string {
	if w.Taught {
		return w.TaughtLabel + " (your class)"
	}
	if w.Class < 0 {
		return "top-1"
	}
	return fmt.Sprintf("%d %s", w.Class, imagenet.Label(w.Class))
}

// SetClass reads the class field: "top-1", a class index, or a class name (ignoring case:
// the class of that name, else the first whose name starts with it, else contains it).
func (w *Why) SetClass(text string) error {
	w.Taught, w.TaughtLabel = false, ""
	t := strings.TrimSpace(text)
	if t == "" || strings.EqualFold(t, "top-1") {
		w.Class = -1
		return nil
	}
	if head, _, _ := strings.Cut(t, " "); head != "" {
		if i, err := strconv.Atoi(head); err == nil {
			if i < 0 || i >= len(imagenet.Labels) {
				return fmt.Errorf("class %d is out of range: 0 to %d", i, len(imagenet.Labels)-1)
			}
			w.Class = i
			return nil
		}
	}
	low := strings.ToLower(t)
	for _, match := range []func(string) bool{ // the exact name first, then a prefix, then a part
		func(l string) bool { return l == low },
		func(l string) bool { return strings.HasPrefix(l, low) },
		func(l string) bool { return strings.Contains(l, low) },
	} {
		for i, l := range imagenet.Labels {
			if match(strings.ToLower(l)) {
				w.Class = i
				return nil
			}
		}
	}
	return fmt.Errorf("no ImageNet class is called %q", t)
}

// Explained applies an explain answer.
func (w *Why) Explained(r protocol.Response) {
	switch r.Kind {
	case protocol.KindProgress:
		if p := r.Progress; p != nil {
			w.Done, w.Total = int(p.Done), int(p.Total)
		}
		return
	case protocol.KindDone:
		if r.Look != nil {
			w.Millis = r.Look.Millis
		}
		if r.Look != nil && r.Look.Explain != nil {
			w.Map = r.Look.Explain
			w.Seq++
		}
		if r.Look != nil && r.Look.KnockOut != nil {
			w.KnockOut = r.Look.KnockOut
		}
		w.Error = ""
	case protocol.KindError:
		w.Error = r.Error
	}
	w.Busy, w.ReqID, w.Done, w.Total = "", 0, 0, 0
}

// Caption says what the map shows.
func (w *Why) Caption() string {
	m := w.Map
	if m == nil {
		return ""
	}
	name := m.Method
	for _, x := range WhyMethods {
		if x.Value == m.Method {
			name = x.Label
		}
	}
	label := m.Label
	if m.Taught {
		label += " (your class: the Teach view's head)"
	}
	s := fmt.Sprintf("%s for %s (logit %.2f, %.1f%%)", name, label, m.Logit, 100*m.Prob)
	if m.Layer != "" {
		s += " at " + m.Layer
	}
	s += fmt.Sprintf(" · %d×%d map, %d passes", m.Rows, m.Cols, m.Passes)
	if c := m.Completeness; c != nil {
		s += fmt.Sprintf(" · attributions sum to %.3f, the logit rose %.3f from black: completeness gap %.1f%%", c.Sum, c.Delta, 100*c.Gap)
	}
	if len(w.Edits) > 0 {
		s += " · with the interventions below"
	}
	return s
}

// AddEdit adds an intervention from the form: op "off" (set to 0), "set" or "scale" on
// channel of layer with the value's text. Anything the network cannot take is refused with
// a reason in EditError, and the list stays as it was.
func (w *Why) AddEdit(model *protocol.ModelInfo, op, layer string, channel int, value string) bool {
	e, err := checkEdit(model, op, layer, channel, value)
	if err != nil {
		w.EditError = err.Error()
		return false
	}
	w.EditError = ""
	for i, old := range w.Edits { // one intervention per unit: the new one replaces it
		if old.Layer == e.Layer && old.Channel == e.Channel && old.Op != "add" {
			w.Edits[i] = e
			return true
		}
	}
	w.Edits = append(w.Edits, e)
	return true
}

func checkEdit(model *protocol.ModelInfo, op, layer string, channel int, value string) (protocol.Edit, error) {
	if model == nil {
		return protocol.Edit{}, fmt.Errorf("no network loaded")
	}
	var info *protocol.LayerInfo
	for i := range model.Layers {
		if model.Layers[i].Name == layer {
			info = &model.Layers[i]
		}
	}
	if info == nil {
		return protocol.Edit{}, fmt.Errorf("%s has no layer %q", model.Title, layer)
	}
	n := max(info.Channels, info.Features)
	if channel < 0 || channel >= n {
		return protocol.Edit{}, fmt.Errorf("%s has %d channels: 0 to %d, not %d", layer, n, n-1, channel)
	}
	e := protocol.Edit{Op: op, Layer: layer, Channel: channel}
	switch op {
	case "off":
		e.Op = "set"
	case "set", "scale":
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 32)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > 1e6 {
			return protocol.Edit{}, fmt.Errorf("%q is not a number the network can take (within ±1e6)", value)
		}
		e.Value = float32(v)
	default:
		return protocol.Edit{}, fmt.Errorf("unknown intervention %q", op)
	}
	return e, nil
}

// AddDirection adds the direction mean(to) - mean(from) of gallery images, named, at the
// gallery's layer (the worker finds them and resolves it), once. Names, not item numbers:
// the URL carries them to other browsers, whose galleries hold the images elsewhere.
func (w *Why) AddDirection(layer string, from, to []string) {
	w.EditError = ""
	w.Edits = append(w.Edits, protocol.Edit{Op: "add", Layer: layer, Value: 1, FromNames: from, ToNames: to})
}

// RemoveEdit drops intervention i.
func (w *Why) RemoveEdit(i int) {
	if i >= 0 && i < len(w.Edits) {
		w.Edits = append(w.Edits[:i:i], w.Edits[i+1:]...)
	}
}

// KnockOutEdits switches off the knock-out's units, in order (replacing interventions on
// the same units).
func (w *Why) KnockOutEdits(model *protocol.ModelInfo) {
	if w.KnockOut == nil {
		return
	}
	for _, u := range w.KnockOut.Units {
		w.AddEdit(model, "off", w.KnockOut.Layer, u.Channel, "0")
	}
}

// EditText is an intervention as the list shows it.
func EditText(e protocol.Edit) string {
	switch {
	case e.Op == "set" && e.Value == 0:
		return fmt.Sprintf("%s unit %d switched off", e.Layer, e.Channel)
	case e.Op == "set":
		return fmt.Sprintf("%s unit %d set to %g", e.Layer, e.Channel, e.Value)
	case e.Op == "scale":
		return fmt.Sprintf("%s unit %d × %g", e.Layer, e.Channel, e.Value)
	}
	if len(e.FromNames)+len(e.ToNames) > 0 {
		return fmt.Sprintf("%s + %g × the direction from %d gallery image(s) (A) to %d (B)", e.Layer, e.Value, len(e.FromNames), len(e.ToNames))
	}
	return fmt.Sprintf("%s + %g × a direction", e.Layer, e.Value)
}

// URLParams are the interventions as URL parameters: set= and scale= LAYER:CHANNEL=VALUE,
// and add= LAYER:A1|A2>B1|B2=AMOUNT for a direction between gallery images, each name
// path-escaped (so that | and > in a name are not read as separators).
func (w *Why) URLParams() url.Values {
	q := url.Values{}
	for _, e := range w.Edits {
		v := strconv.FormatFloat(float64(e.Value), 'g', -1, 32)
		switch {
		case e.Op == "set" || e.Op == "scale":
			q.Add(e.Op, fmt.Sprintf("%s:%d=%s", e.Layer, e.Channel, v))
		case e.Op == "add" && len(e.FromNames)+len(e.ToNames) > 0:
			q.Add("add", e.Layer+":"+escapeNames(e.FromNames)+">"+escapeNames(e.ToNames)+"="+v)
		}
	}
	return q
}

func escapeNames(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = url.PathEscape(n)
	}
	return strings.Join(out, "|")
}

// parseDirection reads add= LAYER:A1|A2>B1|B2=AMOUNT (URLParams).
func parseDirection(s string) (protocol.Edit, bool) {
	layer, rest, ok := strings.Cut(s, ":")
	eq := strings.LastIndex(rest, "=")
	if !ok || layer == "" || eq < 0 {
		return protocol.Edit{}, false
	}
	v, err := strconv.ParseFloat(rest[eq+1:], 32)
	from, to, ok := strings.Cut(rest[:eq], ">")
	if err != nil || !ok || math.IsNaN(v) || math.IsInf(v, 0) {
		return protocol.Edit{}, false
	}
	names := func(s string) ([]string, bool) {
		if s == "" {
			return nil, false
		}
		var out []string
		for _, p := range strings.Split(s, "|") {
			n, err := url.PathUnescape(p)
			if err != nil || n == "" {
				return nil, false
			}
			out = append(out, n)
		}
		return out, true
	}
	a, okA := names(from)
	b, okB := names(to)
	if !okA || !okB {
		return protocol.Edit{}, false
	}
	return protocol.Edit{Op: "add", Layer: layer, Value: float32(v), FromNames: a, ToNames: b}, true
}

// ParseEditParams reads the interventions of a URL's set=, scale= and add= parameters
// (URLParams); ones that do not parse are left out, with a note saying so.
func ParseEditParams(q url.Values) (edits []protocol.Edit, note string) {
	var bad []string
	for _, op := range []string{"set", "scale"} {
		for _, s := range q[op] {
			layer, rest, ok1 := strings.Cut(s, ":")
			ch, val, ok2 := strings.Cut(rest, "=")
			c, err1 := strconv.Atoi(ch)
			v, err2 := strconv.ParseFloat(val, 32)
			if !ok1 || !ok2 || layer == "" || err1 != nil || err2 != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				bad = append(bad, op+"="+s)
				continue
			}
			edits = append(edits, protocol.Edit{Op: op, Layer: layer, Channel: c, Value: float32(v)})
		}
	}
	for _, s := range q["add"] {
		e, ok := parseDirection(s)
		if !ok {
			bad = append(bad, "add="+s)
			continue
		}
		edits = append(edits, e)
	}
	if len(bad) > 0 {
		note = "left out interventions the page could not read: " + strings.Join(bad, ", ") + " (want LAYER:CHANNEL=VALUE, or LAYER:A|A2>B=AMOUNT for a direction between gallery images)"
	}
	return edits, note
}

// Prune drops interventions the loaded network cannot take (a link made for another
// network) and says which.
func (w *Why) Prune(model *protocol.ModelInfo) string {
	var kept []protocol.Edit
	var dropped []string
	for _, e := range w.Edits {
		if e.Op == "add" {
			kept = append(kept, e)
			continue
		}
		if _, err := checkEdit(model, e.Op, e.Layer, e.Channel, strconv.FormatFloat(float64(e.Value), 'g', -1, 32)); err != nil {
			dropped = append(dropped, err.Error())
			continue
		}
		kept = append(kept, e)
	}
	w.Edits = kept
	if len(dropped) == 0 {
		return ""
	}
	return "left out interventions this network cannot take: " + strings.Join(dropped, "; ")
}
