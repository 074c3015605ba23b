#!/usr/bin/env bash
# Native numbers of attribution (issue 12), printed as markdown for BENCHMARKS.md "Why did it
# say that (native)": each method by `alexlens explain` (the whole command's own timing: the
# class's forward pass and the method) beside the same computation written in PyTorch
# (bench/explain_torch.py) in the same run.
#
#   bench/explain.sh
#
# The released SqueezeNet weights are used when ../shared/weights has them (ALEXLENS_SHARED
# moves it), fixture weights otherwise (the cost is the same); AlexNet runs on fixture
# weights. PyTorch rows need /usr/bin/python3 with torch (scripts/install-test-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-/usr/bin/python3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
shared=${ALEXLENS_SHARED:-../shared}
photo=${PHOTO:-/usr/lib/python3/dist-packages/skimage/data/chelsea.png}
sq=fixture
if [ -f "$shared/weights/squeezenet1_1-imagenet.pth" ]; then
	sq="$shared/weights/squeezenet1_1-imagenet.pth"
fi
GOEXPERIMENT=simd go build -o "$out/alexlens" ./cmd/alexlens
cores=$(nproc)
threads=(1)
[ "$cores" -gt 1 ] && threads+=("$cores")
echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $cores cores; load before: $(cut -d' ' -f1-3 /proc/loadavg); photo $(basename "$photo")"
echo
echo "| network | method | threads | AlexLens | PyTorch $("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo '(absent)') | ratio |"
echo "|---|---|---:|---:|---:|---:|"
ms() { "$PY" -c "import json,sys; d=json.load(sys.stdin); d=d[0] if isinstance(d,list) else d; print(d[sys.argv[1]])" "$1"; }
for arch in squeezenet1_1 alexnet; do
	w=fixture
	pyw=()
	note=", fixture"
	if [ "$arch" = squeezenet1_1 ] && [ "$sq" != fixture ]; then
		w=$sq
		pyw=(--weights "$sq")
		note=""
	fi
	for t in "${threads[@]}"; do
		for m in gradcam saliency smoothgrad occlusion ig; do
			go_ms=$("$out/alexlens" explain --arch "$arch" --weights "$w" --method "$m" --threads "$t" --json "$photo" 2>/dev/null | ms ms)
			py_ms=-
			py_fwd=-
			if "$PY" -c 'import torch' 2>/dev/null; then
				res=$("$PY" bench/explain_torch.py --arch "$arch" --method "$m" --threads "$t" "${pyw[@]}" "$photo")
				py_ms=$(echo "$res" | ms ms)
			fi
			"$PY" - "$arch$note" "$m" "$t" "$go_ms" "$py_ms" <<'PYR'
import sys
arch, m, t, g, p = sys.argv[1:]
g = float(g)
ps = "-" if p == "-" else "%.2f s" % (float(p) / 1000)
ratio = "-" if p == "-" else "%.2f" % (g / float(p))
print("| %s | %s | %s | %.2f s | %s | %s |" % (arch, m, t, g / 1000, ps, ratio))
PYR
		done
	done
done
