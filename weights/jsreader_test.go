package weights

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/alexlens/alexlens/engine"
)

type jsSummary struct {
	Arch, Precision, Partial string
	Fixture                  bool
	Tensors                  []struct {
		Name  string
		DType string `json:"dtype"`
		Shape []int
		Sum   float64
		First []float64
	}
}

// runJSReader runs testdata/alxw-reader.mjs, the reader written from FORMAT.md alone.
func runJSReader(t *testing.T, args ...string) (*jsSummary, error) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed: the JavaScript reader check needs Node.js")
	}
	var stderr bytes.Buffer
	cmd := exec.Command(node, append([]string{"testdata/alxw-reader.mjs"}, args...)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, &jsError{strings.TrimSpace(stderr.String())}
	}
	var s jsSummary
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("reader output %q: %v", out, err)
	}
	return &s, nil
}

type jsError struct{ msg string }

func (e *jsError) Error() string { return e.msg }

// TestJSReaderAgrees checks FORMAT.md against the code: a JavaScript reader written from the
// document decodes Go's files to the same values, whole and one layer at a time, and refuses
// damaged ones.
func TestJSReaderAgrees(t *testing.T) {
	dir := t.TempDir()
	for _, prec := range []engine.Precision{engine.F32, engine.Int8} {
		m := Fixture(engine.SqueezeNet11, 11).WithPrecision(prec)
		path, err := WriteModel(dir, m, "js reader")
		if err != nil {
			t.Fatal(err)
		}
		for _, layer := range []string{"", "conv1", "fire5", "conv10"} {
			args := []string{path}
			if layer != "" {
				args = append(args, layer)
			}
			s, err := runJSReader(t, args...)
			if err != nil {
				t.Fatalf("%s %s: %v", prec, layer, err)
			}
			if s.Arch != "squeezenet1_1" || s.Precision != string(prec) || !s.Fixture || s.Partial != "" {
				t.Errorf("summary %+v", s)
			}
			want := 0
			for _, p := range engine.SqueezeNet11.Params() {
				if layer == "" || p.Layer == layer {
					want++
				}
			}
			if len(s.Tensors) != want {
				t.Fatalf("%s %q: reader decoded %d tensors, want %d", prec, layer, len(s.Tensors), want)
			}
			for _, js := range s.Tensors {
				w := m.Params[js.Name]
				if w == nil || !slices.Equal(js.Shape, w.Shape) {
					t.Fatalf("%s: shape %v", js.Name, js.Shape)
				}
				// The same float32 values summed in the same order in float64: exactly equal.
				var sum float64
				buf := make([]float32, w.RowLen())
				var first []float64
				for o := 0; o < w.Rows(); o++ {
					for _, v := range w.RowF32(o, buf) {
						sum += float64(v)
						if len(first) < 4 {
							first = append(first, float64(v))
						}
					}
				}
				if js.Sum != sum {
					t.Errorf("%s %s: JavaScript sum %v, Go %v", prec, js.Name, js.Sum, sum)
				}
				for i := range first {
					if js.First[i] != first[i] {
						t.Errorf("%s %s[%d]: JavaScript %v, Go %v", prec, js.Name, i, js.First[i], first[i])
					}
				}
			}
		}
	}

	// Damage: the JavaScript reader refuses what Go refuses.
	good, err := os.ReadFile(filepath.Join(dir, mustGlob(t, dir, "*-f32-*.alxw")))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := ReadHeader(bytes.NewReader(good))
	flipped := bytes.Clone(good)
	flipped[h.Tensors[3].Offset+5] ^= 1
	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"flipped": {flipped, "SHA-256"},
		"cut":     {good[:len(good)-64], "header says"},
		"magic":   {append([]byte("ALXV"), good[4:]...), "magic"},
	} {
		p := filepath.Join(dir, name+".bin")
		os.WriteFile(p, c.data, 0o644)
		if _, err := Decode(c.data); err == nil {
			t.Errorf("%s: Go decoded it", name)
		}
		if _, err := runJSReader(t, p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: JavaScript reader said %v, want %q", name, err, c.want)
		}
	}
}

func mustGlob(t *testing.T, dir, pattern string) string {
	m, _ := filepath.Glob(filepath.Join(dir, pattern))
	if len(m) != 1 {
		t.Fatalf("%s in %s: %v", pattern, dir, m)
	}
	return filepath.Base(m[0])
}
