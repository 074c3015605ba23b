//go:build js && wasm

package main

import (
	"fmt"
	"hash/maphash"
	"syscall/js"

	vjs "github.com/vugu/vugu/js"

	"github.com/alexlens/alexlens/internal/colormap"
	"github.com/alexlens/alexlens/wasm/jsutil"
)

var await = jsutil.Await

// putRGBA sizes a canvas to w x h and draws the pixels; CSS scales it up without smoothing.
func putRGBA(canvas js.Value, rgba []byte, w, h int) {
	if canvas.IsUndefined() || canvas.IsNull() || w < 1 || h < 1 || len(rgba) != 4*w*h {
		return
	}
	if canvas.Get("width").Int() != w {
		canvas.Set("width", w)
	}
	if canvas.Get("height").Int() != h {
		canvas.Set("height", h)
	}
	arr := js.Global().Get("Uint8ClampedArray").New(len(rgba))
	js.CopyBytesToJS(js.Global().Get("Uint8Array").New(arr.Get("buffer")), rgba)
	img := js.Global().Get("ImageData").New(arr, w, h)
	canvas.Call("getContext", "2d").Call("putImageData", img, 0, 0)
}

// drawKernel draws first-layer kernel i, unless its canvas already shows it.
func (c *Root) drawKernel(v vjs.Value, i int) {
	canvas := js.Value(v)
	k := c.App.Kernels
	if k == nil || i >= len(k.RGBA) || shows(canvas, k.RGBA[i]) {
		return
	}
	putRGBA(canvas, k.RGBA[i], k.Width, k.Height)
}

// drawMap draws activation map i through the colour map, unless its canvas already shows
// it: a live webcam renders the page many times a second, and the kernels' and maps'
// canvases keep what they show between renders (the template gives their sizes, and the
// renderer writes an attribute only when it changes: ui/internal/vuguhelper).
func (c *Root) drawMap(v vjs.Value, i int) {
	canvas := js.Value(v)
	if i >= len(c.App.Maps) {
		return
	}
	m := c.App.Maps[i]
	if shows(canvas, m.Pix) {
		return
	}
	rgba := make([]byte, 4*len(m.Pix))
	for p, v := range m.Pix {
		copy(rgba[4*p:], colormap.Ramp[v][:])
		rgba[4*p+3] = 255
	}
	putRGBA(canvas, rgba, m.Width, m.Height)
}

// shows reports whether canvas was last drawn from these pixels, at its present size (a
// canvas resized is cleared), and marks it as drawn from them.
func shows(canvas js.Value, pix []byte) bool {
	key := fmt.Sprintf("%x %s %s", maphash.Bytes(canvasSeed, pix), canvas.Call("getAttribute", "width").String(), canvas.Call("getAttribute", "height").String())
	if canvas.Get("alexlensShows").Equal(js.ValueOf(key)) {
		return true
	}
	canvas.Set("alexlensShows", key)
	return false
}

var canvasSeed = maphash.MakeSeed()

// showPreview decodes an image Blob for display and keeps the bitmap: the preview canvas
// is redrawn from it on every render (as the webcam's video is). The browser decodes it
// only for display; the network gets Go's decoding.
func (c *Root) showPreview(blob js.Value) {
	bmp, err := await(js.Global().Call("createImageBitmap", blob))
	c.update(func() {
		if err != nil {
			return // not an image the browser can show: the engine will say why; keep the last one
		}
		if !c.previewSrc.IsUndefined() && c.previewSrc.Get("close").Type() == js.TypeFunction {
			c.previewSrc.Call("close")
		}
		c.previewSrc = bmp
	})
}

// drawPreview paints the current preview source (an ImageBitmap, or the webcam's video
// element) letterboxed into the preview canvas.
func (c *Root) drawPreview(v vjs.Value) {
	cv := js.Value(v)
	src := c.previewSrc
	ctx := cv.Call("getContext", "2d")
	cw, ch := cv.Get("width").Float(), cv.Get("height").Float()
	ctx.Call("clearRect", 0, 0, cw, ch)
	if src.IsUndefined() {
		return
	}
	w, h := src.Get("width").Float(), src.Get("height").Float()
	if vw := src.Get("videoWidth"); vw.Type() == js.TypeNumber {
		w, h = vw.Float(), src.Get("videoHeight").Float()
	}
	if w <= 0 || h <= 0 {
		return
	}
	s := min(cw/w, ch/h)
	dw, dh := w*s, h*s
	ctx.Call("drawImage", src, (cw-dw)/2, (ch-dh)/2, dw, dh)
}
