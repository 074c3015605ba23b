package state

import (
	"fmt"
	"strings"

	"github.com/alexlens/alexlens/wasm/protocol"

	"github.com/alexlens/alexlens/weights/manifest"
)

// Status values shown in the status line ([data-testid=status]).
const (
	StatusStarting = "starting"
	StatusLoading  = "loading weights"
	StatusReady    = "ready"
	StatusWorking  = "classifying"
	StatusFailed   = "failed"
)

// App is everything the views show. The views read it; only the methods below change it.
type App struct {
	Status   string
	Progress string  // what the engine is doing right now
	Fraction float64 // 0..1 for the progress bar, -1 when unknown

	Params   Params
	Manifest *manifest.Manifest
	Choice   Choice
	// Compute is where the network runs: what the page asked for until the engine says
	// what it got (App.Loaded), ComputeNote why that differs or what could not be used.
	Compute     protocol.Compute
	ComputeNote string

	Model   *protocol.ModelInfo
	Kernels *protocol.KernelGrid
	Result  *protocol.Classification
	Seq     int    // counts results, so views and tests can tell a new one from the last
	Source  string // what the last result was computed on ("chelsea.jpg", "webcam")
	Error   string // the last failure, readable; cleared by the next success

	Layer     string // activation layer shown
	Channel   int
	Threshold float32
	Maps      []protocol.ActivationMap // [0] the selected channel, then the overview strip

	Webcam bool

	Look  *Look  // the navigation and the look-inside views (look.go)
	Why   *Why   // attribution and interventions in the Classify view (why.go)
	Teach *Teach // the Teach view (teach.go)
}

// NewApp starts in the "starting" state.
func NewApp(p Params) *App {
	a := &App{Status: StatusStarting, Params: p, Fraction: -1, Layer: "conv1", Look: NewLook(), Why: NewWhy(), Teach: NewTeach(),
		Compute: p.Compute, ComputeNote: strings.Join(p.Notes, " ")}
	a.Why.Edits = p.Edits
	a.Look.UnitLayer, a.Look.UnitChannel = p.UnitLayer, p.UnitChannel
	return a
}

// FixtureBanner is the warning shown while fixture weights are loaded.
func (a *App) FixtureBanner() string {
	if a.Model == nil || !a.Model.Fixture {
		return ""
	}
	return fmt.Sprintf("Untrained fixture weights: predictions are meaningless. Run `alexlens weights fetch %s` to get the real %s weights, then reload.", fetchName(a.Model.Arch), a.Model.Title)
}

func fetchName(arch string) string {
	if arch == "alexnet-bvlc" {
		return "alexnet"
	}
	return arch
}

// WeightsKind is "trained" or "fixture" ([data-testid=weights-kind]).
func (a *App) WeightsKind() string {
	if a.Model == nil {
		return ""
	}
	if a.Model.Fixture {
		return "fixture"
	}
	return "trained"
}

// Loaded applies a finished load: the backend shown is the one the worker got.
func (a *App) Loaded(r protocol.Response) {
	a.Model, a.Kernels = r.Model, r.Kernels
	if a.Model != nil && a.Model.Compute != "" {
		a.Compute = a.Model.Compute
		if n := cpuNote(a.Model.ComputeNote); n != "" {
			a.ComputeNote = n
		}
		if n := a.Model.ThreadsNote; n != "" && !strings.Contains(a.ComputeNote, n) {
			a.ComputeNote = strings.TrimSpace(a.ComputeNote + " " + n + ".")
		}
	}
	a.Status, a.Progress, a.Fraction, a.Error = StatusReady, "", -1, ""
	a.Result, a.Maps = nil, nil
	if a.Model != nil && !a.hasLayer(a.Layer) && len(a.Model.Layers) > 0 {
		a.Layer, a.Channel = a.Model.Layers[0].Name, 0
	}
	a.Why.Map, a.Why.KnockOut = nil, nil
	a.Teach = NewTeach() // the worker forgets photos embedded by other weights
	if a.Model != nil {
		a.Why.EditError = a.Why.Prune(a.Model)
		if (!a.hasLayer(a.Why.KnockLayer) || a.Why.KnockLayer == "") && len(a.Model.Layers) > 0 {
			a.Why.KnockLayer = a.Model.Layers[max(0, len(a.Model.Layers)-3)].Name // fc6, fire9: a late layer with many units
		}
	}
}

// Rerun is the source of a rerun of the same image with other interventions.
const Rerun = "rerun"

// Classified applies a finished classification or map request.
func (a *App) Classified(r protocol.Response, source string) {
	if r.Result != nil {
		a.Why.Map = nil // the map was of the last pass
		if source == Rerun {
			source = a.Source
		} else {
			a.Why.KnockOut = nil
		}
		a.Result = r.Result
		if r.Result.Compute != "" && r.Result.Compute != a.Compute && !r.Result.Intervened { // WebGPU failed mid-run
			a.Compute, a.ComputeNote = r.Result.Compute, cpuNote(r.Result.ComputeNote)
		}
		a.Seq++
		a.Source = source
	}
	if r.Maps != nil {
		a.Maps = r.Maps
	}
	a.Status, a.Progress, a.Fraction, a.Error = StatusReady, "", -1, ""
}

// Failed records a failed request. Before any weights are loaded the app cannot work, so
// the status says failed; afterwards the app stays ready and shows the message.
func (a *App) Failed(msg string) {
	a.Error = msg
	a.Progress, a.Fraction = "", -1
	if a.Model == nil {
		a.Status = StatusFailed
	} else {
		a.Status = StatusReady
	}
}

// Progressed applies a progress message.
func (a *App) Progressed(p protocol.Progress) {
	switch p.Stage {
	case protocol.StageDownload:
		if p.Total > 0 {
			a.Fraction = float64(p.Done) / float64(p.Total)
			a.Progress = fmt.Sprintf("downloading weights: %s of %s", humanBytes(p.Done), humanBytes(p.Total))
		} else {
			a.Fraction = -1
			a.Progress = fmt.Sprintf("downloading weights: %s", humanBytes(p.Done))
		}
		switch {
		case p.Note != "" && p.Done == 0 && p.Total == 0:
			a.Progress = p.Note
		case p.Note != "":
			a.Progress += " (" + p.Note + ")"
		}
	case protocol.StageCache:
		a.Progress, a.Fraction = "reading weights from the browser cache", 1
		if p.Total > 0 {
			a.Fraction = float64(p.Done) / float64(p.Total)
		}
	case protocol.StageDecode:
		a.Progress, a.Fraction = "checking and decoding weights", -1
	case protocol.StageLayer:
		a.Fraction = float64(p.Done) / float64(max(p.Total, 1))
		a.Progress = fmt.Sprintf("running %s (%d of %d)", p.Layer, p.Done, p.Total)
	}
}

// LayerInfo describes the selected activation layer.
func (a *App) LayerInfo() protocol.LayerInfo {
	if a.Model != nil {
		for _, l := range a.Model.Layers {
			if l.Name == a.Layer {
				return l
			}
		}
	}
	return protocol.LayerInfo{}
}

func (a *App) hasLayer(name string) bool {
	if a.Model == nil {
		return false
	}
	for _, l := range a.Model.Layers {
		if l.Name == name {
			return true
		}
	}
	return false
}

// Channels is the number of maps the selected layer has (1 for fully connected layers).
func (a *App) Channels() int {
	l := a.LayerInfo()
	if l.Channels == 0 {
		return 1
	}
	return l.Channels
}

// SelectLayer changes the shown layer, keeping the channel when it still exists.
func (a *App) SelectLayer(name string) {
	if !a.hasLayer(name) {
		return
	}
	a.Layer = name
	a.Channel = min(a.Channel, a.Channels()-1)
}

// SelectChannel changes the shown channel, clamped to the layer's range.
func (a *App) SelectChannel(ch int) { a.Channel = max(0, min(ch, a.Channels()-1)) }

// OverviewSize is how many channels the strip under the big map shows.
const OverviewSize = 16

// MapRequests are the maps to ask for: the selected channel first, then a strip of
// OverviewSize channels around it for browsing.
func (a *App) MapRequests() []protocol.MapRequest {
	if a.Model == nil || a.Layer == "" {
		return nil
	}
	reqs := []protocol.MapRequest{{Layer: a.Layer, Channel: a.Channel}}
	n := a.Channels()
	if n == 1 {
		return reqs
	}
	first := max(0, min(a.Channel-a.Channel%OverviewSize, n-OverviewSize))
	for c := first; c < min(first+OverviewSize, n); c++ {
		reqs = append(reqs, protocol.MapRequest{Layer: a.Layer, Channel: c})
	}
	return reqs
}

// The requests the page sends the engine worker, built here so that the page and the
// browser benchmark (bench/browser-cpu), which drives the same worker, send the same ones.

// LoadRequest asks the worker for the chosen weights, to run as the page's parameters say.
func (a *App) LoadRequest(c Choice) protocol.Request {
	return protocol.Request{Op: protocol.OpLoad, URL: c.URL, SHA256: c.SHA256, Size: c.Entry.Bytes,
		Compute: a.Params.Compute, Threads: a.Params.Threads}
}

// ClassifyRequest classifies an image file (its bytes travel beside the request) and
// renders the maps the page shows.
func (a *App) ClassifyRequest() protocol.Request {
	return protocol.Request{Op: protocol.OpClassify, Maps: a.MapRequests(), PixelBytes: true, Threshold: a.Threshold, Edits: a.Why.Edits}
}

// RerunRequest runs the last image again with the page's interventions and maps.
func (a *App) RerunRequest() protocol.Request {
	return protocol.Request{Op: protocol.OpRerun, Maps: a.MapRequests(), PixelBytes: true, Threshold: a.Threshold, Edits: a.Why.Edits}
}

// FrameRequest classifies a webcam frame of w x h RGBA pixels, with the page's maps.
func (a *App) FrameRequest(w, h int) protocol.Request {
	return protocol.Request{Op: protocol.OpFrame, Width: w, Height: h, Maps: a.MapRequests(), PixelBytes: true, Threshold: a.Threshold, Edits: a.Why.Edits}
}

// MapsRequest renders the page's maps of the last pass again (another layer or channel).
func (a *App) MapsRequest() protocol.Request {
	return protocol.Request{Op: protocol.OpMaps, Maps: a.MapRequests(), PixelBytes: true, Threshold: a.Threshold}
}

// ForwardMs is the last forward pass's wall time as shown ([data-testid=forward-ms]).
func (a *App) ForwardMs() string {
	if a.Result == nil {
		return ""
	}
	return fmt.Sprintf("%.1f", a.Result.ForwardMs)
}

// SlowestLayerMs scales the per-layer timing bars.
func (a *App) SlowestLayerMs() float64 {
	var m float64
	if a.Result != nil {
		for _, l := range a.Result.Layers {
			m = max(m, l.Millis)
		}
	}
	return m
}

// ComputePath describes where the numbers come from, e.g. "cpu · generated SIMD module ·
// int8 · 2 threads (kernel workers)": what runs the network, which kernel, the precision
// and how many threads.
func (a *App) ComputePath() string {
	if a.Model == nil {
		return ""
	}
	if a.Compute == protocol.ComputeWebGPU {
		return strings.Join([]string{"webgpu", "WGSL compute", a.Model.Precision}, " · ")
	}
	parts := []string{string(a.Compute), KernelText(a.Model.Kernel, a.Model.Backend), a.Model.Precision}
	if n := a.Threads(); n > 0 {
		parts = append(parts, threadsText(n))
	}
	return strings.Join(parts, " · ")
}
