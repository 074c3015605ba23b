// Package state is the AlexLens app's state and the decisions behind it (which weights to
// load, where to run, what the status line says), kept apart from the Vugu views
// and free of syscall/js so it is tested natively.
package state

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/alexlens/alexlens/wasm/protocol"
)

// Entry is one weights file listed in the served folder's manifest.json.
type Entry struct {
	File      string       `json:"file"`
	Arch      string       `json:"arch"`
	Precision string       `json:"precision"`
	Kind      string       `json:"kind"` // "trained" or "fixture"
	Partial   Partial      `json:"partial"`
	Bytes     int64        `json:"bytes"`
	SHA256    string       `json:"sha256"`
	Layers    []LayerRange `json:"layers"`
}

// LayerRange is where one layer's tensors lie in the file (for fetching layers alone).
type LayerRange struct {
	Name   string `json:"name"`
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
}

// Partial is the manifest's "partial" field: false/absent for complete files, or true /
// the name of the last layer covered for files like BVLC AlexNet's conv1 kernels.
type Partial string

// UnmarshalJSON accepts a boolean or a layer name.
func (p *Partial) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*p = Partial(s)
		return nil
	}
	var ok bool
	if err := json.Unmarshal(b, &ok); err != nil {
		return fmt.Errorf("partial must be a boolean or a layer name, got %s", b)
	}
	if ok {
		*p = "true"
	} else {
		*p = ""
	}
	return nil
}

// IsPartial reports whether the file covers only the first layers of its network.
func (e Entry) IsPartial() bool { return e.Partial != "" && e.Partial != "false" }

// Trained reports whether the file holds real, trained weights.
func (e Entry) Trained() bool { return e.Kind == "trained" }

// Label is a short human name for a choice list.
func (e Entry) Label() string {
	kind := e.Kind
	if e.IsPartial() {
		kind += ", first layers only"
	}
	return fmt.Sprintf("%s · %s · %s (%s)", e.Arch, e.Precision, kind, humanBytes(e.Bytes))
}

// Manifest is the parsed manifest.json.
type Manifest struct {
	Weights []Entry `json:"weights"`
}

// maxManifest bounds the manifest: it lists a handful of files.
const maxManifest = 1 << 20

// ParseManifest reads manifest.json with clear errors.
func ParseManifest(data []byte) (*Manifest, error) {
	if len(data) > maxManifest {
		return nil, fmt.Errorf("manifest.json of %d bytes is larger than the %d allowed", len(data), maxManifest)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("manifest.json is not valid: %v", err)
	}
	for i, e := range m.Weights {
		if e.File == "" || e.Arch == "" {
			return nil, fmt.Errorf("manifest.json entry %d has no file or arch", i)
		}
		if strings.Contains(e.File, "..") || strings.HasPrefix(e.File, "/") || strings.Contains(e.File, "://") {
			return nil, fmt.Errorf("manifest.json entry %d: file %q must be a plain name in the weights folder", i, e.File)
		}
	}
	return &m, nil
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
	return p
}

// Choice is the weights the app loads.
type Choice struct {
	URL     string
	SHA256  string // "" when unknown (a weights URL given by hand)
	Entry   Entry  // the manifest entry, when there is one
	Fixture bool
	// Note says why these weights and not the usual ones ("" when they are the usual).
	Note string
}

// ChooseWeights picks the weights to load: the URL parameter when given, else the manifest's
// best entry for the requested architecture (trained before fixture, complete before
// partial, f32 before int8 unless precision says otherwise). base is the weights folder URL.
func ChooseWeights(m *Manifest, p Params, base string) (Choice, error) {
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
	cands := Candidates(m, p.Arch)
	if len(cands) == 0 {
		return Choice{}, fmt.Errorf("no weights for %q in the manifest (it has: %s)", p.Arch, strings.Join(archs(m), ", "))
	}
	best := cands[0]
	note := ""
	want := p.Precision
	if want == "" && p.DeviceMemoryGB > 0 && p.DeviceMemoryGB <= LowMemoryGB && best.Precision == "f32" && best.Bytes > largeWeights {
		want = "int8"
		note = fmt.Sprintf("this device reports %g GB of memory", p.DeviceMemoryGB)
	}
	if want != "" {
		for _, e := range cands {
			if e.Precision == want && e.Trained() == best.Trained() && e.IsPartial() == best.IsPartial() {
				if note != "" {
					note = fmt.Sprintf("int8 weights (%s instead of %s): %s; ?precision=f32 loads the float32 ones", humanBytes(e.Bytes), humanBytes(best.Bytes), note)
				}
				best = e
				break
			}
		}
	}
	if best.Precision != want {
		note = ""
	}
	return choiceOf(best, base, note), nil
}

func choiceOf(e Entry, base, note string) Choice {
	return Choice{URL: strings.TrimSuffix(base, "/") + "/" + e.File, SHA256: e.SHA256, Entry: e, Fixture: !e.Trained(), Note: note}
}

// OnOutOfMemory is the weights to try when loading c failed for want of memory (msg is the
// engine's error): the same network's int8 file when c was a float32 file the visitor did
// not ask for by precision, and a note saying so; ok=false otherwise.
func OnOutOfMemory(m *Manifest, p Params, c Choice, msg, base string) (Choice, bool) {
	low := strings.ToLower(msg)
	if m == nil || p.Precision != "" || p.Weights != "" || c.Entry.Precision != "f32" ||
		!(strings.Contains(low, "out of memory") || strings.Contains(low, "memory access out of bounds") ||
			strings.Contains(low, "could not allocate") || strings.Contains(low, "allocation failed") ||
			strings.Contains(low, "rangeerror")) {
		return Choice{}, false
	}
	for _, e := range Candidates(m, c.Entry.Arch) {
		if e.Precision == "int8" && e.Trained() == c.Entry.Trained() && e.IsPartial() == c.Entry.IsPartial() {
			return choiceOf(e, base, fmt.Sprintf("int8 weights (%s): the float32 ones (%s) did not fit in this tab's memory", humanBytes(e.Bytes), humanBytes(c.Entry.Bytes))), true
		}
	}
	return Choice{}, false
}

// Candidates lists the manifest's entries for arch ("" for any), best first.
func Candidates(m *Manifest, arch string) []Entry {
	var out []Entry
	for _, e := range m.Weights {
		if arch == "" || e.Arch == arch {
			out = append(out, e)
		}
	}
	rank := func(e Entry) int {
		r := 0
		if !e.Trained() {
			r += 4
		}
		if e.IsPartial() {
			r += 2
		}
		if e.Precision != "f32" {
			r++
		}
		return r
	}
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i]) < rank(out[j]) })
	return out
}

func archs(m *Manifest) []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range m.Weights {
		if !seen[e.Arch] {
			seen[e.Arch] = true
			out = append(out, e.Arch)
		}
	}
	return out
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
