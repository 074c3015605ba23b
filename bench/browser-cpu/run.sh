#!/usr/bin/env bash
# The browser CPU benchmark (make bench-browser): AlexLens's Go wasm CPU path against
# onnxruntime-web (WASM backend, SIMD) and tfjs-backend-wasm on the same networks and weights,
# in one headless Chromium, at 1 thread and at all cores. Prints the report and, with
# --update, replaces the "Browser CPU" section of BENCHMARKS.md with it.
#   bench/browser-cpu/run.sh [--update] [driver flags, e.g. -runs 30 -nets alexnet]
# Needs: npm (peers), /usr/bin/python3 with torch/torchvision/onnx (export), chromium, and Go
# 1.27 for the SIMD build (GOTOOLCHAIN=go1.27.3 is fetched by the go command from the module
# proxy). Without the network or any of these it says what is missing and exits 0.
set -euo pipefail
cd "$(dirname "$0")/../.."
update=0
if [ "${1:-}" = "--update" ]; then update=1; shift; fi
work=build/browser-cpu
simd_go=${SIMD_GOTOOLCHAIN:-go1.27.3}
shared=${ALEXLENS_SHARED:-../shared}

skip() { echo "bench-browser: skipped: $*"; exit 0; }
command -v npm >/dev/null || skip "npm is not installed (scripts/install-test-deps.sh)"
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import torch, torchvision, onnx' 2>/dev/null ||
	skip "/usr/bin/python3 with torch, torchvision and onnx is needed (python3-torch python3-torchvision python3-onnx)"
chrome=$(command -v chromium || true)
[ -n "$chrome" ] || skip "chromium is not installed"

# Peers from npm, exact versions, into a gitignored folder.
mkdir -p "$work"
if ! cmp -s bench/browser-cpu/package.json "$work/package.json" || [ ! -d "$work/node_modules/onnxruntime-web" ]; then
	cp bench/browser-cpu/package.json "$work/package.json"
	(cd "$work" && npm install --no-audit --no-fund --ignore-scripts >/dev/null) ||
		skip "npm install failed (offline?)"
fi

# The same weights for every engine: .pth for AlexLens, .onnx for onnxruntime-web, raw
# float32 for the tfjs graph; a real photo and PyTorch's own top-5.
if [ ! -f "$work/data/reference.json" ] || [ bench/browser-cpu/export.py -nt "$work/data/reference.json" ]; then
	/usr/bin/python3 bench/browser-cpu/export.py "$work/data" "$shared/weights"
fi

# AlexLens: the SIMD build (Go 1.27, GOEXPERIMENT=simd) and the portable Go 1.26 build.
mkdir -p "$work/alexlens"
GOTOOLCHAIN=$simd_go GOEXPERIMENT=simd GOOS=js GOARCH=wasm go build -trimpath -o "$work/alexlens/alexlens.wasm" ./bench/browser-cpu/worker ||
	skip "cannot build with $simd_go (offline and not cached?)"
cp "$(GOTOOLCHAIN=$simd_go go env GOROOT)/lib/wasm/wasm_exec.js" "$work/alexlens/wasm_exec.js"
# The same program on a shared memory, for the kernel pool at several threads.
go run ./wasm/sharedmem/sharemem "$work/alexlens/alexlens.wasm" "$work/alexlens/alexlens-shared.wasm" >/dev/null
cp ui/static/shared-memory.js ui/static/kernel-worker.js "$work/alexlens/"
GOOS=js GOARCH=wasm go build -trimpath -o "$work/alexlens/alexlens-portable.wasm" ./bench/browser-cpu/worker
cp "$(go env GOROOT)/lib/wasm/wasm_exec.js" "$work/alexlens/wasm_exec-portable.js"

go run ./bench/browser-cpu/driver -chrome "$chrome" -out "$work/report.md" "$@"

if [ "$update" = 1 ]; then
	/usr/bin/python3 - "$work/report.md" <<'PY'
import re, sys
report = open(sys.argv[1]).read()
text = open("BENCHMARKS.md").read()
section = ("<!-- browser-cpu:begin -->\n## Browser CPU\n\n"
           "AlexLens's Go wasm CPU path beside onnxruntime-web (WASM backend, SIMD) and "
           "tfjs-backend-wasm, same networks and weights, headless Chromium. Reproduce with "
           "`make bench-browser-cpu` (bench/browser-cpu/run.sh --update; peers from npm, ONNX and "
           "tfjs weights exported by Debian's PyTorch). Engines: `alexlens` is the engine as the "
           "app runs it: Go compiled to wasm (Go 1.27, GOEXPERIMENT=simd), with convolutions, linear "
           "layers and max pooling in a WebAssembly SIMD module that Go generates "
           "(wasm/cpukernel: 5x8 mul+add tile, KC/MC blocking, im2col packing in the module, Winograd F(2x2,3x3) for 3x3 stride-1 convolutions) and "
           "runs on the Go program's own memory; at N threads it is one Go worker whose program "
           "was rewritten to import a shared memory (wasm/sharedmem) and N-1 kernel workers that "
           "take parts of every kernel call on that memory (the page is cross-origin isolated, "
           "as onnxruntime-web's threads need too). `alexlens-int8` is the same with int8 weights "
           "(per output channel; activations stay float32). `alexlens-gokernel` is the Go archsimd "
           "micro-kernel without the module and `alexlens-portable` the Go 1.26 build with "
           "neither, both on one thread (extra threads are the module's kernel workers). The "
           "peers use their own wasm "
           "threads. int8 on the seeded (untrained) AlexNet swaps two classes of near-equal "
           "logits, ranks 2 and 3; on the released SqueezeNet it keeps PyTorch's top-5.\n\n"
           + report + "<!-- browser-cpu:end -->")
if "<!-- browser-cpu:begin -->" in text:
    text = re.sub(r"<!-- browser-cpu:begin -->.*?<!-- browser-cpu:end -->", lambda m: section, text, flags=re.S)
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open("BENCHMARKS.md", "w").write(text)
print("bench-browser: BENCHMARKS.md updated")
PY
fi
