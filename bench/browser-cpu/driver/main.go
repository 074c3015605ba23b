// Command driver runs the browser CPU benchmark: it serves the page, the peers (npm), the
// exported networks and the built AlexLens web app with its weights (the app's own server,
// under /app/) on loopback, cross-origin isolated (COOP + COEP, so that onnxruntime-web and
// tfjs can use threads and the app its kernel workers), opens the page in one headless
// Chromium once per network and thread count, and prints a Markdown report: median and spread
// of the pass times, ratio to onnxruntime-web at the same thread count, achieved GFLOP/s,
// top-5 agreement with PyTorch, and AlexLens's per-layer medians. AlexLens is the app's own
// engine worker sent the requests the app's page sends (ui/state builds them here, served at
// /requests). bench/browser-cpu/run.sh prepares its inputs.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/alexlens/alexlens/engine"
	"github.com/alexlens/alexlens/internal/chromium"
	"github.com/alexlens/alexlens/server"
)

type result struct {
	Engine, Net, Version, Kernel, Error string
	Exchange                            string // AlexLens's threads as its load answered
	Threads                             int
	Isolated                            bool
	Times                               []float64 // the page's wait for each pass
	Top5                                []int
	Logits                              []float64 // the peers' logits
	// AlexLens: its top-5 with probabilities, the worker's own forward time (the network
	// alone, [data-testid=forward-ms] in the app) and per-layer times of each pass, and the
	// progress messages the last pass sent.
	Top []struct {
		Index int
		Prob  float64
	}
	Forward          []float64
	Preprocess       []float64
	Layers           map[string][]float64
	Order            []string
	ProgressMessages int
}

type reference map[string]struct {
	Top5    []int
	Logits  []float64
	Trained bool
}

func main() {
	page := flag.String("page", "bench/browser-cpu/page", "the benchmark page's folder")
	peers := flag.String("peers", "build/browser-cpu/node_modules", "npm packages of the peers")
	data := flag.String("data", "build/browser-cpu/data", "exported networks (export.py)")
	web := flag.String("web", "build/browser-cpu/web", "the built web app (scripts/build-web.sh)")
	weightsDir := flag.String("weights", "build/browser-cpu/weights", "the app's weights folder, with manifest.json, converted from the exported .pth files")
	chrome := flag.String("chrome", chromium.Path(), "Chromium to drive")
	nets := flag.String("nets", "alexnet,squeezenet1_1", "networks")
	engines := flag.String("engines", "alexlens,alexlens-int8,ort,tfjs", "engines")
	threads := flag.String("threads", fmt.Sprintf("1,%d", runtime.NumCPU()), "thread counts")
	warmup := flag.Int("warmup", 5, "forward passes before timing")
	runs := flag.Int("runs", 20, "timed forward passes")
	out := flag.String("out", "", "also write the report to this file")
	query := flag.String("query", "", "more page parameters (name=value&...), appended to the page's URL")
	flag.Parse()

	loadBefore := loadAvg()
	base, ref, err := serve(files{page: *page, peers: *peers, data: *data, web: *web, weights: *weightsDir})
	if err != nil {
		log.Fatalf("driver: %v", err)
	}

	browser, cancelBrowser := chromium.Start(*chrome, chromium.Options{Extra: []chromedp.ExecAllocatorOption{chromedp.Flag("disable-gpu", true)}})
	defer cancelBrowser()
	if err := chromedp.Do(browser); err != nil {
		log.Fatalf("driver: starting Chromium: %v", err)
	}
	version, _ := chromedp.Run(browser, chromedp.Evaluate[string]("navigator.userAgent"))

	var results []result
	for _, pg := range pages(base, *engines, *nets, *threads, *warmup, *runs, *query) {
		rs, err := runPage(browser, pg.url)
		if err != nil {
			log.Fatalf("driver: %s threads=%d: %v", pg.net, pg.threads, err)
		}
		results = append(results, pg.label(rs)...)
	}
	report := render(results, ref, version, *warmup, *runs, loadBefore+" / "+loadAvg())
	fmt.Print(report)
	if *out != "" {
		if err := os.WriteFile(*out, []byte(report), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

// files are the benchmark's inputs, as bench/browser-cpu/run.sh prepares them.
type files struct{ page, peers, data, web, weights string }

// serve serves the page, the peers, the exported networks and the app (its own server,
// under /app/, with the requests its page would send at /requests) on a loopback port,
// cross-origin isolated, and returns the base URL and PyTorch's reference results.
func serve(f files) (base string, ref reference, err error) {
	if b, err := os.ReadFile(f.data + "/reference.json"); err != nil {
		return "", nil, fmt.Errorf("%v (run bench/browser-cpu/run.sh, which exports the networks first)", err)
	} else if err := json.Unmarshal(b, &ref); err != nil {
		return "", nil, fmt.Errorf("reference.json: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/page/", http.StripPrefix("/page/", http.FileServer(http.Dir(f.page))))
	mux.Handle("/peers/", http.StripPrefix("/peers/", http.FileServer(http.Dir(f.peers))))
	mux.Handle("/data/", http.StripPrefix("/data/", http.FileServer(http.Dir(f.data))))
	app, err := server.New(server.Config{WebRoot: f.web, WeightsDir: f.weights})
	if err != nil {
		return "", nil, err
	}
	mux.Handle("/app/", http.StripPrefix("/app", app))
	reqs, err := newAppRequests(f.web, f.weights, "/app/")
	if err != nil {
		return "", nil, fmt.Errorf("%v (run bench/browser-cpu/run.sh, which builds the app and converts the weights first)", err)
	}
	mux.Handle("/requests", reqs)
	isolated := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/app/") { // the app's server sends its own headers
			mux.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Cross-Origin-Opener-Policy", "same-origin")
		w.Header().Set("Cross-Origin-Embedder-Policy", "require-corp")
		w.Header().Set("Cache-Control", "no-store")
		if strings.HasSuffix(r.URL.Path, ".mjs") {
			w.Header().Set("Content-Type", "text/javascript")
		}
		mux.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	go http.Serve(ln, isolated)
	return "http://" + ln.Addr().String(), ref, nil
}

// page is one opening of the benchmark page: one network at one thread count, every engine.
type page struct {
	net, url string
	threads  int
}

func pages(base, engines, nets, threads string, warmup, runs int, query string) []page {
	var ps []page
	for _, n := range strings.Split(nets, ",") {
		for _, t := range strings.Split(threads, ",") {
			p := page{net: n, url: fmt.Sprintf("%s/page/index.html?engines=%s&net=%s&threads=%s&warmup=%d&runs=%d", base, engines, n, t, warmup, runs)}
			fmt.Sscan(t, &p.threads)
			if query != "" {
				p.url += "&" + query
			}
			ps = append(ps, p)
		}
	}
	return ps
}

// label gives the page's results its network and thread count, and logs each.
func (p page) label(rs []result) []result {
	for i := range rs {
		r := &rs[i]
		r.Net, r.Threads = p.net, p.threads
		if r.Error != "" {
			log.Printf("%s %s threads=%d: %s", r.Engine, p.net, p.threads, firstLine(r.Error))
		} else {
			log.Printf("%s %s threads=%d: median %.1f ms", r.Engine, p.net, p.threads, median(r.Times))
		}
	}
	return rs
}

// runPage opens the page in a fresh tab and waits for its results (all engines, interleaved;
// the portable kernel on AlexNet takes about a second per pass).
func runPage(browser context.Context, url string) ([]result, error) {
	tab, cancel := chromedp.NewContext(browser)
	defer cancel()
	tab, cancelT := context.WithTimeout(tab, 10*time.Minute)
	defer cancelT()
	if err := chromedp.Do(tab, chromedp.Navigate(url)); err != nil {
		return nil, err
	}
	raw, err := chromedp.Run(tab, chromedp.Poll[json.RawMessage]("window.benchResult", chromedp.WithPollingTimeout(9*time.Minute)))
	if err != nil {
		return nil, err
	}
	var rs []result
	if err := json.Unmarshal(raw, &rs); err != nil {
		return nil, err
	}
	return rs, nil
}

func render(results []result, ref reference, ua string, warmup, runs int, load string) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("- Browser: %s, one session; machine: %d cores (%s); load average before / after the run: %s (other work on the machine makes single numbers noisy: compare engines within one run).\n", ua, runtime.NumCPU(), cpuName(), load)
	w("- Batch 1; per network and thread count one page runs every engine, interleaved (each round one pass of each engine, so that load from elsewhere falls on all alike); %d rounds timed after %d passes of warm-up each, timed in the page; median, and spread as min–max. Ratio = engine median / onnxruntime-web median at the same thread count (below 1 = faster than onnxruntime-web).\n", runs, warmup)
	w("- AlexLens is the app's own engine worker (the built app's worker.js and engine, its load and classify requests as the page builds them): its time is the page's wait from posting the photo's PNG file to the answer, so it includes decoding and resizing the photo, the activation maps the page shows, the embedding and the messages; \"forward\" is the worker's own time for the network (the app's forward-ms). The peers are timed on the photo already preprocessed.\n")
	w("- GFLOP/s counts 2 FLOPs per multiply-add of convolutions and linear layers (AlexNet %.2f GFLOP, SqueezeNet 1.1 %.2f GFLOP), over the forward time for AlexLens.\n", gflop(engine.AlexNet), gflop(engine.SqueezeNet11))
	iso := "no"
	for _, r := range results {
		if r.Isolated {
			iso = "yes"
		}
	}
	w("- Page cross-origin isolated (SharedArrayBuffer, needed by the peers' threads and the app's kernel workers): %s.\n", iso)
	w("- Top-5 is checked against PyTorch float32 on the same weights and photo (chelsea.png); SqueezeNet has its released ImageNet weights, torchvision AlexNet seeded random ones (no trained weights offline). The error column is the logits' for the peers and the top-5 probabilities' for AlexLens (the app answers with probabilities).\n\n")
	w("| network | engine | threads | median ms | spread ms | ratio to ORT | forward ms | forward ratio | GFLOP/s | top-5 = PyTorch | max abs err, rel L2 |\n")
	w("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|\n")
	for _, r := range results {
		if r.Error != "" {
			w("| %s | %s | %d | – | – | – | – | – | – | %s | – |\n", r.Net, engineName(r), r.Threads, "not run: "+firstLine(r.Error))
			continue
		}
		med := median(r.Times)
		ort := math.NaN()
		for _, o := range results {
			if o.Engine == "ort" && o.Net == r.Net && o.Threads == r.Threads && o.Error == "" {
				ort = median(o.Times)
			}
		}
		forward, fratio, compute := "–", "–", med
		if len(r.Forward) > 0 {
			compute = median(r.Forward)
			forward, fratio = fmt.Sprintf("%.1f", compute), ratioText(compute, ort)
		}
		rf := ref[r.Net]
		agree := "yes"
		if !slices.Equal(r.Top5, rf.Top5) {
			agree = fmt.Sprintf("no: %v vs %v", r.Top5, rf.Top5)
		}
		errs := fmt.Sprintf("%.2g, %.2g", maxAbsDiff(r.Logits, rf.Logits), relL2(r.Logits, rf.Logits))
		if len(r.Top) > 0 {
			errs = fmt.Sprintf("%.2g (probabilities)", probErr(r, rf.Logits))
		}
		w("| %s | %s | %d | %.1f | %.1f–%.1f | %s | %s | %s | %.1f | %s | %s |\n", r.Net, engineName(r), r.Threads, med,
			slices.Min(r.Times), slices.Max(r.Times), ratioText(med, ort), forward, fratio, gflop(archOf(r.Net))/(compute/1000), agree, errs)
	}
	// Per layer: one column per AlexLens run (engine and thread count) of each network.
	for _, net := range nets(results) {
		var cols []result
		for _, r := range results {
			if r.Net == net && r.Error == "" && len(r.Layers) > 0 {
				cols = append(cols, r)
			}
		}
		if len(cols) == 0 {
			continue
		}
		w("\n**%s, AlexLens per layer (median ms, the worker's own timing)**\n\n| layer |", net)
		for _, r := range cols {
			w(" %s %dT |", r.Engine, r.Threads)
		}
		w("\n|---|%s\n", strings.Repeat("---:|", len(cols)))
		for _, name := range cols[0].Order {
			w("| %s |", name)
			for _, r := range cols {
				w(" %.2f |", median(r.Layers[name]))
			}
			w("\n")
		}
		for _, row := range []struct {
			name string
			v    func(result) string
		}{
			{"**forward**", func(r result) string { return fmt.Sprintf("%.1f", median(r.Forward)) }},
			{"decoding and resizing the photo (the worker's)", func(r result) string { return fmt.Sprintf("%.1f", median(r.Preprocess)) }},
			{"**page's wait**", func(r result) string { return fmt.Sprintf("%.1f", median(r.Times)) }},
			{"progress messages a pass", func(r result) string { return fmt.Sprint(r.ProgressMessages) }},
		} {
			w("| %s |", row.name)
			for _, r := range cols {
				w(" %s |", row.v(r))
			}
			w("\n")
		}
	}
	return b.String()
}

func ratioText(v, ort float64) string {
	if math.IsNaN(ort) {
		return "–"
	}
	return fmt.Sprintf("%.2f", v/ort)
}

// probErr is the largest difference between AlexLens's top-5 probabilities and PyTorch's
// softmax of its logits for the same classes.
func probErr(r result, logits []float64) float64 {
	if len(logits) == 0 {
		return math.NaN()
	}
	m := slices.Max(logits)
	sum := 0.0
	for _, v := range logits {
		sum += math.Exp(v - m)
	}
	worst := 0.0
	for _, p := range r.Top {
		if p.Index < 0 || p.Index >= len(logits) {
			return math.NaN()
		}
		worst = max(worst, math.Abs(p.Prob-math.Exp(logits[p.Index]-m)/sum))
	}
	return worst
}

func nets(results []result) []string {
	var ns []string
	for _, r := range results {
		if !slices.Contains(ns, r.Net) {
			ns = append(ns, r.Net)
		}
	}
	return ns
}

func engineName(r result) string {
	switch r.Engine {
	case "ort":
		return "onnxruntime-web " + r.Version + " (wasm)"
	case "tfjs":
		return "tfjs-backend-wasm " + r.Version
	}
	if r.Kernel != "" {
		return r.Engine + " (" + r.Kernel + ")"
	}
	return r.Engine
}

func archOf(name string) *engine.Arch {
	if name == "squeezenet1_1" {
		return engine.SqueezeNet11
	}
	return engine.AlexNet
}

// gflop is the FLOP count (two per multiply-add) of one forward pass, in billions.
func gflop(a *engine.Arch) float64 {
	macs, err := a.MultiplyAdds(a.InputSize, a.InputSize)
	if err != nil {
		panic(err)
	}
	return 2 * float64(macs) / 1e9
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func maxAbsDiff(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.NaN()
	}
	m := 0.0
	for i := range a {
		m = max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

// relL2 is ||a-b|| / ||b||.
func relL2(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.NaN()
	}
	var num, den float64
	for i := range a {
		num += (a[i] - b[i]) * (a[i] - b[i])
		den += b[i] * b[i]
	}
	return math.Sqrt(num / den)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:3], " ")
}

func cpuName() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 1<<16))
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
