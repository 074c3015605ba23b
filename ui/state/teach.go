package state

import (
	"fmt"
	"strings"

	"github.com/alexlens/alexlens/wasm/protocol"
)

// Teach is the Teach view's state: the classes and photos as the worker holds them, the
// training's progress and its report.
type Teach struct {
	Info    *protocol.TeachInfo
	Report  *protocol.TeachReport
	Epochs  []protocol.TeachEpoch // of the training under way or last done
	Busy    string                // "adding", "training", ... ("" idle)
	Done    int
	Total   int
	Running int // the cancellable request under way
	Error   string

	// Sent says what the last "add to a class" from the Embeddings view added.
	Sent string

	// OpenedFor is the weights (file SHA-256) whose kept project the view reopened.
	OpenedFor string

	// Target is the class pasted and dropped photos go to (out of range: the last class).
	Target int
	// Camera says the view's camera is on; Recording that RecordClass's hold-to-record
	// button is held.
	Camera      bool
	Recording   bool
	RecordClass int

	Layer    string // the layer chosen before any class exists ("": the network's own)
	NewClass string // the class name field
	Hidden   int    // hidden ReLU units of the head
	Seed     int64
}

// NewTeach starts empty: a softmax head, seed 0.
func NewTeach() *Teach { return &Teach{} }

// Classes are the worker's classes (none before the first answer).
func (t *Teach) Classes() []protocol.TeachClass {
	if t.Info == nil {
		return nil
	}
	return t.Info.Classes
}

// TargetClass is the class pasted and dropped photos go to: the one marked, else the last;
// -1 when there is no class.
func (t *Teach) TargetClass() int {
	n := len(t.Classes())
	if t.Target >= 0 && t.Target < n {
		return t.Target
	}
	return n - 1
}

// CanTrain says whether there is something to tell apart: two classes or more, each with a
// photo.
func (t *Teach) CanTrain() bool {
	cs := t.Classes()
	if len(cs) < 2 {
		return false
	}
	for _, c := range cs {
		if len(c.Photos) == 0 {
			return false
		}
	}
	return true
}

// TrainHint says what training needs, or what it will do.
func (t *Teach) TrainHint() string {
	cs := t.Classes()
	switch {
	case len(cs) < 2:
		return "Add at least two classes, then photos of each."
	case !t.CanTrain():
		for _, c := range cs {
			if len(c.Photos) == 0 {
				return fmt.Sprintf("Class %q has no photos yet.", c.Name)
			}
		}
	}
	return "Trains on each photo and its mirror image; 15% of each class's photos (when it has four or more) are held out to measure accuracy and to stop early."
}

// Applied applies a finished Teach request.
func (t *Teach) Applied(r protocol.Response) {
	t.Busy, t.Running = "", 0
	if r.Kind == protocol.KindError {
		t.Error = r.Error
		return
	}
	t.Error = ""
	if r.Teach == nil {
		return
	}
	if r.Teach.Info != nil {
		t.Info = r.Teach.Info
		if !t.Info.Trained {
			t.Report = nil // the photos changed since: the report is of another set
		}
	}
	if r.Teach.Report != nil {
		t.Report, t.Epochs = r.Teach.Report, r.Teach.Report.Epochs
	}
}

// Opened takes the training settings of a reopened project (from a file or kept in the
// browser), after Applied took its classes, photos and head.
func (t *Teach) Opened(info *protocol.TeachInfo) {
	if info == nil {
		return
	}
	t.Report, t.Epochs = nil, nil // of the view's last training, not of this project's
	t.Hidden, t.Seed = info.Hidden, info.Seed
}

// Trained says a head is trained on the classes as they are.
func (t *Teach) Trained() bool { return t.Info != nil && t.Info.Trained }

// Unstored says why the classes and photos are not kept in this browser ("" when they are).
func (t *Teach) Unstored() string {
	if t.Info == nil {
		return ""
	}
	return t.Info.Unstored
}

// ReportText sums the report up.
func (t *Teach) ReportText() string {
	r := t.Report
	if r == nil {
		return ""
	}
	s := fmt.Sprintf("Trained in %.0f ms, %d epochs (kept epoch %d).", r.Millis, len(r.Epochs), r.Best)
	if r.Accuracy < 0 {
		return s + " No photos were held out (a class needs four or more): no accuracy to report."
	}
	return s + fmt.Sprintf(" Held-out accuracy %.0f%% on %d examples (k-nearest neighbours, no training: %.0f%%).", 100*r.Accuracy, r.Held, 100*r.KNNAccuracy)
}

// PhotoName is the name of photo id ("" when gone).
func (t *Teach) PhotoName(id int) string {
	for _, c := range t.Classes() {
		for _, p := range c.Photos {
			if p.ID == id {
				return p.Name
			}
		}
	}
	return ""
}

// ClassName is class i's name.
func (t *Teach) ClassName(i int) string {
	if cs := t.Classes(); i >= 0 && i < len(cs) {
		return cs[i].Name
	}
	return fmt.Sprintf("class %d", i)
}

// CheckName refuses an empty or duplicate class name.
func (t *Teach) CheckName(name string) error {
	name = strings.TrimSpace(name)
	if name == "" {
		return fmt.Errorf("give the class a name")
	}
	if len(name) > protocol.MaxTeachClassName {
		return fmt.Errorf("a class name has at most %d bytes", protocol.MaxTeachClassName)
	}
	for _, c := range t.Classes() {
		if c.Name == name {
			return fmt.Errorf("there is a class %q already", name)
		}
	}
	return nil
}
