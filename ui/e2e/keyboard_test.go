//go:build !js

package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	keys "github.com/chromedp/chromedp/kb"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/internal/apppage"
)

// TestKeyboard drives the classify flow with the keyboard alone: Tab reaches a sample photo
// with a visible focus ring on every stop, Enter classifies it, Tab goes on to the
// activation maps' layer picker, and an arrow key shows another layer's map.
func TestKeyboard(t *testing.T) {
	ctx := browser(t, false)
	arch := engine.AlexNet.Name
	if haveReal {
		arch = engine.SqueezeNet11.Name
	}
	open(t, ctx, "?arch="+arch+"&precision=int8")
	type focus struct {
		Sel, Outline string
	}
	// tabTo presses Tab until the focused element matches sel, checking each stop's ring.
	tabTo := func(sel string) {
		t.Helper()
		for i := 0; i < 80; i++ {
			if err := chromedp.Do(ctx, chromedp.KeyEvent(keys.Tab)); err != nil {
				t.Fatal(err)
			}
			f, err := chromedp.Run(ctx, chromedp.Evaluate[focus](`(() => {
				const e = document.activeElement;
				const s = getComputedStyle(e);
				const ring = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none';
				return {Sel: e.matches(`+apppage.JSString(sel)+`) ? 'match' : e.tagName + (e.dataset.testid ? '[' + e.dataset.testid + ']' : ''), Outline: ring ? 'visible' : 'none'};
			})()`))
			if err != nil {
				t.Fatal(err)
			}
			if f.Outline != "visible" {
				t.Errorf("tab stop %d (%s) has no visible focus", i+1, f.Sel)
			}
			if f.Sel == "match" {
				return
			}
		}
		t.Fatalf("80 presses of Tab never reached %s", sel)
	}
	tabTo(`button[data-sample]`)
	if err := chromedp.Do(ctx, chromedp.KeyEvent(keys.Enter)); err != nil {
		t.Fatal(err)
	}
	waitResult(t, ctx, 1)
	caption := func() string {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('.map-main figcaption')?.textContent || ''`))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := caption()
	tabTo(`[data-testid=layer-select]`)
	if err := chromedp.Do(ctx, chromedp.KeyEvent(keys.ArrowDown)); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if _, err := chromedp.Run(cctx, chromedp.Poll[bool](`(c => c && c !== `+apppage.JSString(before)+` || null)(document.querySelector('.map-main figcaption')?.textContent)`)); err != nil {
		t.Errorf("the arrow key on the layer picker did not change the map (caption %q): %v", caption(), err)
	}
	t.Logf("map caption %q -> %q", before, caption())
}

// TestReducedMotion: with prefers-reduced-motion: reduce, nothing on the page animates
// (the busy dot and the boot logo pulse otherwise).
func TestReducedMotion(t *testing.T) {
	ctx := browser(t, false)
	open(t, ctx, "?arch="+engine.AlexNet.Name+"&precision=int8")
	// The busy dot as the page draws it while it works, and every element's animation.
	probe := `(() => {
		const box = document.createElement('span');
		box.className = 'status status-busy';
		box.innerHTML = '<span class="dot"></span>';
		document.body.append(box);
		const names = [...document.querySelectorAll('*')].map(e => getComputedStyle(e).animationName).filter(n => n && n !== 'none');
		box.remove();
		return names;
	})()`
	for _, reduce := range []bool{false, true} {
		v := "no-preference"
		if reduce {
			v = "reduce"
		}
		if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: v}}}); err != nil {
			t.Fatal(err)
		}
		names, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](probe))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case reduce && len(names) > 0:
			t.Errorf("with reduced motion asked for, animations run: %v", names)
		case !reduce && len(names) == 0:
			t.Error("the busy dot does not pulse without reduced motion: the check above proves nothing")
		}
	}
}
