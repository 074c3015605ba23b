//go:build !js

package webdriver

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/alexlens/alexlens/internal/chromium"
)

// chromiumPage is a tab of the headless Chromium that internal/chromium starts, driven
// with chromedp as the full Chromium suite drives it.
type chromiumPage struct{ ctx context.Context }

func openChromium(t testing.TB) Page {
	return chromiumPage{chromium.New(t, chromium.Options{})}
}

func (chromiumPage) Engine() string { return "chromium" }

func (p chromiumPage) PID() int {
	if c := chromedp.FromContext(p.ctx); c != nil && c.Browser != nil && c.Browser.Process() != nil {
		return c.Browser.Process().Pid
	}
	return 0
}

func (p chromiumPage) Navigate(url string) error { return chromedp.Do(p.ctx, chromedp.Navigate(url)) }

func (p chromiumPage) Eval(expr string, out any) error {
	s, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](wrap(expr), chromedp.EvalAwaitPromise))
	if err != nil {
		return err
	}
	return decode(expr, s, out)
}

func (p chromiumPage) SetFiles(selector string, paths ...string) error {
	return chromedp.Do(p.ctx, chromedp.SetUploadFiles(chromedp.CSS(selector), paths))
}
