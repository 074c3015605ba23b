//go:build !js

package e2e

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/engine/preprocess"
	"github.com/alexlens/alexlens/gallery"
	"github.com/alexlens/alexlens/internal/chromium"
	"github.com/alexlens/alexlens/internal/testenv"
	"github.com/alexlens/alexlens/teach"
	"github.com/alexlens/alexlens/weights"
)

// textureTiles writes n 128 x 128 tiles of a 512 x 512 skimage texture as PNG files.
func textureTiles(t *testing.T, name string, n int) []string { return textureTilesOf(t, name, n, 128) }

// textureTilesOf writes n side x side tiles of a skimage texture as PNG files.
func textureTilesOf(t *testing.T, name string, n, side int) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for i, tile := range testenv.TextureTiles(t, name, n, side) {
		p := filepath.Join(dir, fmt.Sprintf("%s-%02d.png", name, i))
		if err := os.WriteFile(p, tile, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// TestTeach: two classes named in the Teach view and filled with real photos (texture tiles),
// a head trained in the worker with its report (accuracy, confusion), and in the Classify
// view the head's classes beside the top-5, with the probabilities of the head the engine
// trains natively from the same photos and seed.
func TestTeach(t *testing.T) {
	arch := lookArch() // the released SqueezeNet, else AlexNet's fixture weights
	embedding := engine.Archs[arch].Embedding
	file := manifestFile(t, arch, "f32")
	ctx := browser(t, false)
	tab := chromium.NewTab(t, ctx)
	open(t, tab, "?arch="+arch+"&precision=f32")
	click(t, tab, `[data-view=teach]`)
	if l := evalString(t, tab, `document.querySelector('[data-testid=teach-layer]').value`); l != embedding {
		t.Errorf("the Teach view embeds at %q by default, want %s", l, embedding)
	}
	classes := []string{"brick", "grass"}
	photos := map[string][]string{}
	for i, name := range classes {
		photos[name] = textureTiles(t, name, 16)
		setValue(t, tab, "teach-name", name, "change")
		click(t, tab, `[data-testid=teach-add-class]`)
		waitTeach(t, tab, fmt.Sprintf(`document.querySelector('[data-testid=teach-class][data-name=%q]')`, name))
		uploadTo(t, tab, fmt.Sprintf("teach-input-%d", i), photos[name][:8]...)
		waitTeach(t, tab, fmt.Sprintf(`+document.querySelector('[data-testid=teach-class][data-name=%q]')?.dataset.count === 8`, name))
	}
	// Not a class: a duplicate name.
	setValue(t, tab, "teach-name", "grass", "change")
	click(t, tab, `[data-testid=teach-add-class]`)
	if e := text(t, tab, "teach-error"); e != `there is a class "grass" already` {
		t.Errorf("a duplicate class: %q", e)
	}
	if evalInt(t, tab, `+document.querySelector('[data-testid=teach-layer]').disabled`) != 1 {
		t.Error("the layer can be changed while classes hold photos embedded at it")
	}
	click(t, tab, `[data-testid=teach-train]`)
	waitTeach(t, tab, `document.querySelector('[data-testid=teach-report]')`)
	acc, _ := strconv.ParseFloat(evalString(t, tab, `document.querySelector('[data-testid=teach-report]').dataset.accuracy`), 64)
	ms := evalString(t, tab, `document.querySelector('[data-testid=teach-report]').dataset.ms`)
	t.Logf("held-out accuracy %.2f, trained in %s ms", acc, ms)
	if evalInt(t, tab, `document.querySelectorAll('[data-testid=teach-confusion] tr').length`) != 3 {
		t.Error("no confusion matrix of two classes")
	}
	screenshot(t, tab, "teach")

	// Back to Classify: a grass photo the head never saw, scored by the head too.
	click(t, tab, `[data-view=classify]`)
	probe := photos["grass"][15]
	upload(t, tab, probe)
	waitResult(t, tab, 1)
	type taught struct {
		Label string
		Prob  float64
	}
	got, err := chromedp.Run(tab, chromedp.Evaluate[[]taught](`[...document.querySelectorAll('[data-testid=taught-prediction]')].map(e => ({Label: e.dataset.label, Prob: parseFloat(e.dataset.prob)}))`))
	if err != nil || len(got) != 2 {
		t.Fatalf("the head's classes beside the top-5: %v, %v (page: %s)", got, err, pageText(tab))
	}

	// The same head natively: the same photos in the same order, seed 0.
	m, err := weights.Load(filepath.Join(weightsDir, file), arch)
	if err != nil {
		t.Fatal(err)
	}
	var examples []teach.Example
	for c, name := range classes {
		for _, p := range photos[name][:8] {
			x, err := preprocess.Load(p, 224)
			if err != nil {
				t.Fatal(err)
			}
			emb, err := gallery.EmbedLayer(m, nil, teach.Augment(x), m.Arch.Embedding)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range emb {
				examples = append(examples, teach.Example{Embedding: e, Class: c, Source: len(examples) / 2})
			}
		}
	}
	head, _, err := teach.Train(context.Background(), examples, classes, teach.Options{})
	if err != nil {
		t.Fatal(err)
	}
	x, _ := preprocess.Load(probe, 224)
	emb, _ := gallery.EmbedLayer(m, nil, x, m.Arch.Embedding)
	want, _ := head.Probabilities(emb[0])
	for _, g := range got {
		i := map[string]int{"brick": 0, "grass": 1}[g.Label]
		if math.Abs(g.Prob-float64(want[i])) > 1e-3 {
			t.Errorf("%s: the page's head says %.5f, the native head %.5f", g.Label, g.Prob, want[i])
		}
	}
	t.Logf("the head on an unseen grass photo: page %v, native %v", got, want)
}

func waitTeach(t *testing.T, ctx context.Context, cond string) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`(() => {
		if (document.querySelector('[data-testid=teach-error]')) return true;
		return (%s) ? true : null;
	})()`, cond), chromedp.WithPollingTimeout(120*time.Second), chromedp.WithPollingInterval(20*time.Millisecond)))
	if err != nil {
		t.Fatalf("waiting for %s: %v (page: %s)", cond, err, pageText(ctx))
	}
	if e := evalString(t, ctx, `document.querySelector('[data-testid=teach-error]')?.textContent || ''`); e != "" {
		t.Fatalf("the Teach view reports: %s", e)
	}
}

// TestTeachNumbers (opt-in: ALEXLENS_BROWSER_BENCH=1) times training in the Teach view as a
// reader runs it: AlexNet's fc7 (4,096 values), three classes of 34 photos each (texture
// tiles), each photo with its mirror image: 204 examples; the worker's own training time. It
// reports; it asserts nothing about speed.
func TestTeachNumbers(t *testing.T) {
	if os.Getenv("ALEXLENS_BROWSER_BENCH") == "" {
		t.Skip("opt-in: set ALEXLENS_BROWSER_BENCH=1")
	}
	for _, threads := range []string{"1", "2"} {
		t.Run(threads, func(t *testing.T) {
			ctx := browser(t, false)
			open(t, ctx, "?arch=alexnet&precision=f32&threads="+threads)
			click(t, ctx, `[data-view=teach]`)
			start := time.Now()
			for i, name := range []string{"brick", "grass", "gravel"} {
				setValue(t, ctx, "teach-name", name, "change")
				click(t, ctx, `[data-testid=teach-add-class]`)
				waitTeach(t, ctx, fmt.Sprintf(`document.querySelector('[data-testid=teach-class][data-name=%q]')`, name))
				uploadTo(t, ctx, fmt.Sprintf("teach-input-%d", i), textureTilesOf(t, name, 34, 64)...)
				waitTeach(t, ctx, fmt.Sprintf(`+document.querySelector('[data-testid=teach-class][data-name=%q]')?.dataset.count === 34`, name))
			}
			embed := time.Since(start)
			for run := range 2 {
				clicked := time.Now()
				click(t, ctx, `[data-testid=teach-train]`)
				waitTeach(t, ctx, `document.querySelector('[data-testid=teach-report]') && !document.querySelector('[data-testid=teach-progress]')`)
				ms, _ := strconv.ParseFloat(evalString(t, ctx, `document.querySelector('[data-testid=teach-report]').dataset.ms`), 64)
				epochs := evalInt(t, ctx, `+document.querySelector('[data-testid=teach-report]').dataset.epochs`)
				wall := time.Since(clicked) // includes the waitTeach poll: an upper bound
				t.Logf("alexnet fc7, %s threads, run %d: 204 examples trained in %.0f ms (%d epochs), %.0f ms from the click to the report; adding the 102 photos took %.1f s in all",
					threads, run+1, ms, epochs, float64(wall.Milliseconds()), embed.Seconds())
			}
		})
	}
}
