//go:build js && wasm

package main

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"syscall/js"

	vjs "github.com/vugu/vugu/js"

	"github.com/alexlens/alexlens/engine/imagenet"
	"github.com/alexlens/alexlens/ui/state"
)

// The atlas canvas: every gallery image as a thumbnail at its 2-D position, over the grid of
// cells labelled with their top class; the wheel or the buttons zoom, dragging pans.

// LastID is the ID of the request Send sent last (for cancelling it).
func (e *Engine) LastID() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.next
}

// Compute runs before every build of the component: it opens the gallery once the weights
// are loaded and a look-inside view is shown.
func (c *Look) Compute() {
	if c.thumbImgs == nil {
		c.thumbImgs = map[int]js.Value{}
		c.L().View = state.ParseView(js.Global().Get("location").Get("hash").String())
		js.Global().Call("addEventListener", "hashchange", js.FuncOf(func(js.Value, []js.Value) any {
			v := state.ParseView(js.Global().Get("location").Get("hash").String())
			go c.Root.update(func() { c.show(v) })
			return nil
		}))
	}
	c.ensureGallery()
	c.ensureTeach()
}

func (c *Look) atlasCreated(v vjs.Value) {
	canvas := js.Value(v)
	c.atlasCanvas = canvas
	canvas.Call("addEventListener", "wheel", js.FuncOf(func(_ js.Value, args []js.Value) any {
		ev := args[0]
		ev.Call("preventDefault")
		f := 1.2
		if ev.Get("deltaY").Float() > 0 {
			f = 1 / f
		}
		go c.Root.update(func() { c.L().ZoomBy(f); c.followView() })
		return nil
	}), map[string]any{"passive": false})
	canvas.Call("addEventListener", "pointerdown", js.FuncOf(func(_ js.Value, args []js.Value) any {
		ev := args[0]
		c.dragging, c.lastX, c.lastY = true, ev.Get("clientX").Float(), ev.Get("clientY").Float()
		canvas.Call("setPointerCapture", ev.Get("pointerId"))
		return nil
	}))
	canvas.Call("addEventListener", "pointermove", js.FuncOf(func(_ js.Value, args []js.Value) any {
		if !c.dragging {
			return nil
		}
		ev := args[0]
		x, y := ev.Get("clientX").Float(), ev.Get("clientY").Float()
		w := max(1, canvas.Get("clientWidth").Float())
		dx, dy := (c.lastX-x)/w, (c.lastY-y)/w
		c.lastX, c.lastY = x, y
		go c.Root.update(func() { c.L().PanBy(dx/c.L().Zoom, dy/c.L().Zoom) })
		return nil
	}))
	up := js.FuncOf(func(js.Value, []js.Value) any {
		if c.dragging {
			go c.Root.update(c.followView)
		}
		c.dragging = false
		return nil
	})
	canvas.Call("addEventListener", "pointerup", up)
	canvas.Call("addEventListener", "pointercancel", up)
}

// thumbImage returns item i's decoded thumbnail, starting its decoding on first use; it is
// drawn once loaded.
func (c *Look) thumbImage(i int) js.Value {
	if img, ok := c.thumbImgs[i]; ok {
		return img
	}
	it := c.L().Item(i)
	if len(it.Thumb) == 0 {
		return js.Undefined()
	}
	img := js.Global().Get("Image").New()
	var onload js.Func
	onload = js.FuncOf(func(js.Value, []js.Value) any {
		onload.Release()
		c.scheduleAtlasDraw()
		return nil
	})
	img.Set("onload", onload)
	img.Set("src", thumbURL(it.Thumb))
	c.thumbImgs[i] = img
	return img
}

// iconImage returns cell i's icon as a canvas to draw from, or undefined while it has none.
func (c *Look) iconImage(i int) js.Value {
	l := c.L()
	if c.iconsOf != l.Atlas {
		c.iconImgs, c.iconsOf = map[int]js.Value{}, l.Atlas
	}
	if img, ok := c.iconImgs[i]; ok {
		return img
	}
	ic, ok := l.Icon(i)
	if !ok {
		return js.Undefined()
	}
	canvas := js.Global().Get("document").Call("createElement", "canvas")
	putRGBA(canvas, ic.RGBA, ic.W, ic.H)
	c.iconImgs[i] = canvas
	return canvas
}

var atlasDrawPending bool

// scheduleAtlasDraw redraws the atlas once after a burst of thumbnails finished loading.
func (c *Look) scheduleAtlasDraw() {
	if atlasDrawPending {
		return
	}
	atlasDrawPending = true
	var f js.Func
	f = js.FuncOf(func(js.Value, []js.Value) any {
		f.Release()
		atlasDrawPending = false
		if !c.atlasCanvas.IsUndefined() && c.atlasCanvas.Truthy() {
			c.drawAtlas(vjs.Value(c.atlasCanvas))
		}
		return nil
	})
	js.Global().Call("setTimeout", f, 60)
}

// drawAtlas paints the map; it runs on every render (Vugu's attribute writes clear it).
func (c *Look) drawAtlas(v vjs.Value) {
	canvas := js.Value(v)
	l := c.L()
	a := l.Atlas
	if a == nil || canvas.IsUndefined() {
		return
	}
	dpr := math.Max(1, js.Global().Get("devicePixelRatio").Float())
	cssW := math.Max(200, canvas.Get("clientWidth").Float())
	cssH := math.Min(cssW*0.7, 720)
	w, h := int(cssW*dpr), int(cssH*dpr)
	if canvas.Get("width").Int() != w {
		canvas.Set("width", w)
	}
	if canvas.Get("height").Int() != h {
		canvas.Set("height", h)
	}
	canvas.Get("style").Set("height", fmtPx(cssH))
	ctx := canvas.Call("getContext", "2d")
	ctx.Set("fillStyle", "#17152a")
	ctx.Call("fillRect", 0, 0, w, h)

	n := len(a.X)
	t, side, at := c.frame(float64(w), float64(h), dpr)
	// Grid cells: a faint square per non-empty cell with its top class.
	cell := side / float64(a.Grid)
	ctx.Set("textAlign", "center")
	ctx.Set("textBaseline", "top")
	fontPx := math.Max(10*dpr, math.Min(cell/9, 18*dpr))
	ctx.Set("font", fmtPx(fontPx)+" system-ui, sans-serif")
	// Once icons are drawn, they stand for the cells' images (the activation atlas proper);
	// the photos return with a new map.
	icons := l.IconCount() > 0
	for ci, cl := range a.Cells {
		x0, y0 := at(float64(cl.Col)/float64(a.Grid), float64(cl.Row)/float64(a.Grid))
		if !l.CellShown(cl, imagenet.Label) { // filtered out: a dim square
			ctx.Set("fillStyle", "rgba(255,255,255,0.03)")
			ctx.Call("fillRect", x0+1, y0+1, cell-2, cell-2)
			continue
		}
		if icon := c.iconImage(ci); !icon.IsUndefined() {
			ctx.Set("imageSmoothingEnabled", true)
			ctx.Call("drawImage", icon, x0+1, y0+1, cell-2, cell-2)
			continue
		}
		ctx.Set("fillStyle", "rgba(157,134,255,0.10)")
		ctx.Call("fillRect", x0+1, y0+1, cell-2, cell-2)
		ctx.Set("strokeStyle", "rgba(157,134,255,0.35)")
		ctx.Call("strokeRect", x0+0.5, y0+0.5, cell-1, cell-1)
	}
	for i := 0; i < n && !icons; i++ {
		if a.Classes { // points are classes: a dot each, the cells' labels name them
			x, y := at(a.X[i], a.Y[i])
			ctx.Set("fillStyle", "#9d86ff")
			ctx.Call("fillRect", x-1.5*dpr, y-1.5*dpr, 3*dpr, 3*dpr)
			continue
		}
		x, y := at(a.X[i], a.Y[i])
		if x < -t || y < -t || x > float64(w)+t || y > float64(h)+t {
			continue
		}
		img := c.thumbImage(i)
		if img.IsUndefined() || !img.Get("complete").Bool() || img.Get("naturalWidth").Int() == 0 {
			ctx.Set("fillStyle", "#5b3fd6")
			ctx.Call("fillRect", x-t/4, y-t/4, t/2, t/2)
			continue
		}
		ctx.Call("drawImage", img, x-t/2, y-t/2, t, t)
		if i == l.Query {
			ctx.Set("strokeStyle", "#f5a524")
			ctx.Set("lineWidth", 3*dpr)
			ctx.Call("strokeRect", x-t/2, y-t/2, t, t)
			ctx.Set("lineWidth", 1)
		}
	}
	// Labels last, over the thumbnails, on a dark band so they stay readable.
	for _, cl := range a.Cells {
		if len(cl.Top) == 0 || !l.CellShown(cl, imagenet.Label) {
			continue
		}
		x0, y0 := at(float64(cl.Col)/float64(a.Grid), float64(cl.Row)/float64(a.Grid))
		label := cl.Top[0].Label
		tw := ctx.Call("measureText", label).Get("width").Float()
		ctx.Set("fillStyle", "rgba(18,17,28,0.72)")
		ctx.Call("fillRect", x0+cell/2-tw/2-4*dpr, y0+4*dpr, tw+8*dpr, fontPx+6*dpr)
		ctx.Set("fillStyle", "#ecebf5")
		ctx.Call("fillText", label, x0+cell/2, y0+7*dpr)
	}
}

// frame maps the atlas onto a w x h canvas: map units (0..1 each way) to pixels, the square
// map fitting the canvas with a margin of half a thumbnail, so the images at the map's edges
// are whole. Thumbnails (t pixels) are sized so neighbours overlap little at zoom 1 and
// grow as one zooms in; side is the map's side in pixels.
func (c *Look) frame(w, h, dpr float64) (t, side float64, at func(x, y float64) (float64, float64)) {
	l := c.L()
	fit := math.Min(w, h)
	t = math.Max(18*dpr, math.Min(96*dpr, fit/math.Sqrt(float64(max(len(l.Atlas.X), 1)))*0.55*math.Sqrt(l.Zoom)))
	side = (fit - t - 8*dpr) * l.Zoom
	ox, oy := w/2, h/2
	return t, side, func(x, y float64) (float64, float64) {
		return ox + (x-0.5-l.PanX)*side, oy + (y-0.5-l.PanY)*side
	}
}

// visibleCells are the cells of the atlas on screen that show on its canvas.
func (c *Look) visibleCells() []int {
	a := c.L().Atlas
	cv := c.atlasCanvas
	if a == nil || cv.IsUndefined() || !cv.Truthy() {
		return nil
	}
	w, h := cv.Get("width").Float(), cv.Get("height").Float()
	dpr := math.Max(1, js.Global().Get("devicePixelRatio").Float())
	_, side, at := c.frame(w, h, dpr)
	cell := side / float64(a.Grid)
	var in []int
	dist := map[int]float64{}
	for i, cl := range a.Cells {
		if !c.L().CellShown(cl, imagenet.Label) {
			continue
		}
		x0, y0 := at(float64(cl.Col)/float64(a.Grid), float64(cl.Row)/float64(a.Grid))
		if x0+cell > 0 && y0+cell > 0 && x0 < w && y0 < h {
			in = append(in, i)
			dist[i] = math.Hypot(x0+cell/2-w/2, y0+cell/2-h/2)
		}
	}
	// The middle of the view first: that is where the reader looks.
	slices.SortStableFunc(in, func(a, b int) int { return cmp.Compare(dist[a], dist[b]) })
	return in
}

func fmtPx(v float64) string { return strconv.Itoa(int(math.Round(v))) + "px" }
