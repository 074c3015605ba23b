//go:build js && wasm

package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall/js"
	"time"

	"github.com/vugu/vugu"
	vjs "github.com/vugu/vugu/js"

	"github.com/alexlens/alexlens/wasm/protocol"
)

// Photos reach a Teach class from the file picker (teach.go) and from here: pasted or
// dropped images go to the class marked as their target, and the view's own camera records
// frames into a class while that class's button is held.

// teachImages takes pasted or dropped image files in the Teach view. Runs under the render
// lock.
func (c *Root) teachImages(files js.Value) {
	t := c.App.Teach
	var list []js.Value
	for i := 0; i < files.Length(); i++ {
		if f := files.Index(i); strings.HasPrefix(f.Get("type").String(), "image/") {
			list = append(list, f)
		}
	}
	switch class := t.TargetClass(); {
	case len(list) == 0:
		t.Error = "nothing to add: that was not an image"
	case class < 0:
		t.Error = "add a class first: pasted and dropped photos go to a class"
	case t.Busy != "":
		t.Error = "wait until " + t.Busy + " is done, then paste or drop again"
	default:
		c.addTeachPhotos(class, list)
	}
}

// SetTarget makes class i the one pasted and dropped photos go to.
func (c *Look) SetTarget(i int) { c.T().Target = i }

func (c *Look) setTeachVideo(v vjs.Value) {
	c.teachVideo = js.Value(v)
	if c.T().Camera && !c.teachStream.IsUndefined() { // the view was drawn again
		c.showStream()
	}
}

// showStream plays the camera in the preview, once per element.
func (c *Look) showStream() {
	if c.teachVideo.Get("srcObject").Equal(c.teachStream) {
		return
	}
	c.teachVideo.Set("srcObject", c.teachStream)
	// A play() cut short by the next srcObject rejects its promise: nothing to report.
	c.teachVideo.Call("play").Call("catch", ignoreRejection)
}

var ignoreRejection = js.FuncOf(func(js.Value, []js.Value) any { return nil })

// ToggleTeachCamera starts or stops the view's camera.
func (c *Look) ToggleTeachCamera() {
	t := c.T()
	if t.Camera {
		c.stopTeachCamera()
		return
	}
	md := js.Global().Get("navigator").Get("mediaDevices")
	if md.IsUndefined() || md.Get("getUserMedia").IsUndefined() {
		t.Error = "this browser offers no camera access here (it needs HTTPS or localhost)"
		return
	}
	t.Camera, t.Error = true, ""
	go func() {
		constraints := js.ValueOf(map[string]any{"video": map[string]any{"width": map[string]any{"ideal": 640}, "height": map[string]any{"ideal": 480}}, "audio": false})
		stream, err := await(md.Call("getUserMedia", constraints))
		c.Root.update(func() {
			if err != nil {
				t.Camera, t.Error = false, "cannot open the camera: "+err.Error()
				return
			}
			if !t.Camera { // turned off while the browser asked
				stopTracks(stream)
				return
			}
			c.teachStream = stream
			c.showStream()
		})
	}()
}

// stopTeachCamera releases the camera. Runs under the render lock.
func (c *Look) stopTeachCamera() {
	t := c.T()
	t.Camera, t.Recording = false, false
	if !c.teachStream.IsUndefined() {
		stopTracks(c.teachStream)
		c.teachStream = js.Undefined()
	}
	if !c.teachVideo.IsUndefined() {
		c.teachVideo.Set("srcObject", js.Null())
	}
}

func stopTracks(stream js.Value) {
	tracks := stream.Call("getTracks")
	for i := 0; i < tracks.Length(); i++ {
		tracks.Index(i).Call("stop")
	}
}

// recordInterval spaces the recorded frames: at most 10 a second, a burst of near copies
// being of little use to the head.
const recordInterval = 100 * time.Millisecond

// StartRecording records camera frames into class i while the button is held: until the
// pointer (mouse, finger, pen) is released or the key let go, anywhere on the page.
func (c *Look) StartRecording(i int, event vugu.DOMEvent) {
	t := c.T()
	if !t.Camera || t.Busy != "" || t.Recording {
		return
	}
	e := js.Value(event.JSEvent())
	if e.Get("pointerId").Type() != js.TypeNumber { // a key: Space or Enter, not its repeats
		if k := e.Get("key").String(); k != " " && k != "Enter" || e.Get("repeat").Bool() {
			return
		}
	}
	event.PreventDefault()
	c.listenForRelease()
	t.Recording, t.RecordClass, t.Busy, t.Error, t.Done, t.Total = true, i, "recording", "", 0, 0
	go c.record(i)
}

// listenForRelease ends recording on any release in the page. The listeners are the
// document's, not the button's: the page redraws the button while it is held, and a
// replaced element hears no release.
func (c *Look) listenForRelease() {
	if c.releaseListener.Truthy() {
		return
	}
	release := js.FuncOf(func(js.Value, []js.Value) any {
		go c.Root.update(c.StopRecording)
		return nil
	})
	c.releaseListener = release.Value
	doc := js.Global().Get("document")
	for _, ev := range []string{"pointerup", "pointercancel", "keyup"} {
		doc.Call("addEventListener", ev, release, true)
	}
	js.Global().Call("addEventListener", "blur", release)
}

func (c *Look) StopRecording() { c.T().Recording = false }

// record captures camera frames for class while the button is held, 10 a second, each a
// JPEG (shorter side 256) as a photo file would be, and sends them to the worker one at a
// time. Embedding a frame with its mirror image takes longer than a tenth of a second
// (SqueezeNet in a 2-core Chromium: about 150 ms), so frames queue while the button is held
// and are embedded until the queue is empty.
func (c *Look) record(class int) {
	t := c.T()
	frames := make(chan js.Value, protocol.MaxTeachPhotos)
	var captureErr error // written before frames closes
	go func() {
		defer close(frames)
		canvas := js.Global().Get("document").Call("createElement", "canvas")
		for range cap(frames) {
			started := time.Now()
			c.Root.env.RLock()
			on := t.Recording && t.RecordClass == class && t.Camera
			video := c.teachVideo
			c.Root.env.RUnlock()
			if !on {
				return
			}
			jpeg, err := videoJPEG(video, canvas)
			if err != nil {
				captureErr = err
				return
			}
			frames <- jpeg
			c.Root.update(func() { t.Total++ })
			if d := recordInterval - time.Since(started); d > 0 {
				sleep(int(d.Milliseconds()))
			}
		}
	}()
	var err error
	n := 0
	for jpeg := range frames {
		if err != nil {
			continue // the capture stops at the release; nothing more is sent
		}
		n++
		r := c.call(protocol.Request{Op: protocol.OpTeachAdd, Teach: &protocol.TeachRequest{Class: class, Name: fmt.Sprintf("camera frame %d", n)}}, jpeg, nil)
		c.Root.update(func() {
			if r.Kind == protocol.KindError {
				err, t.Recording = errors.New(r.Error), false
			} else if r.Teach != nil && r.Teach.Info != nil {
				t.Info, t.Done = r.Teach.Info, n
			}
		})
	}
	if err == nil {
		err = captureErr
	}
	c.Root.update(func() {
		t.Busy, t.Recording, t.Done, t.Total = "", false, 0, 0
		if err != nil {
			t.Error = "recording: " + err.Error()
		} else if !t.Trained() {
			t.Report = nil
		}
	})
}

// videoJPEG encodes the video's current frame, shorter side 256, as JPEG bytes.
func videoJPEG(video, canvas js.Value) (js.Value, error) {
	vw, vh := video.Get("videoWidth").Int(), video.Get("videoHeight").Int()
	if vw == 0 || vh == 0 {
		return js.Value{}, errors.New("the camera shows no picture yet")
	}
	s := min(1, 256/float64(min(vw, vh)))
	w, h := max(1, int(float64(vw)*s)), max(1, int(float64(vh)*s))
	canvas.Set("width", w)
	canvas.Set("height", h)
	canvas.Call("getContext", "2d").Call("drawImage", video, 0, 0, w, h)
	blobs := make(chan js.Value, 1)
	done := js.FuncOf(func(_ js.Value, args []js.Value) any { blobs <- args[0]; return nil })
	defer done.Release()
	canvas.Call("toBlob", done, "image/jpeg", 0.92)
	blob := <-blobs
	if blob.IsNull() {
		return js.Value{}, errors.New("the browser could not encode the frame")
	}
	buf, err := await(blob.Call("arrayBuffer"))
	if err != nil {
		return js.Value{}, err
	}
	return js.Global().Get("Uint8Array").New(buf), nil
}

func (c *Look) cameraLabel() string {
	if c.T().Camera {
		return "Stop the camera"
	}
	return "Camera"
}

func (c *Look) recordLabel(i int) string {
	if t := c.T(); t.Recording && t.RecordClass == i {
		return fmt.Sprintf("Recording… %d", t.Total)
	}
	return "Hold to record"
}

// From the Embeddings view: the query image, or it and its neighbours, as photos of a class.

func (c *Look) OnTeachFromClass(event vugu.DOMEvent) {
	if v, err := strconv.Atoi(event.PropString("target", "value")); err == nil {
		c.T().Target = v
	}
}

func (c *Look) sendNeighborsLabel() string {
	return fmt.Sprintf("Add it and its %d neighbours", len(c.L().Neighbors))
}

// SendToClass adds the query item (with its neighbours) to the target class.
func (c *Look) SendToClass(neighbors bool) {
	l, t := c.L(), c.T()
	class := t.TargetClass()
	if l.Query < 0 || class < 0 {
		return
	}
	items := []int{l.Query}
	if neighbors {
		for _, n := range l.Neighbors {
			if n.Item != l.Query {
				items = append(items, n.Item)
			}
		}
	}
	name := t.Classes()[class].Name
	before := len(t.Classes()[class].Photos)
	t.Sent = ""
	c.teach("adding gallery images", protocol.Request{Op: protocol.OpTeachAddItems, Teach: &protocol.TeachRequest{Class: class, Items: items}}, js.Undefined(),
		func(protocol.Response) {
			if cs := t.Classes(); class < len(cs) {
				t.Sent = fmt.Sprintf("Added %d to %s: it has %s now.", len(cs[class].Photos)-before, name, photoCount(len(cs[class].Photos)))
			}
		})
}
