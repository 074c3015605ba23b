//go:build !js

package webdriver

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/alexlens/alexlens/internal/testenv"
)

// Violation is one accessibility rule a page breaks, as axe-core reports it.
type Violation struct {
	ID, Impact, Help string
	Nodes            []string // CSS paths of the first few offending elements
}

var axe struct {
	once sync.Once
	src  string
	err  string
}

// axeSource is axe-core's script, installed (pinned) by scripts/install-axe.sh, or skips
// the test saying why it is not there.
func axeSource(t testing.TB) string {
	t.Helper()
	axe.once.Do(func() {
		root, err := testenv.ModuleRoot()
		if err != nil {
			axe.err = err.Error()
			return
		}
		var out, errb bytes.Buffer
		cmd := exec.Command(filepath.Join(root, "scripts", "install-axe.sh"))
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			axe.err = "axe-core is not installed (scripts/install-axe.sh: " + strings.TrimSpace(errb.String()) + ")"
			return
		}
		b, err := os.ReadFile(strings.TrimSpace(out.String()))
		if err != nil {
			axe.err = err.Error()
			return
		}
		axe.src = string(b)
	})
	if axe.err != "" {
		t.Skip(axe.err)
	}
	return axe.src
}

// Accessibility runs axe-core on the page as it is now and returns the violations of
// serious or critical impact. The script is handed over as a function body through the
// driver (no eval in the page, so the app's Content-Security-Policy is kept).
func Accessibility(t testing.TB, p Page) []Violation {
	t.Helper()
	if !Must[bool](t, p, `typeof axe !== 'undefined'`) {
		if err := p.Eval("(() => {\n"+axeSource(t)+"\n})()", nil); err != nil {
			t.Fatalf("%s: loading axe-core: %v", p.Engine(), err)
		}
	}
	return Must[[]Violation](t, p, `axe.run(document, {resultTypes: ['violations']}).then(r => r.violations
		.filter(v => v.impact === 'serious' || v.impact === 'critical')
		.map(v => ({ID: v.id, Impact: v.impact, Help: v.help, Nodes: v.nodes.slice(0, 4).map(n => n.target.join(' '))})))`)
}
