//go:build !js

// Package browsertest runs the WebGPU backend's checks in headless Chromium: it builds the
// in-page driver (wasm/webgpu/testdriver), serves it on a loopback port and reads back the
// JSON report the page leaves in window.alexlensReport. The tests (browser_test.go) assert
// on the reports; the benchmark program (bench/browserbench) prints them as tables.
package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/alexlens/alexlens/internal/chromium"
	"github.com/alexlens/alexlens/wasm/webgpu/report"
)

const indexHTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>AlexLens WebGPU checks</title>
<script src="wasm_exec.js"></script></head>
<body><script>
const go = new Go();
WebAssembly.instantiateStreaming(fetch("driver.wasm"), go.importObject)
  .then(r => go.run(r.instance))
  .catch(e => { window.alexlensReport = JSON.stringify({fatal: "driver failed to start: " + e}); });
</script></body></html>
`

// Build compiles the driver into dir with wasm_exec.js and index.html.
func Build(root, dir string) error {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	cmd := exec.Command(goBin, "build", "-o", filepath.Join(dir, "driver.wasm"), "./wasm/webgpu/testdriver")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building the test driver: %v\n%s", err, out.String())
	}
	goroot := strings.TrimSpace(runOut(root, goBin, "env", "GOROOT"))
	wasmExec, err := os.ReadFile(filepath.Join(goroot, "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "wasm_exec.js"), wasmExec, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "index.html"), []byte(indexHTML), 0o644)
}

func runOut(dir, name string, args ...string) string {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	b, _ := cmd.Output()
	return string(b)
}

// Serve serves dir on 127.0.0.1 and returns the base URL and a stop function.
func Serve(dir string) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	fs := http.FileServer(http.Dir(dir))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		fs.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// Run opens base/?query in a new tab and waits for the page's report for as long as the
// page makes progress: it fails when no case has finished for stall (the page counts its
// finished cases in window.alexlensProgress), or when ctx ends. A slow machine (SwiftShader
// under a full test suite's load) passes as long as the cases keep coming.
func Run(ctx context.Context, base, query string, stall time.Duration) (*report.Report, []string, error) {
	tab, cancel := chromedp.NewContext(ctx)
	defer cancel()
	console := chromium.Console(tab)
	if err := chromedp.Do(tab, chromedp.Navigate(base+"/?"+query)); err != nil {
		return nil, console.Lines(), fmt.Errorf("navigate: %v", err)
	}
	type state struct {
		Report string
		Done   int
	}
	last, lastAt := -1, time.Now()
	for {
		s, err := chromedp.Run(tab, chromedp.Evaluate[state](`({Report: window.alexlensReport || '', Done: typeof window.alexlensProgress === 'function' ? window.alexlensProgress() : 0})`))
		if err != nil {
			return nil, console.Lines(), fmt.Errorf("waiting for the page's report (%s): %v", query, err)
		}
		if s.Report != "" {
			var rep report.Report
			if err := json.Unmarshal([]byte(s.Report), &rep); err != nil {
				return nil, console.Lines(), fmt.Errorf("report: %v", err)
			}
			return &rep, console.Lines(), nil
		}
		if s.Done != last {
			last, lastAt = s.Done, time.Now()
		} else if time.Since(lastAt) > stall {
			return nil, console.Lines(), fmt.Errorf("waiting for the page's report (%s): no case finished for %v (%d done)", query, stall, s.Done)
		}
		select {
		case <-ctx.Done():
			return nil, console.Lines(), fmt.Errorf("waiting for the page's report (%s): %v (%d cases done)", query, ctx.Err(), s.Done)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
