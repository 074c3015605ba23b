#!/usr/bin/env bash
# The browser CPU benchmark (make bench-browser): AlexLens's Go wasm CPU path against
# onnxruntime-web (WASM backend, SIMD) and tfjs-backend-wasm on the same networks and weights,
# in one headless Chromium, at 1 thread and at all cores. Prints the report and, with
# --update, replaces the "Browser CPU" section of BENCHMARKS.md with it.
#   bench/browser-cpu/run.sh [--update] [driver flags, e.g. -runs 30 -nets alexnet]
# AlexLens is the app itself: the web app built as `make run` builds it (Go 1.27's SIMD engine
# when the go command can fetch that toolchain), its engine worker driven with the page's own
# requests. Needs: npm (peers), /usr/bin/python3 with torch/torchvision/onnx (export) and
# python3-skimage (the photo), chromium. Without any of these it says what is missing and
# exits 0.
set -euo pipefail
cd "$(dirname "$0")/../.."
update=0
if [ "${1:-}" = "--update" ]; then update=1; shift; fi
work=build/browser-cpu
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

# AlexLens: the web app as `make run` builds it (its engine worker is what the page drives),
# and its weights converted from the same .pth files, with the app's manifest.
./scripts/build-web.sh "$work/web" >/dev/null
GOEXPERIMENT=simd go build -o "$work/alexlens" ./cmd/alexlens 2>/dev/null || go build -o "$work/alexlens" ./cmd/alexlens
if [ ! -f "$work/weights/manifest.json" ] || [ "$work/data/reference.json" -nt "$work/weights/manifest.json" ]; then
	rm -rf "$work/weights"
	for net in alexnet squeezenet1_1; do
		"$work/alexlens" weights convert --arch "$net" --dir "$work/weights" "$work/data/$net.pth" >/dev/null
	done
fi
cp /usr/lib/python3/dist-packages/skimage/data/chelsea.png "$work/data/chelsea.png"

go run ./bench/browser-cpu/driver -chrome "$chrome" -out "$work/report.md" "$@"
# The same page in Firefox ESR and WebKitGTK (internal/webdriver), where installed: a report
# each, build/browser-cpu/report-ENGINE.md (an engine that is missing is skipped).
rm -f "$work"/report-*.md
ALEXLENS_BENCH_ENGINES=${BENCH_ENGINES:-firefox,webkit} go test -count=1 -timeout 30m -run TestEngines -v ./bench/browser-cpu/driver >"$work/engines.log" 2>&1 ||
	echo "bench-browser: the other engines' run failed (see $work/engines.log)"
grep -E '^ *(--- |ok|FAIL)|skip' "$work/engines.log" || true

if [ "$update" = 1 ]; then
	/usr/bin/python3 - "$work/report.md" <<'PY'
import os, re, sys
report = open(sys.argv[1]).read()
text = open("BENCHMARKS.md").read()
section = ("<!-- browser-cpu:begin -->\n## Browser CPU\n\n"
           "The app's own engine worker beside onnxruntime-web (WASM backend, SIMD) and "
           "tfjs-backend-wasm, same networks and weights, headless Chromium. Reproduce with "
           "`make bench-browser-cpu` (bench/browser-cpu/run.sh --update; peers from npm, ONNX and "
           "tfjs weights exported by Debian's PyTorch). `alexlens` is the web app as `make run` "
           "builds and serves it (the app's server, cross-origin isolated): its worker.js and "
           "engine (Go 1.27 with GOEXPERIMENT=simd, convolutions, linear layers and pooling in the "
           "WebAssembly SIMD module Go generates, wasm/cpukernel), sent the load and classify "
           "requests the page sends for `?arch=NET&precision=P&backend=cpu&threads=N` (ui/state "
           "builds them for both): at N threads, the engine worker and N-1 kernel workers on its "
           "shared memory. `alexlens-int8` is the same with the int8 file (per output channel; "
           "activations stay float32). The peers use their own wasm threads. int8 on the seeded "
           "(untrained) AlexNet may swap classes of near-equal logits; on the released SqueezeNet it "
           "keeps PyTorch's top-5.\n\n"
           + report)
for engine, title in (("firefox", "Firefox ESR"), ("webkit", "WebKitGTK (MiniBrowser under Xvfb)")):
    path = os.path.join(os.path.dirname(sys.argv[1]), "report-" + engine + ".md")
    if os.path.exists(path):
        section += "\n### The same in " + title + "\n\n" + open(path).read()
section += "<!-- browser-cpu:end -->"
if "<!-- browser-cpu:begin -->" in text:
    text = re.sub(r"<!-- browser-cpu:begin -->.*?<!-- browser-cpu:end -->", lambda m: section, text, flags=re.S)
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open("BENCHMARKS.md", "w").write(text)
print("bench-browser: BENCHMARKS.md updated")
PY
fi
