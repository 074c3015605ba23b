//go:build !js

package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/internal/chromium"
	"github.com/alexlens/alexlens/server"
)

// cutWriter passes a response through until limit bytes of its body are written, then
// aborts the connection, as a dropped network does in the middle of a download.
type cutWriter struct {
	http.ResponseWriter
	left int
}

func (c *cutWriter) Write(b []byte) (int, error) {
	if len(b) >= c.left {
		c.ResponseWriter.Write(b[:c.left])
		c.ResponseWriter.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // net/http closes the connection without ending the body
	}
	c.left -= len(b)
	return c.ResponseWriter.Write(b)
}

func (c *cutWriter) Flush() { c.ResponseWriter.(http.Flusher).Flush() }

// TestDownloadResumes cuts the connection twice in the middle of AlexNet's int8 weights
// (61 MB): the engine worker picks the download up where it stopped with Range and
// If-Range requests, the page loads and classifies, about the file's size crosses the
// network in all, and the file stored in Cache Storage is whole and verified (the next
// visit loads from it).
func TestDownloadResumes(t *testing.T) {
	ctx := browser(t, false)
	dir, files := alexNetFiles(t, engine.Int8)
	p := files[0]
	file := filepath.Base(p)
	h, err := server.New(server.Config{WebRoot: webDir, WeightsDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		ranges []string // the Range and If-Range of each request for the file
		sent   atomic.Int64
		cuts   atomic.Int32
	)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/"+file) {
			h.ServeHTTP(w, r)
			return
		}
		mu.Lock()
		ranges = append(ranges, fmt.Sprintf("range=%q if-range=%q", r.Header.Get("Range"), r.Header.Get("If-Range")))
		mu.Unlock()
		cw := &countWriter{ResponseWriter: w, n: &sent}
		if cuts.Add(1) <= 2 { // the first two answers are cut 20 MB in
			h.ServeHTTP(&cutWriter{ResponseWriter: cw, left: 20 << 20}, r)
			return
		}
		h.ServeHTTP(cw, r)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String()

	tab := chromium.NewTab(t, ctx)
	openAt(t, tab, url, "?arch=alexnet&precision=int8&backend=cpu")
	mu.Lock()
	got := append([]string(nil), ranges...)
	mu.Unlock()
	t.Logf("requests for the file: %q; %d MB sent", got, sent.Load()>>20)
	if len(got) != 3 || !strings.Contains(got[1], `range="bytes=`) || !strings.Contains(got[1], `if-range="\"`) || !strings.Contains(got[2], `range="bytes=`) {
		t.Errorf("requests for the file: %q; want a whole request, then two resumed with Range and If-Range", got)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	size := fi.Size()
	if s := sent.Load(); s < size || s > size+size/10 {
		t.Errorf("%d bytes crossed the network for a %d-byte file: the download started over", s, size)
	}
	footer, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.querySelector('footer')?.textContent ?? ''`))
	if !strings.Contains(footer, "downloaded") {
		t.Errorf("footer %q", footer)
	}
	// The stored file is whole: the next visit loads from the cache, no request.
	tab2 := chromium.NewTab(t, ctx)
	openAt(t, tab2, url, "?arch=alexnet&precision=int8&backend=cpu")
	if footer, _ := chromedp.Run(tab2, chromedp.Evaluate[string](`document.querySelector('footer')?.textContent ?? ''`)); !strings.Contains(footer, "from the browser cache") {
		t.Errorf("second visit: %q, want the weights from the cache", footer)
	}
	upload(t, tab2, filepath.Join(moduleRoot, "ui", "samples", "chelsea.jpg"))
	waitResult(t, tab2, 1)
}

// countWriter adds up the body bytes written.
type countWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n.Add(int64(n))
	return n, err
}

func (c *countWriter) Flush() { c.ResponseWriter.(http.Flusher).Flush() }

// TestTwoTabsDownloadOnce opens two tabs on the same weights at once: one engine worker
// waits for the other (a Web Lock named after the file's hash), then reads the verified
// file from Cache Storage, so it is downloaded, hashed and stored once.
func TestTwoTabsDownloadOnce(t *testing.T) {
	ctx := browser(t, false)
	dir, files := alexNetFiles(t, engine.Int8)
	p := files[0]
	var log requestLog
	url := serveWeights(t, dir, &log)
	const query = "?arch=alexnet&precision=int8&backend=cpu"
	tabs := []context.Context{chromium.NewTab(t, ctx), chromium.NewTab(t, ctx)}
	for _, tab := range tabs {
		if err := chromedp.Do(tab, chromedp.Navigate(url+"/"+query)); err != nil {
			t.Fatal(err)
		}
	}
	var footers []string
	for i, tab := range tabs {
		status, err := chromedp.Run(tab, chromedp.Poll[string](`(s => s === 'ready' || s === 'failed' ? s : null)(document.querySelector('[data-testid=status]')?.textContent)`,
			chromedp.WithPollingTimeout(3*time.Minute), chromedp.WithPollingInterval(20*time.Millisecond)))
		if err != nil || status != "ready" {
			t.Fatalf("tab %d: %q %v", i+1, status, err)
		}
		s, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.querySelector('footer')?.textContent ?? ''`))
		footers = append(footers, s)
	}
	if n := log.count(filepath.Base(p)); n != 1 {
		t.Errorf("the file was requested %d times by two tabs, want once", n)
	}
	// Chromium's HTTP cache alone may let the second request wait for the first (not for a
	// file too large for it); the lock makes the second tab read the verified copy.
	downloaded, cached := 0, 0
	for _, f := range footers {
		if strings.Contains(f, "weights downloaded") {
			downloaded++
		}
		if strings.Contains(f, "from the browser cache") {
			cached++
		}
	}
	if downloaded != 1 || cached != 1 {
		t.Errorf("footers %q: want one tab to download the weights and the other to read them from the cache", footers)
	}
}
