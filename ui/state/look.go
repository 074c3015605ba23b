package state

import (
	"fmt"
	"math"
	"strings"

	"github.com/alexlens/alexlens/wasm/protocol"
)

// View is one page of the app, picked in the navigation and kept in the URL's #fragment.
type View string

const (
	ViewClassify   View = "classify"
	ViewLayers     View = "layers"
	ViewEmbeddings View = "embeddings"
	ViewAtlas      View = "atlas"
	ViewUnits      View = "units"
	ViewTeach      View = "teach"
)

// Views lists the navigation in order, with the labels shown.
var Views = []struct {
	View  View
	Label string
}{
	{ViewClassify, "Classify"}, {ViewLayers, "Layers"}, {ViewEmbeddings, "Embeddings"},
	{ViewAtlas, "Atlas"}, {ViewUnits, "Units"}, {ViewTeach, "Teach"},
}

// ParseView reads a view from a URL fragment ("#atlas"); anything else is Classify.
func ParseView(fragment string) View {
	v := View(strings.TrimPrefix(fragment, "#"))
	for _, x := range Views {
		if x.View == v {
			return v
		}
	}
	return ViewClassify
}

// NoQuery and LastImage are the values of Look.Query besides a gallery item's index.
const (
	NoQuery   = -2
	LastImage = -1
)

// Look is the state of the look-inside views: the gallery as the worker holds it, the query
// and its neighbours, a direction walk, the atlas, a unit's top patches and a feature
// visualization.
type Look struct {
	View View

	// OpenedFor is the weights (sha256) the gallery was opened for: new weights, new gallery.
	OpenedFor string
	Gallery   *protocol.GalleryInfo // without items; those are Items
	Items     []protocol.GalleryItem
	Busy      string // what the worker is doing for these views ("" idle)
	Done      int    // progress of Busy
	Total     int
	Error     string
	Note      string
	// ConfirmClear is set by a first click on Clear: the second click empties the gallery.
	ConfirmClear bool

	Query     int // an item index, LastImage or NoQuery
	Metric    string
	K         int
	Neighbors []protocol.Neighbor
	SearchMs  float64

	From, To []int // direction groups
	Walk     []protocol.WalkStep

	AtlasMethod string
	Atlas       *protocol.Atlas
	Zoom        float64 // atlas canvas scale, 1 = fit
	// Icons are the cell icons drawn so far for the map IconsFor (index into its Cells); a
	// new map, or none, has none until asked.
	Icons    map[int]protocol.AtlasIcon
	IconsFor *protocol.Atlas
	// IconsOn: the reader asked for icons, so cells coming into view (the class atlas's
	// finer grids as one zooms in, panning) get theirs as they appear.
	IconsOn bool
	// PosterBytes is the size of the last poster saved (0: none yet).
	PosterBytes int
	// AtlasFileBytes is the size of the last atlas file saved (0: none yet).
	AtlasFileBytes int
	// AtlasFilter keeps only the cells that vote for a class (Distill's class atlases): a
	// gallery cell whose top classes, or a class cell whose classes, name it. "" keeps all.
	AtlasFilter string
	PanX, PanY  float64 // atlas centre offset in map units (0..1 space)

	UnitLayer   string
	UnitChannel int
	Patches     []protocol.UnitPatch
	UnitsMs     float64

	FVObjective string // channel, class or taught (a class of the Teach view's head)
	FVTaught    int    // the taught class visualized
	FVClass     int
	FVSteps     int
	FV          *protocol.FeatureVisImg
	Running     int // the running cancellable request (atlas, units, featurevis), 0: none
	FVMs        float64
}

// NewLook starts on Classify with cosine distance and 8 neighbours.
func NewLook() *Look {
	return &Look{View: ViewClassify, Query: NoQuery, Metric: "cosine", K: 8, AtlasMethod: "pca", Zoom: 1,
		FVObjective: "channel", FVSteps: 64, UnitLayer: "", FVClass: 281}
}

// UnitParam is the unit= URL parameter of a unit: its permalink.
func UnitParam(layer string, channel int) string { return fmt.Sprintf("%s:%d", layer, channel) }

// ShowsGrid says whether the classify grid (image, top-5, kernels, maps) is on screen.
func (l *Look) ShowsGrid() bool { return l.View == ViewClassify || l.View == ViewLayers }

// Opened applies a gallery-open or a replacing gallery-load: the worker's whole gallery.
func (l *Look) Opened(info *protocol.GalleryInfo, weights string) {
	l.OpenedFor = weights
	l.Items = info.Items
	g := *info
	g.Items = nil
	l.Gallery = &g
	l.Query, l.Neighbors, l.Walk, l.From, l.To, l.Atlas, l.Patches = NoQuery, nil, nil, nil, nil, nil, nil
}

// Added applies items added to the gallery (images or an appended file).
func (l *Look) Added(items []protocol.GalleryItem, info *protocol.GalleryInfo) {
	l.Items = append(l.Items, items...)
	if info != nil {
		g := *info
		g.Items = nil
		l.Gallery = &g
	}
	l.Atlas = nil // the map no longer shows every item
}

// ClassAtlas is the AtlasMethod of the class atlas: the network's classes laid out by
// their classifier weights (t-SNE), which needs no gallery.
const ClassAtlas = "classes"

// AtlasRequest is the request for the map the view asks for, the gallery's or the class
// atlas, with the grid the zoom asks for (AtlasGrid), so that zooming in shows finer groups.
func (l *Look) AtlasRequest() protocol.Request {
	if l.AtlasMethod == ClassAtlas {
		return protocol.Request{Op: protocol.OpAtlas, Look: &protocol.LookRequest{Classes: true, Method: "tsne", Grid: l.AtlasGrid()}}
	}
	return protocol.Request{Op: protocol.OpAtlas, Look: &protocol.LookRequest{Method: l.AtlasMethod, Grid: l.AtlasGrid()}}
}

// AtlasGrid is the grid at the current zoom: at zoom 1, 8 cells a side for the classes and
// for a gallery a few images a cell (2 to 8 a side); it grows with the zoom, up to the
// protocol's limit.
func (l *Look) AtlasGrid() int {
	base := 8
	if l.AtlasMethod != ClassAtlas {
		base = max(2, min(8, int(math.Round(math.Sqrt(float64(len(l.Items))/2)))))
	}
	return max(base, min(protocol.MaxAtlasGrid, int(math.Round(float64(base)*l.Zoom))))
}

// Regrid says the atlas on screen has another grid than the zoom asks for.
func (l *Look) Regrid() bool {
	if l.Atlas == nil || l.Atlas.Classes != (l.AtlasMethod == ClassAtlas) {
		return false // the map on screen is of another kind than the one chosen: Lay out makes it
	}
	return l.Atlas.Grid != l.AtlasGrid()
}

// AddIcons records cell icons of the atlas on screen.
func (l *Look) AddIcons(icons []protocol.AtlasIcon) {
	if l.Atlas == nil {
		return
	}
	if l.IconsFor != l.Atlas {
		l.Icons, l.IconsFor = map[int]protocol.AtlasIcon{}, l.Atlas
	}
	for _, ic := range icons {
		l.Icons[ic.Cell] = ic
	}
}

// Icon returns the icon of cell i of the atlas on screen, if it has been drawn.
func (l *Look) Icon(i int) (protocol.AtlasIcon, bool) {
	if l.Atlas == nil || l.IconsFor != l.Atlas {
		return protocol.AtlasIcon{}, false
	}
	ic, ok := l.Icons[i]
	return ic, ok
}

// IconCount is how many cells of the atlas on screen have their icon.
func (l *Look) IconCount() int {
	if l.Atlas == nil || l.IconsFor != l.Atlas {
		return 0
	}
	return len(l.Icons)
}

// Item returns item i, or a zero item with Index -1 when there is none.
func (l *Look) Item(i int) protocol.GalleryItem {
	if i >= 0 && i < len(l.Items) {
		return l.Items[i]
	}
	return protocol.GalleryItem{Index: -1}
}

// QueryName names the query for the views.
func (l *Look) QueryName() string {
	switch l.Query {
	case NoQuery:
		return ""
	case LastImage:
		return "the last classified image"
	}
	return l.Item(l.Query).Name
}

// ToggleGroup adds item i to (or removes it from) a direction group; to picks the "to" end.
func (l *Look) ToggleGroup(i int, to bool) {
	g := &l.From
	if to {
		g = &l.To
	}
	for j, x := range *g {
		if x == i {
			*g = append((*g)[:j:j], (*g)[j+1:]...)
			return
		}
	}
	*g = append(*g, i)
}

// InGroup says whether item i is in the from (false) or to (true) group.
func (l *Look) InGroup(i int, to bool) bool {
	g := l.From
	if to {
		g = l.To
	}
	for _, x := range g {
		if x == i {
			return true
		}
	}
	return false
}

// Progressed applies a progress message of a look-inside request.
func (l *Look) Progressed(p protocol.Progress) {
	l.Done, l.Total = int(p.Done), int(p.Total)
	if p.Layer != "" && p.Stage == protocol.StageLook {
		switch p.Layer {
		case "image":
			l.Note = fmt.Sprintf("looking at image %d of %d", p.Done, p.Total)
		case "step":
			l.Note = fmt.Sprintf("step %d of %d", p.Done, p.Total)
		default:
			l.Note = fmt.Sprintf("%s: %d of %d", p.Layer, p.Done, p.Total)
		}
	}
}

// Fraction is Busy's progress, 0..1, or -1 when unknown.
func (l *Look) Fraction() float64 {
	if l.Total <= 0 {
		return -1
	}
	return float64(l.Done) / float64(l.Total)
}

// Finish ends Busy with an error message ("" for success).
func (l *Look) Finish(err string) {
	l.Busy, l.Done, l.Total, l.Note = "", 0, 0, ""
	l.Error = err
}

// ZoomBy multiplies the atlas zoom by f, kept within 1..32.
func (l *Look) ZoomBy(f float64) { l.Zoom = max(1, min(32, l.Zoom*f)) }

// PanBy moves the atlas view by (dx, dy) map units, kept so the map stays in view.
func (l *Look) PanBy(dx, dy float64) {
	lim := 0.5 - 0.5/l.Zoom
	l.PanX = max(-lim, min(lim, l.PanX+dx))
	l.PanY = max(-lim, min(lim, l.PanY+dy))
}

// CellShown says whether cell c of the atlas on screen passes AtlasFilter; label names a
// class (the class atlas's cells list class indices).
func (l *Look) CellShown(c protocol.AtlasCell, label func(int) string) bool {
	f := strings.ToLower(strings.TrimSpace(l.AtlasFilter))
	if f == "" {
		return true
	}
	if l.Atlas != nil && l.Atlas.Classes {
		for _, k := range c.Members {
			if strings.Contains(strings.ToLower(label(k)), f) {
				return true
			}
		}
		return false
	}
	for _, t := range c.Top {
		if strings.Contains(strings.ToLower(t.Label), f) {
			return true
		}
	}
	return false
}

// CellTitle is what a grid cell shows: its top classes with their probabilities.
func CellTitle(c protocol.AtlasCell) string {
	var parts []string
	for _, t := range c.Top {
		parts = append(parts, fmt.Sprintf("%s %.0f%%", t.Label, 100*t.Prob))
	}
	return strings.Join(parts, " · ")
}
