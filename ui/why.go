//go:build js && wasm

package main

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"syscall/js"

	"github.com/vugu/vugu"
	vjs "github.com/vugu/vugu/js"

	"github.com/alexlens/alexlens/ui/state"
	"github.com/alexlens/alexlens/wasm/protocol"
)

// The Classify view's "Why?" and "What if?" cards: attribution maps of the last image and
// interventions on units (ui/state/why.go holds their state).

func (c *Root) W() *state.Why { return c.App.Why }

func (c *Root) showsWhy() bool {
	return c.App.Model != nil && !c.partial() && c.App.Look.View == state.ViewClassify
}

func (c *Root) whyMethods() []struct{ Value, Label string } { return state.WhyMethods }
func (c *Root) editText(e protocol.Edit) string             { return state.EditText(e) }

// convLayers are the layers Grad-CAM can use: those with positions.
func (c *Root) convLayers() []protocol.LayerInfo {
	var out []protocol.LayerInfo
	for _, l := range c.App.Model.Layers {
		if l.Channels > 0 && l.Height > 1 {
			out = append(out, l)
		}
	}
	return out
}

// editLayers are the layers a unit can be edited in: every one, the class scores too.
func (c *Root) editLayers() []protocol.LayerInfo { return c.App.Model.Layers }

func (c *Root) OnWhyMethod(event vugu.DOMEvent) { c.W().Method = event.PropString("target", "value") }
func (c *Root) OnWhyLayer(event vugu.DOMEvent)  { c.W().Layer = event.PropString("target", "value") }

func (c *Root) OnWhyClass(event vugu.DOMEvent) {
	if err := c.W().SetClass(event.PropString("target", "value")); err != nil {
		c.W().Error = err.Error()
		return
	}
	c.W().Error = ""
}

func (c *Root) OnWhyOpacity(event vugu.DOMEvent) {
	if v, err := strconv.ParseFloat(event.PropString("target", "value"), 64); err == nil {
		c.W().Opacity = max(0, min(v, 1))
	}
}

func (c *Root) whyOpacity() string { return fmt.Sprintf("opacity: %.2f", c.W().Opacity) }

// ExplainClass explains one of the top-5 (its "why?").
func (c *Root) ExplainClass(class int) {
	w := c.W()
	w.Class, w.Taught, w.TaughtLabel = class, false, ""
	c.Explain()
}

// ExplainTaught explains one of the Teach view's classes (its "why?").
func (c *Root) ExplainTaught(p protocol.Prediction) {
	w := c.W()
	w.Class, w.Taught, w.TaughtLabel = p.Index, true, p.Label
	c.Explain()
}

// Explain asks the worker for the map of the chosen class by the chosen method.
func (c *Root) Explain() { c.whyRun("explaining", c.W().ExplainRequest()) }

// FindKnockOut ranks the edit form's layer's units for the chosen class.
func (c *Root) FindKnockOut() { c.whyRun("ranking units", c.W().KnockOutRequest()) }

func (c *Root) whyRun(busy string, req protocol.Request) {
	w := c.W()
	if w.Busy != "" || c.App.Result == nil {
		return
	}
	w.Busy, w.Error, w.Done, w.Total = busy, "", 0, 0
	c.eng.Send(req, js.Undefined(), func(r protocol.Response) {
		c.update(func() { w.Explained(r) })
	})
	w.ReqID = c.eng.LastID()
}

// CancelWhy stops the running explain or knock-out request.
func (c *Root) CancelWhy() {
	if id := c.W().ReqID; id != 0 {
		c.eng.Send(protocol.Request{Op: protocol.OpCancel, Look: &protocol.LookRequest{Target: id}}, js.Undefined(), func(protocol.Response) {})
	}
}

func (c *Root) whyBusy() string {
	w := c.W()
	if w.Total > 0 {
		return fmt.Sprintf("%s: %d of %d passes", w.Busy, w.Done, w.Total)
	}
	return w.Busy + "…"
}

// drawWhy draws the photo the network saw, or the coloured map over it (its opacity is the
// canvas's CSS, so the slider redraws nothing).
func (c *Root) drawWhy(v vjs.Value, heat bool) {
	m := c.W().Map
	if m == nil {
		return
	}
	pix := m.Photo
	if heat {
		pix = m.Heat
	}
	canvas := js.Value(v)
	if shows(canvas, pix) {
		return
	}
	putRGBA(canvas, pix, m.W, m.H)
}

// The intervention form.

func (c *Root) OnEditLayer(event vugu.DOMEvent) {
	c.W().KnockLayer = event.PropString("target", "value")
}

func (c *Root) OnEditChannel(event vugu.DOMEvent) {
	if v, err := strconv.Atoi(event.PropString("target", "value")); err == nil {
		c.editChannel = v
	}
}

func (c *Root) OnEditOp(event vugu.DOMEvent)    { c.editOp = event.PropString("target", "value") }
func (c *Root) OnEditValue(event vugu.DOMEvent) { c.editValue = event.PropString("target", "value") }

// ApplyEdit adds the form's intervention and runs the image again with it.
func (c *Root) ApplyEdit() {
	if c.W().AddEdit(c.App.Model, c.editOp, c.W().KnockLayer, c.editChannel, c.editValue) {
		c.editsChanged()
	}
}

func (c *Root) RemoveEdit(i int) {
	c.W().RemoveEdit(i)
	c.editsChanged()
}

func (c *Root) ClearEdits() {
	c.W().Edits = nil
	c.editsChanged()
}

// ApplyKnockOut switches off the knock-out's units.
func (c *Root) ApplyKnockOut() {
	c.W().KnockOutEdits(c.App.Model)
	c.editsChanged()
}

// editsChanged records the interventions in the URL and runs the last image again with
// them (the webcam's next frame takes them anyway). Runs under the render lock.
func (c *Root) editsChanged() {
	editURL(func(q url.Values) {
		q.Del("set")
		q.Del("scale")
		q.Del("add")
		for k, v := range c.W().URLParams() {
			q[k] = v
		}
	})
	if c.App.Result == nil || c.App.Webcam {
		return
	}
	c.App.Status = state.StatusWorking
	c.eng.Send(c.App.RerunRequest(), js.Undefined(), func(r protocol.Response) {
		c.update(func() { c.applyResult(r, state.Rerun) })
	})
}

func (c *Root) knockOutLabel() string {
	return fmt.Sprintf("Find the %s units %s depends on", c.W().KnockLayer, c.whyClassName())
}

func (c *Root) whyClassName() string {
	if c.W().Taught {
		return c.W().TaughtLabel
	}
	if c.W().Class >= 0 {
		return strings.TrimPrefix(c.W().ClassText(), strconv.Itoa(c.W().Class)+" ")
	}
	if r := c.App.Result; r != nil && len(r.Top) > 0 {
		return r.Top[0].Label
	}
	return "the top-1"
}

func (c *Root) knockOutCaption() string {
	k := c.W().KnockOut
	last := k.Curve[len(k.Curve)-1]
	return fmt.Sprintf("%s: %.1f%% with all units on; %.1f%% with these %d off, one after another", k.Label, 100*k.Curve[0], 100*last, len(k.Units))
}

func (c *Root) knockUnitText(u protocol.KnockOutUnit) string {
	return fmt.Sprintf("unit %d: alone, its loss costs %.1f points", u.Channel, 100*u.Drop)
}

// drawKnockOut draws the class probability as the units go, one bar per step.
func (c *Root) drawKnockOut(v vjs.Value) {
	k := c.W().KnockOut
	if k == nil {
		return
	}
	cv := js.Value(v)
	ctx := cv.Call("getContext", "2d")
	w, h := cv.Get("width").Float(), cv.Get("height").Float()
	ctx.Call("clearRect", 0, 0, w, h)
	n := float64(len(k.Curve))
	bw := w / n
	for i, p := range k.Curve {
		bh := float64(p) * (h - 14)
		ctx.Set("fillStyle", "#b4306e")
		if i == 0 {
			ctx.Set("fillStyle", "#3c0f6e")
		}
		ctx.Call("fillRect", float64(i)*bw+2, h-bh, bw-4, bh)
		ctx.Set("fillStyle", "#444")
		ctx.Set("font", "10px sans-serif")
		ctx.Call("fillText", fmt.Sprintf("%.0f%%", 100*p), float64(i)*bw+3, h-bh-3)
	}
}

// whySum is the map's total, for tests that compare the page's map with the CLI's.
func (c *Root) whySum() string {
	var s float64
	for _, v := range c.W().Map.Values {
		s += float64(v)
	}
	return strconv.FormatFloat(s, 'g', 8, 64)
}
