#!/usr/bin/env bash
# Native CPU benchmarks of the fast CPU backend against PyTorch, batch 1, in one run:
# every network x weight precision (f32, int8) x threads (1, all cores), with the AVX-512
# kernel (GOEXPERIMENT=simd) and the portable Go kernel (what js/wasm and non-AVX-512 CPUs
# run), then PyTorch CPU float32 at the same thread counts. Writes the tables into the
# "Native CPU" section of BENCHMARKS.md.
#
#   bench/native.sh            # ITERS=30 timed forward passes per configuration
#   ITERS=10 bench/native.sh
#
# Each configuration runs in its own process under /usr/bin/time -v so that the max RSS is
# that configuration's. PyTorch rows are skipped, with a note, when /usr/bin/python3 has no
# torch (scripts/install-test-deps.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
ITERS=${ITERS:-30}
PORTABLE_ITERS=${PORTABLE_ITERS:-5}
PY=${PY:-/usr/bin/python3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cores=$(nproc)
threads=(1)
[ "$cores" -gt 1 ] && threads+=("$cores")
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

echo "building the benchmark binaries" >&2
GOEXPERIMENT=simd go test -c -o "$out/simd.test" ./engine
GOEXPERIMENT= go test -c -o "$out/portable.test" ./engine

run_go() { # kernel-build net precision threads iters
	local bin=$1 net=$2 prec=$3 t=$4 iters=$5
	echo "go $bin $net $prec threads=$t" >&2
	/usr/bin/time -v -o "$out/time.txt" "$out/$bin.test" -test.run='^$' \
		-test.bench="^BenchmarkForward\$/^${net}\$/^${prec}\$/^threads=${t}\$" \
		-test.benchtime="${iters}x" >"$out/go.txt"
	local line rss
	line=$(grep '^BenchmarkForward/' "$out/go.txt")
	rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$out/time.txt")
	echo "go $bin $rss $line" >>"$out/results.txt"
}

for net in alexnet alexnet-bvlc squeezenet1_1; do
	for prec in f32 int8; do
		for t in "${threads[@]}"; do
			run_go simd "$net" "$prec" "$t" "$ITERS"
			run_go portable "$net" "$prec" "$t" "$PORTABLE_ITERS"
		done
	done
done

torch_note=""
if "$PY" -c 'import torch, torchvision' 2>/dev/null; then
	for net in alexnet alexnet-bvlc squeezenet1_1; do
		for t in "${threads[@]}"; do
			echo "pytorch $net threads=$t" >&2
			echo "torch $("$PY" bench/torch_bench.py --net "$net" --threads "$t" --iters "$ITERS")" >>"$out/results.txt"
		done
	done
else
	torch_note="PyTorch rows missing: $PY cannot import torch and torchvision."
fi

python3 bench/native_report.py \
	--results "$out/results.txt" \
	--cpu "$(lscpu | awk -F': *' '/^Model name/ {print $2; exit}')" \
	--cores "$cores" \
	--go "$(go version | cut -d' ' -f3-)" \
	--load "$load_before / $(cut -d' ' -f1-3 /proc/loadavg)" \
	--iters "$ITERS" --portable-iters "$PORTABLE_ITERS" \
	--note "$torch_note" \
	--markdown BENCHMARKS.md
