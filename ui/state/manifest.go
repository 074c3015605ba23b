// Package state is the AlexLens app's state and the decisions behind it (which weights to
// load, where to run, what the status line says), kept apart from the Vugu views
// and free of syscall/js so it is tested natively.
package state

import (
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/alexlens/alexlens/wasm/protocol"
	"github.com/alexlens/alexlens/weights/manifest"
)

// Label is a short human name of a manifest entry, for the choice list.
func Label(e manifest.Entry) string {
	kind := e.Kind
	if e.IsPartial() {
		kind += ", first layers only"
	}
	return fmt.Sprintf("%s · %s · %s (%s)", e.Arch, e.Precision, kind, humanBytes(e.Bytes))
}

// Params are the page's URL parameters.
type Params struct {
	Arch    string // architecture to show
	Weights string // a weights URL, overriding the manifest
	// Compute is where to run: the backend parameter, parsed once (auto when absent).
	Compute protocol.Compute
	// Precision picks between f32 and int8 files of the same network.
	Precision string
	// Threads is the number of threads for CPU passes: the threads parameter (0 when
	// absent or auto: the engine worker chooses for the visitor's cores).
	Threads int
	// Notes say which parameters could not be used, and what runs instead.
	Notes []string
	// Edits are the interventions of the set= and scale= parameters (Why).
	Edits []protocol.Edit
	// UnitLayer and UnitChannel are the unit= parameter (LAYER:CHANNEL): the Units view's
	// unit, so that a unit's page has a link of its own.
	UnitLayer   string
	UnitChannel int
	// DeviceMemoryGB is navigator.deviceMemory (0 when the browser does not say): on a
	// device with little memory AlexNet's int8 weights are the default (LowMemoryGB).
	DeviceMemoryGB float64
}

// LowMemoryGB is the device memory (navigator.deviceMemory, which reports at most 8) at or
// under which large float32 weights give way to int8 by default: a phone tab dies at about
// 1.5 GB, and AlexNet in float32 takes 244 MB of weights before any copy or activation.
const LowMemoryGB = 4

// largeWeights is the size from which a float32 file gives way to int8 on such a device.
const largeWeights = 100 << 20

// ParseParams reads the page's query string.
func ParseParams(rawQuery string) Params {
	q, _ := url.ParseQuery(trimQuery(rawQuery))
	p := Params{Arch: q.Get("arch"), Weights: q.Get("weights"), Precision: q.Get("precision")}
	var err error
	if p.Compute, err = protocol.ParseCompute(q.Get("backend")); err != nil {
		p.Notes = append(p.Notes, err.Error()+": running on the CPU")
	}
	var note string
	if p.Threads, note = threadsCount(q.Get("threads")); note != "" {
		p.Notes = append(p.Notes, note)
	}
	if p.Edits, note = ParseEditParams(q); note != "" {
		p.Notes = append(p.Notes, note)
	}
	if u := q.Get("unit"); u != "" {
		layer, ch, ok := strings.Cut(u, ":")
		c, err := strconv.Atoi(ch)
		if !ok || layer == "" || err != nil || c < 0 {
			p.Notes = append(p.Notes, fmt.Sprintf("unit=%s is not LAYER:CHANNEL (as in conv5:12): showing the default unit", u))
		} else {
			p.UnitLayer, p.UnitChannel = layer, c
		}
	}
	return p
}

// Choice is the weights the app loads.
type Choice struct {
	URL     string
	SHA256  string         // "" when unknown (a weights URL given by hand)
	Entry   manifest.Entry // the manifest entry, when there is one
	Fixture bool
	// Note says why these weights and not the usual ones ("" when they are the usual).
	Note string
}

// ChooseWeights picks the weights to load: the URL parameter when given, else the manifest's
// best entry for the requested architecture (trained before fixture, complete before
// partial, f32 before int8 unless precision says otherwise). base is the weights folder URL.
func ChooseWeights(m *manifest.Manifest, p Params, base string) (Choice, error) {
	if p.Weights != "" {
		c := Choice{URL: p.Weights}
		if m != nil { // the manifest still vouches for a file it lists
			for _, e := range m.Weights {
				if path.Base(p.Weights) == e.File {
					c.SHA256, c.Entry, c.Fixture = e.SHA256, e, !e.Trained()
				}
			}
		}
		return c, nil
	}
	if m == nil || len(m.Weights) == 0 {
		return Choice{}, fmt.Errorf("no weights are served: run `alexlens weights fetch` (or `alexlens weights fixture`) and reload")
	}
	best, err := m.Choose(p.Arch, "", true)
	if err != nil {
		return Choice{}, err
	}
	want, note := p.Precision, ""
	if want == "" && p.DeviceMemoryGB > 0 && p.DeviceMemoryGB <= LowMemoryGB && best.Precision == "f32" && best.Bytes > largeWeights {
		want = "int8"
		note = fmt.Sprintf("this device reports %g GB of memory", p.DeviceMemoryGB)
	}
	chosen, _ := m.Choose(p.Arch, want, true)
	if note != "" && chosen.Precision == want {
		note = fmt.Sprintf("int8 weights (%s instead of %s): %s; ?precision=f32 loads the float32 ones", humanBytes(chosen.Bytes), humanBytes(best.Bytes), note)
	} else {
		note = ""
	}
	return choiceOf(chosen, base, note), nil
}

func choiceOf(e manifest.Entry, base, note string) Choice {
	return Choice{URL: strings.TrimSuffix(base, "/") + "/" + e.File, SHA256: e.SHA256, Entry: e, Fixture: !e.Trained(), Note: note}
}

// OnOutOfMemory is the weights to try when loading c failed for want of memory (msg is the
// engine's error): the same network's int8 file when c was a float32 file the visitor did
// not ask for by precision, and a note saying so; ok=false otherwise.
func OnOutOfMemory(m *manifest.Manifest, p Params, c Choice, msg, base string) (Choice, bool) {
	low := strings.ToLower(msg)
	if m == nil || p.Precision != "" || p.Weights != "" || c.Entry.Precision != "f32" ||
		!(strings.Contains(low, "out of memory") || strings.Contains(low, "memory access out of bounds") ||
			strings.Contains(low, "could not allocate") || strings.Contains(low, "allocation failed") ||
			strings.Contains(low, "rangeerror")) {
		return Choice{}, false
	}
	for _, e := range m.Candidates(c.Entry.Arch) {
		if e.Precision == "int8" && e.Trained() == c.Entry.Trained() && e.IsPartial() == c.Entry.IsPartial() {
			return choiceOf(e, base, fmt.Sprintf("int8 weights (%s): the float32 ones (%s) did not fit in this tab's memory", humanBytes(e.Bytes), humanBytes(c.Entry.Bytes))), true
		}
	}
	return Choice{}, false
}

// cpuNote words the worker's reason for running on the CPU.
func cpuNote(reason string) string {
	if reason == "" {
		return ""
	}
	return strings.TrimSuffix(reason, ".") + ": running on the CPU (WebAssembly)"
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d B", n)
	}
}

func trimQuery(s string) string { return strings.TrimPrefix(s, "?") }
