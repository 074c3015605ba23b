#!/usr/bin/env bash
# Native numbers of the look-inside work, printed as markdown for BENCHMARKS.md "Look inside
# (native)": feature visualization by `alexlens featurevis` beside the same loop written in
# PyTorch (bench/featurevis_torch.py: same parameterization, transforms, Adam, steps, size,
# threads) in the same run; atlas icons per second; t-SNE layout times; the whole atlas of a
# 2,000-image gallery at 20x20.
#
#   bench/lookinside.sh                  # everything
#   PARTS=fv bench/lookinside.sh         # fv, icons, layout, atlas: any subset
#
# The released SqueezeNet weights are used when ../shared/weights has them (ALEXLENS_SHARED
# moves it), fixture weights otherwise (the cost is the same); AlexNet runs on fixture
# weights. PyTorch rows need /usr/bin/python3 with torch (scripts/install-test-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
PARTS=${PARTS:-fv icons layout atlas}
PY=${PY:-/usr/bin/python3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
shared=${ALEXLENS_SHARED:-../shared}
sq=fixture
sqnote="fixture weights"
if [ -f "$shared/weights/squeezenet1_1-imagenet.pth" ]; then
	sq="$shared/weights/squeezenet1_1-imagenet.pth"
	sqnote="released weights"
fi
GOEXPERIMENT=simd go build -o "$out/alexlens" ./cmd/alexlens
cores=$(nproc)
threads=(1)
[ "$cores" -gt 1 ] && threads+=("$cores")
echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $cores cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

json() { "$PY" -c "import json,sys; d=json.load(sys.stdin); print(d[sys.argv[1]])" "$1"; }

if [[ " $PARTS " == *" fv "* ]]; then
	echo "### Feature visualization, 64 steps at 128 px (AVX-512 build, one process per run)"
	echo
	echo "| network | objective | threads | AlexLens | PyTorch $("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo '(absent)') | ratio |"
	echo "|---|---|---:|---:|---:|---:|"
	for c in "squeezenet1_1|--layer fire6 --channel 1|fire6 channel 1 (pre-ReLU)" "squeezenet1_1|--class 1|class 1 logit" \
		"alexnet|--layer conv4 --channel 1|conv4 channel 1 (pre-ReLU)" "alexnet|--class 1|class 1 logit"; do
		IFS='|' read -r arch obj name <<<"$c"
		w=fixture
		pyw=()
		note=", fixture"
		if [ "$arch" = squeezenet1_1 ] && [ "$sq" != fixture ]; then
			w=$sq
			pyw=(--weights "$sq")
			note=""
		fi
		for t in "${threads[@]}"; do
			# shellcheck disable=SC2086
			go_ms=$("$out/alexlens" featurevis --arch "$arch" --weights "$w" $obj --steps 64 --size 128 --threads "$t" --json -o "$out/fv.png" 2>/dev/null | json ms)
			py_ms=-
			# shellcheck disable=SC2086
			if "$PY" -c 'import torch' 2>/dev/null; then
				py_ms=$("$PY" bench/featurevis_torch.py --arch "$arch" $obj --steps 64 --size 128 --threads "$t" "${pyw[@]}" | json ms)
			fi
			ratio=$("$PY" -c "import sys; a,b=sys.argv[1:]; print('%.2f' % (float(a)/float(b)) if b!='-' else '-')" "$go_ms" "$py_ms")
			printf '| %s%s | %s | %d | %.2f s | %s | %s |\n' "$arch" "$note" "$name" "$t" "$("$PY" -c "print($go_ms/1000)")" \
				"$([ "$py_ms" = - ] && echo - || "$PY" -c "print('%.2f s' % ($py_ms/1000))")" "$ratio"
		done
	done
	echo
fi

if [[ " $PARTS " == *" icons "* ]]; then
	echo "### Atlas icons (64 px, 64 steps, 8 to a pass): go test -bench BenchmarkIcons ./gallery/atlas"
	echo
	GOEXPERIMENT=simd go test -run '^$' -bench BenchmarkIcons -benchtime 1x ./gallery/atlas | grep '^Benchmark' | sed 's/^/    /'
	echo
fi

if [[ " $PARTS " == *" layout "* ]]; then
	echo "### t-SNE layout (gallery.Layout, cosine, PCA start, 1000 steps; exact to 4,096 items, Barnes-Hut beyond): go test -bench BenchmarkLayout ./gallery"
	echo
	go test -run '^$' -bench BenchmarkLayout -benchtime 1x -timeout 30m ./gallery | grep '^Benchmark' | sed 's/^/    /'
	echo
fi

if [[ " $PARTS " == *" atlas "* ]]; then
	echo "### The whole atlas: 2,000 images, 20x20 grid, t-SNE, 64 px icons of 64 steps ($sqnote)"
	echo
	go run ./gallery/gallerytest/makegallery -weights "$sq" -n 2000 -o "$out/g.alxg"
	start=$(date +%s.%N)
	"$out/alexlens" atlas --weights "$sq" --gallery "$out/g.alxg" --grid 20 --steps 64 --size 64 -o "$out/atlas.png" >"$out/atlas.out" 2>"$out/atlas.err"
	end=$(date +%s.%N)
	echo "    $(cat "$out/atlas.out")"
	echo "    $(tail -1 "$out/atlas.err" | tr '\r' '\n' | tail -1); whole command (layout, icons, poster) $("$PY" -c "print('%.0f s' % ($end - $start))")"
	echo
fi
