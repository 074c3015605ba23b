//go:build !js

// Package apppage speaks the AlexLens app's page in tests, over any browser engine
// (internal/webdriver): open it and wait for ready, upload a photo and wait for the result,
// read the top-5, move between views, run axe-core. The Chromium-only suites (chromedp) and
// the three-engine suites of ui/e2e and site/e2e share it, so the app's test vocabulary is
// written once.
package apppage

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/alexlens/alexlens/internal/webdriver"
)

// Page is the app's vocabulary over a webdriver.Page, failing the test on any error.
type Page struct {
	T testing.TB
	P webdriver.Page
}

// Prediction is one row of the page's top-5.
type Prediction struct {
	Index int // the ImageNet class index
	Label string
	Prob  float64
}

// Predictions reads the page's top-5 ([data-testid=prediction]).
func (w Page) Predictions() []Prediction {
	return webdriver.Must[[]Prediction](w.T, w.P, `[...document.querySelectorAll('[data-testid=prediction]')].map(e => ({Index: +e.dataset.index, Label: e.dataset.label, Prob: parseFloat(e.dataset.prob)}))`)
}

// Classify uploads a photo and waits for the next result.
func (w Page) Classify(photo string) []Prediction {
	w.T.Helper()
	seq := webdriver.Must[int](w.T, w.P, `parseInt(document.querySelector('[data-testid=result]')?.dataset.seq || '0')`)
	w.Upload(photo)
	w.WaitResult(seq + 1)
	return w.Predictions()
}

// Open navigates and waits for ready (or fails with the page's own message).
func (w Page) Open(url string) {
	w.T.Helper()
	if err := w.P.Navigate(url); err != nil {
		w.T.Fatalf("navigate %s: %v", url, err)
	}
	var s struct{ Status, Error, Boot string }
	webdriver.Poll(w.T, w.P, "ready", `(() => {
		const q = s => document.querySelector(s);
		const status = q('[data-testid=status]')?.textContent || '';
		const error = q('[data-testid=error]')?.textContent || '';
		const boot = q('[data-testid=boot-error]')?.textContent || '';
		return (status === 'ready' || status === 'failed' || boot) ? {Status: status, Error: error, Boot: boot} : null;
	})()`, 240*time.Second, &s)
	if s.Status != "ready" {
		w.T.Fatalf("page did not get ready: status %q, error %q %s", s.Status, s.Error, s.Boot)
	}
}

// Text is the text of the element [data-testid=testid] ("<missing>" when there is none).
func (w Page) Text(testid string) string {
	return webdriver.Must[string](w.T, w.P, fmt.Sprintf(`document.querySelector('[data-testid=%s]')?.textContent ?? '<missing>'`, testid))
}

// Exists reports whether an element matches sel.
func (w Page) Exists(sel string) bool {
	return webdriver.Must[bool](w.T, w.P, fmt.Sprintf(`!!document.querySelector(%q)`, sel))
}

// Click clicks the element sel finds, failing the test when there is none.
func (w Page) Click(sel string) {
	w.T.Helper()
	if !webdriver.Must[bool](w.T, w.P, fmt.Sprintf(`(e => e ? (e.click(), true) : false)(document.querySelector(%q))`, sel)) {
		w.T.Fatalf("nothing to click at %s (page: %s)", sel, webdriver.Text(w.P))
	}
}

// Nav switches to a view (classify, layers, embeddings, atlas, units).
func (w Page) Nav(view string) {
	w.T.Helper()
	w.Click(`[data-testid=nav] [data-view=` + view + `]`)
}

// Upload puts a file into the image input, as the file picker would.
func (w Page) Upload(path string) {
	w.T.Helper()
	if err := w.P.SetFiles(`[data-testid=image-input]`, path); err != nil {
		w.T.Fatalf("upload %s: %v", path, err)
	}
}

// WaitResult waits for result number seq, or fails with the page's error message.
func (w Page) WaitResult(seq int) {
	w.T.Helper()
	var o struct{ Seq, Error string }
	webdriver.Poll(w.T, w.P, fmt.Sprintf("result %d", seq), fmt.Sprintf(`(() => {
		const err = document.querySelector('[data-testid=error]')?.textContent || '';
		const seq = document.querySelector('[data-testid=result]')?.dataset.seq || '';
		return (err || seq === '%d') ? {Seq: seq, Error: err} : null;
	})()`, seq), 240*time.Second, &o)
	if o.Error != "" {
		w.T.Fatalf("the page reported an error instead of result %d: %s", seq, o.Error)
	}
}

// Accessible runs axe-core on the view as it is and fails the test for every serious or
// critical violation.
func (w Page) Accessible(view string) {
	w.T.Helper()
	for _, v := range webdriver.Accessibility(w.T, w.P) {
		w.T.Errorf("%s view: accessibility (%s, %s): %s at %v", view, v.ID, v.Impact, v.Help, v.Nodes)
	}
}

// Idle waits until the look-inside views are not busy and fails on their error message.
func (w Page) Idle() {
	w.T.Helper()
	msg := ""
	webdriver.Poll(w.T, w.P, "the look-inside views to be idle", `(() => {
		const q = s => document.querySelector(s);
		if (!q('[data-testid=nav]') || q('[data-testid=look-progress]')) return null;
		return 'idle:' + (q('[data-testid=look-error]')?.textContent || '');
	})()`, 240*time.Second, &msg)
	if msg = strings.TrimPrefix(msg, "idle:"); msg != "" {
		w.T.Fatalf("look-inside views: %s", msg)
	}
}

// JSString is s as a JavaScript string literal.
func JSString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// ClickText clicks the first element matching sel whose text is text.
func (w Page) ClickText(sel, text string) {
	w.T.Helper()
	ok := webdriver.Must[bool](w.T, w.P, `(() => {
		const e = [...document.querySelectorAll(`+JSString(sel)+`)].find(e => e.textContent.trim() === `+JSString(text)+`);
		if (!e) return false;
		e.click();
		return true;
	})()`)
	if !ok {
		w.T.Fatalf("no %s says %q (page: %s)", sel, text, webdriver.Text(w.P))
	}
}
