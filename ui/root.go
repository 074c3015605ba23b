//go:build js && wasm

package main

import (
	"fmt"
	"strconv"
	"syscall/js"

	"github.com/vugu/vugu"
	vjs "github.com/vugu/vugu/js"

	"github.com/alexlens/alexlens/ui/state"
	"github.com/alexlens/alexlens/wasm/protocol"

	"github.com/alexlens/alexlens/weights/manifest"
)

// Root is the page: the views in root.vugu read c.App; the handlers below change it and
// talk to the engine worker.
type Root struct {
	App *state.App `vugu:"data"`

	env        vugu.EventEnv
	eng        *Engine
	previewSrc js.Value // what the preview canvas shows: an ImageBitmap or the webcam video
	video      js.Value
	stream     js.Value
	frame      js.Value // offscreen canvas for webcam frames

	// The intervention form's fields (the layer is App.Why.KnockLayer).
	editChannel int
	editOp      string // off, set or scale
	editValue   string
}

// update runs f under the render lock from a goroutine and re-renders.
func (c *Root) update(f func()) {
	c.env.Lock()
	defer c.env.UnlockRender()
	f()
}

func (c *Root) hasPreview() bool     { return !c.previewSrc.IsUndefined() }
func (c *Root) setVideo(v vjs.Value) { c.video = js.Value(v) }

func (c *Root) busy() bool {
	return c.App.Status == state.StatusLoading || c.App.Status == state.StatusStarting
}

// ariaBool is a state attribute's value (aria-pressed, ...): "true" or "false", where a Go
// bool would render as the attribute's name or nothing.
func ariaBool(b bool) string { return strconv.FormatBool(b) }

func (c *Root) partial() bool { return c.App.Model != nil && c.App.Model.Partial != "" }

func (c *Root) statusClass() string {
	switch c.App.Status {
	case state.StatusReady:
		return "ready"
	case state.StatusFailed:
		return "failed"
	default:
		return "busy"
	}
}

// choices lists the manifest's weights for the picker.
func (c *Root) choices() []manifest.Entry {
	if c.App.Manifest == nil {
		return nil
	}
	return c.App.Manifest.Candidates("")
}

func (c *Root) choiceLabel(e manifest.Entry) string { return state.Label(e) }

func (c *Root) isChosen(e manifest.Entry) bool { return e.File == c.App.Choice.Entry.File }
func (c *Root) chosenURL() string              { return c.App.Choice.URL }

// OnWeightsChange loads another manifest entry and records it in the URL.
func (c *Root) OnWeightsChange(event vugu.DOMEvent) {
	i, err := strconv.Atoi(event.PropString("target", "value"))
	ch := c.choices()
	if err != nil || i < 0 || i >= len(ch) {
		return
	}
	e := ch[i]
	c.App.Params.Arch, c.App.Params.Precision, c.App.Params.Weights = e.Arch, e.Precision, ""
	choice, err := state.ChooseWeights(c.App.Manifest, c.App.Params, weightsBase)
	if err != nil {
		c.App.Failed(err.Error())
		return
	}
	choice.Entry, choice.URL, choice.SHA256, choice.Fixture = e, weightsBase+"/"+e.File, e.SHA256, !e.Trained()
	setURLParams(map[string]string{"arch": e.Arch, "precision": e.Precision, "weights": ""})
	c.stopWebcam()
	c.load(choice)
}

// engineRestarted loads weights into a restarted engine worker, unless a load is under way
// already (the out-of-memory retry of a load that stopped the engine) or none was loaded:
// the same file again, or, when the engine ran out of memory on float32 weights the
// visitor did not ask for by precision, the int8 ones with a note (state.OnOutOfMemory).
// The page keeps its choices; the last result goes with the old engine.
func (c *Root) engineRestarted(reason string) {
	c.update(func() {
		if c.App.Status == state.StatusLoading || c.App.Model == nil {
			return
		}
		next, smaller := state.OnOutOfMemory(c.App.Manifest, c.App.Params, c.App.Choice, reason, weightsBase)
		if !smaller {
			next = c.App.Choice
		}
		c.load(next)
		c.App.Progress = reason + ": the engine was restarted, loading the weights again"
	})
}

// load asks the worker for weights; it runs under the render lock.
func (c *Root) load(choice state.Choice) {
	c.App.Choice = choice
	c.App.Status, c.App.Error, c.App.Progress = state.StatusLoading, "", "loading weights"
	c.App.Model, c.App.Kernels, c.App.Result, c.App.Maps, c.App.Source = nil, nil, nil, nil, ""
	c.previewSrc = js.Undefined()
	c.eng.Send(c.App.LoadRequest(choice), js.Undefined(), func(r protocol.Response) {
		c.update(func() {
			switch r.Kind {
			case protocol.KindProgress:
				c.App.Progressed(*r.Progress)
			case protocol.KindDone:
				c.App.Loaded(r)
			case protocol.KindError:
				if next, ok := state.OnOutOfMemory(c.App.Manifest, c.App.Params, choice, r.Error, weightsBase); ok {
					c.load(next) // the smaller file, saying why
					return
				}
				c.App.Failed("cannot load weights " + choice.URL + ": " + r.Error)
			}
		})
	})
}

// OpenPicker opens the file dialog (the file input itself is visually hidden).
func (c *Root) OpenPicker() {
	js.Global().Get("document").Call("querySelector", "[data-testid=image-input]").Call("click")
}

// OnFile classifies the chosen file.
func (c *Root) OnFile(event vugu.DOMEvent) {
	files := chosenFiles(event)
	if len(files) == 0 {
		return
	}
	file := files[0]
	c.classifyBlob(file, file.Get("name").String())
}

// classifyBlob reads a File or Blob and classifies its bytes. Runs under the render lock.
func (c *Root) classifyBlob(blob js.Value, name string) {
	if c.App.Model == nil {
		return
	}
	c.stopWebcam()
	c.App.Status, c.App.Error = state.StatusWorking, ""
	go func() {
		buf, err := await(blob.Call("arrayBuffer"))
		if err != nil {
			c.update(func() { c.App.Failed("cannot read " + name + ": " + err.Error()) })
			return
		}
		c.showPreview(blob)
		c.update(func() { c.classifyBytes(js.Global().Get("Uint8Array").New(buf), name) })
	}()
}

// classifyBytes sends image file bytes to the worker. Runs under the render lock.
func (c *Root) classifyBytes(data js.Value, source string) {
	c.App.Status, c.App.Error = state.StatusWorking, ""
	c.eng.Send(c.App.ClassifyRequest(), data, func(r protocol.Response) {
		c.update(func() { c.applyResult(r, source) })
	})
}

func (c *Root) applyResult(r protocol.Response, source string) {
	switch r.Kind {
	case protocol.KindProgress:
		c.App.Progressed(*r.Progress)
	case protocol.KindDone:
		c.App.Classified(r, source)
	case protocol.KindError:
		c.App.Failed(source + ": " + r.Error)
	}
}

// OnSample classifies one of the bundled photos.
func (c *Root) OnSample(s Sample) {
	if c.App.Model == nil {
		return
	}
	c.stopWebcam()
	c.App.Status, c.App.Error = state.StatusWorking, ""
	go func() {
		resp, err := await(js.Global().Call("fetch", "samples/"+s.File))
		if err == nil && !resp.Get("ok").Bool() {
			err = fmt.Errorf("HTTP %d", resp.Get("status").Int())
		}
		var blob js.Value
		if err == nil {
			blob, err = await(resp.Call("blob"))
		}
		if err != nil {
			c.update(func() { c.App.Failed("cannot load sample " + s.File + ": " + err.Error()) })
			return
		}
		c.update(func() { c.classifyBlob(blob, s.File) })
	}()
}

// refreshMaps asks for the maps of the current layer/channel/threshold without rerunning
// the network. Runs under the render lock.
func (c *Root) refreshMaps() {
	if c.App.Result == nil || c.App.Webcam {
		return // the webcam loop asks for maps with every frame
	}
	c.eng.Send(c.App.MapsRequest(), js.Undefined(), func(r protocol.Response) {
		c.update(func() {
			if r.Kind == protocol.KindDone {
				c.App.Maps = r.Maps
			} else if r.Kind == protocol.KindError {
				c.App.Failed(r.Error)
			}
		})
	})
}

func (c *Root) OnLayer(event vugu.DOMEvent) {
	c.App.SelectLayer(event.PropString("target", "value"))
	c.refreshMaps()
}

func (c *Root) OnChannel(event vugu.DOMEvent) {
	ch, err := strconv.Atoi(event.PropString("target", "value"))
	if err != nil {
		return
	}
	c.SelectChannel(ch)
}

func (c *Root) StepChannel(d int) { c.SelectChannel(c.App.Channel + d) }

func (c *Root) SelectChannel(ch int) {
	c.App.SelectChannel(ch)
	c.refreshMaps()
}

func (c *Root) OnThreshold(event vugu.DOMEvent) {
	v, err := strconv.ParseFloat(event.PropString("target", "value"), 32)
	if err != nil {
		return
	}
	c.App.Threshold = float32(max(0, min(v, 0.9)))
	c.refreshMaps()
}

func (c *Root) DismissError() { c.App.Error = "" }

// Formatting helpers for the views.

func (c *Root) probText(p float32) string { return strconv.FormatFloat(float64(p), 'g', 7, 32) }
func (c *Root) percent(p float32) string {
	if p < 0.001 && p > 0 {
		return "<0.1%"
	}
	return fmt.Sprintf("%.1f%%", 100*p)
}
func (c *Root) ms(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.2f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}
func (c *Root) rankClass(i int) string {
	if i == 0 {
		return "pred top"
	}
	return "pred"
}
func (c *Root) webcamLabel() string {
	if c.App.Webcam {
		return "Stop webcam"
	}
	return "Use webcam"
}
func (c *Root) webcamClass() string {
	if c.App.Webcam {
		return "webcam on"
	}
	return "webcam"
}
func (c *Root) imageNote() string {
	r := c.App.Result
	return fmt.Sprintf("%s · %d×%d pixels, resized and center-cropped to %d×%d", c.App.Source, r.ImageWidth, r.ImageHeight, c.App.Model.InputSize, c.App.Model.InputSize)
}
func (c *Root) kernelNote() string {
	k := c.App.Kernels
	return fmt.Sprintf("%d kernels of %d×%d×3, each scaled on its own (gray = 0)", k.Count, k.Width, k.Height)
}
func (c *Root) kernelTitle(i int) string { return fmt.Sprintf("kernel %d", i) }
func (c *Root) layerLabel(l protocol.LayerInfo) string {
	if l.Channels == 0 {
		return fmt.Sprintf("%s · %d features", l.Name, l.Features)
	}
	return fmt.Sprintf("%s · %d × %d×%d", l.Name, l.Channels, l.Height, l.Width)
}
func (c *Root) channelLabel(ch int) string { return fmt.Sprintf("channel %d", ch) }
func (c *Root) stripClass(ch int) string {
	if ch == c.App.Channel {
		return "strip-item selected"
	}
	return "strip-item"
}
func (c *Root) mapCaption() string {
	m := c.App.Maps[0]
	return fmt.Sprintf("%s, channel %d of %d · %d×%d · values %.3g to %.3g", m.Layer, m.Channel, c.App.Channels(), m.Width, m.Height, m.Min, m.Max)
}
func (c *Root) modelNote() string {
	m := c.App.Model
	src := "downloaded"
	if m.FromCache {
		src = "from the browser cache"
	}
	note := fmt.Sprintf("%s: %s parameters, %s weights %s in %.0f ms.", m.Title, groupDigits(m.Params), m.Precision, src, m.LoadMs)
	if m.Partial != "" {
		note = fmt.Sprintf("%s: weights for the layers up to %s only, %s, %s in %.0f ms.", m.Title, m.Partial, m.Precision, src, m.LoadMs)
	}
	if m.CacheNote != "" {
		note += " The weights were " + m.CacheNote + "."
	}
	return note
}

func groupDigits(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
