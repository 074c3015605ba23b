package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/gallery"
	"github.com/alexlens/alexlens/teach"
	"github.com/alexlens/alexlens/teach/project"
	"github.com/alexlens/alexlens/wasm/protocol"
	"github.com/alexlens/alexlens/weights"
	"github.com/alexlens/alexlens/weights/onnx"
)

// Teacher is the Teach view's state in the worker: classes, their photos' embeddings (each
// photo and its mirror image, teach.Augment, as the CLI's `alexlens teach`), and the head
// trained on them. The same photos and seed give the CLI's head.
type Teacher struct {
	s       *Session
	model   *engine.Model // the photos were embedded by this model; another resets them
	layer   string
	classes []string
	photos  []teachPhoto
	nextID  int
	head    *teach.Head // nil until trained, and again after any change to the photos
	// hidden and seed are the settings of the last training or opened project.
	hidden int
	seed   int64
}

type teachPhoto struct {
	id, class int
	name      string
	thumb     []byte
	emb       [][]float32 // the photo's and its mirror image's
}

// Teacher is the session's Teach view state, made on first use.
func (s *Session) Teacher() *Teacher {
	if s.teacher == nil {
		s.teacher = &Teacher{s: s}
	}
	return s.teacher
}

// TeachThumb is the thumbnails' side in pixels.
const TeachThumb = 64

// ready checks that a model is loaded, and forgets the classes and photos of another model.
func (t *Teacher) ready() error {
	m := t.s.model
	if m == nil {
		return ErrNoModel
	}
	if m.Partial != "" {
		return fmt.Errorf("these weights hold only the first layers: teaching needs the whole network")
	}
	if t.model != m { // the page starts its Teach view afresh with new weights too
		t.model, t.classes, t.photos, t.head = m, nil, nil, nil
		if t.layer == "" || !slices.Contains(m.Arch.LayerNames(), t.layer) {
			t.layer = m.Arch.Embedding
		}
	}
	return nil
}

// Reset forgets every class and photo and embeds at layer from now on ("" keeps it).
func (t *Teacher) Reset(layer string) (*protocol.TeachInfo, error) {
	if err := t.ready(); err != nil {
		return nil, err
	}
	if layer != "" {
		if _, _, err := gallery.EmbeddingShape(t.model.Arch, layer); err != nil {
			return nil, err
		}
		t.layer = layer
	}
	t.classes, t.photos, t.head = nil, nil, nil
	return t.Info(), nil
}

// Class adds a class, or removes class i and its photos.
func (t *Teacher) Class(name string, remove bool, i int) (*protocol.TeachInfo, error) {
	if err := t.ready(); err != nil {
		return nil, err
	}
	if remove {
		if i < 0 || i >= len(t.classes) {
			return nil, fmt.Errorf("no class %d: there are %d", i, len(t.classes))
		}
		t.classes = slices.Delete(t.classes, i, i+1)
		t.photos = slices.DeleteFunc(t.photos, func(p teachPhoto) bool { return p.class == i })
		for j := range t.photos {
			if t.photos[j].class > i {
				t.photos[j].class--
			}
		}
		t.head = nil
		return t.Info(), nil
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > project.MaxClassName || !utf8.ValidString(name) {
		return nil, fmt.Errorf("a class needs a name of 1 to %d bytes", project.MaxClassName)
	}
	if slices.Contains(t.classes, name) {
		return nil, fmt.Errorf("there is a class %q already", name)
	}
	if len(t.classes) >= teach.MaxClasses {
		return nil, fmt.Errorf("at most %d classes", teach.MaxClasses)
	}
	t.classes = append(t.classes, name)
	t.head = nil
	return t.Info(), nil
}

// canAdd says why class c cannot take another photo (nil when it can).
func (t *Teacher) canAdd(c int) error {
	if err := t.ready(); err != nil {
		return err
	}
	if c < 0 || c >= len(t.classes) {
		return fmt.Errorf("no class %d: add a class first", c)
	}
	if len(t.photos) >= protocol.MaxTeachPhotos {
		return fmt.Errorf("at most %d photos", protocol.MaxTeachPhotos)
	}
	return nil
}

// Add embeds an image file as a photo of class c.
func (t *Teacher) Add(c int, data []byte, name string) (*protocol.TeachInfo, error) {
	if err := t.canAdd(c); err != nil { // before decoding: a refusal costs nothing
		return nil, err
	}
	img, err := t.s.codecs.DecodeImage(data)
	if err != nil {
		return nil, err
	}
	return t.AddInput(c, t.s.codecs.ImageTensor(img, t.model.Arch.InputSize), img, name)
}

// AddInput adds a photo already preprocessed (x, 1 x 3 x InputSize²), img its picture for
// the thumbnail: a gallery item as the network saw it.
func (t *Teacher) AddInput(c int, x *engine.Tensor, img image.Image, name string) (*protocol.TeachInfo, error) {
	if err := t.canAdd(c); err != nil {
		return nil, err
	}
	emb, err := gallery.EmbedLayer(t.model, t.s.backend, teach.Augment(x), t.layer)
	if err != nil {
		return nil, err
	}
	thumb, err := gallery.Thumbnail(img, TeachThumb)
	if err != nil {
		return nil, err
	}
	t.photos = append(t.photos, teachPhoto{id: t.nextID, class: c, name: name, thumb: thumb, emb: emb})
	t.nextID++
	t.head = nil
	return t.Info(), nil
}

// Remove forgets photo id.
func (t *Teacher) Remove(id int) (*protocol.TeachInfo, error) {
	n := len(t.photos)
	t.photos = slices.DeleteFunc(t.photos, func(p teachPhoto) bool { return p.id == id })
	if len(t.photos) == n {
		return nil, fmt.Errorf("no photo %d", id)
	}
	t.head = nil
	return t.Info(), nil
}

// Current is the view's state for the loaded model: empty after other weights were loaded.
func (t *Teacher) Current() (*protocol.TeachInfo, error) {
	if err := t.ready(); err != nil {
		return nil, err
	}
	return t.Info(), nil
}

// Trained is the head trained on the loaded weights, for the views that read a taught class.
func (t *Teacher) Trained() (*teach.Head, error) {
	if t.head == nil || t.model != t.s.model {
		return nil, errors.New("no taught classes: train a head in the Teach view first")
	}
	return t.head, nil
}

// Info lists the classes and photos.
func (t *Teacher) Info() *protocol.TeachInfo {
	info := &protocol.TeachInfo{Layer: t.layer, Trained: t.head != nil, Hidden: t.hidden, Seed: t.seed, Classes: []protocol.TeachClass{}}
	if t.model != nil {
		_, info.Dim, _ = gallery.EmbeddingShape(t.model.Arch, t.layer)
	}
	for _, name := range t.classes {
		info.Classes = append(info.Classes, protocol.TeachClass{Name: name, Photos: []protocol.TeachPhoto{}})
	}
	for _, p := range t.photos {
		info.Classes[p.class].Photos = append(info.Classes[p.class].Photos, protocol.TeachPhoto{ID: p.id, Name: p.name, Thumb: p.thumb})
	}
	return info
}

// Train trains a head on the photos, reporting each epoch.
func (t *Teacher) Train(ctx context.Context, r protocol.TeachRequest, progress func(protocol.TeachEpoch)) (*protocol.TeachReport, error) {
	if err := t.ready(); err != nil {
		return nil, err
	}
	var examples []teach.Example
	var photoOf []int // example -> photo id
	for _, p := range t.photos {
		for _, e := range p.emb {
			examples = append(examples, teach.Example{Embedding: e, Class: p.class, Source: p.id})
			photoOf = append(photoOf, p.id)
		}
	}
	start := time.Now()
	head, rep, err := teach.Train(ctx, examples, t.classes, teach.Options{Hidden: r.Hidden, Epochs: r.Epochs, Seed: r.Seed,
		Progress: func(e teach.Epoch) {
			if progress != nil {
				progress(epochOf(e))
			}
		}})
	if err != nil {
		return nil, err
	}
	head.Arch, head.Layer = t.model.Arch.Name, t.layer // WeightsSHA256: on export (seconds of hashing)
	t.head, t.hidden, t.seed = head, r.Hidden, r.Seed
	out := &protocol.TeachReport{Best: rep.Best, Held: len(rep.Held), Accuracy: -1, KNNAccuracy: -1, Millis: ms(time.Since(start))}
	for _, e := range rep.Epochs {
		out.Epochs = append(out.Epochs, epochOf(e))
	}
	if ev := rep.Evaluation; ev != nil {
		out.Accuracy, out.PerClass, out.Confusion = ev.Accuracy, ev.PerClass, ev.Confusion
		for _, m := range ev.Misclassified {
			out.Misclassified = append(out.Misclassified, protocol.TeachMiss{Photo: photoOf[m.Example], Predicted: m.Predicted})
		}
		if knn, err := teach.NewKNN(examples, rep.Train, len(t.classes), 5); err == nil {
			if kev, err := teach.Evaluate(knn, examples, rep.Held, len(t.classes)); err == nil {
				out.KNNAccuracy = kev.Accuracy
			}
		}
	}
	return out, nil
}

func epochOf(e teach.Epoch) protocol.TeachEpoch {
	nan := func(v float64) float64 {
		if math.IsNaN(v) {
			return -1
		}
		return v
	}
	return protocol.TeachEpoch{Epoch: e.Epoch, TrainLoss: e.TrainLoss, TrainAcc: e.TrainAcc, HeldLoss: nan(e.HeldLoss), HeldAcc: nan(e.HeldAcc)}
}

// Export encodes the trained head as .alxw or ONNX.
func (t *Teacher) Export(format string) ([]byte, error) {
	if t.head == nil || t.model != t.s.model {
		return nil, fmt.Errorf("train a head first")
	}
	fingerprint, err := t.s.Fingerprint()
	if err != nil {
		return nil, err
	}
	t.head.WeightsSHA256 = fingerprint
	var buf bytes.Buffer
	if format == "onnx" {
		err = onnx.WriteHead(&buf, t.head)
	} else {
		err = weights.EncodeHead(&buf, t.head, fmt.Sprintf("AlexLens Teach view: %d photos", len(t.photos)))
	}
	return buf.Bytes(), err
}

// Project is the Teach view's state as a project (teach/project).
func (t *Teacher) Project() (*project.Project, error) {
	if err := t.ready(); err != nil {
		return nil, err
	}
	fingerprint, err := t.s.Fingerprint()
	if err != nil {
		return nil, err
	}
	h, err := gallery.HeaderWith(t.model, fingerprint, t.layer, gallery.F16, TeachThumb, t.s.info.Title)
	if err != nil {
		return nil, err
	}
	p := &project.Project{Header: h, Classes: t.classes, Hidden: t.hidden, Seed: t.seed}
	for _, ph := range t.photos {
		p.Photos = append(p.Photos, project.Photo{Name: ph.name, Class: ph.class, Thumb: ph.thumb, Embeddings: ph.emb})
	}
	if t.head != nil {
		t.head.WeightsSHA256 = fingerprint
		p.Head = t.head
	}
	return p, nil
}

// Save encodes the project as an .alxt file.
func (t *Teacher) Save() ([]byte, error) {
	p, err := t.Project()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := project.Encode(&buf, p); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Open replaces the classes, photos and head with a project file's, which must be of the
// loaded weights; on any error nothing changes.
func (t *Teacher) Open(data []byte) (*protocol.TeachInfo, error) {
	if err := t.ready(); err != nil {
		return nil, err
	}
	p, err := project.Decode(data)
	if err != nil {
		return nil, err
	}
	fingerprint, err := t.s.Fingerprint()
	if err != nil {
		return nil, err
	}
	if h := p.Header; h.Arch != t.model.Arch.Name || h.Weights.SHA256 != fingerprint {
		return nil, fmt.Errorf("this project was made with %s weights %.12s (%s), these are %s weights %.12s: load those weights to open it",
			h.Arch, h.Weights.SHA256, h.Weights.Source, t.model.Arch.Name, fingerprint)
	}
	if len(p.Photos) > protocol.MaxTeachPhotos {
		return nil, fmt.Errorf("the project has %d photos; the Teach view holds at most %d", len(p.Photos), protocol.MaxTeachPhotos)
	}
	photos := make([]teachPhoto, len(p.Photos))
	for i, ph := range p.Photos {
		photos[i] = teachPhoto{id: i, class: ph.Class, name: ph.Name, thumb: ph.Thumb, emb: ph.Embeddings}
	}
	t.layer, t.classes, t.photos, t.nextID, t.head = p.Header.Layer, p.Classes, photos, len(photos), p.Head
	t.hidden, t.seed = p.Hidden, p.Seed
	if t.classes == nil {
		t.classes = []string{}
	}
	return t.Info(), nil
}

// predict is the head's top classes for the session's last pass (whose activations it
// keeps), or nil without a head for this model.
func (t *Teacher) predict(res *engine.Result) []protocol.Prediction {
	if t == nil || t.head == nil || t.model != t.s.model {
		return nil
	}
	return headPredictions(t.head, res)
}
