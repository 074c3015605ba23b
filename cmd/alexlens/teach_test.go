package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/alexlens/alexlens/internal/testenv"
	"github.com/alexlens/alexlens/weights"
)

// textureClasses writes skimage's brick, grass and gravel photos cut into 16 tiles of
// 128 x 128 each: three classes of 16 real, non-overlapping photos, one folder per class.
func textureClasses(t *testing.T) []string {
	t.Helper()
	root := t.TempDir()
	var dirs []string
	for _, name := range []string{"brick", "grass", "gravel"} {
		dir := filepath.Join(root, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, tile := range testenv.TextureTiles(t, name, 16, 128) {
			p := filepath.Join(dir, name+"-"+string(rune('a'+i/4))+string(rune('a'+i%4))+".png")
			if err := os.WriteFile(p, tile, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		dirs = append(dirs, dir)
	}
	return dirs
}

func teachJSON(t *testing.T, args ...string) taught {
	t.Helper()
	out, stderr, err := runCLI(t, append([]string{"teach", "--json"}, args...)...)
	if err != nil {
		t.Fatalf("teach: %v\n%s", err, stderr)
	}
	var r taught
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return r
}

// TestTeachCLI: teach writes a head (and its ONNX) that classify --head reads back with the
// folders' names as labels; the same seed gives the same file; a head taught on other
// weights is refused; explain --head explains a taught class; bad folders get a clear message.
func TestTeachCLI(t *testing.T) {
	dirs := textureClasses(t)
	out := t.TempDir()
	head, head2, onnxPath := filepath.Join(out, "h.alxw"), filepath.Join(out, "h2.alxw"), filepath.Join(out, "h.onnx")
	args := []string{"--arch", "squeezenet1_1", "--weights", "fixture:3", "--seed", "4", "--epochs", "40"}
	r := teachJSON(t, append(args, append([]string{"-o", head, "--onnx", onnxPath}, dirs...)...)...)
	if len(r.Classes) != 3 || r.Classes[1].Class != "grass" || r.Classes[1].Photos != 16 || r.Examples != 96 || r.Dim != 512 || r.Layer != "fire9" || r.Held == 0 {
		t.Errorf("report %+v", r)
	}
	teachJSON(t, append(args, append([]string{"-o", head2}, dirs...)...)...)
	a, _ := os.ReadFile(head)
	b, _ := os.ReadFile(head2)
	if !slices.Equal(a, b) {
		t.Error("the same seed wrote two different heads")
	}
	if _, err := weights.DecodeHead(a); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(onnxPath); err != nil || st.Size() < 512*3*4 {
		t.Errorf("ONNX head: %v", err)
	}
	tile := filepath.Join(dirs[2], "gravel-aa.png")
	o, stderr, err := runCLI(t, "classify", "--arch", "squeezenet1_1", "--weights", "fixture:3", "--head", head, "--json", tile)
	if err != nil {
		t.Fatalf("classify --head: %v\n%s", err, stderr)
	}
	var rows []classified
	if err := json.Unmarshal([]byte(o), &rows); err != nil || len(rows) != 1 || len(rows[0].Top) != 3 {
		t.Fatalf("classify --head: %v %s", err, o)
	}
	for _, p := range rows[0].Top {
		if !slices.Contains([]string{"brick", "grass", "gravel"}, p.Label) {
			t.Errorf("label %q is not one of the taught classes", p.Label)
		}
	}
	// explain --head: the taught class's map, scored as classify --head scores it.
	o, stderr, err = runCLI(t, "explain", "--arch", "squeezenet1_1", "--weights", "fixture:3", "--head", head, "--class", "2", "--json", tile)
	if err != nil {
		t.Fatalf("explain --head: %v\n%s", err, stderr)
	}
	var ex []explained
	if err := json.Unmarshal([]byte(o), &ex); err != nil || len(ex) != 1 {
		t.Fatalf("explain --head: %v %s", err, o)
	}
	for _, p := range rows[0].Top {
		if p.Label == "gravel" && (ex[0].Label != "gravel" || math.Abs(float64(ex[0].Prob-p.Prob)) > 1e-5) {
			t.Errorf("explain --head: %s at %g; classify --head says gravel at %g", ex[0].Label, ex[0].Prob, p.Prob)
		}
	}
	if _, _, err := runCLI(t, "explain", "--arch", "squeezenet1_1", "--weights", "fixture:3", "--head", head, "--class", "3", tile); err == nil {
		t.Error("explain --head --class 3 of 3 classes: no error")
	}
	if _, _, err := runCLI(t, "classify", "--arch", "squeezenet1_1", "--weights", "fixture:9", "--head", head, tile); err == nil || !strings.Contains(err.Error(), "taught on") {
		t.Errorf("a head on other weights: %v", err)
	}
	empty := t.TempDir()
	if _, _, err := runCLI(t, append([]string{"teach", "--arch", "squeezenet1_1", "--weights", "fixture:3", "-o", head}, dirs[0], empty)...); err == nil || !strings.Contains(err.Error(), "has no photos") {
		t.Errorf("an empty folder: %v", err)
	}
	if _, _, err := runCLI(t, "teach", "--arch", "squeezenet1_1", "--weights", "fixture:3", "-o", head, dirs[0]); err == nil || !strings.Contains(err.Error(), "two folders") {
		t.Errorf("one class: %v", err)
	}
}

// TestTeachRealTextures: with the released SqueezeNet, three textures told apart from 16
// photos each, scored on held-out photos never trained on.
func TestTeachRealTextures(t *testing.T) {
	w := testenv.SharedWeight(t, "squeezenet1_1-imagenet.pth")
	dirs := textureClasses(t)
	head := filepath.Join(t.TempDir(), "h.alxw")
	r := teachJSON(t, append([]string{"--arch", "squeezenet1_1", "--weights", w, "--seed", "1", "--holdout", "0.25", "-o", head}, dirs...)...)
	t.Logf("held-out accuracy %.3f on %d examples (k-NN %.3f), %d epochs (best %d), training %.0f ms; misclassified %v",
		r.Accuracy, r.Held, r.KNNAccuracy, r.Epochs, r.Best, r.TrainMs, r.Misclassified)
	if r.Held < 12 || r.Accuracy < 0.9 {
		t.Errorf("held-out accuracy %.3f on %d examples, want at least 0.9 on 12 or more", r.Accuracy, r.Held)
	}
}
