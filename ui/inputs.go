//go:build js && wasm

package main

import (
	"syscall/js"

	"github.com/vugu/vugu"

	"github.com/alexlens/alexlens/ui/state"
	"github.com/alexlens/alexlens/wasm/protocol"
)

// listenForImages makes the whole page a drop target and accepts pasted images: to classify,
// or in the Teach view as photos of a class (teachsources.go). The
// listeners are plain DOM listeners so preventDefault runs synchronously, as the browser
// requires for drop.
func (c *Root) listenForImages() {
	doc := js.Global().Get("document")
	doc.Call("addEventListener", "dragover", js.FuncOf(func(_ js.Value, args []js.Value) any {
		args[0].Call("preventDefault")
		doc.Get("body").Get("classList").Call("add", "dragging")
		return nil
	}))
	doc.Call("addEventListener", "dragleave", js.FuncOf(func(_ js.Value, args []js.Value) any {
		doc.Get("body").Get("classList").Call("remove", "dragging")
		return nil
	}))
	doc.Call("addEventListener", "drop", js.FuncOf(func(_ js.Value, args []js.Value) any {
		ev := args[0]
		ev.Call("preventDefault")
		doc.Get("body").Get("classList").Call("remove", "dragging")
		files := ev.Get("dataTransfer").Get("files")
		if files.Length() > 0 && c.App.Look.View == state.ViewTeach {
			go c.update(func() { c.teachImages(files) })
		} else if files.Length() > 0 {
			f := files.Index(0)
			go c.update(func() { c.classifyBlob(f, f.Get("name").String()) })
		}
		return nil
	}))
	doc.Call("addEventListener", "paste", js.FuncOf(func(_ js.Value, args []js.Value) any {
		files := args[0].Get("clipboardData").Get("files")
		if files.Length() > 0 && c.App.Look.View == state.ViewTeach {
			args[0].Call("preventDefault")
			go c.update(func() { c.teachImages(files) })
		} else if files.Length() > 0 {
			args[0].Call("preventDefault")
			f := files.Index(0)
			go c.update(func() { c.classifyBlob(f, "pasted image") })
		}
		return nil
	}))
}

// chosenFiles takes the files a file input's change event chose, and empties the input so
// that choosing the same file again fires change again.
func chosenFiles(event vugu.DOMEvent) []js.Value {
	input := js.Value(event.JSEventTarget())
	files := input.Get("files")
	var list []js.Value
	for i := 0; i < files.Length(); i++ {
		list = append(list, files.Index(i))
	}
	input.Set("value", "")
	return list
}

// ToggleWebcam starts or stops live classification from the camera.
func (c *Root) ToggleWebcam() {
	if c.App.Webcam {
		c.stopWebcam()
		return
	}
	md := js.Global().Get("navigator").Get("mediaDevices")
	if md.IsUndefined() || md.Get("getUserMedia").IsUndefined() {
		c.App.Failed("this browser offers no camera access here (it needs HTTPS or localhost)")
		return
	}
	c.App.Webcam, c.App.Error = true, ""
	go func() {
		constraints := js.ValueOf(map[string]any{"video": map[string]any{"width": map[string]any{"ideal": 640}, "height": map[string]any{"ideal": 480}}, "audio": false})
		stream, err := await(md.Call("getUserMedia", constraints))
		if err != nil {
			c.update(func() {
				c.App.Webcam = false
				c.App.Failed("cannot open the camera: " + err.Error())
			})
			return
		}
		c.update(func() {
			c.stream = stream
			c.video.Set("srcObject", stream)
			c.previewSrc = c.video
		})
		if _, err := await(c.video.Call("play")); err != nil {
			c.update(func() { c.App.Failed("cannot play the camera stream: " + err.Error()); c.stopWebcam() })
			return
		}
		c.webcamLoop()
	}()
}

// stopWebcam ends the frame loop and releases the camera. Runs under the render lock.
func (c *Root) stopWebcam() {
	c.App.Webcam = false
	if !c.stream.IsUndefined() && !c.stream.IsNull() {
		tracks := c.stream.Call("getTracks")
		for i := 0; i < tracks.Length(); i++ {
			tracks.Index(i).Call("stop")
		}
		c.stream = js.Undefined()
		if !c.video.IsUndefined() {
			c.video.Set("srcObject", js.Null())
		}
		if c.previewSrc.Equal(c.video) {
			c.previewSrc = js.Undefined()
		}
	}
}

// webcamLoop keeps one frame in flight: when a frame's result arrives, the next frame is
// captured and sent before that result is drawn, so the engine computes while the page
// draws; frames never queue up behind a slow forward pass.
func (c *Root) webcamLoop() {
	if c.frame.IsUndefined() {
		c.frame = js.Global().Get("document").Call("createElement", "canvas")
	}
	var drawn protocol.Response // the result to draw while the next frame runs
	draw := func() {
		if drawn.Kind != "" {
			c.update(func() { c.applyResult(drawn, "webcam") })
			drawn = protocol.Response{}
		}
	}
	defer draw() // the last frame's result
	for {
		var on bool
		c.env.RLock()
		on = c.App.Webcam
		c.env.RUnlock()
		if !on {
			return
		}
		vw, vh := c.video.Get("videoWidth").Int(), c.video.Get("videoHeight").Int()
		if vw == 0 || vh == 0 {
			sleep(50)
			continue
		}
		// Scale so the shorter side is 256, the size preprocessing resizes to anyway: it
		// keeps each message small.
		s := min(1, 256/float64(min(vw, vh)))
		w, h := max(1, int(float64(vw)*s)), max(1, int(float64(vh)*s))
		c.frame.Set("width", w)
		c.frame.Set("height", h)
		ctx := c.frame.Call("getContext", "2d", map[string]any{"willReadFrequently": true})
		ctx.Call("drawImage", c.video, 0, 0, w, h)
		pix := ctx.Call("getImageData", 0, 0, w, h).Get("data")
		data := js.Global().Get("Uint8Array").New(pix.Get("buffer"))
		result := make(chan protocol.Response, 1)
		c.env.Lock()
		// Until the first result the page says it is working; after, it shows the last
		// frame's result, and sending the next changes nothing on screen: no render.
		first := c.App.Result == nil
		if first {
			c.App.Status = state.StatusWorking
		}
		c.eng.Send(c.App.FrameRequest(w, h), data, func(r protocol.Response) {
			if r.Kind != protocol.KindProgress { // per-layer progress would only flicker at video rate
				result <- r
			}
		})
		if first {
			c.env.UnlockRender()
		} else {
			c.env.UnlockOnly()
		}
		draw()
		drawn = <-result
	}
}

func sleep(ms int) {
	ch := make(chan struct{})
	var f js.Func
	f = js.FuncOf(func(js.Value, []js.Value) any { close(ch); f.Release(); return nil })
	js.Global().Call("setTimeout", f, ms)
	<-ch
}
