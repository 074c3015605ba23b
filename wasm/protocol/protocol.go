// Package protocol is the message format between the page (the Vugu UI) and the engine
// worker. Both sides are Go, so messages are these structs in JSON; large byte payloads
// (image files, webcam frames) travel beside the JSON as a transferable Uint8Array so they
// are never copied through a string. It has no syscall/js import, so it is tested natively.
package protocol

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Op names what a request asks the worker to do.
type Op string

const (
	// OpLoad fetches (or takes from Cache Storage), verifies and decodes a weights file.
	OpLoad Op = "load"
	// OpClassify decodes image file bytes (JPEG, PNG, GIF) and runs the network.
	OpClassify Op = "classify"
	// OpFrame runs the network on an RGBA frame (webcam) of Width x Height pixels.
	OpFrame Op = "frame"
	// OpMaps renders activation maps of the last forward pass, without running it again.
	OpMaps Op = "maps"
)

// MaxRequestJSON bounds the JSON half of a request: requests are small, and anything larger
// is a bug or an attack, not a reason to allocate.
const MaxRequestJSON = 64 << 10

// Compute is where the network runs: what a page asks for (its backend= parameter: auto,
// webgpu or cpu) and, in answers, what runs (webgpu or cpu).
type Compute string

const (
	// ComputeAuto is WebGPU on a hardware adapter, else the CPU.
	ComputeAuto Compute = "auto"
	// ComputeWebGPU is WebGPU on any adapter, a software one too, else the CPU.
	ComputeWebGPU Compute = "webgpu"
	// ComputeCPU is the CPU: the engine worker's WebAssembly.
	ComputeCPU Compute = "cpu"
)

// ParseCompute reads a backend= parameter, in any case: "" is auto, and a word other than
// the three is an error (with ComputeCPU, where a page then runs).
func ParseCompute(s string) (Compute, error) {
	switch c := Compute(strings.ToLower(s)); c {
	case ComputeAuto, ComputeWebGPU, ComputeCPU:
		return c, nil
	case "":
		return ComputeAuto, nil
	}
	return ComputeCPU, fmt.Errorf("unknown backend %q (use cpu, webgpu or auto)", s)
}

// Request is one message to the worker. Bytes (the image or frame) travel separately.
type Request struct {
	ID int `json:"id"`
	Op Op  `json:"op"`

	// OpLoad: where the weights are and what they must hash to ("" when unknown: the file's
	// own header hashes are still checked by the decoder). Or, instead of URL, SHA256 and
	// Size: the manifest.json to choose from, for Arch ("" for any network) and Precision
	// (the embeds load this way, so that one piece of code chooses: package manifest).
	URL       string `json:"url,omitempty"`
	Manifest  string `json:"manifest,omitempty"`
	Arch      string `json:"arch,omitempty"`
	SHA256    string `json:"sha256,omitempty"`
	Precision string `json:"precision,omitempty"` // f32 or int8; "" keeps the file's own
	// Size is the file's length as the manifest gives it (0: unknown): the worker reads the
	// download into a buffer of that size and refuses one that is longer or ends short.
	Size int64 `json:"size,omitempty"`
	// Compute is where the network runs ("" is auto). webgpu and auto fall back to the CPU
	// when WebGPU is missing or fails; the response says why.
	Compute Compute `json:"compute,omitempty"`
	// Threads is how many threads run the CPU passes (?threads=): the engine worker and
	// kernel workers taking parts of every layer on its shared memory, which needs a
	// cross-origin isolated page. 0 lets the worker choose for the visitor's cores.
	Threads int `json:"threads,omitempty"`

	// OpFrame: the frame's size; its RGBA bytes come beside the JSON.
	Width  int `json:"width,omitempty"`
	Height int `json:"height,omitempty"`

	// OpClassify, OpFrame: send the image's embedding with the result (the embeds'
	// neighbours view; the page does not show it).
	Embedding bool `json:"embedding,omitempty"`

	// OpClassify, OpFrame: score the pass with the head file loaded under this key
	// (OpTeachHead) instead of the Teach view's head.
	Head string `json:"head,omitempty"`

	// OpClassify, OpFrame, OpMaps: the activation maps to render with the result.
	Maps []MapRequest `json:"maps,omitempty"`
	// PixelBytes: the pixels of the answer's maps and of a feature visualization's frames
	// (its progress messages' too) travel beside the JSON, as one transferable buffer
	// (Response.DetachPixels), instead of base64 inside it; the page asks so, because
	// decoding a live webcam's maps from JSON kept its main thread busy, and encoding the
	// frames took 4% of a feature visualization's worker time.
	PixelBytes bool `json:"pixelBytes,omitempty"`
	// Threshold hides activations below this fraction of a map's range (0 shows all).
	Threshold float32 `json:"threshold,omitempty"`

	// The look-inside operations' parameters (look.go).
	Look *LookRequest `json:"look,omitempty"`

	// Edits are the page's interventions (explain.go), applied to every pass this request
	// runs: OpClassify, OpFrame, OpRerun, OpExplain, OpKnockOut.
	Edits []Edit `json:"edits,omitempty"`
	// Explain holds OpExplain's and OpKnockOut's parameters.
	Explain *ExplainRequest `json:"explain,omitempty"`
	// Teach holds the Teach view's parameters (teach.go).
	Teach *TeachRequest `json:"teach,omitempty"`
}

// MapRequest asks for one channel of one layer's activation.
type MapRequest struct {
	Layer   string `json:"layer"`
	Channel int    `json:"channel"`
}

// The worker's own announcements. worker.js sends the last two: the engine is Go, and a Go
// program that has exited cannot speak.
const (
	IDStarted     = 0  // the engine is up and takes requests
	IDStartFailed = -1 // the engine could not start; Error says why
	// IDStopped: the engine stopped after it started (Go's runtime exits on a fatal error,
	// out of memory above all); Error says why. Requests in flight get no answer.
	IDStopped = -2
)

// Kind tells what a response carries.
type Kind string

const (
	KindProgress Kind = "progress" // more messages for this request follow
	KindDone     Kind = "done"     // the last message for this request
	KindError    Kind = "error"    // the request failed; the worker keeps working
)

// Response is one message from the worker. A request gets zero or more progress messages
// and then exactly one done or error message with the same ID. IDs of zero and below are
// the worker's own announcements (IDStarted, IDStartFailed, IDStopped).
type Response struct {
	ID       int             `json:"id"`
	Kind     Kind            `json:"kind"`
	Error    string          `json:"error,omitempty"`
	Progress *Progress       `json:"progress,omitempty"`
	Model    *ModelInfo      `json:"model,omitempty"`
	Result   *Classification `json:"result,omitempty"`
	Maps     []ActivationMap `json:"maps,omitempty"`
	Kernels  *KernelGrid     `json:"kernels,omitempty"`
	Look     *LookResult     `json:"look,omitempty"`  // look-inside results (look.go)
	Teach    *TeachResult    `json:"teach,omitempty"` // the Teach view's (teach.go)
}

// Stage is a step of loading or classifying, for progress display.
type Stage string

const (
	StageDownload Stage = "download" // Done/Total bytes (Total 0 when the size is unknown)
	StageCache    Stage = "cache"    // Done/Total bytes read from Cache Storage
	StageDecode   Stage = "decode"
	StageLayer    Stage = "layer" // Done/Total layers, Layer and Millis of the one just run
)

// Progress reports one step of a long request.
type Progress struct {
	Stage  Stage   `json:"stage"`
	Done   int64   `json:"done"`
	Total  int64   `json:"total"`
	Layer  string  `json:"layer,omitempty"`
	Millis float64 `json:"ms,omitempty"`
	// Note says what happens besides the bytes (a download resumed after a cut).
	Note string `json:"note,omitempty"`
}

// LayerInfo describes one named activation of the loaded network.
type LayerInfo struct {
	Name     string `json:"name"`
	Channels int    `json:"channels"` // 0 for flat (fully connected) layers
	Height   int    `json:"h"`
	Width    int    `json:"w"`
	Features int    `json:"features"` // flat size for fully connected layers
}

// ModelInfo describes loaded weights.
type ModelInfo struct {
	Arch      string `json:"arch"`
	Title     string `json:"title"`
	Precision string `json:"precision"`
	Fixture   bool   `json:"fixture"`
	Partial   string `json:"partial,omitempty"` // last layer the weights cover, if not all
	Params    int    `json:"params"`
	Bytes     int64  `json:"bytes"`
	SHA256    string `json:"sha256"`
	FromCache bool   `json:"fromCache"`
	// CacheNote says why downloaded weights were not kept in Cache Storage ("" when they
	// were, or came from it): storage full or over quota.
	CacheNote string `json:"cacheNote,omitempty"`
	Backend   string `json:"backend"` // the CPU backend's name (fastcpu)
	// Compute is what runs the network: "webgpu" or "cpu"; ComputeNote says why the CPU
	// runs when WebGPU was asked for ("" otherwise).
	Compute     Compute `json:"compute"`
	ComputeNote string  `json:"computeNote,omitempty"`
	// Threads is how many threads run the CPU passes (0 on WebGPU): more than one means
	// kernel workers on the engine worker's shared memory (one copy of the weights).
	Threads int `json:"threads,omitempty"`
	// ThreadsNote says why fewer threads run than were asked for ("" when none).
	ThreadsNote string `json:"threadsNote,omitempty"`
	// Kernel names the kernel the CPU passes run on (engine.KernelName): the generated
	// WebAssembly SIMD module, Go's wasm SIMD tile or the portable Go tile.
	Kernel    string      `json:"kernel,omitempty"`
	InputSize int         `json:"inputSize"`
	Layers    []LayerInfo `json:"layers"`
	// Embedding is the layer whose activation embeds images (fc7; SqueezeNet's fire9).
	Embedding string  `json:"embedding"`
	LoadMs    float64 `json:"loadMs"`
}

// Prediction is one ranked class.
type Prediction struct {
	Index int     `json:"index"`
	Label string  `json:"label"`
	Prob  float32 `json:"prob"`
}

// LayerTime is how long one layer of the forward pass took.
type LayerTime struct {
	Layer  string  `json:"layer"`
	Millis float64 `json:"ms"`
}

// Classification is the outcome of one forward pass.
type Classification struct {
	Top []Prediction `json:"top"` // best first; empty for partial weights
	// PreprocessMs covers decoding and resizing; ForwardMs the network alone.
	PreprocessMs float64     `json:"preprocessMs"`
	ForwardMs    float64     `json:"forwardMs"`
	Layers       []LayerTime `json:"layers"`
	// Embedding is the architecture's embedding layer (fc7, or SqueezeNet's fire9 averaged
	// over space), for similarity views; sent when the request asks for it.
	EmbeddingLayer string    `json:"embeddingLayer,omitempty"`
	Embedding      []float32 `json:"embedding,omitempty"`
	Backend        string    `json:"backend"`
	// Compute and ComputeNote as in ModelInfo, after this pass: WebGPU failing mid-run
	// finishes the pass on the CPU and stays there.
	Compute     Compute `json:"compute"`
	ComputeNote string  `json:"computeNote,omitempty"`
	// Threads is how many threads ran this pass on the CPU (0 on WebGPU).
	Threads int `json:"threads,omitempty"`
	// Intervened says the pass ran with the request's interventions (Request.Edits), on the
	// CPU whatever the page's backend: WebGPU has not failed.
	Intervened bool `json:"intervened,omitempty"`
	// Taught are the Teach view's head's classes for this image, best first, when a head is
	// trained (teach.go).
	Taught      []Prediction `json:"taught,omitempty"`
	ImageWidth  int          `json:"imageWidth"`
	ImageHeight int          `json:"imageHeight"`
}

// ActivationMap is one channel of one layer, scaled to 0..255 grayscale, row-major.
type ActivationMap struct {
	Layer   string  `json:"layer"`
	Channel int     `json:"channel"`
	Width   int     `json:"w"`
	Height  int     `json:"h"`
	Pix     []byte  `json:"pix,omitempty"` // Width*Height bytes; beside the JSON when detached
	Min     float32 `json:"min"`
	Max     float32 `json:"max"`
}

// KernelGrid holds the first layer's kernels as small RGBA images (each KW x KH, scaled
// symmetrically around zero so mid-gray is a zero weight), ready for putImageData.
type KernelGrid struct {
	Count  int      `json:"count"`
	Width  int      `json:"w"`
	Height int      `json:"h"`
	RGBA   [][]byte `json:"rgba"`
}

// DecodeRequest parses the JSON half of a request, with a clear error for anything that is
// not a well-formed request.
func DecodeRequest(data []byte) (*Request, error) {
	if len(data) > MaxRequestJSON {
		return nil, fmt.Errorf("request of %d bytes is larger than the %d allowed", len(data), MaxRequestJSON)
	}
	var r Request
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("malformed request: %v", err)
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

// MaxFrameSide bounds webcam frames: no camera sends more, and it caps the allocation.
const MaxFrameSide = 8192

// MaxThreads bounds the threads one page may ask for: past a few, the kernel pool's rounds
// cost more than they share.
const MaxThreads = 8

// DefaultThreads is how many threads run the CPU passes of a page that does not ask
// (Threads 0) on a device with the given cores (navigator.hardwareConcurrency): one fewer
// than the cores, so that the page's own thread keeps one to draw on, and at most four
// (more was not measured: the machine here has two cores).
func DefaultThreads(cores int) int { return max(1, min(cores-1, 4)) }

// MaxMaps bounds how many activation maps one request may ask for.
const MaxMaps = 64

// Validate checks the fields an operation needs.
func (r *Request) Validate() error {
	switch r.Op {
	case OpLoad:
		if (r.URL == "") == (r.Manifest == "") {
			return fmt.Errorf("load: give a weights URL or a manifest URL, one of them")
		}
		if r.Precision != "" && r.Precision != "f32" && r.Precision != "int8" {
			return fmt.Errorf("load: precision must be f32 or int8, not %q", r.Precision)
		}
		if _, err := ParseCompute(string(r.Compute)); err != nil {
			return fmt.Errorf("load: %v", err)
		}
		if r.Size < 0 {
			return fmt.Errorf("load: size must not be negative, not %d", r.Size)
		}
		if r.Threads < 0 || r.Threads > MaxThreads {
			return fmt.Errorf("load: threads must be 1..%d (or 0 for automatic), not %d", MaxThreads, r.Threads)
		}
	case OpFrame:
		if r.Width < 1 || r.Height < 1 || r.Width > MaxFrameSide || r.Height > MaxFrameSide {
			return fmt.Errorf("frame: size %dx%d outside 1..%d", r.Width, r.Height, MaxFrameSide)
		}
	case OpClassify, OpMaps, OpRerun:
	default:
		if IsLook(r.Op) {
			return r.ValidateLook()
		}
		if IsTeach(r.Op) {
			return r.validateTeach()
		}
		return fmt.Errorf("unknown operation %q", r.Op)
	}
	if err := validateEdits(r.Op, r.Edits); err != nil {
		return err
	}
	if len(r.Maps) > MaxMaps {
		return fmt.Errorf("%d activation maps asked for, at most %d at once", len(r.Maps), MaxMaps)
	}
	if r.Threshold < 0 || r.Threshold > 1 || r.Threshold != r.Threshold {
		return fmt.Errorf("threshold %v outside 0..1", r.Threshold)
	}
	return nil
}

// DetachPixels takes the pixels out of r, the maps' in order and then a feature
// visualization frame's, as one buffer to send beside the JSON; AttachPixels puts them back.
func (r *Response) DetachPixels() []byte {
	fv := r.featureVis()
	n := 0
	for _, m := range r.Maps {
		n += len(m.Pix)
	}
	if fv != nil {
		n += len(fv.RGBA)
	}
	buf := make([]byte, 0, n)
	for i := range r.Maps {
		buf = append(buf, r.Maps[i].Pix...)
		r.Maps[i].Pix = nil
	}
	if fv != nil {
		buf = append(buf, fv.RGBA...)
		fv.RGBA = nil
	}
	return buf
}

// AttachPixels gives r's maps their pixels from buf, Width*Height bytes each in order, then
// a feature visualization frame its W*H*4, and says what is wrong when buf does not hold
// exactly that.
func (r *Response) AttachPixels(buf []byte) error {
	off := 0
	for i, m := range r.Maps {
		if m.Width < 0 || m.Height < 0 || m.Width > len(buf) || m.Height > len(buf) || m.Width*m.Height > len(buf)-off {
			return fmt.Errorf("map %d (%s channel %d, %dx%d) runs past the %d bytes of pixels", i, m.Layer, m.Channel, m.Width, m.Height, len(buf))
		}
		n := m.Width * m.Height
		r.Maps[i].Pix = buf[off : off+n : off+n]
		off += n
	}
	if fv := r.featureVis(); fv != nil && off < len(buf) {
		if fv.W <= 0 || fv.H <= 0 || fv.W > len(buf) || fv.H > len(buf) || 4*fv.W*fv.H != len(buf)-off {
			return fmt.Errorf("a %dx%d feature visualization frame in %d bytes of pixels", fv.W, fv.H, len(buf)-off)
		}
		fv.RGBA = buf[off:len(buf):len(buf)]
		off = len(buf)
	}
	if off != len(buf) {
		return fmt.Errorf("%d bytes of pixels for maps of %d", len(buf), off)
	}
	return nil
}

// featureVis is r's feature visualization frame, if it has one.
func (r *Response) featureVis() *FeatureVisImg {
	if r.Look == nil {
		return nil
	}
	return r.Look.FeatureVis
}
