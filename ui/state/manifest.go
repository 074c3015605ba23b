// Package state is the AlexLens app's state and the decisions behind it (which weights to
// load, which backend to use, what the status line says), kept apart from the Vugu views
// and free of syscall/js so it is tested natively.
package state

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"sort"
	"strings"
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
	Backend string // cpu, webgpu or auto
	// Precision picks between f32 and int8 files of the same network.
	Precision string
	// Threads is the number of engine workers for CPU passes ("" or auto: the worker
	// chooses for the network and the visitor's cores); see ThreadsCount.
	Threads string
}

// ParseParams reads the page's query string.
func ParseParams(rawQuery string) Params {
	q, _ := url.ParseQuery(trimQuery(rawQuery))
	p := Params{Arch: q.Get("arch"), Weights: q.Get("weights"), Backend: strings.ToLower(q.Get("backend")), Precision: q.Get("precision"), Threads: strings.ToLower(q.Get("threads"))}
	if p.Backend == "" {
		p.Backend = "auto"
	}
	return p
}

// Choice is the weights the app loads.
type Choice struct {
	URL     string
	SHA256  string // "" when unknown (a weights URL given by hand)
	Entry   Entry  // the manifest entry, when there is one
	Fixture bool
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
	if p.Precision != "" {
		for _, e := range cands {
			if e.Precision == p.Precision && e.Trained() == best.Trained() && e.IsPartial() == best.IsPartial() {
				best = e
				break
			}
		}
	}
	return Choice{URL: strings.TrimSuffix(base, "/") + "/" + best.File, SHA256: best.SHA256, Entry: best, Fixture: !best.Trained()}, nil
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

// BackendMode turns the backend parameter into the mode the worker gets (cpu, webgpu or
// auto) and a note for a value it does not know. The worker opens WebGPU for webgpu and
// auto and falls back to the CPU by itself, saying why (see App.Loaded).
func BackendMode(requested string) (mode, note string) {
	switch requested {
	case "cpu", "webgpu", "auto":
		return requested, ""
	case "":
		return "auto", ""
	default:
		return "cpu", fmt.Sprintf("unknown backend %q (use cpu, webgpu or auto): running on the CPU", requested)
	}
}

// ComputeNote words the worker's reason for running on the CPU.
func ComputeNote(reason string) string {
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
