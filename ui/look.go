//go:build js && wasm

package main

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"syscall/js"

	"github.com/vugu/vugu"
	vjs "github.com/vugu/vugu/js"

	"github.com/alexlens/alexlens/engine/imagenet"
	"github.com/alexlens/alexlens/ui/state"
	"github.com/alexlens/alexlens/wasm/jsutil"
	"github.com/alexlens/alexlens/wasm/protocol"
)

// Look is the navigation and the look-inside views (look.vugu): Embeddings (gallery,
// neighbours, directions), Atlas and Units. Its state is Root.App.Look; the heavy work runs in
// the engine worker.
type Look struct {
	Root *Root `vugu:"data"`

	atlasCanvas     js.Value
	teachVideo      js.Value         // the Teach view's camera preview
	teachStream     js.Value         // its camera stream, while on
	releaseListener js.Value         // ends hold-to-record (teachsources.go)
	thumbImgs       map[int]js.Value // decoded thumbnails for the atlas canvas, by item
	iconImgs        map[int]js.Value // cell icons as canvases, by cell, for the map iconsOf
	iconsOf         *protocol.Atlas
	dragging        bool
	paramLoaded     bool // the ?gallery= file was loaded (once per page)
	lastX           float64
	lastY           float64
}

func (c *Look) L() *state.Look { return c.Root.App.Look }

func (c *Look) navClass(v state.View) string {
	if c.L().View == v {
		return "view-link active"
	}
	return "view-link"
}

func (c *Look) current(v state.View) string {
	if c.L().View == v {
		return "page"
	}
	return "false"
}

// OnNav switches views without a page load and records the view in the URL.
func (c *Look) OnNav(event vugu.DOMEvent, v state.View) {
	event.PreventDefault()
	js.Global().Get("history").Call("replaceState", js.Null(), "", "#"+string(v))
	c.show(v)
}

// show switches to view v, opening the gallery of the loaded weights when a look-inside view
// needs it. Runs under the render lock.
func (c *Look) show(v state.View) {
	l := c.L()
	l.View = v
	if v != state.ViewTeach && c.T().Camera {
		c.stopTeachCamera()
	}
	if v == state.ViewLayers {
		js.Global().Get("document").Call("getElementById", "maps-h").Call("scrollIntoView")
	}
	c.ensureGallery()
	c.ensureTeach()
}

// blocked says why the look-inside views cannot work yet ("" when they can).
func (c *Look) blocked() string {
	m := c.Root.App.Model
	switch {
	case m == nil:
		return "Loading the network…"
	case m.Partial != "" && c.L().View != state.ViewUnits:
		return fmt.Sprintf("These weights hold the layers up to %s only: embeddings, neighbours, the atlas and teaching need the whole network. Pick other weights above.", m.Partial)
	case m.Partial != "":
		return fmt.Sprintf("These weights hold the layers up to %s only: the units views need a gallery, which needs the whole network. Pick other weights above.", m.Partial)
	}
	return ""
}

func (c *Look) partial() bool { return c.Root.partial() }

// ensureGallery opens the stored gallery when the weights changed since it was opened, and
// on the first visit with nothing stored adds the bundled sample photos as a starter.
func (c *Look) ensureGallery() {
	m := c.Root.App.Model
	l := c.L()
	if l.ShowsGrid() || l.View == state.ViewTeach || m == nil || m.Partial != "" || l.OpenedFor == m.SHA256 || l.Busy != "" {
		return
	}
	weights := m.SHA256
	l.Busy, l.Error = "opening", ""
	l.Note = "opening the gallery (the first time, the weights are fingerprinted)"
	go func() {
		r := c.call(protocol.Request{Op: protocol.OpGalleryOpen}, js.Undefined(), nil)
		c.Root.update(func() {
			if r.Kind == protocol.KindError {
				l.OpenedFor = weights // do not retry on every render
				l.Finish(r.Error)
				return
			}
			l.Opened(r.Look.Gallery, weights)
			l.Finish("")
			if u := galleryParam(); u != "" && !c.paramLoaded {
				c.paramLoaded = true
				c.loadURL(u)
			} else if !r.Look.Gallery.Stored && r.Look.Gallery.Count == 0 {
				c.AddSamples()
			}
		})
	}()
}

// galleryParam is the URL parameter gallery: a prepared .alxg file to open with the page.
func galleryParam() string {
	q, _ := url.ParseQuery(strings.TrimPrefix(js.Global().Get("location").Get("search").String(), "?"))
	return q.Get("gallery")
}

// loadURL fetches a prepared gallery file in one request and adds its items to the
// gallery (an empty gallery takes it whole; names already there are kept as they are).
// Runs under the render lock.
func (c *Look) loadURL(u string) {
	l := c.L()
	l.Busy, l.Error, l.Note = "loading", "", "downloading the gallery "+u
	go func() {
		data, err := jsutil.FetchJS(u, 1<<30, func(done, total int64) {
			c.Root.update(func() { l.Done, l.Total = int(done>>10), int(total>>10) })
		})
		var r protocol.Response
		if err != nil {
			r = protocol.Response{Kind: protocol.KindError, Error: err.Error()}
		} else {
			r = c.call(protocol.Request{Op: protocol.OpGalleryLoad, Look: &protocol.LookRequest{Append: true}}, data, nil)
		}
		c.Root.update(func() {
			if r.Kind == protocol.KindError {
				l.Finish("gallery " + u + ": " + r.Error)
				return
			}
			l.Added(r.Look.Added, r.Look.Gallery)
			l.Finish("")
		})
	}()
}

// call sends a request and waits for its final response; progress (optional) gets the
// progress messages. It must run on a goroutine of its own, never under the render lock.
func (c *Look) call(req protocol.Request, payload js.Value, progress func(protocol.Response)) protocol.Response {
	return c.Root.call(req, payload, progress)
}

// call sends a request and waits for its answer; progress gets the progress messages. Not
// under the render lock.
func (c *Root) call(req protocol.Request, payload js.Value, progress func(protocol.Response)) protocol.Response {
	done := make(chan protocol.Response, 1)
	c.eng.Send(req, payload, func(r protocol.Response) {
		if r.Kind == protocol.KindProgress {
			if progress != nil {
				progress(r)
			}
			return
		}
		done <- r
	})
	return <-done
}

func (c *Look) progressTo(l *state.Look) func(protocol.Response) {
	return func(r protocol.Response) {
		if r.Progress != nil {
			c.Root.update(func() { l.Progressed(*r.Progress) })
		}
	}
}

func (c *Look) pick(testid string) {
	js.Global().Get("document").Call("querySelector", "[data-testid="+testid+"]").Call("click")
}

// OnImages embeds the chosen files one after another (the worker runs one request at a
// time), then stores the gallery once.
func (c *Look) OnImages(event vugu.DOMEvent) {
	c.addBlobs(chosenFiles(event), func(f js.Value) string { return f.Get("name").String() })
}

// galleryCreated makes the gallery card a drop target for many files at once. Its listener
// stops the drop there, so the page-wide one (which classifies a single image) does not
// also take it.
func (c *Look) galleryCreated(v vjs.Value) {
	el := js.Value(v)
	el.Call("addEventListener", "dragover", js.FuncOf(func(_ js.Value, args []js.Value) any {
		args[0].Call("preventDefault")
		return nil
	}))
	el.Call("addEventListener", "drop", js.FuncOf(func(_ js.Value, args []js.Value) any {
		ev := args[0]
		ev.Call("preventDefault")
		ev.Call("stopPropagation")
		js.Global().Get("document").Get("body").Get("classList").Call("remove", "dragging")
		files := ev.Get("dataTransfer").Get("files")
		var list []js.Value
		for i := 0; i < files.Length(); i++ {
			list = append(list, files.Index(i))
		}
		go c.Root.update(func() {
			c.addBlobs(list, func(f js.Value) string { return f.Get("name").String() })
		})
		return nil
	}))
}

// AddSamples embeds the bundled sample photos. Runs under the render lock.
func (c *Look) AddSamples() {
	var names []string
	for _, s := range samples {
		names = append(names, s.File)
	}
	c.L().Busy, c.L().Error = "adding", ""
	go func() {
		var blobs []js.Value
		for _, n := range names {
			resp, err := await(js.Global().Call("fetch", "samples/"+n))
			if err == nil && resp.Get("ok").Bool() {
				if b, err := await(resp.Call("blob")); err == nil {
					b.Set("alexlensName", n)
					blobs = append(blobs, b)
				}
			}
		}
		c.Root.update(func() {
			c.L().Busy = ""
			c.addBlobs(blobs, func(b js.Value) string { return b.Get("alexlensName").String() })
		})
	}()
}

// addBlobs runs under the render lock; the work happens on a goroutine.
func (c *Look) addBlobs(blobs []js.Value, name func(js.Value) string) {
	l := c.L()
	if len(blobs) == 0 || l.Busy != "" {
		return
	}
	l.Busy, l.Error, l.Done, l.Total = "adding", "", 0, len(blobs)
	l.Note = fmt.Sprintf("embedding %d images", len(blobs))
	go func() {
		var failed []string
		added := 0
		for i, b := range blobs {
			n := name(b)
			buf, err := await(b.Call("arrayBuffer"))
			var r protocol.Response
			if err != nil {
				r = protocol.Response{Kind: protocol.KindError, Error: n + ": " + err.Error()}
			} else {
				req := protocol.Request{Op: protocol.OpGalleryAdd, Look: &protocol.LookRequest{Name: n}}
				r = c.call(req, js.Global().Get("Uint8Array").New(buf), nil)
			}
			c.Root.update(func() {
				l.Done = i + 1
				l.Note = fmt.Sprintf("embedded %d of %d images", i+1, len(blobs))
				if r.Kind == protocol.KindError {
					failed = append(failed, r.Error)
					return
				}
				added++
				l.Added(r.Look.Added, r.Look.Gallery)
			})
		}
		r := c.call(protocol.Request{Op: protocol.OpGallerySave}, js.Undefined(), nil)
		c.Root.update(func() {
			msg := ""
			if len(failed) > 0 {
				msg = fmt.Sprintf("%d of %d images were not added: %s", len(failed), len(blobs), strings.Join(failed, "; "))
			}
			if r.Kind == protocol.KindError {
				msg = strings.TrimSpace(msg + " " + r.Error)
			} else if r.Look != nil && r.Look.Gallery != nil {
				l.Added(nil, r.Look.Gallery)
			}
			l.Finish(msg)
		})
	}()
}

// OnGalleryFile reads a prepared gallery (.alxg) in one request. The worker checks it
// before replacing anything, so a bad file leaves the gallery (and its stored copy) as is.
func (c *Look) OnGalleryFile(event vugu.DOMEvent) {
	files := chosenFiles(event)
	if len(files) == 0 {
		return
	}
	f := files[0]
	l := c.L()
	l.Busy, l.Error, l.Note = "loading", "", "reading "+f.Get("name").String()
	go func() {
		buf, err := await(f.Call("arrayBuffer"))
		var r protocol.Response
		if err != nil {
			r = protocol.Response{Kind: protocol.KindError, Error: err.Error()}
		} else {
			r = c.call(protocol.Request{Op: protocol.OpGalleryLoad, Look: &protocol.LookRequest{}}, js.Global().Get("Uint8Array").New(buf), nil)
		}
		c.Root.update(func() {
			if r.Kind == protocol.KindError {
				l.Finish(f.Get("name").String() + ": " + r.Error)
				return
			}
			l.Opened(r.Look.Gallery, l.OpenedFor)
			c.thumbImgs = map[int]js.Value{}
			l.Finish("")
		})
	}()
}

// Clear empties the gallery here and in storage; the first click only asks for a second.
func (c *Look) Clear() {
	if !c.L().ConfirmClear {
		c.L().ConfirmClear = true
		return
	}
	c.L().ConfirmClear = false
	l := c.L()
	l.Busy = "clearing"
	go func() {
		r := c.call(protocol.Request{Op: protocol.OpGalleryClear}, js.Undefined(), nil)
		c.Root.update(func() {
			if r.Kind == protocol.KindError {
				l.Finish(r.Error)
				return
			}
			l.Opened(r.Look.Gallery, l.OpenedFor)
			c.thumbImgs = map[int]js.Value{}
			l.Finish("")
		})
	}()
}

// Select makes item i the query and finds its neighbours.
func (c *Look) Select(i int) {
	c.L().Query = i
	c.search()
}

// QueryLast finds the neighbours of the image last classified on the Classify view.
func (c *Look) QueryLast() {
	c.L().Query = state.LastImage
	c.search()
}

func (c *Look) OnMetric(event vugu.DOMEvent) {
	c.L().Metric = event.PropString("target", "value")
	c.search()
	if len(c.L().Walk) > 0 {
		c.WalkNow()
	}
}

// search asks for the query's neighbours. Runs under the render lock.
func (c *Look) search() {
	l := c.L()
	if l.Query == state.NoQuery {
		return
	}
	req := protocol.Request{Op: protocol.OpNeighbors, Look: &protocol.LookRequest{Item: l.Query, K: l.K, Metric: l.Metric}}
	c.Root.eng.Send(req, js.Undefined(), func(r protocol.Response) {
		if r.Kind == protocol.KindProgress {
			return
		}
		c.Root.update(func() {
			if r.Kind == protocol.KindError {
				l.Error, l.Neighbors = r.Error, nil
				return
			}
			l.Neighbors, l.SearchMs, l.Error = r.Look.Neighbors, r.Look.Millis, ""
		})
	})
}

func (c *Look) Mark(to bool) { c.L().ToggleGroup(c.L().Query, to) }

// WalkNow walks the query along B − A.
func (c *Look) WalkNow() {
	l := c.L()
	if l.Query < 0 || len(l.From) == 0 || len(l.To) == 0 {
		return
	}
	req := protocol.Request{Op: protocol.OpWalk, Look: &protocol.LookRequest{Item: l.Query, From: l.From, To: l.To, Steps: 7, K: 4, Metric: l.Metric}}
	c.Root.eng.Send(req, js.Undefined(), func(r protocol.Response) {
		if r.Kind == protocol.KindProgress {
			return
		}
		c.Root.update(func() {
			if r.Kind == protocol.KindError {
				l.Error = r.Error
				return
			}
			l.Walk = r.Look.Walk
		})
	})
}

// Cancel stops the running atlas, units or feature visualization request.
func (c *Look) Cancel() {
	if id := c.L().Running; id != 0 {
		c.Root.eng.Send(protocol.Request{Op: protocol.OpCancel, Look: &protocol.LookRequest{Target: id}}, js.Undefined(), func(protocol.Response) {})
	}
}

func (c *Look) OnAtlasMethod(event vugu.DOMEvent) {
	c.L().AtlasMethod = event.PropString("target", "value")
}

// MakeAtlas lays the gallery (or the classes) out with the chosen method.
func (c *Look) MakeAtlas() {
	l := c.L()
	l.IconsOn = false
	c.run("atlas", l.AtlasRequest(), func(r protocol.Response) {
		l.Atlas, l.Zoom, l.PanX, l.PanY = r.Look.Atlas, 1, 0, 0
	})
}

// followView keeps the atlas in step with what the reader looks at: the class atlas gets
// the grid its zoom asks for (the layout is kept in the worker, so this is quick), and once
// icons were asked for, the cells in view get theirs. It runs after each answer and each
// zoom or pan, doing nothing while another request runs (its answer calls it again).
func (c *Look) followView() {
	l := c.L()
	if l.Busy != "" || l.Atlas == nil {
		return
	}
	if l.Regrid() {
		c.run("atlas", l.AtlasRequest(), func(r protocol.Response) {
			l.Atlas = r.Look.Atlas
			c.followView()
		})
		return
	}
	if !l.IconsOn {
		return
	}
	var missing []int
	for _, i := range c.visibleCells() {
		if _, ok := l.Icon(i); !ok {
			missing = append(missing, i)
		}
	}
	if len(missing) == 0 {
		return
	}
	c.requestIcons(missing)
}

// Icon settings of the atlas: small icons, enough steps for recognizable features; the
// same as alexlens atlas's defaults, so the CLI draws the same icons for the same map.
const (
	atlasIconSize  = 64
	atlasIconSteps = 64
)

// OnAtlasFilter keeps only the cells voting for the class typed; cells coming into view
// get their icons.
func (c *Look) OnAtlasFilter(event vugu.DOMEvent) {
	c.L().AtlasFilter = event.PropString("target", "value")
	c.followView()
}

// cellThumbs are the gallery items of a cell that the cell list shows (the first six with a
// thumbnail): the images that fell in it.
func (c *Look) cellThumbs(cell protocol.AtlasCell) []int {
	var idx []int
	for _, i := range cell.Members {
		if len(idx) == 6 {
			break
		}
		if len(c.L().Item(i).Thumb) > 0 {
			idx = append(idx, i)
		}
	}
	return idx
}

// shownCellList is the atlas's cells that pass the filter.
func (c *Look) shownCellList() []protocol.AtlasCell {
	var shown []protocol.AtlasCell
	for _, cell := range c.L().Atlas.Cells {
		if c.L().CellShown(cell, imagenet.Label) {
			shown = append(shown, cell)
		}
	}
	return shown
}

// MakeIcons draws the icons of the cells in view: the feature visualization of each cell's
// mean activation (or its classes' mean score), arriving batch by batch; from then on,
// cells that come into view get theirs too.
func (c *Look) MakeIcons() {
	c.L().IconsOn = true
	c.followView()
}

// posterCell is the poster's pixels a cell: a 20x20 atlas is then a 5120 px picture, 43 cm
// across at 300 dpi (alexlens atlas --cell sets any size).
const posterCell = 256

// SaveAtlasFile has the worker write the atlas with its icons as an atlas file (.alxg),
// which the embed's atlas view shows on any page, and downloads it.
func (c *Look) SaveAtlasFile() {
	req := protocol.Request{Op: protocol.OpAtlasFile, Look: &protocol.LookRequest{Size: atlasIconSize, Steps: atlasIconSteps}}
	c.run("atlas file", req, func(r protocol.Response) {
		c.L().AtlasFileBytes = len(r.Look.File)
		download("alexlens-atlas.alxg", "application/octet-stream", r.Look.File)
	})
}

// SavePoster has the worker draw the atlas with its icons as one PNG, and downloads it.
func (c *Look) SavePoster() {
	req := protocol.Request{Op: protocol.OpAtlasPoster, Look: &protocol.LookRequest{Size: atlasIconSize, Steps: atlasIconSteps, PosterCell: posterCell}}
	c.run("poster", req, func(r protocol.Response) {
		c.L().PosterBytes = len(r.Look.Poster)
		download("alexlens-atlas.png", "image/png", r.Look.Poster)
	})
}

// download hands bytes to the browser as a file to save.
func download(name, mime string, data []byte) {
	arr := js.Global().Get("Uint8Array").New(len(data))
	js.CopyBytesToJS(arr, data)
	blob := js.Global().Get("Blob").New([]any{arr}, map[string]any{"type": mime})
	url := js.Global().Get("URL").Call("createObjectURL", blob)
	a := js.Global().Get("document").Call("createElement", "a")
	a.Set("href", url)
	a.Set("download", name)
	a.Call("click")
	js.Global().Get("URL").Call("revokeObjectURL", url)
}

func (c *Look) requestIcons(cells []int) {
	req := protocol.Request{Op: protocol.OpAtlasIcons, Look: &protocol.LookRequest{Size: atlasIconSize, Steps: atlasIconSteps, Cells: cells}}
	c.run("icons", req, func(r protocol.Response) {
		c.L().AddIcons(r.Look.Icons)
		c.followView()
	})
}

// run sends a cancellable request and applies its result under the render lock.
func (c *Look) run(busy string, req protocol.Request, apply func(protocol.Response)) {
	l := c.L()
	if l.Busy != "" {
		return
	}
	l.Busy, l.Error, l.Done, l.Total = busy, "", 0, 0
	id := 0
	c.Root.eng.Send(req, js.Undefined(), func(r protocol.Response) {
		c.Root.update(func() {
			switch r.Kind {
			case protocol.KindProgress:
				if r.Progress != nil {
					l.Progressed(*r.Progress)
				}
				if r.Look != nil && len(r.Look.Icons) > 0 {
					l.AddIcons(r.Look.Icons)
				}
				if r.Look != nil && r.Look.FeatureVis != nil && r.Look.FeatureVis.RGBA != nil {
					l.FV = r.Look.FeatureVis
				} else if r.Look != nil && r.Look.FeatureVis != nil && l.FV != nil {
					l.FV.Step, l.FV.Value = r.Look.FeatureVis.Step, r.Look.FeatureVis.Value
				}
			case protocol.KindError:
				l.Running = 0
				l.Finish(r.Error)
			case protocol.KindDone:
				l.Running = 0
				l.Finish("")
				apply(r)
			}
		})
	})
	id = c.Root.eng.LastID()
	l.Running = id
}

func (c *Look) Zoom(f float64) { c.L().ZoomBy(f); c.followView() }
func (c *Look) ZoomReset()     { c.L().Zoom, c.L().PanX, c.L().PanY = 1, 0, 0; c.followView() }

func (c *Look) Dismiss() { c.L().Error = "" }

func (c *Look) clearLabel() string {
	if c.L().ConfirmClear {
		return "Click again to remove every image"
	}
	return "Clear"
}

// Units view.

func (c *Look) unitLayers() []protocol.LayerInfo {
	var out []protocol.LayerInfo
	if m := c.Root.App.Model; m != nil {
		for _, l := range m.Layers {
			if l.Channels > 0 {
				out = append(out, l)
			}
		}
	}
	return out
}

func (c *Look) unitLayer() string {
	ls := c.unitLayers()
	for _, l := range ls {
		if l.Name == c.L().UnitLayer {
			return l.Name
		}
	}
	// A middle convolution (not a pool): its units respond to textures and parts, neither
	// edges nor whole objects, the most telling level to start from.
	var convs []string
	for _, l := range ls {
		if !strings.HasPrefix(l.Name, "pool") {
			convs = append(convs, l.Name)
		}
	}
	if len(convs) > 0 {
		return convs[len(convs)/2]
	}
	if len(ls) == 1 {
		return ls[0].Name
	}
	return ""
}

func (c *Look) unitChannels() int {
	for _, l := range c.unitLayers() {
		if l.Name == c.unitLayer() {
			return l.Channels
		}
	}
	return 1
}

func (c *Look) OnUnitLayer(event vugu.DOMEvent) {
	c.L().UnitLayer = event.PropString("target", "value")
	c.L().UnitChannel = min(c.L().UnitChannel, c.unitChannels()-1)
	c.unitToURL()
}

func (c *Look) OnUnitChannel(event vugu.DOMEvent) {
	if v, err := strconv.Atoi(event.PropString("target", "value")); err == nil {
		c.L().UnitChannel = max(0, min(v, c.unitChannels()-1))
		c.unitToURL()
	}
}

// unitToURL keeps the shown unit in the URL (unit=LAYER:CHANNEL): the unit's permalink.
func (c *Look) unitToURL() {
	setURLParams(map[string]string{"unit": state.UnitParam(c.unitLayer(), c.L().UnitChannel)})
}

// unitLink is the permalink of the shown unit's page.
func (c *Look) unitLink() string {
	q, _ := url.ParseQuery(trimQ(js.Global().Get("location").Get("search").String()))
	q.Set("unit", state.UnitParam(c.unitLayer(), c.L().UnitChannel))
	return "?" + q.Encode() + "#units"
}

// AddDirection adds the direction B - A (the groups' mean embeddings) to the network's
// activation at the gallery's layer, as an intervention of the Classify view.
func (c *Look) AddDirection() {
	l, r := c.L(), c.Root
	names := func(items []int) []string {
		var out []string
		for _, i := range items {
			out = append(out, l.Item(i).Name)
		}
		return out
	}
	layer := ""
	if l.Gallery != nil {
		layer = l.Gallery.Layer // the worker sets the gallery's layer anyway
	}
	r.W().AddDirection(layer, names(l.From), names(l.To))
	js.Global().Get("history").Call("replaceState", js.Null(), "", "#"+string(state.ViewClassify))
	c.show(state.ViewClassify)
	r.editsChanged()
}

// SwitchOff switches the shown unit off for the Classify view's passes and shows its effect
// there.
func (c *Look) SwitchOff() {
	r := c.Root
	if r.W().AddEdit(r.App.Model, "off", c.unitLayer(), c.L().UnitChannel, "0") {
		js.Global().Get("history").Call("replaceState", js.Null(), "", "#"+string(state.ViewClassify))
		c.show(state.ViewClassify)
		r.editsChanged()
	}
}

// FindPatches ranks the gallery by the chosen unit.
func (c *Look) FindPatches() {
	l := c.L()
	req := protocol.Request{Op: protocol.OpUnits, Look: &protocol.LookRequest{Layer: c.unitLayer(), Channel: l.UnitChannel, K: 12, Patch: 96}}
	c.run("units", req, func(r protocol.Response) { l.Patches, l.UnitsMs = r.Look.Patches, r.Look.Millis })
}

func (c *Look) OnFVObjective(event vugu.DOMEvent) {
	c.L().FVObjective = event.PropString("target", "value")
}

func (c *Look) OnFVClass(event vugu.DOMEvent) {
	if v, err := strconv.Atoi(event.PropString("target", "value")); err == nil {
		c.L().FVClass = max(0, min(v, 999))
	}
}

func (c *Look) OnFVTaught(event vugu.DOMEvent) {
	if v, err := strconv.Atoi(event.PropString("target", "value")); err == nil {
		c.L().FVTaught = v
	}
}

func (c *Look) OnFVSteps(event vugu.DOMEvent) {
	if v, err := strconv.Atoi(event.PropString("target", "value")); err == nil {
		c.L().FVSteps = max(1, min(v, protocol.MaxFeatureVisRun))
	}
}

// Visualize synthesizes an image for the chosen channel or class, with previews.
func (c *Look) Visualize() {
	l := c.L()
	lr := &protocol.LookRequest{Objective: l.FVObjective, Layer: c.unitLayer(), Channel: l.UnitChannel, Size: 128, Steps: l.FVSteps, Preview: 4, Seed: 1}
	switch l.FVObjective {
	case "class":
		lr.Channel = l.FVClass
	case "taught":
		lr.Channel = l.FVTaught
	}
	l.FV = nil
	c.run("featurevis", protocol.Request{Op: protocol.OpFeatureVis, Look: lr, PixelBytes: true}, func(r protocol.Response) {
		l.FV, l.FVMs = r.Look.FeatureVis, r.Look.Millis
	})
}

// Formatting and drawing.

// maxShownItems bounds the thumbnails in the gallery grid: a page of 100,000 buttons would
// be unusable; the rest are reached as neighbours and on the atlas.
const maxShownItems = 600

func (c *Look) shownItems() []protocol.GalleryItem {
	it := c.L().Items
	return it[:min(len(it), maxShownItems)]
}

func (c *Look) moreNote() string {
	return fmt.Sprintf("Showing the first %d of %d images; the others appear as neighbours and on the atlas.", maxShownItems, len(c.L().Items))
}

func (c *Look) count() int {
	if c.L().Gallery == nil {
		return 0
	}
	return c.L().Gallery.Count
}

func (c *Look) layerName() string {
	if g := c.L().Gallery; g != nil {
		if g.Pooling == "mean" {
			return g.Layer + " (averaged over positions)"
		}
		return g.Layer
	}
	return "embedding"
}

func (c *Look) galleryNote() string {
	g := c.L().Gallery
	if g == nil {
		return ""
	}
	s := fmt.Sprintf("%d images · %s %s, %d values each, stored as %s", g.Count, g.Arch, g.Layer, g.Dim, g.Encoding)
	if g.Stored {
		s += fmt.Sprintf(" · kept in this browser (%s)", humanSize(g.Bytes))
	}
	if g.Unstored != "" {
		s += " · " + g.Unstored
	}
	return s
}

func humanSize(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

func (c *Look) busyText() string {
	l := c.L()
	if l.Note != "" {
		return l.Note
	}
	return l.Busy + "…"
}

func (c *Look) thumbClass(i int) string {
	if c.L().Query == i {
		return "thumb selected"
	}
	return "thumb"
}

func (c *Look) itemTitle(it protocol.GalleryItem) string {
	if it.Label != "" {
		return it.Name + " · " + it.Label
	}
	return it.Name
}

func (c *Look) groupsNote() string {
	return fmt.Sprintf("A: %d images · B: %d images", len(c.L().From), len(c.L().To))
}

func (c *Look) walkT(t float32) string { return fmt.Sprintf("t = %.2f", t) }

func (c *Look) ms(v float64) string { return c.Root.ms(v) }

func thumbURL(jpeg []byte) string {
	return "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(jpeg)
}

func distText(d float32) string  { return strconv.FormatFloat(float64(d), 'g', 7, 32) }
func distShort(d float32) string { return strconv.FormatFloat(float64(d), 'f', 3, 32) }

func (c *Look) atlasNote() string {
	a := c.L().Atlas
	if a == nil {
		return fmt.Sprintf("%d images", c.count())
	}
	if a.Classes {
		return fmt.Sprintf("the network's %d classes by their classifier weights (%s in %s) · %d×%d grid: zoom in for finer groups", len(a.X), strings.ToUpper(a.Method), c.ms(a.Millis), a.Grid, a.Grid)
	}
	return fmt.Sprintf("%d images by %s in %s · %d×%d grid", len(a.X), strings.ToUpper(a.Method), c.ms(a.Millis), a.Grid, a.Grid)
}

func (c *Look) cellTop(cell protocol.AtlasCell) string {
	if len(cell.Top) == 0 {
		return "—"
	}
	return cell.Top[0].Label
}

func (c *Look) cellNote(cell protocol.AtlasCell) string {
	if c.L().Atlas != nil && c.L().Atlas.Classes {
		return fmt.Sprintf("row %d, column %d · %d classes", cell.Row+1, cell.Col+1, len(cell.Members))
	}
	return fmt.Sprintf("row %d, column %d · %d images · %s", cell.Row+1, cell.Col+1, len(cell.Members), state.CellTitle(cell))
}

func (c *Look) patchNote(p protocol.UnitPatch) string {
	s := fmt.Sprintf("%.3g at (%d, %d)", p.Value, p.Y, p.X)
	if p.FromThumb {
		s += " · from the thumbnail"
	}
	return s
}

func (c *Look) drawPatch(v vjs.Value, i int) {
	ps := c.L().Patches
	if i < len(ps) {
		putRGBA(js.Value(v), ps[i].RGBA, ps[i].W, ps[i].H)
	}
}

func (c *Look) channelOption() string {
	return fmt.Sprintf("channel %d of %s", c.L().UnitChannel, c.unitLayer())
}

func (c *Look) className() string {
	return imagenet.Label(c.L().FVClass)
}

func (c *Look) drawFV(v vjs.Value) {
	if f := c.L().FV; f != nil && f.RGBA != nil {
		putRGBA(js.Value(v), f.RGBA, f.W, f.H)
	}
}

func (c *Look) fvStep() int {
	if f := c.L().FV; f != nil {
		return f.Step
	}
	return 0
}

func (c *Look) fvSteps() int {
	if f := c.L().FV; f != nil {
		return f.Steps
	}
	return c.L().FVSteps
}

func (c *Look) fvNote() string {
	l := c.L()
	f := l.FV
	switch {
	case f == nil && l.Busy == "featurevis":
		return "starting…"
	case f == nil:
		return "Pick a channel (above) or a class and press Visualize."
	case l.Busy == "featurevis":
		return fmt.Sprintf("step %d of %d · objective %.3g", f.Step, f.Steps, f.Value)
	}
	on := ""
	if f.Compute == protocol.ComputeWebGPU {
		on = " on WebGPU"
	}
	return fmt.Sprintf("done: %d steps in %s%s · objective %.3g", f.Step, c.ms(l.FVMs), on, f.Value)
}

func (c *Look) views() []struct {
	View  state.View
	Label string
} {
	return state.Views
}
