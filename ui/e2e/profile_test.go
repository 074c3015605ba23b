//go:build !js

package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/profiler"
	"github.com/chromedp/chromedp"
)

// engineWorkerURL matches the engine worker's script (worker.js, content-hashed when served
// by the app: worker.412027b8d124.js), not the kernel workers' kernel-worker.js.
var engineWorkerURL = regexp.MustCompile(`/worker(\.[0-9a-f]+)?\.js(\?|$)`)

// profileWorker starts V8's sampling profiler in the page's engine worker when
// ALEXLENS_BROWSER_PROFILE names a folder, and returns the function that stops it. Stopping
// writes NAME.cpuprofile there (DevTools' Performance panel loads it) and NAME.txt, the
// functions with the most samples on top of the stack (self) and anywhere in it (total).
// Without the variable it does nothing: it is a tool for finding where the benchmarks'
// time goes, not part of what they measure.
func profileWorker(t *testing.T, ctx context.Context, name string) (stop func()) {
	t.Helper()
	dir := os.Getenv("ALEXLENS_BROWSER_PROFILE")
	if dir == "" {
		return func() {}
	}
	targets, err := chromedp.Targets(ctx)
	if err != nil {
		t.Fatalf("profile: targets: %v", err)
	}
	var worker *chromedp.Context
	var wctx context.Context
	for _, ti := range targets {
		if ti.Type == "worker" && engineWorkerURL.MatchString(ti.URL) {
			wctx, _ = chromedp.NewContext(ctx, chromedp.WithTargetID(ti.TargetID))
			worker = chromedp.FromContext(wctx)
			break
		}
	}
	if worker == nil {
		var urls []string
		for _, ti := range targets {
			urls = append(urls, ti.Type+" "+ti.URL)
		}
		t.Fatalf("profile: no engine worker among the targets: %s", strings.Join(urls, ", "))
	}
	err = chromedp.Do(wctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, profiler.Enable, cdp.Empty{}); err != nil {
			return err
		}
		if _, err := cdp.Call(ctx, tg, profiler.SetSamplingInterval, profiler.SetSamplingIntervalParams{Interval: 200}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, profiler.Start, cdp.Empty{})
		return err
	}))
	if err != nil {
		t.Fatalf("profile: start: %v", err)
	}
	return func() {
		t.Helper()
		p, err := chromedp.Run(wctx, func(ctx context.Context, tg *chromedp.Target) (*profiler.Profile, error) {
			res, err := cdp.Call(ctx, tg, profiler.Stop, cdp.Empty{})
			if err != nil {
				return nil, err
			}
			return res.Profile, nil
		})
		if err != nil {
			t.Fatalf("profile: stop: %v", err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		nameFrames(p, engineFuncNames(t))
		raw, _ := json.Marshal(p)
		if err := os.WriteFile(filepath.Join(dir, name+".cpuprofile"), raw, 0o644); err != nil {
			t.Fatal(err)
		}
		summary := summarizeProfile(p, 60)
		if err := os.WriteFile(filepath.Join(dir, name+".txt"), []byte(summary), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("profile of the engine worker: %s\n%s", filepath.Join(dir, name+".txt"), summary)
	}
}

// nameFrames gives Go's functions their names in p: they appear as wasm-function[N] (the
// app's build is stripped), and names maps N to the function's name in an unstripped build
// of the same engine. The saved profile then reads as it is in DevTools or a script.
func nameFrames(p *profiler.Profile, names map[int]string) {
	for _, n := range p.Nodes {
		var i int
		if n.CallFrame == nil {
			continue
		}
		if _, err := fmt.Sscanf(n.CallFrame.FunctionName, "wasm-function[%d]", &i); err == nil && names[i] != "" {
			n.CallFrame.FunctionName = names[i]
		}
	}
}

// summarizeProfile lists the top functions by self samples and by total samples (a
// function counted once per sample however often it recurs in the stack).
func summarizeProfile(p *profiler.Profile, top int) string {
	byID := map[int64]*profiler.ProfileNode{}
	parent := map[int64]int64{}
	for _, n := range p.Nodes {
		byID[n.ID] = n
		for _, c := range n.Children {
			parent[c] = n.ID
		}
	}
	nameOf := func(n *profiler.ProfileNode) string {
		if n.CallFrame == nil || n.CallFrame.FunctionName == "" {
			return "(anonymous)"
		}
		return n.CallFrame.FunctionName
	}
	self := map[string]int{}
	total := map[string]int{}
	samples := 0
	for _, id := range p.Samples {
		n := byID[id]
		if n == nil {
			continue
		}
		samples++
		self[nameOf(n)]++
		seen := map[string]bool{}
		for cur, ok := id, true; ok; cur, ok = parent[cur] {
			name := nameOf(byID[cur])
			if !seen[name] {
				seen[name] = true
				total[name]++
			}
		}
	}
	list := func(m map[string]int) string {
		type kv struct {
			k string
			v int
		}
		var s []kv
		for k, v := range m {
			s = append(s, kv{k, v})
		}
		slices.SortFunc(s, func(a, b kv) int { return cmp.Or(b.v-a.v, strings.Compare(a.k, b.k)) })
		var b strings.Builder
		for i, e := range s {
			if i == top {
				break
			}
			fmt.Fprintf(&b, "%6.1f%%  %s\n", 100*float64(e.v)/float64(max(samples, 1)), e.k)
		}
		return b.String()
	}
	return fmt.Sprintf("%d samples over %.2f s\n\nself:\n%s\ntotal:\n%s", samples, (p.EndTime-p.StartTime)/1e6, list(self), list(total))
}

var engineNames struct {
	once  sync.Once
	names map[int]string
}

// engineFuncNames builds the engine as scripts/build-web.sh does but keeps its name section,
// and returns its function names by index (nil, with a log line, when that fails).
func engineFuncNames(t *testing.T) map[int]string {
	engineNames.once.Do(func() {
		out := filepath.Join(t.TempDir(), "engine.wasm")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-w", "-o", out, "./wasm/worker")
		cmd.Dir = moduleRoot
		cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "GOTOOLCHAIN="+cmp.Or(os.Getenv("SIMD_GOTOOLCHAIN"), "go1.27.3"), "GOEXPERIMENT=simd")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Logf("profile: no function names: building the engine: %v\n%s", err, b)
			return
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Logf("profile: no function names: %v", err)
			return
		}
		engineNames.names = wasmFuncNames(b)
	})
	return engineNames.names
}

// wasmFuncNames reads the function names subsection of a WebAssembly module's name section.
func wasmFuncNames(b []byte) map[int]string {
	uleb := func() int {
		v, shift := 0, 0
		for len(b) > 0 {
			c := b[0]
			b = b[1:]
			v |= int(c&0x7f) << shift
			shift += 7
			if c < 0x80 {
				break
			}
		}
		return v
	}
	str := func() string {
		n := min(uleb(), len(b))
		s := string(b[:n])
		b = b[n:]
		return s
	}
	if len(b) < 8 {
		return nil
	}
	b = b[8:]
	for len(b) > 0 {
		id := b[0]
		b = b[1:]
		size := min(uleb(), len(b))
		body, rest := b[:size], b[size:]
		if id == 0 {
			b = body
			if str() == "name" {
				for len(b) > 0 {
					sub := b[0]
					b = b[1:]
					n := min(uleb(), len(b))
					subBody, subRest := b[:n], b[n:]
					if sub == 1 {
						b = subBody
						names := map[int]string{}
						for count := uleb(); count > 0 && len(b) > 0; count-- {
							i := uleb()
							names[i] = str()
						}
						return names
					}
					b = subRest
				}
			}
		}
		b = rest
	}
	return nil
}
