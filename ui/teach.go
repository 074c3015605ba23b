//go:build js && wasm

package main

import (
	"fmt"
	"strconv"
	"strings"
	"syscall/js"

	"github.com/vugu/vugu"
	vjs "github.com/vugu/vugu/js"

	"github.com/alexlens/alexlens/ui/state"
	"github.com/alexlens/alexlens/wasm/protocol"
)

// The Teach view (look.vugu): classes named by the reader, filled with photos, a head
// trained on them in the engine worker; state in ui/state/teach.go, work in the worker
// (wasm/session/teach.go).

func (c *Look) T() *state.Teach { return c.Root.App.Teach }

func (c *Look) teachNote() string {
	if i := c.T().Info; i != nil && i.Layer != "" {
		return fmt.Sprintf("on the network's %s (%d values)", i.Layer, i.Dim)
	}
	return "on the network's embedding (fc7; SqueezeNet's fire9)"
}

func photoCount(n int) string {
	if n == 1 {
		return "1 photo"
	}
	return fmt.Sprintf("%d photos", n)
}

func (c *Look) teachBusy() string {
	t := c.T()
	if t.Busy == "training" && len(t.Epochs) > 0 {
		e := t.Epochs[len(t.Epochs)-1]
		return fmt.Sprintf("training: epoch %d, loss %.3f", e.Epoch, e.TrainLoss)
	}
	if t.Total > 0 {
		return fmt.Sprintf("%s: %d of %d", t.Busy, t.Done, t.Total)
	}
	return t.Busy + "…"
}

// teach sends one Teach request and applies its answer; epochs come as progress. Runs under
// the render lock.
func (c *Look) teach(busy string, req protocol.Request, payload js.Value, then func(protocol.Response)) {
	t := c.T()
	t.Busy, t.Error = busy, ""
	c.Root.eng.Send(req, payload, func(r protocol.Response) {
		c.Root.update(func() {
			if r.Kind == protocol.KindProgress {
				if r.Teach != nil && r.Teach.Epoch != nil {
					t.Epochs = append(t.Epochs, *r.Teach.Epoch)
				}
				return
			}
			t.Applied(r)
			if then != nil && r.Kind == protocol.KindDone {
				then(r)
			}
		})
	})
	t.Running = c.Root.eng.LastID()
}

// teachLayers are the layers a head can read: all but the network's output.
func (c *Look) teachLayers() []protocol.LayerInfo {
	ls := c.Root.App.Model.Layers
	return ls[:max(0, len(ls)-1)]
}

// teachLayer is the layer the photos are (or will be) embedded at.
func (c *Look) teachLayer() string {
	if i := c.T().Info; i != nil && i.Layer != "" {
		return i.Layer
	}
	if l := c.T().Layer; l != "" {
		return l
	}
	return c.Root.App.Model.Embedding
}

func (c *Look) teachLayerTitle() string {
	if len(c.T().Classes()) > 0 {
		return "the photos are embedded at this layer: remove the classes to change it"
	}
	return "the layer whose activation (averaged over positions) the head reads"
}

// OnTeachLayer embeds at another layer from now on (the view has no photos then).
func (c *Look) OnTeachLayer(event vugu.DOMEvent) {
	layer := event.PropString("target", "value")
	c.T().Layer = layer
	c.teach("changing the layer", protocol.Request{Op: protocol.OpTeachReset, Teach: &protocol.TeachRequest{Layer: layer}}, js.Undefined(), nil)
}

func (c *Look) OnTeachName(event vugu.DOMEvent) { c.T().NewClass = event.PropString("target", "value") }

func (c *Look) OnTeachHidden(event vugu.DOMEvent) {
	if v, err := strconv.Atoi(event.PropString("target", "value")); err == nil {
		c.T().Hidden = max(0, min(v, protocol.MaxTeachHidden))
	}
}

// AddClass adds the named class.
func (c *Look) AddClass() {
	t := c.T()
	name := strings.TrimSpace(t.NewClass)
	if err := t.CheckName(name); err != nil {
		t.Error = err.Error()
		return
	}
	c.teach("adding a class", protocol.Request{Op: protocol.OpTeachClass, Teach: &protocol.TeachRequest{Name: name}}, js.Undefined(),
		func(protocol.Response) { t.NewClass, t.Target = "", len(t.Classes())-1 })
}

func (c *Look) RemoveClass(i int) {
	c.teach("removing a class", protocol.Request{Op: protocol.OpTeachClass, Teach: &protocol.TeachRequest{Class: i, Remove: true}}, js.Undefined(), nil)
}

func (c *Look) RemoveTeachPhoto(id int) {
	c.teach("removing a photo", protocol.Request{Op: protocol.OpTeachRemove, Teach: &protocol.TeachRequest{Photo: id}}, js.Undefined(), nil)
}

// teachInput is the test id of class i's file input (an index: names may hold anything).
func teachInput(i int) string { return "teach-input-" + strconv.Itoa(i) }

// OnTeachFiles embeds the chosen files as photos of class, one at a time.
func (c *Look) OnTeachFiles(event vugu.DOMEvent, class int) {
	c.Root.addTeachPhotos(class, chosenFiles(event))
}

// addTeachPhotos embeds files or blobs (pasted, dropped) as photos of class, one at a time.
// Runs under the render lock.
func (c *Root) addTeachPhotos(class int, list []js.Value) {
	t := c.App.Teach
	t.Busy, t.Error, t.Done, t.Total = "adding", "", 0, len(list)
	go func() {
		for i, f := range list {
			name := "pasted image"
			if n := f.Get("name"); n.Type() == js.TypeString && n.String() != "" {
				name = n.String()
			}
			buf, err := await(f.Call("arrayBuffer"))
			var r protocol.Response
			if err != nil {
				r = protocol.Response{Kind: protocol.KindError, Error: name + ": " + err.Error()}
			} else {
				r = c.call(protocol.Request{Op: protocol.OpTeachAdd, Teach: &protocol.TeachRequest{Class: class, Name: name}},
					js.Global().Get("Uint8Array").New(buf), nil)
			}
			last := i == len(list)-1 || r.Kind == protocol.KindError
			c.update(func() {
				if r.Kind == protocol.KindError || last {
					t.Applied(r)
				} else if r.Teach != nil && r.Teach.Info != nil {
					t.Info = r.Teach.Info
					t.Done = i + 1
				}
			})
			if r.Kind == protocol.KindError {
				return // the message names the file; the photos before it are kept
			}
		}
	}()
}

// TrainHead trains the head on the photos.
func (c *Look) TrainHead() {
	t := c.T()
	t.Epochs, t.Report = nil, nil
	c.teach("training", protocol.Request{Op: protocol.OpTeachTrain, Teach: &protocol.TeachRequest{Hidden: t.Hidden, Seed: t.Seed}}, js.Undefined(), nil)
}

func (c *Look) CancelTeach() {
	if id := c.T().Running; id != 0 {
		c.Root.eng.Send(protocol.Request{Op: protocol.OpCancel, Look: &protocol.LookRequest{Target: id}}, js.Undefined(), func(protocol.Response) {})
	}
}

// ensureTeach reopens the project the worker keeps for the loaded weights, once per weights,
// when the Teach view shows. Runs under the render lock.
func (c *Look) ensureTeach() {
	m, t := c.Root.App.Model, c.T()
	if c.L().View != state.ViewTeach || c.blocked() != "" || m == nil || t.OpenedFor == m.SHA256 || t.Busy != "" {
		return
	}
	t.OpenedFor = m.SHA256
	c.teach("opening the classes kept in this browser (the first time, the weights are fingerprinted)",
		protocol.Request{Op: protocol.OpTeachRestore, Teach: &protocol.TeachRequest{}}, js.Undefined(),
		func(r protocol.Response) {
			if r.Teach != nil {
				t.Opened(r.Teach.Info)
			}
		})
}

// teachReady says the view has reopened the kept project and is idle.
func (c *Look) teachReady() bool {
	m, t := c.Root.App.Model, c.T()
	return m != nil && t.OpenedFor == m.SHA256 && t.Busy == ""
}

// SaveProject downloads the project: classes, photos' embeddings and thumbnails, the head.
func (c *Look) SaveProject() {
	c.teach("saving", protocol.Request{Op: protocol.OpTeachSave, Teach: &protocol.TeachRequest{}}, js.Undefined(),
		func(r protocol.Response) {
			if r.Teach != nil {
				download("alexlens-project.alxt", "application/octet-stream", r.Teach.File)
			}
		})
}

// OnOpenProject replaces the classes and photos with a project file's.
func (c *Look) OnOpenProject(event vugu.DOMEvent) {
	files := chosenFiles(event)
	if len(files) == 0 {
		return
	}
	f := files[0]
	t := c.T()
	t.Busy, t.Error = "opening", ""
	go func() {
		name := f.Get("name").String()
		buf, err := await(f.Call("arrayBuffer"))
		var r protocol.Response
		if err != nil {
			r = protocol.Response{Kind: protocol.KindError, Error: name + ": " + err.Error()}
		} else {
			r = c.call(protocol.Request{Op: protocol.OpTeachOpen, Teach: &protocol.TeachRequest{}}, js.Global().Get("Uint8Array").New(buf), nil)
			if r.Kind == protocol.KindError {
				r.Error = name + ": " + r.Error
			}
		}
		c.Root.update(func() {
			t.Applied(r)
			if r.Kind == protocol.KindDone && r.Teach != nil {
				t.Opened(r.Teach.Info)
			}
		})
	}()
}

// ExportHead downloads the trained head.
func (c *Look) ExportHead(format string) {
	name := "alexlens-head.alxw"
	if format == "onnx" {
		name = "alexlens-head.onnx"
	}
	c.teach("exporting", protocol.Request{Op: protocol.OpTeachExport, Teach: &protocol.TeachRequest{Format: format}}, js.Undefined(),
		func(r protocol.Response) {
			if r.Teach != nil {
				download(name, "application/octet-stream", r.Teach.File)
			}
		})
}

func (c *Look) cellClass(i, j, n int) string {
	switch {
	case i == j:
		return "cm-right"
	case n > 0:
		return "cm-wrong"
	}
	return ""
}

func (c *Look) perClassText(i int) string {
	r := c.T().Report
	if r == nil || i >= len(r.PerClass) || r.PerClass[i][1] == 0 {
		return "–"
	}
	return fmt.Sprintf("%d/%d", r.PerClass[i][0], r.PerClass[i][1])
}

func (c *Look) missText(m protocol.TeachMiss) string {
	return fmt.Sprintf("%s, taken for %s", c.T().PhotoName(m.Photo), c.T().ClassName(m.Predicted))
}

// drawTeachCurve draws the training loss (falling) and the held-out accuracy (rising) by
// epoch.
func (c *Look) drawTeachCurve(v vjs.Value) {
	es := c.T().Epochs
	cv := js.Value(v)
	ctx := cv.Call("getContext", "2d")
	w, h := cv.Get("width").Float(), cv.Get("height").Float()
	ctx.Call("clearRect", 0, 0, w, h)
	if len(es) == 0 {
		return
	}
	top := 0.0
	for _, e := range es {
		top = max(top, e.TrainLoss, e.HeldLoss)
	}
	x := func(i int) float64 { return 4 + (w-8)*float64(i)/float64(max(1, len(es)-1)) }
	line := func(colour string, y func(protocol.TeachEpoch) float64) {
		ctx.Set("strokeStyle", colour)
		ctx.Set("lineWidth", 2)
		ctx.Call("beginPath")
		for i, e := range es {
			yy := h - 4 - (h-8)*min(1, max(0, y(e)))
			if i == 0 {
				ctx.Call("moveTo", x(i), yy)
			} else {
				ctx.Call("lineTo", x(i), yy)
			}
		}
		ctx.Call("stroke")
	}
	line("#b4306e", func(e protocol.TeachEpoch) float64 { return e.TrainLoss / max(top, 1e-9) })
	if es[0].HeldAcc >= 0 {
		line("#3c0f6e", func(e protocol.TeachEpoch) float64 { return e.HeldAcc })
	}
}
