// Command browserbench times the forward pass in headless Chromium, per network, weight
// precision, backend (WebGPU, CPU WebAssembly) and layer, with the in-page driver of
// wasm/webgpu/testdriver, and prints Markdown tables with the GPU buffer bytes.
//
//	go run ./bench/browserbench -arch squeezenet1_1,alexnet -runs 5
//	go run ./bench/browserbench -gpu   # a real GPU: Chromium's own adapter, not SwiftShader
//
// Without -gpu, Chromium runs WebGPU on SwiftShader (a CPU emulation): its times are not
// GPU performance.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/alexlens/alexlens/internal/chromium"
	"github.com/alexlens/alexlens/internal/testenv"
	"github.com/alexlens/alexlens/wasm/webgpu/browsertest"
	"github.com/alexlens/alexlens/wasm/webgpu/report"
)

func main() {
	archs := flag.String("arch", "squeezenet1_1,alexnet,alexnet-bvlc", "networks, comma-separated")
	runs := flag.Int("runs", 3, "timed passes per configuration (median reported)")
	batch := flag.Int("batch", 1, "batch size")
	backends := flag.String("backends", "webgpu,cpu", "backends to time")
	gpu := flag.Bool("gpu", false, "use the machine's GPU (adds --enable-features=Vulkan and --use-angle=vulkan; runs headless=new)")
	timeout := flag.Duration("timeout", 20*time.Minute, "per network")
	flag.Parse()
	if err := run(*archs, *runs, *batch, *backends, *gpu, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "browserbench:", err)
		os.Exit(1)
	}
}

func run(archs string, runs, batch int, backends string, gpu bool, timeout time.Duration) error {
	chrome := chromium.Path()
	if chrome == "" {
		return fmt.Errorf("Chromium is not installed")
	}
	root, err := testenv.ModuleRoot()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "alexlens-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := browsertest.Build(root, dir); err != nil {
		return err
	}
	base, stop, err := browsertest.Serve(dir)
	if err != nil {
		return err
	}
	defer stop()
	var extra []chromedp.ExecAllocatorOption
	if gpu {
		extra = append(extra, chromedp.Flag("enable-features", "Vulkan"), chromedp.Flag("use-angle", "vulkan"),
			chromedp.Flag("ignore-gpu-blocklist", true))
	}
	ctx, cancel := chromium.Start(chrome, chromium.Options{WebGPU: true, Extra: extra})
	defer cancel()
	fmt.Printf("Chromium headless, batch %d, median of %d passes; %s\n\n", batch, runs, time.Now().Format("2006-01-02"))
	for _, a := range strings.Split(archs, ",") {
		tctx, tcancel := context.WithTimeout(ctx, timeout+time.Minute)
		rep, _, err := browsertest.Run(tctx, base, fmt.Sprintf("suite=bench&arch=%s&runs=%d&batch=%d&backends=%s", a, runs, batch, backends), timeout)
		tcancel()
		if err != nil {
			return err
		}
		if rep.Fatal != "" {
			return fmt.Errorf("%s: %s", a, rep.Fatal)
		}
		printTables(rep.Bench)
	}
	return nil
}

func printTables(rows []report.BenchRow) {
	if len(rows) == 0 {
		return
	}
	adapter := ""
	for _, r := range rows {
		if r.Adapter != "" {
			adapter = r.Adapter
		}
	}
	fmt.Printf("### %s (WebGPU adapter: %s)\n\n", rows[0].Arch, adapter)
	fmt.Println("| precision | backend | forward ms (median) | GPU buffers MB | of which weights MB |")
	fmt.Println("|---|---|---|---|---|")
	for _, r := range rows {
		if r.Error != "" {
			fmt.Printf("| %s | %s | error: %s | | |\n", r.Precision, r.Backend, r.Error)
			continue
		}
		gb, wb := "-", "-"
		if r.Backend == "webgpu" {
			gb, wb = fmt.Sprintf("%.1f", float64(r.GPUBytes)/1e6), fmt.Sprintf("%.1f", r.WeightsMB)
		}
		fmt.Printf("| %s | %s | %.1f | %s | %s |\n", r.Precision, r.Backend, r.MedianMs, gb, wb)
	}
	fmt.Println()
	// Per-layer medians, one column per configuration.
	var layers []string
	for _, r := range rows {
		if len(r.Layers) > len(layers) {
			layers = r.Layers
		}
	}
	fmt.Print("| layer |")
	for _, r := range rows {
		fmt.Printf(" %s %s |", r.Backend, r.Precision)
	}
	fmt.Print("\n|---|")
	for range rows {
		fmt.Print("---|")
	}
	fmt.Println()
	sort.SliceStable(layers, func(i, j int) bool { return false })
	for _, l := range layers {
		fmt.Printf("| %s |", l)
		for _, r := range rows {
			if v, ok := r.LayerMs[l]; ok {
				fmt.Printf(" %.2f |", v)
			} else {
				fmt.Print(" |")
			}
		}
		fmt.Println()
	}
	fmt.Println()
}
