package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"slices"
	"strconv"
	"time"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/engine/featurevis"
	"github.com/alexlens/alexlens/engine/imagenet"
	"github.com/alexlens/alexlens/engine/preprocess"
	"github.com/alexlens/alexlens/gallery"
	"github.com/alexlens/alexlens/gallery/atlas"
	"github.com/alexlens/alexlens/wasm/protocol"
)

// Look is the engine side of the "look inside" views: a gallery of embedded images for the
// loaded weights, and the questions asked of it (neighbours, directions, the atlas,
// top-activating patches) plus feature visualization. It uses the same gallery and engine
// code as the CLI (`alexlens index`, `alexlens neighbors`), on the session's CPU backend, so
// the browser's embeddings and neighbours equal the CLI's. Not safe for concurrent use.
type Look struct {
	s *Session
	g *gallery.Gallery
	// crops keeps the network's view (the resized, centre-cropped RGB input) of images
	// embedded in this session, for top-activating patches; images without one (from a
	// gallery file, or beyond MaxCrops) are seen through their thumbnails.
	crops map[int][]byte
	// header is the gallery header for the loaded model, computed once per model: the
	// weights fingerprint hashes every parameter.
	model  *engine.Model
	header gallery.Header
	// atlas is the last map laid out, for its icons; classMap the class layout, kept while
	// the model is the same (t-SNE of 1000 classes takes seconds), so that a new grid for a
	// new zoom level is instant; icons the icons drawn so far, by map, cell and settings.
	atlas      *laidOut
	galleryMap *galleryLayout
	classMap   *classLayout
	icons      map[iconKey]protocol.AtlasIcon
	maps       int // layouts made so far: each layout's id, the icon cache's key
}

// laidOut is an atlas on the page: its cells, and the gallery it was made of (nil for the
// class atlas) with its size then, since Add grows the same gallery.
type laidOut struct {
	id     int
	g      *gallery.Gallery
	n      int
	grid   int
	method string
	cells  []gallery.Cell
}

// galleryLayout is the last gallery layout, kept while the gallery, its size and the
// layout's settings are the same: a new grid for a new zoom level is then instant.
type galleryLayout struct {
	g    *gallery.Gallery
	n    int
	key  layoutKey
	id   int
	pts  []gallery.Point
	took time.Duration
}

type classLayout struct {
	model *engine.Model
	key   layoutKey
	id    int
	pts   []gallery.Point
	took  time.Duration // the layout's own time, reported for every grid cut from it
}

// layoutKey is what a kept layout was made with: a request asking otherwise gets a new one.
type layoutKey struct {
	method     string
	perplexity float64
	iterations int
}

func layoutKeyOf(r protocol.LookRequest) layoutKey {
	return layoutKey{r.Method, r.Perplexity, r.Iterations}
}

type iconKey struct {
	mapID, grid, row, col, size, steps int
	seed                               int64
}

// maxIcons bounds the icon cache: 4096 icons of 64 px are 64 MB.
const maxIcons = 4096

// Gallery defaults for images embedded in the browser: the CLI's own (int8, 64 px).
const (
	BrowserEncoding = gallery.Int8
	BrowserThumb    = 64
	// MaxCrops bounds the full-resolution crops kept for top-activating patches
	// (InputSize² x 3 bytes each: 150 KB for 224).
	MaxCrops = 512
)

// NewLook returns the look-inside state of session s.
func NewLook(s *Session) *Look { return &Look{s: s, crops: map[int][]byte{}} }

// ErrCancelled ends a request the page cancelled.
var ErrCancelled = errors.New("cancelled")

// Header describes the embeddings the loaded model gives (architecture, layer, weights
// fingerprint). The first call after a load hashes the weights.
func (l *Look) Header() (gallery.Header, error) {
	m := l.s.model
	if m == nil {
		return gallery.Header{}, ErrNoModel
	}
	if m.Partial != "" {
		return gallery.Header{}, fmt.Errorf("these %s weights stop at %s: a gallery needs the network up to %s", m.Arch.Title, m.Partial, m.Arch.Embedding)
	}
	if l.model != m {
		fp, err := l.s.Fingerprint()
		if err != nil {
			return gallery.Header{}, err
		}
		h, err := gallery.HeaderWith(m, fp, "", BrowserEncoding, BrowserThumb, l.s.info.Title)
		if err != nil {
			return gallery.Header{}, err
		}
		l.model, l.header = m, h
		if l.g != nil && l.g.Header.Compatible(h) != nil {
			l.g, l.crops = nil, map[int][]byte{} // another network's gallery is not this one's
		}
	}
	return l.header, nil
}

// Fingerprint identifies the loaded weights (the key the worker stores galleries under).
func (l *Look) Fingerprint() (string, error) {
	h, err := l.Header()
	return h.Weights.SHA256, err
}

// gallery returns the current gallery, making an empty one for the loaded model if needed.
func (l *Look) gallery() (*gallery.Gallery, error) {
	h, err := l.Header()
	if err != nil {
		return nil, err
	}
	if l.g == nil {
		if l.g, err = gallery.New(h); err != nil {
			return nil, err
		}
		l.crops = map[int][]byte{}
	}
	return l.g, nil
}

// Info describes the gallery; with items it lists every item with its thumbnail.
func (l *Look) Info(items bool) (*protocol.GalleryInfo, error) {
	g, err := l.gallery()
	if err != nil {
		return nil, err
	}
	h := g.Header
	info := &protocol.GalleryInfo{Arch: h.Arch, Layer: h.Layer, Pooling: h.Pooling, Dim: h.Dim,
		Encoding: string(h.Encoding), Thumb: h.Thumb, Count: g.Len(), Fixture: h.Weights.Fixture}
	if items {
		info.Items = make([]protocol.GalleryItem, 0, g.Len())
		for i := range g.Items {
			info.Items = append(info.Items, itemInfo(g, i))
		}
	}
	return info, nil
}

func itemInfo(g *gallery.Gallery, i int) protocol.GalleryItem {
	it := g.Items[i]
	return protocol.GalleryItem{Index: i, Name: it.Name, Class: it.Class, Label: it.Label, Thumb: it.Thumb}
}

// Load reads a gallery file. It must hold this model's embeddings; a file that is corrupt,
// foreign or made with other weights is refused with the reason and the current gallery is
// left untouched. With appendTo its items (those whose names are new) join the current
// gallery, otherwise it replaces it. It returns the items added.
func (l *Look) Load(data []byte, appendTo bool) ([]protocol.GalleryItem, error) {
	h, err := l.Header()
	if err != nil {
		return nil, err
	}
	in, err := gallery.Decode(data)
	if err != nil {
		return nil, err
	}
	if err := in.Header.Compatible(h); err != nil {
		return nil, err
	}
	if !appendTo || l.g == nil || l.g.Len() == 0 {
		l.g, l.crops = in, map[int][]byte{}
		var added []protocol.GalleryItem
		for i := range in.Items {
			added = append(added, itemInfo(in, i))
		}
		return added, nil
	}
	// Appending re-encodes into the current gallery's encoding; check everything first so
	// a failure half-way cannot leave a half-merged gallery.
	merged, err := gallery.New(l.g.Header)
	if err != nil {
		return nil, err
	}
	if l.g.Header.Thumb != in.Header.Thumb {
		return nil, fmt.Errorf("gallery: the file's thumbnails are %d px, the gallery's %d px: cannot merge", in.Header.Thumb, l.g.Header.Thumb)
	}
	var buf []float32
	for i, it := range l.g.Items {
		if err := merged.Add(it, l.g.Embedding(i, buf)); err != nil {
			return nil, err
		}
	}
	var added []protocol.GalleryItem
	for i, it := range in.Items {
		if merged.Find(it.Name) >= 0 {
			continue
		}
		if err := merged.Add(it, in.Embedding(i, buf)); err != nil {
			return nil, err
		}
		added = append(added, itemInfo(merged, merged.Len()-1))
	}
	l.g = merged
	return added, nil
}

// Add embeds an image file and adds it to the gallery under name. A name already in the
// gallery is refused, so dropping the same folder twice does not double its images.
func (l *Look) Add(data []byte, name string) (*protocol.GalleryItem, error) {
	g, err := l.gallery()
	if err != nil {
		return nil, err
	}
	if g.Find(name) >= 0 {
		return nil, fmt.Errorf("%s is already in the gallery", name)
	}
	m := l.s.model
	img, err := l.s.codecs.DecodeImage(data)
	if err != nil {
		return nil, err
	}
	x := l.s.codecs.ImageTensor(img, m.Arch.InputSize)
	emb, logits, err := gallery.Embed(m, l.s.backend, x, g.Header, true)
	if err != nil {
		return nil, err
	}
	it := gallery.Item{Name: name, Class: -1}
	if logits != nil {
		top := engine.TopK(engine.Probabilities(logits).Data, 1)[0]
		it.Class, it.Label = top.Index, imagenet.Label(top.Index)
	}
	if g.Header.Thumb > 0 {
		if it.Thumb, err = gallery.Thumbnail(img, g.Header.Thumb); err != nil {
			return nil, err
		}
	}
	if err := g.Add(it, emb[0]); err != nil {
		return nil, err
	}
	i := g.Len() - 1
	if len(l.crops) < MaxCrops {
		l.crops[i] = tensorRGB(x)
	}
	info := itemInfo(g, i)
	return &info, nil
}

// Export encodes the gallery as a .alxg file.
func (l *Look) Export() ([]byte, error) {
	g, err := l.gallery()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := g.Encode(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Clear empties the gallery.
func (l *Look) Clear() error {
	h, err := l.Header()
	if err != nil {
		return err
	}
	l.g, err = gallery.New(h)
	l.crops = map[int][]byte{}
	return err
}

// query is item i's embedding, or with i == -1 the last classified image's.
func (l *Look) query(g *gallery.Gallery, i int) ([]float32, error) {
	if i == -1 {
		if l.s.last == nil {
			return nil, errors.New("no image classified yet")
		}
		a := l.s.last.Activations[g.Header.Layer]
		if a == nil {
			return nil, fmt.Errorf("the last forward pass kept no %s activation", g.Header.Layer)
		}
		return embedding(a), nil
	}
	if i < 0 || i >= g.Len() {
		return nil, fmt.Errorf("no item %d: the gallery has %d", i, g.Len())
	}
	return g.Embedding(i, nil), nil
}

func (l *Look) neighbors(g *gallery.Gallery, ns []gallery.Neighbor) []protocol.Neighbor {
	out := make([]protocol.Neighbor, len(ns))
	for j, n := range ns {
		out[j] = protocol.Neighbor{Item: n.Index, Name: g.Items[n.Index].Name, Distance: n.Distance}
	}
	return out
}

// Neighbors finds the k nearest items to item (itself excluded), or to the last classified
// image when item is -1.
func (l *Look) Neighbors(item, k int, metric string) ([]protocol.Neighbor, error) {
	g, err := l.gallery()
	if err != nil {
		return nil, err
	}
	if g.Len() == 0 {
		return nil, errors.New("the gallery is empty: add images first")
	}
	q, err := l.query(g, item)
	if err != nil {
		return nil, err
	}
	opt := gallery.SearchOptions{K: k, Metric: gallery.Metric(metric)}
	if item >= 0 {
		opt.Exclude = func(i int) bool { return i == item }
	}
	res, err := g.Search([][]float32{q}, opt)
	if err != nil {
		return nil, err
	}
	return l.neighbors(g, res[0]), nil
}

// Walk moves item along mean(to) - mean(from) in steps points and finds the neighbours at
// each.
// direction is mean(to) - mean(from) of the gallery items' embeddings.
func direction(g *gallery.Gallery, from, to []int) ([]float32, error) {
	group := func(ids []int) ([][]float32, error) {
		var vs [][]float32
		for _, i := range ids {
			if i < 0 || i >= g.Len() {
				return nil, fmt.Errorf("no item %d: the gallery has %d", i, g.Len())
			}
			vs = append(vs, g.Embedding(i, nil))
		}
		return vs, nil
	}
	a, err := group(from)
	if err != nil {
		return nil, err
	}
	b, err := group(to)
	if err != nil {
		return nil, err
	}
	return gallery.Direction(a, b)
}

// itemsNamed finds the gallery's images by name.
func itemsNamed(g *gallery.Gallery, names []string) ([]int, error) {
	var out []int
	for _, n := range names {
		i := g.Find(n)
		if i < 0 {
			return nil, fmt.Errorf("the direction to add goes through %q, which this browser's gallery does not hold (%d images): add that image to the gallery, or undo the intervention", n, g.Len())
		}
		out = append(out, i)
	}
	return out, nil
}

// NamesDirections says whether edits name gallery images, which needs the stored gallery.
func NamesDirections(edits []protocol.Edit) bool {
	for _, e := range edits {
		if len(e.FromNames)+len(e.ToNames) > 0 {
			return true
		}
	}
	return false
}

// Opened says whether a gallery of the loaded weights is open (added to, read or opened).
func (l *Look) Opened() bool { return l.g != nil && l.model != nil && l.model == l.s.model }

// ResolveEdits turns the interventions that add a gallery direction (From and To items, no
// Vector) into ones that add its vector at the gallery's layer: the Embeddings view's
// directions as interventions. A direction of a layer averaged over positions has one value
// per channel, which is what an added direction is.
func (l *Look) ResolveEdits(edits []protocol.Edit) ([]protocol.Edit, error) {
	out := slices.Clone(edits)
	for i, e := range out {
		if e.Op != "add" || e.Vector != nil {
			continue
		}
		g, err := l.gallery()
		if err != nil {
			return nil, err
		}
		if len(e.FromNames)+len(e.ToNames) > 0 {
			if e.From, err = itemsNamed(g, e.FromNames); err != nil {
				return nil, err
			}
			if e.To, err = itemsNamed(g, e.ToNames); err != nil {
				return nil, err
			}
			e.FromNames, e.ToNames = nil, nil
		}
		if e.Vector, err = direction(g, e.From, e.To); err != nil {
			return nil, fmt.Errorf("the direction to add: %w", err)
		}
		e.Layer, e.From, e.To = g.Header.Layer, nil, nil
		out[i] = e
	}
	return out, nil
}

func (l *Look) Walk(item int, from, to []int, steps, k int, metric string) ([]protocol.WalkStep, error) {
	g, err := l.gallery()
	if err != nil {
		return nil, err
	}
	q, err := l.query(g, item)
	if err != nil {
		return nil, err
	}
	dir, err := direction(g, from, to)
	if err != nil {
		return nil, err
	}
	walk, err := g.Walk(q, dir, steps, gallery.SearchOptions{K: k, Metric: gallery.Metric(metric)})
	if err != nil {
		return nil, err
	}
	out := make([]protocol.WalkStep, len(walk))
	for i, s := range walk {
		out[i] = protocol.WalkStep{T: s.T, Neighbors: l.neighbors(g, s.Neighbors)}
	}
	return out, nil
}

// Atlas lays the gallery out with PCA or t-SNE and reads each grid cell's mean embedding
// as classes through the network's head; with r.Classes it lays out the network's classes
// (the class atlas).
func (l *Look) Atlas(ctx context.Context, r protocol.LookRequest, progress func(protocol.Progress)) (*protocol.Atlas, error) {
	report := func(stage string, done, total int) {
		if progress != nil {
			progress(protocol.Progress{Stage: protocol.StageLook, Layer: stage, Done: int64(done), Total: int64(total)})
		}
	}
	if r.Classes {
		return l.classAtlas(ctx, r, report)
	}
	g, err := l.gallery()
	if err != nil {
		return nil, err
	}
	vecs := g.Vectors()
	if c := l.galleryMap; c == nil || c.g != g || c.n != g.Len() || c.key != layoutKeyOf(r) {
		start := time.Now()
		pts, err := gallery.Layout(ctx, vecs, gallery.LayoutOptions{Method: r.Method, Perplexity: r.Perplexity,
			Iterations: r.Iterations, Progress: report})
		if err != nil {
			return nil, cancelled(ctx, err)
		}
		l.maps++
		l.galleryMap = &galleryLayout{g: g, n: g.Len(), key: layoutKeyOf(r), id: l.maps, pts: pts, took: time.Since(start)}
	}
	pts, took := l.galleryMap.pts, l.galleryMap.took
	classify, err := gallery.HeadClassifier(l.s.model, l.s.backend, g.Header)
	if err != nil {
		classify = nil // cells then list members only; the note is not worth failing for
	}
	cells, err := gallery.GridCells(pts, vecs, r.Grid, classify, topClasses(r))
	if err != nil {
		return nil, err
	}
	l.atlas = &laidOut{id: l.galleryMap.id, g: g, n: g.Len(), grid: r.Grid, method: r.Method, cells: cells}
	return atlasOf(r, pts, cells, took), nil
}

// classAtlas is Atlas for the network's classes.
func (l *Look) classAtlas(ctx context.Context, r protocol.LookRequest, report gallery.Progress) (*protocol.Atlas, error) {
	m := l.s.model
	if m == nil {
		return nil, ErrNoModel
	}
	if c := l.classMap; c == nil || c.model != m || c.key != layoutKeyOf(r) {
		start := time.Now()
		pts, err := atlas.ClassLayout(ctx, m, gallery.LayoutOptions{Method: r.Method, Perplexity: r.Perplexity,
			Iterations: r.Iterations, Progress: report})
		if err != nil {
			return nil, cancelled(ctx, err)
		}
		l.maps++
		l.classMap = &classLayout{model: m, key: layoutKeyOf(r), id: l.maps, pts: pts, took: time.Since(start)}
	}
	cells, err := atlas.ClassCells(l.classMap.pts, r.Grid)
	if err != nil {
		return nil, err
	}
	l.atlas = &laidOut{id: l.classMap.id, grid: r.Grid, method: r.Method, cells: cells}
	at := atlasOf(r, l.classMap.pts, cells, l.classMap.took)
	at.Classes = true
	return at, nil
}

// topClasses is how many classes a cell lists (3 unless the request says).
func topClasses(r protocol.LookRequest) int {
	if r.TopClasses == 0 {
		return 3
	}
	return r.TopClasses
}

// atlasOf is the page's view of a map: the points and each cell's members and top classes.
func atlasOf(r protocol.LookRequest, pts []gallery.Point, cells []gallery.Cell, took time.Duration) *protocol.Atlas {
	topK := topClasses(r)
	at := &protocol.Atlas{Method: r.Method, Grid: r.Grid, Millis: ms(took), X: make([]float64, len(pts)), Y: make([]float64, len(pts))}
	for i, p := range pts {
		at.X[i], at.Y[i] = p.X, p.Y
	}
	for _, c := range cells {
		ac := protocol.AtlasCell{Row: c.Row, Col: c.Col, Members: c.Members}
		for _, t := range c.Top[:min(topK, len(c.Top))] {
			ac.Top = append(ac.Top, protocol.Prediction{Index: t.Index, Label: imagenet.Label(t.Index), Prob: t.Prob})
		}
		at.Cells = append(at.Cells, ac)
	}
	return at
}

// AtlasIcons draws the icons of the cells r.Cells (all when empty) of the last atlas
// (atlas.Icons, or atlas.ClassIcons for the class atlas), reporting each batch's icons as
// they finish, and calling progress without icons after every optimization step (the
// browser's worker yields there to hear a cancel). Icons drawn before for the same map, cell
// and settings come from memory.
func (l *Look) AtlasIcons(ctx context.Context, r protocol.LookRequest, progress func(done, total int, icons []protocol.AtlasIcon)) ([]protocol.AtlasIcon, error) {
	a := l.atlas
	if a == nil {
		return nil, errors.New("lay the gallery out first: icons are drawn for the map's cells")
	}
	if a.g != nil && (a.g != l.g || a.n != a.g.Len()) {
		return nil, errors.New("the gallery changed since the map was laid out: lay it out again")
	}
	if a.g == nil && (l.classMap == nil || l.classMap.model != l.s.model) {
		return nil, errors.New("the network changed since the map was laid out: lay it out again")
	}
	wanted := r.Cells
	if len(wanted) == 0 {
		wanted = make([]int, len(a.cells))
		for i := range wanted {
			wanted[i] = i
		}
	}
	key := func(i int) iconKey {
		c := a.cells[i]
		return iconKey{a.id, a.grid, c.Row, c.Col, r.Size, r.Steps, r.Seed}
	}
	if l.icons == nil || len(l.icons) > maxIcons {
		l.icons = map[iconKey]protocol.AtlasIcon{}
	}
	var all []protocol.AtlasIcon
	var todo []int // indices into a.cells
	for _, i := range wanted {
		if i < 0 || i >= len(a.cells) {
			return nil, fmt.Errorf("the map has %d cells, no cell %d", len(a.cells), i)
		}
		if ic, ok := l.icons[key(i)]; ok {
			ic.Cell = i
			all = append(all, ic)
		} else {
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		return all, nil
	}
	done := 0 // icons of todo drawn so far
	sub := make([]gallery.Cell, len(todo))
	for j, i := range todo {
		sub[j] = a.cells[i]
	}
	opt := atlas.Options{Size: r.Size, Steps: r.Steps, Seed: r.Seed, Grad: l.s.gradOptions(),
		Progress: func(n, total int, icons map[int]*image.RGBA) {
			done = n
			batch := make([]protocol.AtlasIcon, 0, len(icons))
			for j, img := range icons {
				ic := protocol.AtlasIcon{Cell: todo[j], W: img.Rect.Dx(), H: img.Rect.Dy(), RGBA: img.Pix}
				l.icons[key(todo[j])] = ic
				batch = append(batch, ic)
			}
			slices.SortFunc(batch, func(x, y protocol.AtlasIcon) int { return x.Cell - y.Cell })
			all = append(all, batch...)
			if progress != nil {
				progress(n, total, batch)
			}
		}}
	if progress != nil {
		opt.Step = func() { progress(done, len(todo), nil) }
	}
	var err error
	if a.g == nil {
		_, err = atlas.ClassIcons(ctx, l.s.model, sub, opt)
	} else {
		_, err = atlas.Icons(ctx, l.s.model, a.g.Header, sub, opt)
	}
	if err != nil {
		return nil, cancelled(ctx, err)
	}
	slices.SortFunc(all, func(x, y protocol.AtlasIcon) int { return x.Cell - y.Cell })
	return all, nil
}

// AtlasPoster draws the last atlas as a PNG (atlas.Poster), r.PosterCell pixels a cell,
// with the icons drawn so far at r's size, steps and seed; a cell without one stays blank.
func (l *Look) AtlasPoster(r protocol.LookRequest) ([]byte, error) {
	a, icons, err := l.drawn(r, "the poster")
	if err != nil {
		return nil, err
	}
	poster, err := atlas.Poster(a.cells, icons, a.grid, r.PosterCell)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := png.Encode(&b, poster); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// drawn is the last atlas and the icons drawn for it at r's size, steps and seed (nil for a
// cell without one); what names the result, for the errors.
func (l *Look) drawn(r protocol.LookRequest, what string) (*laidOut, []*image.RGBA, error) {
	a := l.atlas
	if a == nil {
		return nil, nil, fmt.Errorf("lay the gallery out first: %s is the map's cells", what)
	}
	icons := make([]*image.RGBA, len(a.cells))
	n := 0
	for i, c := range a.cells {
		if ic, ok := l.icons[iconKey{a.id, a.grid, c.Row, c.Col, r.Size, r.Steps, r.Seed}]; ok {
			icons[i] = &image.RGBA{Pix: ic.RGBA, Stride: 4 * ic.W, Rect: image.Rect(0, 0, ic.W, ic.H)}
			n++
		}
	}
	if n == 0 {
		return nil, nil, errors.New("no icons drawn yet: draw the icons first")
	}
	return a, icons, nil
}

// AtlasFile writes the last atlas, with the icons drawn so far at r's size, steps and seed,
// as an atlas file (gallery/FORMAT.md "Atlas files"), which the embed's atlas view shows.
func (l *Look) AtlasFile(r protocol.LookRequest) ([]byte, error) {
	a, icons, err := l.drawn(r, "the atlas file")
	if err != nil {
		return nil, err
	}
	m := l.s.model
	if m == nil {
		return nil, ErrNoModel
	}
	layout := gallery.AtlasLayout{Grid: a.grid, Method: a.method}
	var h gallery.Header
	cells := a.cells
	member := atlas.MemberName(imagenet.Label)
	if a.g == nil {
		layout.Of, layout.Source = gallery.AtlasOfClasses, "ImageNet classes"
		if h, err = atlas.ClassHeader(m, l.s.info.Title); err != nil {
			return nil, err
		}
		cells = slices.Clone(cells) // the means are the file's; the map's cells stay as they were
		if err := atlas.ClassMeans(m, cells); err != nil {
			return nil, err
		}
	} else {
		g := a.g
		layout.Of, layout.Source, h = gallery.AtlasOfGallery, "a gallery of "+strconv.Itoa(a.n)+" images", g.Header
		member = func(i int) string { return g.Items[i].Name }
	}
	f, err := atlas.File(h, layout, cells, icons, member, imagenet.Label)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := f.Encode(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// ShowAtlas reads an atlas file for display. It needs no model: the file carries its
// icons, cells and classes.
func ShowAtlas(data []byte) (*protocol.ShownAtlas, error) {
	g, err := gallery.Decode(data)
	if err != nil {
		return nil, err
	}
	a := g.Header.Atlas
	if a == nil {
		return nil, fmt.Errorf("this is a gallery of %d %s images, not an atlas file: lay it out in the app's Atlas view (or alexlens atlas --alxg) and save that", g.Len(), g.Header.Arch)
	}
	out := &protocol.ShownAtlas{Arch: g.Header.Arch, Layer: g.Header.Layer, Fixture: g.Header.Weights.Fixture, Weights: g.Header.Weights.Source,
		Grid: a.Grid, Of: a.Of, Method: a.Method, Source: a.Source, Cells: make([]protocol.ShownCell, len(a.Cells))}
	for i, c := range a.Cells {
		sc := protocol.ShownCell{X: c.X, Y: c.Y, Count: c.Count, Members: c.Members, Top: []protocol.Prediction{}, Icon: g.Items[i].Thumb}
		for _, t := range c.Top {
			sc.Top = append(sc.Top, protocol.Prediction{Index: t.Index, Label: t.Label, Prob: t.Prob})
		}
		out.Cells[i] = sc
	}
	return out, nil
}

// Units ranks the gallery's images by channel's largest activation in layer and crops the
// receptive field of the unit where it occurs, scaled to patch x patch pixels.
func (l *Look) Units(ctx context.Context, layer string, channel, k, patch int, progress func(protocol.Progress)) ([]protocol.UnitPatch, error) {
	g, err := l.gallery()
	if err != nil {
		return nil, err
	}
	if g.Len() == 0 {
		return nil, errors.New("the gallery is empty: add images first")
	}
	m := l.s.model
	n := m.Arch.InputSize
	shapes, err := m.Arch.Shapes(n, n)
	if err != nil {
		return nil, err
	}
	sh, ok := shapes[layer]
	if !ok {
		return nil, fmt.Errorf("%s has no layer %q", m.Arch.Title, layer)
	}
	if channel >= sh[1] {
		return nil, fmt.Errorf("%s has channels 0..%d, not %d", layer, sh[1]-1, channel)
	}
	if patch == 0 {
		patch = 96
	}
	var out []protocol.UnitPatch
	for i := range g.Items {
		if err := ctx.Err(); err != nil {
			return nil, cancelled(ctx, err)
		}
		rgb, fromThumb, err := l.pixels(g, i)
		if err != nil {
			continue // an item without pixels has no patch; the others still do
		}
		res, err := m.Forward(rgbTensor(rgb, n), engine.ForwardOptions{Backend: l.s.backend, StopAfter: layer, Keep: func(s string) bool { return s == layer }})
		if err != nil {
			return nil, err
		}
		a := res.Activations[layer]
		y, x, v := 0, 0, float32(0)
		if len(a.Shape) == 4 {
			h, w := a.Shape[2], a.Shape[3]
			plane := a.Data[channel*h*w : (channel+1)*h*w]
			best := 0
			for j, u := range plane {
				if u > plane[best] {
					best = j
				}
			}
			y, x, v = best/w, best%w, plane[best]
		} else {
			v = a.Data[channel]
		}
		rect, err := m.Arch.ReceptiveRect(layer, y, x, n, n)
		if err != nil {
			return nil, err
		}
		p := protocol.UnitPatch{Item: i, Name: g.Items[i].Name, Value: v, Y: y, X: x,
			Rect: [4]int{rect.Min.X, rect.Min.Y, rect.Max.X, rect.Max.Y}, FromThumb: fromThumb}
		p.W, p.H, p.RGBA = cropScaled(rgb, n, rect, patch)
		out = append(out, p)
		if progress != nil {
			progress(protocol.Progress{Stage: protocol.StageLook, Layer: "image", Done: int64(i + 1), Total: int64(g.Len())})
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no image of the gallery has pixels to look at (a gallery file without thumbnails): add images")
	}
	slices.SortStableFunc(out, func(a, b protocol.UnitPatch) int {
		switch {
		case a.Value > b.Value:
			return -1
		case a.Value < b.Value:
			return 1
		}
		return 0
	})
	return out[:min(k, len(out))], nil
}

// pixels is the network's view of item i as InputSize² RGB: the kept crop, or the thumbnail
// put through the same resize and crop.
func (l *Look) pixels(g *gallery.Gallery, i int) ([]byte, bool, error) {
	if c, ok := l.crops[i]; ok {
		return c, false, nil
	}
	th := g.Items[i].Thumb
	if len(th) == 0 {
		return nil, false, errors.New("no thumbnail")
	}
	// A gallery file is untrusted: a small JPEG may claim a huge size. Thumbnails are at
	// most MaxThumbSide square, so anything larger is refused before decoding.
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(th))
	if err != nil {
		return nil, false, err
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > gallery.MaxThumbSide || cfg.Height > gallery.MaxThumbSide {
		return nil, false, fmt.Errorf("thumbnail of %dx%d pixels", cfg.Width, cfg.Height)
	}
	img, err := jpeg.Decode(bytes.NewReader(th))
	if err != nil {
		return nil, false, err
	}
	return tensorRGB(preprocess.Tensor(img, l.s.model.Arch.InputSize)), true, nil
}

// ItemInput is gallery item i as the network sees it (the crop kept when it was added, else
// its thumbnail through the same resize and crop), with that picture and the item's name.
func (l *Look) ItemInput(i int) (*engine.Tensor, image.Image, string, error) {
	if !l.Opened() {
		return nil, nil, "", errors.New("the gallery is not open: show the Embeddings view first")
	}
	if i < 0 || i >= l.g.Len() {
		return nil, nil, "", fmt.Errorf("the gallery has no item %d", i)
	}
	rgb, _, err := l.pixels(l.g, i)
	if err != nil {
		return nil, nil, "", fmt.Errorf("%s: %w", l.g.Items[i].Name, err)
	}
	n := l.s.model.Arch.InputSize
	img := image.NewRGBA(image.Rect(0, 0, n, n))
	for p := range n * n {
		copy(img.Pix[4*p:4*p+3], rgb[3*p:3*p+3])
		img.Pix[4*p+3] = 255
	}
	return rgbTensor(rgb, n), img, l.g.Items[i].Name, nil
}

// tensorRGB undoes the normalization of a 1 x 3 x n x n input.
func tensorRGB(x *engine.Tensor) []byte { return preprocess.Pixels(x, 0).Pix }

// rgbTensor normalizes n x n RGB pixels into a network input, as preprocess does.
func rgbTensor(rgb []byte, n int) *engine.Tensor {
	t := engine.NewTensor(1, 3, n, n)
	plane := n * n
	for c := range 3 {
		for p := range plane {
			t.Data[c*plane+p] = (float32(rgb[3*p+c])/255 - preprocess.Mean[c]) / preprocess.Std[c]
		}
	}
	return t
}

// cropScaled cuts r out of an n x n RGB image and scales it (nearest pixel) so its longer
// side is side pixels, as RGBA.
func cropScaled(rgb []byte, n int, r image.Rectangle, side int) (int, int, []byte) {
	w, h := r.Dx(), r.Dy()
	ow, oh := side, side
	if w > h {
		oh = max(1, side*h/w)
	} else if h > w {
		ow = max(1, side*w/h)
	}
	out := make([]byte, 4*ow*oh)
	for y := range oh {
		sy := r.Min.Y + y*h/oh
		for x := range ow {
			sx := r.Min.X + x*w/ow
			copy(out[4*(y*ow+x):], rgb[3*(sy*n+sx):3*(sy*n+sx)+3])
			out[4*(y*ow+x)+3] = 255
		}
	}
	return ow, oh, out
}

// FeatureVis synthesizes an image for a class logit or a channel's mean, reporting every
// step (with a preview every preview steps).
func (l *Look) FeatureVis(ctx context.Context, r protocol.LookRequest, progress func(protocol.FeatureVisImg)) (*protocol.FeatureVisImg, error) {
	m := l.s.model
	if m == nil {
		return nil, ErrNoModel
	}
	var obj engine.Objective
	switch r.Objective {
	case "class":
		if m.Partial != "" {
			return nil, fmt.Errorf("these weights stop at %s: they have no classes", m.Partial)
		}
		if r.Channel >= m.Arch.Classes {
			return nil, fmt.Errorf("class %d outside 0..%d", r.Channel, m.Arch.Classes-1)
		}
		obj = engine.ClassLogit(r.Channel)
	case "taught":
		h, err := l.s.Teacher().Trained()
		if err != nil {
			return nil, err
		}
		f, err := h.LogitFunc(r.Channel)
		if err != nil {
			return nil, err
		}
		obj = engine.OfEmbedding(h.Layer, f)
	case "channel":
		obj = engine.ChannelMean(r.Layer, r.Channel)
		obj.PreReLU = true // an unit that is off has no gradient after its ReLU
	default:
		return nil, fmt.Errorf("featurevis: objective must be channel, class or taught, not %q", r.Objective)
	}
	opt := featurevis.Options{Objective: obj, Size: r.Size, Steps: r.Steps, Seed: r.Seed,
		PreviewEvery: r.Preview, Grad: l.s.gradOptions()}
	opt.Progress = func(p featurevis.Progress) {
		if progress == nil {
			return
		}
		f := protocol.FeatureVisImg{Step: p.Step, Steps: p.Steps, Value: p.Value}
		if p.Preview != nil {
			f.W, f.H, f.RGBA = p.Preview.Rect.Dx(), p.Preview.Rect.Dy(), p.Preview.Pix
		}
		progress(f)
	}
	res, err := featurevis.Run(ctx, m, opt)
	if err != nil {
		return nil, cancelled(ctx, err)
	}
	if len(res.Values) == 0 {
		return nil, errors.New("featurevis: no steps taken")
	}
	b := res.Image.Rect
	return &protocol.FeatureVisImg{Step: len(res.Values), Steps: r.Steps, W: b.Dx(), H: b.Dy(), RGBA: res.Image.Pix,
		Values: res.Values, Value: res.Values[len(res.Values)-1], Compute: l.s.gradCompute()}, nil
}

func cancelled(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ErrCancelled
	}
	return err
}
