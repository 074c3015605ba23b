package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestExplainCLI: every method writes its raw map at its documented resolution and the
// coloured overlay at the network's input size; several images get numbered files.
func TestExplainCLI(t *testing.T) {
	dir := t.TempDir()
	imgs := photos(t, "chelsea.png", "coffee.png")
	for _, c := range []struct {
		method     string
		extra      []string
		rows, cols int
	}{
		{"gradcam", nil, 13, 13}, // SqueezeNet's fire9
		{"gradcam", []string{"--layer", "fire5"}, 27, 27},
		{"saliency", nil, 224, 224},
		{"smoothgrad", []string{"--samples", "3"}, 224, 224},
		{"occlusion", []string{"--patch", "64", "--stride", "56"}, 4, 4},
		{"ig", []string{"--samples", "4"}, 224, 224},
	} {
		t.Run(c.method+strings.Join(c.extra, ""), func(t *testing.T) {
			png, raw := filepath.Join(dir, c.method+".png"), filepath.Join(dir, c.method+".f32")
			args := append([]string{"explain", "--arch", "squeezenet1_1", "--weights", "fixture", "--method", c.method, "--class", "3",
				"--json", "-o", png, "--raw", raw}, c.extra...)
			out, stderr, err := runCLI(t, append(args, imgs...)...)
			if err != nil {
				t.Fatalf("explain: %v\n%s", err, stderr)
			}
			if !strings.Contains(stderr, "UNTRAINED") {
				t.Errorf("fixture weights not announced: %q", stderr)
			}
			var rows []explained
			if err := json.Unmarshal([]byte(out), &rows); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if len(rows) != 2 {
				t.Fatalf("%d rows for 2 images", len(rows))
			}
			for i, r := range rows {
				if r.Class != 3 || r.Label != "tiger shark" || r.Rows != c.rows || r.Cols != c.cols || r.Error != "" {
					t.Errorf("image %d: %+v, want class 3 (tiger shark), a %dx%d map", i, r, c.rows, c.cols)
				}
				if (c.method == "ig") != (r.Completeness != nil) {
					t.Errorf("completeness %+v for %s", r.Completeness, c.method)
				}
				b, err := os.ReadFile(r.Raw)
				if err != nil || len(b) != 4*c.rows*c.cols {
					t.Errorf("raw map %s: %d bytes (%v), want %d", r.Raw, len(b), err, 4*c.rows*c.cols)
				}
				if img := readPNG(t, r.PNG); img.Bounds().Dx() != 224 || img.Bounds().Dy() != 224 {
					t.Errorf("overlay %s is %v", r.PNG, img.Bounds())
				}
			}
			if rows[0].Raw != filepath.Join(dir, c.method+"-1.f32") || rows[1].PNG != filepath.Join(dir, c.method+"-2.png") {
				t.Errorf("several images' files: %s, %s", rows[0].Raw, rows[1].PNG)
			}
		})
	}
}

// TestClassifyInterventions: switching off the top class's own channel of SqueezeNet's
// conv10 takes it out of the top-5; adding a one-hot direction to the class scores makes
// that class the top-1; the JSON keeps its format.
func TestClassifyInterventions(t *testing.T) {
	img := photos(t, "chelsea.png")[0]
	classify := func(extra ...string) []classified {
		t.Helper()
		args := append([]string{"classify", "--arch", "squeezenet1_1", "--weights", "fixture", "--json"}, extra...)
		out, stderr, err := runCLI(t, append(args, img)...)
		if err != nil {
			t.Fatalf("classify %v: %v\n%s", extra, err, stderr)
		}
		var rows []classified
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatal(err)
		}
		return rows
	}
	top := classify()[0].Top[0].Index
	for _, p := range classify("--set", "conv10:"+strconv.Itoa(top)+"=-100")[0].Top {
		if p.Index == top {
			t.Errorf("class %d still in the top-5 with its channel at -100", top)
		}
	}
	dir := make([]float32, 1000)
	dir[7] = 1
	f := filepath.Join(t.TempDir(), "dir.f32")
	if err := writeF32(f, dir); err != nil {
		t.Fatal(err)
	}
	if got := classify("--add", "avgpool10:"+f+"=100")[0].Top[0]; got.Index != 7 || got.Prob < 0.99 {
		t.Errorf("adding 100 x class 7's direction: top-1 %+v", got)
	}
	scaled := classify("--scale", "conv10:"+strconv.Itoa(top)+"=1")[0].Top
	if scaled[0] != classify()[0].Top[0] {
		t.Errorf("scaling by 1 changed the top-1: %+v", scaled[0])
	}
}

func TestExplainBadInput(t *testing.T) {
	img := photos(t, "chelsea.png")[0]
	short := filepath.Join(t.TempDir(), "short.f32")
	if err := writeF32(short, []float32{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"explain", "--method", "lime"}, "unknown attribution method"},
		{[]string{"explain", "--class", "1000"}, "out of range"},
		{[]string{"explain", "--layer", "fc7", "--arch", "alexnet"}, "fully connected"},
		{[]string{"explain", "--layer", "fire99"}, `no layer "fire99"`},
		{[]string{"explain", "--add", "fire9:" + short + "=1"}, "512 values"},
		{[]string{"explain", "--set", "fire9:1=abc"}, "not a finite number"},
		{[]string{"explain", "--opacity", "2"}, "opacity"},
		{[]string{"classify", "--scale", "conv10:5000=2"}, "conv10 has 1000 channels"},
		{[]string{"classify", "--add", "fc7:/nonexistent.f32=1"}, "nonexistent"},
	} {
		args := append(c.args, "--weights", "fixture")
		if !strings.Contains(strings.Join(c.args, " "), "--arch") {
			args = append(args, "--arch", "squeezenet1_1")
		}
		_, stderr, err := runCLI(t, append(args, img)...)
		if err == nil || !strings.Contains(err.Error()+stderr, c.want) {
			t.Errorf("%v: error %v (stderr %q), want one saying %q", c.args, err, stderr, c.want)
		}
	}
	_, _, err := runCLI(t, "explain", "--weights", "fixture", "--arch", "squeezenet1_1", "/nonexistent.png")
	if err == nil || !strings.Contains(err.Error(), "could not be explained") {
		t.Errorf("a missing photo: %v", err)
	}
}
