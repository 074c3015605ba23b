package protocol

import "fmt"

// Messages of the "look inside" views: a gallery of embedded images kept by the worker (and
// in the worker's IndexedDB), nearest neighbours, directions, the activation atlas,
// top-activating patches per unit, and feature visualization. Their parameters travel in
// Request.Look and their results in Response.Look.

const (
	// OpGalleryOpen makes the worker's gallery the one stored in IndexedDB for the loaded
	// weights (an empty one when none is stored) and describes it.
	OpGalleryOpen Op = "gallery-open"
	// OpGalleryLoad reads a gallery file (.alxg, its bytes beside the JSON). A file that is
	// corrupt or made with other weights is refused and the current gallery stays as it was.
	// With Look.Append its items join the current gallery; otherwise it replaces it.
	OpGalleryLoad Op = "gallery-load"
	// OpGalleryAdd embeds one image file (bytes beside the JSON) named Look.Name and adds it.
	OpGalleryAdd Op = "gallery-add"
	// OpGallerySave writes the gallery to IndexedDB (after a batch of additions).
	OpGallerySave Op = "gallery-save"
	// OpGalleryClear empties the gallery, in memory and in IndexedDB.
	OpGalleryClear Op = "gallery-clear"
	// OpNeighbors finds the Look.K nearest items to item Look.Item, or to the last
	// classified image when Look.Item is -1.
	OpNeighbors Op = "neighbors"
	// OpWalk moves item Look.Item along the direction mean(To) - mean(From) and returns the
	// neighbours at Look.Steps points.
	OpWalk Op = "walk"
	// OpAtlas lays the gallery out in 2-D (Look.Method pca, tsne or umap) and summarizes a
	// Look.Grid x Look.Grid grid of cells by the top classes of their mean embedding; with
	// Look.Classes it lays out the network's classes instead (the class atlas: no gallery).
	OpAtlas Op = "atlas"
	// OpAtlasIcons draws an icon for the cells Look.Cells of the last atlas (all when
	// empty): the feature visualization of the cell's mean activation, or of its classes'
	// mean score (Look.Size, Look.Steps, Look.Seed), many cells to a pass, each batch's
	// icons in a progress message. Icons drawn before come from the worker's cache.
	OpAtlasIcons Op = "atlas-icons"
	// OpAtlasPoster draws the last atlas as one PNG, Look.PosterCell pixels a cell, with the
	// icons drawn so far at Look.Size, Look.Steps and Look.Seed (cells without one blank).
	OpAtlasPoster Op = "atlas-poster"
	// OpAtlasFile writes the last atlas with the icons drawn so far (Look.Size, Look.Steps,
	// Look.Seed) as an atlas file (.alxg, gallery/FORMAT.md "Atlas files") in
	// LookResult.File.
	OpAtlasFile Op = "atlas-file"
	// OpAtlasShow reads an atlas file (bytes beside the JSON) for display, in
	// LookResult.Shown. It needs no weights: the embed's atlas view draws a file made
	// elsewhere.
	OpAtlasShow Op = "atlas-show"
	// OpUnits ranks the gallery's images by the strongest response of channel Look.Channel
	// of layer Look.Layer and crops each one's receptive field around that unit.
	OpUnits Op = "units"
	// OpFeatureVis synthesizes an image that excites a class or a channel by gradient
	// ascent, with previews in its progress messages.
	OpFeatureVis Op = "featurevis"
	// OpCancel stops the running request Look.Target (t-SNE, units, feature visualization):
	// that request then ends with an error saying it was cancelled.
	OpCancel Op = "cancel"
)

// StageLook is the progress stage of the look-inside operations: Done of Total, Layer names
// the step ("pca", "tsne", "neighbours", "umap", "image", "step").
const StageLook Stage = "look"

// Limits on look-inside requests.
const (
	MaxNeighbors     = 1000
	MaxWalkSteps     = 64
	MaxGroup         = 4096
	MaxAtlasGrid     = 64
	MaxTSNEIter      = 5000
	MaxUnitPatches   = 64
	MaxFeatureVisPix = 512
	MaxFeatureVisRun = 4096
)

// LookRequest holds the parameters of the look-inside operations (see each Op).
type LookRequest struct {
	Name   string `json:"name,omitempty"`
	Append bool   `json:"append,omitempty"`

	Item   int    `json:"item"`
	K      int    `json:"k,omitempty"`
	Metric string `json:"metric,omitempty"` // cosine (default) or euclidean

	From  []int `json:"from,omitempty"`
	To    []int `json:"to,omitempty"`
	Steps int   `json:"steps,omitempty"` // walk points; feature visualization steps

	Method     string  `json:"method,omitempty"` // pca, tsne or umap
	Grid       int     `json:"grid,omitempty"`
	Perplexity float64 `json:"perplexity,omitempty"`
	Iterations int     `json:"iterations,omitempty"`

	// OpUnits and OpFeatureVis: the unit. Objective is "channel" (Layer, Channel),
	// "class" (Channel is the class index) or "taught" (Channel is a class of the Teach
	// view's trained head).
	Objective  string `json:"objective,omitempty"`
	Layer      string `json:"layer,omitempty"`
	Channel    int    `json:"channel"`
	Size       int    `json:"size,omitempty"`       // feature visualization image side
	Patch      int    `json:"patch,omitempty"`      // patch side the crops are scaled to
	Seed       int64  `json:"seed,omitempty"`       // feature visualization
	Preview    int    `json:"preview,omitempty"`    // preview every this many steps
	Target     int    `json:"target,omitempty"`     // OpCancel: the request to stop
	TopClasses int    `json:"topClasses,omitempty"` // atlas: classes per cell (default 3)
	Classes    bool   `json:"classes,omitempty"`    // atlas: the class atlas
	Cells      []int  `json:"cells,omitempty"`      // atlas icons: which cells (default all)
	PosterCell int    `json:"posterCell,omitempty"` // atlas poster: pixels a cell
}

// IsLook reports whether op is one of the look-inside operations.
func IsLook(op Op) bool {
	switch op {
	case OpGalleryOpen, OpGalleryLoad, OpGalleryAdd, OpGallerySave, OpGalleryClear, OpNeighbors,
		OpWalk, OpAtlas, OpAtlasIcons, OpAtlasPoster, OpAtlasFile, OpAtlasShow, OpUnits, OpFeatureVis, OpCancel,
		OpExplain, OpKnockOut: // long, so cancellable like the others
		return true
	}
	return false
}

// ValidateLook checks a look-inside request's parameters.
func (r *Request) ValidateLook() error {
	l := r.Look
	if l == nil {
		l = &LookRequest{}
	}
	in := func(name string, v, lo, hi int) error {
		if v < lo || v > hi {
			return fmt.Errorf("%s: %s %d outside %d..%d", r.Op, name, v, lo, hi)
		}
		return nil
	}
	switch r.Op {
	case OpGalleryAdd:
		if l.Name == "" || len(l.Name) > 1024 {
			return fmt.Errorf("gallery-add: the image needs a name of 1..1024 bytes")
		}
	case OpNeighbors, OpWalk:
		if err := in("k", l.K, 1, MaxNeighbors); err != nil {
			return err
		}
		if l.Metric != "" && l.Metric != "cosine" && l.Metric != "euclidean" {
			return fmt.Errorf("%s: metric must be cosine or euclidean, not %q", r.Op, l.Metric)
		}
		if r.Op == OpWalk {
			if err := in("steps", l.Steps, 2, MaxWalkSteps); err != nil {
				return err
			}
			if len(l.From) == 0 || len(l.To) == 0 || len(l.From) > MaxGroup || len(l.To) > MaxGroup {
				return fmt.Errorf("walk: a direction needs 1..%d items at each end", MaxGroup)
			}
		}
	case OpAtlas:
		if l.Method != "pca" && l.Method != "tsne" && l.Method != "umap" {
			return fmt.Errorf("atlas: method must be pca, tsne or umap, not %q", l.Method)
		}
		if err := in("grid", l.Grid, 1, MaxAtlasGrid); err != nil {
			return err
		}
		if err := in("iterations", l.Iterations, 0, MaxTSNEIter); err != nil {
			return err
		}
		if !(l.Perplexity >= 0 && l.Perplexity <= 1000) {
			return fmt.Errorf("atlas: perplexity %v outside 0..1000", l.Perplexity)
		}
	case OpUnits:
		if l.Layer == "" {
			return fmt.Errorf("units: no layer")
		}
		if err := in("k", l.K, 1, MaxUnitPatches); err != nil {
			return err
		}
		if err := in("patch", l.Patch, 0, 256); err != nil {
			return err
		}
	case OpAtlasIcons:
		if err := in("size", l.Size, 16, MaxFeatureVisPix); err != nil {
			return err
		}
		if len(l.Cells) > MaxAtlasGrid*MaxAtlasGrid {
			return fmt.Errorf("atlas-icons: %d cells asked, a map has at most %d", len(l.Cells), MaxAtlasGrid*MaxAtlasGrid)
		}
		if err := in("steps", l.Steps, 1, MaxFeatureVisRun); err != nil {
			return err
		}
	case OpAtlasPoster:
		if err := in("posterCell", l.PosterCell, 16, 512); err != nil {
			return err
		}
	case OpExplain, OpKnockOut:
		if err := r.validateExplain(); err != nil {
			return err
		}
	case OpFeatureVis:
		if l.Objective != "channel" && l.Objective != "class" && l.Objective != "taught" {
			return fmt.Errorf("featurevis: objective must be channel, class or taught, not %q", l.Objective)
		}
		if err := in("size", l.Size, 16, MaxFeatureVisPix); err != nil {
			return err
		}
		if err := in("steps", l.Steps, 1, MaxFeatureVisRun); err != nil {
			return err
		}
		if err := in("preview", l.Preview, 0, MaxFeatureVisRun); err != nil {
			return err
		}
	}
	if l.Channel < 0 {
		return fmt.Errorf("%s: channel %d is negative", r.Op, l.Channel)
	}
	return nil
}

// LookResult carries the results of the look-inside operations.
type LookResult struct {
	Gallery    *GalleryInfo    `json:"gallery,omitempty"`
	Added      []GalleryItem   `json:"added,omitempty"` // items added by this request
	Neighbors  []Neighbor      `json:"neighbors,omitempty"`
	Walk       []WalkStep      `json:"walk,omitempty"`
	Atlas      *Atlas          `json:"atlas,omitempty"`
	Icons      []AtlasIcon     `json:"icons,omitempty"`  // OpAtlasIcons: all (done) or a batch's (progress)
	Poster     []byte          `json:"poster,omitempty"` // OpAtlasPoster: the PNG
	File       []byte          `json:"file,omitempty"`   // OpAtlasFile: the .alxg
	Shown      *ShownAtlas     `json:"shown,omitempty"`  // OpAtlasShow
	Patches    []UnitPatch     `json:"patches,omitempty"`
	FeatureVis *FeatureVisImg  `json:"featurevis,omitempty"`
	Explain    *ExplainResult  `json:"explain,omitempty"`
	KnockOut   *KnockOutResult `json:"knockout,omitempty"`
	Millis     float64         `json:"ms"` // the operation's own time in the worker
	Note       string          `json:"note,omitempty"`
}

// GalleryInfo describes the worker's gallery.
type GalleryInfo struct {
	Arch     string        `json:"arch"`
	Layer    string        `json:"layer"`
	Pooling  string        `json:"pooling"`
	Dim      int           `json:"dim"`
	Encoding string        `json:"encoding"`
	Thumb    int           `json:"thumb"`
	Count    int           `json:"count"`
	Fixture  bool          `json:"fixture"`
	Items    []GalleryItem `json:"items,omitempty"` // every item, on open and load
	Stored   bool          `json:"stored"`          // it came from (or was saved to) IndexedDB
	Bytes    int           `json:"bytes,omitempty"` // the .alxg size when saved or loaded
	// Unstored says why the gallery lives in this tab only ("" when the browser keeps it):
	// IndexedDB refused (a private window), so nothing is read or written for the session.
	Unstored string `json:"unstored,omitempty"`
}

// GalleryItem is one image of the gallery, with its JPEG thumbnail.
type GalleryItem struct {
	Index int    `json:"i"`
	Name  string `json:"name"`
	Class int    `json:"class"`
	Label string `json:"label,omitempty"`
	Thumb []byte `json:"thumb,omitempty"`
}

// Neighbor is one search result.
type Neighbor struct {
	Item     int     `json:"item"`
	Name     string  `json:"name"`
	Distance float32 `json:"distance"`
}

// WalkStep is one point of a walk along a direction.
type WalkStep struct {
	T         float32    `json:"t"`
	Neighbors []Neighbor `json:"neighbors"`
}

// Atlas is a 2-D map of the gallery.
type Atlas struct {
	Method string `json:"method"`
	// Classes: the points are the network's classes (point i is class i) and cells list
	// classes, not gallery items.
	Classes bool        `json:"classes,omitempty"`
	X       []float64   `json:"x"` // item i is at (X[i], Y[i]), scaled to 0..1
	Y       []float64   `json:"y"`
	Grid    int         `json:"grid"`
	Cells   []AtlasCell `json:"cells"`
	Millis  float64     `json:"ms"` // layout time alone
}

// AtlasCell is one non-empty grid cell: its members' mean embedding read as classes.
type AtlasCell struct {
	Row     int          `json:"row"`
	Col     int          `json:"col"`
	Members []int        `json:"members"`
	Top     []Prediction `json:"top,omitempty"`
}

// AtlasIcon is the icon of one atlas cell.
type AtlasIcon struct {
	Cell int    `json:"cell"` // index into Atlas.Cells
	W    int    `json:"w"`
	H    int    `json:"h"`
	RGBA []byte `json:"rgba"`
}

// ShownAtlas is an atlas file as the embed draws it.
type ShownAtlas struct {
	Arch    string      `json:"arch"`
	Layer   string      `json:"layer"`
	Fixture bool        `json:"fixture,omitempty"` // made with untrained weights
	Weights string      `json:"weights"`           // the weights' source, free text
	Grid    int         `json:"grid"`
	Of      string      `json:"of"` // gallery or classes
	Method  string      `json:"method"`
	Source  string      `json:"source,omitempty"`
	Cells   []ShownCell `json:"cells"`
}

// ShownCell is one drawn cell of an atlas file.
type ShownCell struct {
	X       int          `json:"x"`
	Y       int          `json:"y"`
	Count   int          `json:"count"`
	Members []string     `json:"members"`
	Top     []Prediction `json:"top"`
	Icon    []byte       `json:"icon"` // JPEG
}

// UnitPatch is one image's receptive field around the unit that responds most.
type UnitPatch struct {
	Item  int     `json:"item"`
	Name  string  `json:"name"`
	Value float32 `json:"value"` // the channel's largest activation in this image
	Y     int     `json:"y"`     // the unit's position in the layer
	X     int     `json:"x"`
	Rect  [4]int  `json:"rect"` // x0, y0, x1, y1 in the network's input (InputSize square)
	W     int     `json:"w"`
	H     int     `json:"h"`
	RGBA  []byte  `json:"rgba"` // the crop scaled to W x H
	// FromThumb says the pixels came from the gallery's thumbnail (a prepared gallery
	// carries no full images), so the crop is coarser than the network's view.
	FromThumb bool `json:"fromThumb,omitempty"`
}

// FeatureVisImg is a feature visualization image (a preview in progress messages, the
// final one in the done message).
type FeatureVisImg struct {
	Step   int       `json:"step"`
	Steps  int       `json:"steps"`
	Value  float32   `json:"value"`
	W      int       `json:"w"`
	H      int       `json:"h"`
	RGBA   []byte    `json:"rgba,omitempty"`
	Values []float32 `json:"values,omitempty"` // the objective at every step (done only)
	// Compute is where the gradients ran (done only): webgpu when every step ran on the
	// GPU, cpu otherwise.
	Compute Compute `json:"compute,omitempty"`
}
