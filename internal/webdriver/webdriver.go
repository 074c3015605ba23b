//go:build !js

// Package webdriver drives the three browser engines people read on through one small
// interface, so that one focused test walks the same paths in each: Chromium (chromedp,
// the Chrome DevTools Protocol), Firefox ESR (WebDriver BiDi, which Firefox speaks itself)
// and WebKitGTK (W3C WebDriver through WebKitWebDriver, which starts MiniBrowser under a
// private Xvfb display). Each engine comes from Debian (scripts/install-test-deps.sh); a
// test skips, saying which package is missing, when one is not installed.
//
// A Page evaluates JavaScript expressions and hands back their JSON: every engine's
// protocol serialises values its own way, and JSON.stringify in the page is the one
// serialisation all three share.
package webdriver

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Page is one tab of one browser.
type Page interface {
	// Engine names the browser: "chromium", "firefox" or "webkit".
	Engine() string
	// Navigate loads url and returns once its load event has fired.
	Navigate(url string) error
	// Eval evaluates a JavaScript expression in the page (a promise is awaited) and decodes
	// its value, as JSON.stringify writes it, into out (nil: ignored).
	Eval(expr string, out any) error
	// SetFiles puts files into the file input that selector finds, as the file picker
	// would, which fires its change event.
	SetFiles(selector string, paths ...string) error
	// PID is the process the browser's other processes descend from (for memory
	// measurements: see TreePSS).
	PID() int
}

// Engines are the names Open takes.
var Engines = []string{"chromium", "firefox", "webkit"}

// Open starts a fresh browser of the named engine with a profile of its own and returns
// its first tab; it is closed when the test ends. The test skips when the engine is not
// installed.
func Open(t testing.TB, engine string) Page {
	t.Helper()
	switch engine {
	case "chromium":
		return openChromium(t)
	case "firefox":
		return openFirefox(t)
	case "webkit":
		return openWebKit(t)
	}
	t.Fatalf("webdriver: unknown engine %q (want one of %v)", engine, Engines)
	return nil
}

// wrap turns an expression into a script body whose promise resolves to the expression's
// value as JSON text ("null" for undefined).
func wrap(expr string) string {
	return "(async () => { const v = await (" + expr + "\n); return JSON.stringify(v === undefined ? null : v); })()"
}

// decode reads the JSON text a wrapped expression gave into out.
func decode(expr, text string, out any) error {
	if out == nil {
		return nil
	}
	if err := json.Unmarshal([]byte(text), out); err != nil {
		return fmt.Errorf("decoding the value of %s: %v (got %.200s)", short(expr), err, text)
	}
	return nil
}

func short(expr string) string {
	expr = strings.Join(strings.Fields(expr), " ")
	if len(expr) > 120 {
		return expr[:120] + "…"
	}
	return expr
}

// Poll evaluates expr every interval until its value is not null and decodes that value
// into out. It fails the test with what it waited for and the page's text after timeout.
func Poll(t testing.TB, p Page, what, expr string, timeout time.Duration, out any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var raw json.RawMessage
		err := p.Eval(expr, &raw)
		if err == nil && len(raw) > 0 && string(raw) != "null" {
			if out != nil {
				if err := json.Unmarshal(raw, out); err != nil {
					t.Fatalf("%s: waiting for %s: %v", p.Engine(), what, err)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: waiting for %s: no answer after %v (last error %v; page: %s)", p.Engine(), what, timeout, err, Text(p))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Text is the start of the page's visible text, for failure messages.
func Text(p Page) string {
	var s string
	if err := p.Eval(`document.body ? document.body.innerText.slice(0, 1500) : ''`, &s); err != nil {
		return "(" + err.Error() + ")"
	}
	return s
}

// Must is Eval that fails the test on an error.
func Must[T any](t testing.TB, p Page, expr string) T {
	t.Helper()
	var v T
	if err := p.Eval(expr, &v); err != nil {
		t.Fatalf("%s: %v", p.Engine(), err)
	}
	return v
}
