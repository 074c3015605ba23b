//go:build !js

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/alexlens/alexlens/internal/chromium"
)

// browser starts a headless Chromium with a fresh profile; the context is its first tab.
func browser(t *testing.T) context.Context {
	t.Helper()
	if skipAll != "" {
		t.Skip(skipAll)
	}
	return chromium.New(t, chromium.Options{})
}

// open navigates to url and waits for the app's status line to say ready.
func open(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigate %s: %v", url, err)
	}
	waitReady(t, ctx)
}

func reload(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatalf("reload: %v", err)
	}
	waitReady(t, ctx)
}

func waitReady(t *testing.T, ctx context.Context) {
	t.Helper()
	type st struct{ Status, Error, Boot string }
	s, err := chromedp.Run(ctx, chromedp.Poll[st](`(() => {
		const q = s => document.querySelector(s);
		const status = q('[data-testid=status]')?.textContent || '';
		const error = q('[data-testid=error]')?.textContent || '';
		const boot = q('[data-testid=boot-error]')?.textContent || '';
		return (status === 'ready' || status === 'failed' || boot) ? {Status: status, Error: error, Boot: boot} : null;
	})()`, chromedp.WithPollingTimeout(240*time.Second), chromedp.WithPollingInterval(20*time.Millisecond)))
	if err != nil {
		t.Fatalf("waiting for ready: %v (page: %s)", err, pageText(ctx))
	}
	if s.Status != "ready" {
		t.Fatalf("page did not get ready: status %q, error %q %s", s.Status, s.Error, s.Boot)
	}
}

func pageText(ctx context.Context) string {
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(tctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 2000) : ''`))
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return s
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

// poll waits for a JS expression to give a non-null value.
func poll[T any](t *testing.T, ctx context.Context, what, js string, timeout time.Duration) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Poll[T](js, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		t.Fatalf("waiting for %s: %v (page: %s)", what, err, pageText(ctx))
	}
	return v
}

// controlledBy waits until a service worker of the given build controls the page: its
// shell is then cached (install succeeds only when every file is in).
//
// It follows the service worker's own events rather than a fixed budget: each round asks the
// controller for its build and, when it is not the one wanted, waits for the next
// controllerchange or for the worker being installed to settle (activated, or redundant when
// its install failed). Installing a new build downloads and hashes the whole shell, which
// under the full suite's load on two cores can take minutes, so only the overall limit is
// generous; a failed install ends the wait at once with the reason.
func controlledBy(t *testing.T, ctx context.Context, build string) {
	t.Helper()
	waitControlled(t, build, func(js string) (a swAnswer) { return eval[swAnswer](t, ctx, js) }, func() string { return pageText(ctx) })
}

// swAnswer is one round of controlledByJS: the controller's build and the worker states.
type swAnswer struct{ Build, State string }

// controlledByJS is one round of the wait: the controller's build, or what happened while
// waiting for it.
func controlledByJS(build string) string {
	return fmt.Sprintf(`(async (want) => {
		const sw = navigator.serviceWorker;
		const ask = () => {
			const c = sw.controller;
			if (!c || c.state !== 'activated') return Promise.resolve('');
			return new Promise(res => {
				const f = e => { if (e.data && e.data.type === 'build') { sw.removeEventListener('message', f); res(e.data.build); } };
				sw.addEventListener('message', f);
				c.postMessage({type: 'build'});
				setTimeout(() => { sw.removeEventListener('message', f); res('(no answer yet)'); }, 10000);
			});
		};
		const got = await ask();
		if (got === want) return {Build: got, State: 'controlled'};
		const reg = await sw.getRegistration();
		const state = reg ? [reg.installing, reg.waiting, reg.active].map(w => w ? w.state : '-').join('/') : 'no registration';
		// Wait for something to happen: a new controller, or the new worker settling.
		const why = await new Promise(res => {
			const done = w => () => res(w);
			sw.addEventListener('controllerchange', done('controllerchange'), {once: true});
			const watch = w => w && w.addEventListener('statechange', () => {
				if (w.state === 'activated' || w.state === 'redundant') res(w.state);
			});
			if (reg) {
				watch(reg.installing); watch(reg.waiting);
				if (reg.active && reg.active.state === 'activating') watch(reg.active);
				reg.addEventListener('updatefound', () => watch(reg.installing), {once: true});
			}
			setTimeout(done('still waiting'), 20000);
		});
		return {Build: got, State: state + ' -> ' + why};
	})(%q)`, build)
}

// waitControlled runs rounds of controlledByJS through eval until the build controls the
// page, an install fails, or 5 minutes pass.
func waitControlled(t *testing.T, build string, eval func(js string) swAnswer, page func() string) {
	t.Helper()
	js := controlledByJS(build)
	deadline := time.Now().Add(5 * time.Minute)
	var a swAnswer
	start := time.Now()
	for time.Now().Before(deadline) {
		if a = eval(js); a.Build == build {
			t.Logf("build %s controls the page after %v", build, time.Since(start).Round(time.Millisecond))
			return
		}
		t.Logf("after %v: controller of build %q, workers installing/waiting/active: %s", time.Since(start).Round(time.Millisecond), a.Build, a.State)
		if strings.HasSuffix(a.State, "redundant") {
			t.Fatalf("the service worker of build %s failed to install (page controlled by %q; installing/waiting/active %s): %s", build, a.Build, a.State, page())
		}
	}
	t.Fatalf("no service worker of build %s controls the page after 5 minutes (last answer %q, installing/waiting/active %s)", build, a.Build, a.State)
}

// setOffline cuts the network for the tab and its service worker (DevTools network
// emulation) and makes the host drop every connection, so nothing can reach it.
func setOffline(t *testing.T, ctx context.Context, h *host, off bool) {
	t.Helper()
	h.offline.Store(off)
	_, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		EmulateOfflineServiceWorker: &off,
		MatchedNetworkConditions:    []*network.Conditions{{Offline: off, DownloadThroughput: -1, UploadThroughput: -1}},
	})
	if err != nil {
		t.Fatalf("network emulation: %v", err)
	}
	if _, err := chromedp.Call(ctx, network.OverrideNetworkState, network.OverrideNetworkStateParams{Offline: off, DownloadThroughput: -1, UploadThroughput: -1}); err != nil {
		t.Fatalf("network state: %v", err)
	}
}

// classify uploads a photo and waits for the top-5.
func classify(t *testing.T, ctx context.Context, photo string) []prediction {
	t.Helper()
	seq := eval[int](t, ctx, `parseInt(document.querySelector('[data-testid=result]')?.dataset.seq || '0')`)
	if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.CSS(`[data-testid=image-input]`), []string{photo})); err != nil {
		t.Fatalf("upload %s: %v", photo, err)
	}
	type out struct{ Seq, Error string }
	o := poll[out](t, ctx, "the result", fmt.Sprintf(`(() => {
		const err = document.querySelector('[data-testid=error]')?.textContent || '';
		const seq = document.querySelector('[data-testid=result]')?.dataset.seq || '';
		return (err || seq === '%d') ? {Seq: seq, Error: err} : null;
	})()`, seq+1), 240*time.Second)
	if o.Error != "" {
		t.Fatalf("the page reported an error instead of a result: %s", o.Error)
	}
	return eval[[]prediction](t, ctx, `[...document.querySelectorAll('[data-testid=prediction]')].map(e => ({Label: e.dataset.label, Prob: parseFloat(e.dataset.prob)}))`)
}

type prediction struct {
	Label string
	Prob  float64
}

// checkCat checks the top-5 for Chelsea the cat: real weights must say cat; fixture
// weights must at least give five ranked classes.
func checkCat(t *testing.T, p []prediction) {
	t.Helper()
	if len(p) != 5 {
		t.Fatalf("%d predictions, want 5: %v", len(p), p)
	}
	if haveReal {
		switch p[0].Label {
		case "tabby", "tiger cat", "Egyptian cat":
		default:
			t.Errorf("top-1 for chelsea.png is %q, want a cat: %v", p[0].Label, p)
		}
	}
}

// screenshot saves the viewport under testout/ for a person to look at.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if err := chromium.Screenshot(ctx, filepath.Join("testout", name+".png")); err != nil {
		t.Errorf("screenshot %s: %v", name, err)
	}
}
