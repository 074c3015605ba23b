//go:build !js

package e2e

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/engine/explain"
	"github.com/alexlens/alexlens/engine/imagenet"
	"github.com/alexlens/alexlens/engine/preprocess"
	"github.com/alexlens/alexlens/internal/chromium"
	"github.com/alexlens/alexlens/internal/testenv"
	"github.com/alexlens/alexlens/weights"
)

// TestWhy: in the Classify view, "why?" on a prediction draws its Grad-CAM over the photo
// (the same map as the engine natively), another method and class by name work, the
// opacity slider fades the map; an intervention from the form changes the top-5 and lands
// in the URL, a reload of that URL keeps it, a bad one is refused with a message; the
// knock-out helper lists units and switches them off.
func TestWhy(t *testing.T) {
	// The released SqueezeNet when ../shared has it, else AlexNet's fixture weights (the
	// paths are the same; the layers differ): the class scores' own layer, a late layer for
	// the knock-out, a unit for the permalink.
	arch, scores, late := lookArch(), "fc8", "conv5"
	if arch == engine.SqueezeNet11.Name {
		scores, late = "conv10", "fire9"
	}
	file := manifestFile(t, arch, "f32")
	photo := testenv.Photo(t, "chelsea.png")
	ctx := browser(t, false)
	tab := chromium.NewTab(t, ctx)
	open(t, tab, "?arch="+arch+"&precision=f32")
	upload(t, tab, photo)
	waitResult(t, tab, 1)

	m, err := weights.Load(filepath.Join(weightsDir, file), arch)
	if err != nil {
		t.Fatal(err)
	}
	x, err := preprocess.Load(photo, 224)
	if err != nil {
		t.Fatal(err)
	}
	top := evalInt(t, tab, `+document.querySelector('[data-testid=prediction]').dataset.index`)

	// "why?" on the top-1: Grad-CAM at the last convolution, as the CLI computes it.
	click(t, tab, fmt.Sprintf(`[data-testid=why-class][data-index="%d"]`, top))
	sum := waitMap(t, tab, "gradcam", top)
	want, err := explain.Explain(context.Background(), m, x, explain.Options{Method: explain.GradCAM, Class: top})
	if err != nil {
		t.Fatal(err)
	}
	if ws := mapSum(want.Values); math.Abs(sum-ws) > 1e-3*math.Abs(ws)+1e-6 {
		t.Errorf("the page's Grad-CAM sums to %g, the engine's natively to %g", sum, ws)
	}
	if lit := evalInt(t, tab, heatColours); lit < 100 {
		t.Errorf("the map canvas has %d coloured pixels", lit)
	}
	setValue(t, tab, "why-opacity", "0.2", "input")
	if op := evalString(t, tab, `document.querySelector('[data-testid=why-heat]').style.opacity`); op != "0.2" {
		t.Errorf("opacity after the slider: %q", op)
	}
	screenshot(t, tab, "why-gradcam")

	// Saliency of a class chosen by name.
	setValue(t, tab, "why-method", "saliency", "change")
	setValue(t, tab, "why-class-input", "tabby", "change")
	click(t, tab, `[data-testid=why-run]`)
	sum = waitMap(t, tab, "saliency", 281)
	want, _ = explain.Explain(context.Background(), m, x, explain.Options{Method: explain.Saliency, Class: 281})
	if ws := mapSum(want.Values); math.Abs(sum-ws) > 1e-3*math.Abs(ws) {
		t.Errorf("the page's saliency sums to %g, the engine's to %g", sum, ws)
	}
	setValue(t, tab, "why-class-input", "no such animal", "change")
	if e := text(t, tab, "why-error"); !strings.Contains(e, "no such animal") {
		t.Errorf("an unknown class name: %q", e)
	}

	// An intervention: the top-1's own class channel down to -100.
	setValue(t, tab, "edit-layer", scores, "change")
	setValue(t, tab, "edit-channel", strconv.Itoa(top), "change")
	setValue(t, tab, "edit-op", "set", "change")
	setValue(t, tab, "edit-value", "-100", "change")
	click(t, tab, `[data-testid=edit-apply]`)
	waitResult(t, tab, 2)
	for _, p := range predictions(t, tab) {
		if p.Label == imagenet.Label(top) {
			t.Errorf("%s still in the top-5 with its channel at -100", p.Label)
		}
	}
	u := evalString(t, tab, `location.search`)
	q, _ := url.ParseQuery(strings.TrimPrefix(u, "?"))
	if got := q["set"]; len(got) != 1 || got[0] != fmt.Sprintf("%s:%d=-100", scores, top) {
		t.Errorf("the URL's interventions: %q", u)
	}
	// A bad one is refused, and the list is kept.
	setValue(t, tab, "edit-channel", "5000", "change")
	click(t, tab, `[data-testid=edit-apply]`)
	if e := text(t, tab, "edit-error"); !strings.Contains(e, "0 to 999") {
		t.Errorf("channel 5000: %q", e)
	}
	if n := evalInt(t, tab, `document.querySelectorAll('[data-testid=edit]').length`); n != 1 {
		t.Errorf("%d interventions listed, want 1", n)
	}

	// The knock-out helper on a late layer, then its units switched off.
	setValue(t, tab, "edit-layer", late, "change")
	setValue(t, tab, "why-class-input", "top-1", "change")
	click(t, tab, `[data-testid=knockout-run]`)
	if _, err := chromedp.Run(tab, chromedp.Poll[bool](`+document.querySelector('[data-testid=knockout]')?.dataset.units > 0 || !!document.querySelector('[data-testid=why-error]')`,
		chromedp.WithPollingTimeout(120*time.Second))); err != nil {
		t.Fatalf("no knock-out ranking: %v (page: %s)", err, pageText(tab))
	}
	if e := evalString(t, tab, `document.querySelector('[data-testid=why-error]')?.textContent || ''`); e != "" {
		t.Fatalf("knock-out: %s", e)
	}
	units := evalInt(t, tab, `document.querySelectorAll('[data-testid=knockout-unit]').length`)
	click(t, tab, `[data-testid=knockout-apply]`)
	waitResult(t, tab, 3)
	if n := evalInt(t, tab, `document.querySelectorAll('[data-testid=edit]').length`); n != 1+units {
		t.Errorf("%d interventions after switching off %d units, want %d", n, units, 1+units)
	}
	screenshot(t, tab, "why-interventions")

	// The shared link: a reload keeps the interventions.
	open(t, tab, evalString(t, tab, `location.search`))
	if n := evalInt(t, tab, `document.querySelectorAll('[data-testid=edit]').length`); n != 1+units {
		t.Errorf("after a reload: %d interventions, want %d", n, 1+units)
	}
	upload(t, tab, photo)
	waitResult(t, tab, 1)
	if got := predictions(t, tab); len(got) > 0 && got[0].Label == imagenet.Label(top) {
		t.Errorf("after a reload the intervention no longer applies: top-1 %s", got[0].Label)
	}

	// A unit's permalink opens its page; "switch it off" adds it to the Classify view's list.
	open(t, tab, "?arch="+arch+"&precision=f32&unit="+late+":7")
	upload(t, tab, photo)
	waitResult(t, tab, 1)
	click(t, tab, `[data-view=units]`)
	if _, err := chromedp.Run(tab, chromedp.Poll[bool](fmt.Sprintf(`document.querySelector('[data-testid=unit-layer]')?.value === %q && document.querySelector('[data-testid=unit-channel]')?.value === '7' || null`, late),
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("the unit= permalink did not select %s unit 7: %v (page: %s)", late, err, pageText(tab))
	}
	if link := evalString(t, tab, `document.querySelector('[data-testid=unit-link]').getAttribute('href')`); !strings.Contains(link, "unit="+late+"%3A7") || !strings.HasSuffix(link, "#units") {
		t.Errorf("the unit's link: %q", link)
	}
	click(t, tab, `[data-testid=unit-off]`)
	waitResult(t, tab, 2)
	if e := text(t, tab, "edits"); !strings.Contains(e, late+" unit 7 switched off") {
		t.Errorf("after switching the unit off, the interventions read %q", e)
	}

	// The Embeddings view's direction, from the cat to the coffee cup, as an intervention.
	before := predictions(t, tab)
	click(t, tab, `[data-view=embeddings]`)
	waitCount(t, tab, 4)
	click(t, tab, `[data-testid=gallery-item][data-item="chelsea.jpg"]`)
	waitNeighbors(t, tab, "chelsea.jpg", "cosine")
	click(t, tab, `[data-testid=mark-from]`)
	click(t, tab, `[data-testid=gallery-item][data-item="coffee.jpg"]`)
	waitNeighbors(t, tab, "coffee.jpg", "cosine")
	click(t, tab, `[data-testid=mark-to]`)
	click(t, tab, `[data-testid=direction-edit]`)
	waitResult(t, tab, 3)
	if e := text(t, tab, "edits"); !strings.Contains(e, "direction from 1 gallery image(s) (A) to 1 (B)") {
		t.Errorf("after adding the direction, the interventions read %q", e)
	}
	after := predictions(t, tab)
	if after[0] == before[0] {
		t.Errorf("adding the cat-to-coffee direction left the top-1 as it was: %+v", after[0])
	}
	t.Logf("top-1 before the direction %+v, after %+v", before[0], after[0])

	// The link shares the experiment: the URL names the direction's images, and a new tab of
	// this browser (whose stored gallery holds them) gives the same top-5 for the photo.
	u = evalString(t, tab, `location.search`)
	q, _ = url.ParseQuery(strings.TrimPrefix(u, "?"))
	if got := q["add"]; len(got) != 1 || !strings.HasSuffix(got[0], ":chelsea.jpg>coffee.jpg=1") {
		t.Errorf("the URL's direction: %q", u)
	}
	shared := chromium.NewTab(t, ctx)
	open(t, shared, u)
	upload(t, shared, photo)
	waitResult(t, shared, 1)
	if e := text(t, shared, "edits"); !strings.Contains(e, "direction from 1 gallery image(s) (A) to 1 (B)") {
		t.Errorf("the shared link's interventions read %q", e)
	}
	again := predictions(t, shared)
	for i := range min(len(again), len(after)) {
		if again[i].Label != after[i].Label || math.Abs(again[i].Prob-after[i].Prob) > 1e-5 {
			t.Errorf("the shared link's top-5 %+v, the page's %+v", again, after)
			break
		}
	}
}

func mapSum(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x)
	}
	return s
}

// waitMap waits for the map of method and class (-1: any) and returns the page's sum of its values.
func waitMap(t *testing.T, ctx context.Context, method string, class int) float64 {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Poll[string](fmt.Sprintf(`(() => {
		const e = document.querySelector('[data-testid=why-error]')?.textContent;
		if (e) return 'error: ' + e;
		const c = document.querySelector('[data-testid=why-heat]');
		return c && c.dataset.method === %q && (%d < 0 || c.dataset.class === '%d') && !document.querySelector('[data-testid=why-busy]') ? c.dataset.sum : null;
	})()`, method, class, class), chromedp.WithPollingTimeout(120*time.Second), chromedp.WithPollingInterval(20*time.Millisecond)))
	if err != nil {
		t.Fatalf("no %s map for class %d: %v (page: %s)", method, class, err, pageText(ctx))
	}
	if strings.HasPrefix(s, "error: ") {
		t.Fatalf("%s for class %d: %s", method, class, s)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("map sum %q: %v", s, err)
	}
	return v
}

// heatColours counts the map canvas's pixels that are not the ramp's dark end.
const heatColours = `(() => {
	const c = document.querySelector('[data-testid=why-heat]');
	const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
	let n = 0;
	for (let i = 0; i < d.length; i += 4) if (d[i] + d[i+1] + d[i+2] > 200) n++;
	return n;
})()`

// setValue sets a control's value and fires the event its handler listens to.
func setValue(t *testing.T, ctx context.Context, testid, value, event string) {
	t.Helper()
	js := fmt.Sprintf(`(() => { const e = document.querySelector('[data-testid=%s]'); e.value = %q; e.dispatchEvent(new Event(%q, {bubbles: true})); })()`, testid, value, event)
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](js)); err != nil {
		t.Fatalf("set %s: %v", testid, err)
	}
	time.Sleep(50 * time.Millisecond) // the handler runs, the page renders
}

func evalString(t *testing.T, ctx context.Context, js string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestExplainNumbers (opt-in: ALEXLENS_BROWSER_BENCH=1) times attribution in the app as a
// visitor runs it, at 1 thread: each method's worker time beside the page's forward pass of
// the same photo, and the knock-out ranking. It reports; it asserts nothing about speed.
func TestExplainNumbers(t *testing.T) {
	if os.Getenv("ALEXLENS_BROWSER_BENCH") == "" {
		t.Skip("opt-in: set ALEXLENS_BROWSER_BENCH=1")
	}
	for _, arch := range []string{engine.SqueezeNet11.Name, engine.AlexNet.Name} {
		if arch == engine.SqueezeNet11.Name && !haveReal {
			continue
		}
		for _, threads := range []string{"1", "2"} {
			t.Run(arch+"/"+threads, func(t *testing.T) { explainNumbers(t, arch, threads) })
		}
	}
}

// explainNumbers is one configuration of TestExplainNumbers, in a browser of its own that
// closes when it is done.
func explainNumbers(t *testing.T, arch, threads string) {
	ctx := browser(t, false)
	open(t, ctx, "?arch="+arch+"&precision=f32&threads="+threads)
	photo := testenv.Photo(t, "chelsea.png")
	var fwd []float64
	for i := 1; i <= 3; i++ { // the median of three passes
		upload(t, ctx, photo)
		waitResult(t, ctx, i)
		f, _ := strconv.ParseFloat(text(t, ctx, "forward-ms"), 64)
		fwd = append(fwd, f)
	}
	slices.Sort(fwd)
	kind := text(t, ctx, "weights-kind")
	t.Logf("%s (%s) %s threads: forward pass %.0f ms (median of 3)", arch, kind, threads, fwd[1])
	methods := []string{"gradcam", "saliency", "smoothgrad", "occlusion", "ig"}
	if only := os.Getenv("ALEXLENS_EXPLAIN_ONLY"); only != "" { // e.g. occlusion
		methods = strings.Split(only, ",")
	}
	for _, m := range methods {
		// Twice: the first backward pass through a layer packs its weights for the
		// gradient's products (once per model).
		var runs []float64
		for run := range 2 {
			stopProfile := func() {}
			if run == 1 {
				stopProfile = profileWorker(t, ctx, "explain-"+arch+"-"+threads+"-"+m)
			}
			seq := evalInt(t, ctx, `+(document.querySelector('[data-testid=why-heat]')?.dataset.seq || 0)`)
			setValue(t, ctx, "why-method", m, "change")
			click(t, ctx, `[data-testid=why-run]`)
			if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`+(document.querySelector('[data-testid=why-heat]')?.dataset.seq || 0) > %d || null`, seq),
				chromedp.WithPollingTimeout(300*time.Second))); err != nil {
				t.Fatalf("%s: %v (page: %s)", m, err, pageText(ctx))
			}
			stopProfile()
			ms, _ := strconv.ParseFloat(evalString(t, ctx, `document.querySelector('[data-testid=why-heat]').dataset.ms`), 64)
			runs = append(runs, ms)
		}
		t.Logf("%s %s threads: %-10s %7.0f ms = %5.1f forward passes (first run %.0f ms)", arch, threads, m, runs[1], runs[1]/fwd[1], runs[0])
	}
	// An intervention's new top-5: the page's rerun of the photo, one forward pass.
	click(t, ctx, `[data-testid=edit-apply]`)
	waitResult(t, ctx, 4)
	re, _ := strconv.ParseFloat(text(t, ctx, "forward-ms"), 64)
	t.Logf("%s %s threads: the top-5 after an intervention in %.0f ms (%.2f forward passes)", arch, threads, re, re/fwd[1])
	click(t, ctx, `[data-testid=knockout-run]`)
	if _, err := chromedp.Run(ctx, chromedp.Poll[string](`document.querySelector('[data-testid=knockout]')?.dataset.ms || null`, chromedp.WithPollingTimeout(300*time.Second))); err != nil {
		t.Fatal(err)
	}
	ms, _ := strconv.ParseFloat(evalString(t, ctx, `document.querySelector('[data-testid=knockout]').dataset.ms`), 64)
	t.Logf("%s %s threads: knock-out ranking (%s) %7.0f ms = %5.1f forward passes", arch, threads,
		evalString(t, ctx, `document.querySelector('[data-testid=edit-layer]').value`), ms, ms/fwd[1])
}
