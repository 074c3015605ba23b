package protocol

import "fmt"

// Messages of the Teach view: classes the reader names and fills with photos, each photo
// embedded by the worker at the chosen layer (with its mirror image), a head trained on them
// in the worker, its report, and the head's predictions beside ImageNet's top-5 afterwards
// (Classification.Taught). They run like the look-inside operations: one at a time, with
// progress, cancellable.

const (
	// OpTeachReset empties the classes and photos and makes Teach.Layer the embedding's
	// layer ("" keeps the current one; the network's own by default).
	OpTeachReset Op = "teach-reset"
	// OpTeachClass adds a class named Teach.Name, or with Teach.Remove removes class
	// Teach.Class and its photos.
	OpTeachClass Op = "teach-class"
	// OpTeachAdd embeds one image file (bytes beside the JSON), named Teach.Name, as a
	// photo of class Teach.Class.
	OpTeachAdd Op = "teach-add"
	// OpTeachAddItems embeds the Embeddings view's gallery items Teach.Items as photos of
	// class Teach.Class (each as the network saw it when it was added, else its thumbnail).
	OpTeachAddItems Op = "teach-add-items"
	// OpTeachHead loads a head file (.alxw, bytes beside the JSON) made for the loaded
	// weights and keeps it under its SHA-256 (TeachResult.Head.Key): a classify request
	// that names the key (Request.Head) gets its classes as Classification.Taught. The
	// embeds' saved heads; the Teach view's own head needs none of this.
	OpTeachHead Op = "teach-head"
	// OpTeachRemove removes photo Teach.Photo.
	OpTeachRemove Op = "teach-remove"
	// OpTeachTrain trains a head (Teach.Hidden, Teach.Seed, Teach.Epochs) on the photos,
	// an epoch's numbers in each progress message.
	OpTeachTrain Op = "teach-train"
	// OpTeachExport encodes the trained head: Teach.Format "alxw" or "onnx".
	OpTeachExport Op = "teach-export"
	// OpTeachSave encodes the whole project (classes, photos' embeddings and thumbnails,
	// the head) as an .alxt file (teach/project).
	OpTeachSave Op = "teach-save"
	// OpTeachOpen replaces the classes, photos and head with those of a project file
	// (bytes beside the JSON) made with the loaded weights.
	OpTeachOpen Op = "teach-open"
	// OpTeachRestore reopens the project the worker keeps in this browser for the loaded
	// weights (IndexedDB; the worker stores it after every change), if any.
	OpTeachRestore Op = "teach-restore"
)

// IsTeach reports whether op is one of the Teach view's operations.
func IsTeach(op Op) bool {
	switch op {
	case OpTeachReset, OpTeachClass, OpTeachAdd, OpTeachAddItems, OpTeachHead, OpTeachRemove, OpTeachTrain, OpTeachExport, OpTeachSave, OpTeachOpen, OpTeachRestore:
		return true
	}
	return false
}

// TeachRequest holds the Teach view's parameters.
type TeachRequest struct {
	Layer  string `json:"layer,omitempty"`
	Name   string `json:"name,omitempty"`
	Class  int    `json:"class"`
	Remove bool   `json:"remove,omitempty"`
	Photo  int    `json:"photo"`
	Hidden int    `json:"hidden,omitempty"`
	Epochs int    `json:"epochs,omitempty"`
	Seed   int64  `json:"seed,omitempty"`
	Format string `json:"format,omitempty"`
	Items  []int  `json:"items,omitempty"` // gallery items (OpTeachAddItems)
}

// Limits on Teach requests.
const (
	MaxTeachClassName = 64
	MaxTeachPhotos    = 2000
	MaxTeachHidden    = 1024
	MaxTeachEpochs    = 2000
)

// TeachResult is what a Teach request answers: the classes and photos as they now are,
// and what training or export produced.
type TeachResult struct {
	Info   *TeachInfo   `json:"info,omitempty"`
	Epoch  *TeachEpoch  `json:"epoch,omitempty"`  // progress of training
	Report *TeachReport `json:"report,omitempty"` // training's end
	Head   *HeadInfo    `json:"head,omitempty"`   // a head file loaded (OpTeachHead)
	File   []byte       `json:"file,omitempty"`   // export
}

// TeachInfo lists the classes and their photos.
type TeachInfo struct {
	Layer   string       `json:"layer"`
	Dim     int          `json:"dim"`
	Classes []TeachClass `json:"classes"`
	Trained bool         `json:"trained"` // a head is trained on these classes and photos
	// Hidden and Seed are the training settings of the last training or opened project.
	Hidden int   `json:"hidden"`
	Seed   int64 `json:"seed"`
	// Unstored says why the project is not kept in this browser ("" when it is, or when
	// there is nothing to keep).
	Unstored string `json:"unstored,omitempty"`
}

// TeachClass is one class and its photos.
type TeachClass struct {
	Name   string       `json:"name"`
	Photos []TeachPhoto `json:"photos"`
}

// TeachPhoto is one photo: its id, name and JPEG thumbnail.
type TeachPhoto struct {
	ID    int    `json:"id"`
	Name  string `json:"name"`
	Thumb []byte `json:"thumb,omitempty"`
}

// TeachEpoch is one epoch's loss and accuracy (held-out ones NaN-free: -1 when none).
type TeachEpoch struct {
	Epoch     int     `json:"epoch"`
	TrainLoss float64 `json:"trainLoss"`
	TrainAcc  float64 `json:"trainAcc"`
	HeldLoss  float64 `json:"heldLoss"`
	HeldAcc   float64 `json:"heldAcc"`
}

// TeachReport judges a trained head on the photos held out.
type TeachReport struct {
	Epochs []TeachEpoch `json:"epochs"`
	Best   int          `json:"best"`
	Held   int          `json:"held"` // held-out examples (photos and their mirror images)
	// Accuracy and KNNAccuracy on the held-out examples (-1 when none was held out).
	Accuracy    float64  `json:"accuracy"`
	KNNAccuracy float64  `json:"knnAccuracy"`
	PerClass    [][2]int `json:"perClass"`  // {correct, total} per class
	Confusion   [][]int  `json:"confusion"` // [true][predicted]
	// Misclassified photos (ids) and the class each was taken for.
	Misclassified []TeachMiss `json:"misclassified"`
	Millis        float64     `json:"ms"`
}

// TeachMiss is one held-out photo taken for another class.
type TeachMiss struct {
	Photo     int `json:"photo"`
	Predicted int `json:"predicted"`
}

// validateTeach checks a Teach request's parameters.
func (r *Request) validateTeach() error {
	t := r.Teach
	if t == nil {
		return fmt.Errorf("%s: no parameters", r.Op)
	}
	switch r.Op {
	case OpTeachClass:
		if !t.Remove && (t.Name == "" || len(t.Name) > MaxTeachClassName) {
			return fmt.Errorf("a class needs a name of 1 to %d bytes", MaxTeachClassName)
		}
	case OpTeachAddItems:
		if len(t.Items) == 0 || len(t.Items) > MaxTeachPhotos {
			return fmt.Errorf("%s: give 1 to %d gallery items", r.Op, MaxTeachPhotos)
		}
	case OpTeachAdd:
		if len(t.Name) > 1024 {
			return fmt.Errorf("teach-add: a photo's name is at most 1024 bytes")
		}
	case OpTeachTrain:
		if t.Hidden < 0 || t.Hidden > MaxTeachHidden || t.Epochs < 0 || t.Epochs > MaxTeachEpochs {
			return fmt.Errorf("teach-train: hidden units 0 to %d, epochs 0 to %d", MaxTeachHidden, MaxTeachEpochs)
		}
	case OpTeachExport:
		if t.Format != "alxw" && t.Format != "onnx" {
			return fmt.Errorf("teach-export: format alxw or onnx, not %q", t.Format)
		}
	}
	return nil
}

// HeadInfo describes a head file loaded for the weights (OpTeachHead).
type HeadInfo struct {
	Key     string   `json:"key"` // the file's SHA-256, for Request.Head
	Layer   string   `json:"layer"`
	Classes []string `json:"classes"`
}
