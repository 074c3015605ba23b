#!/usr/bin/env bash
# Feature visualization of two commits beside PyTorch, interleaved: for each round and case,
# `alexlens featurevis --json` built at OLD, then at NEW, then bench/featurevis_torch.py, so
# that the machine's drift falls on all three alike. Prints each case's medians (ms).
#
#   OLD=d56a94a NEW=HEAD ROUNDS=6 THREADS=1 bench/featurevis_ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=${OLD:?OLD=<commit>} NEW=${NEW:-HEAD} ROUNDS=${ROUNDS:-3} THREADS=${THREADS:-1}
PY=${PY:-/usr/bin/python3}
out=$(mktemp -d)
trap 'git worktree remove --force "$out/tree" 2>/dev/null; rm -rf "$out"' EXIT
for v in OLD NEW; do
	git worktree add -q --detach "$out/tree" "${!v}"
	(cd "$out/tree" && GOEXPERIMENT=simd go build -o "$out/alexlens-$v" ./cmd/alexlens)
	git worktree remove --force "$out/tree"
done
sq=${ALEXLENS_SHARED:-../shared}/weights/squeezenet1_1-imagenet.pth
[ -f "$sq" ] || sq=fixture
ms() { "$PY" -c 'import json,sys; print(json.load(sys.stdin)["ms"])'; }
for _ in $(seq "$ROUNDS"); do
	for c in "squeezenet1_1|--layer fire6 --channel 1|$sq" "squeezenet1_1|--class 1|$sq" \
		"alexnet|--layer conv4 --channel 1|fixture" "alexnet|--class 1|fixture"; do
		IFS='|' read -r arch obj w <<<"$c"
		pyw=()
		[ "$w" != fixture ] && pyw=(--weights "$w")
		for v in OLD NEW; do
			# shellcheck disable=SC2086
			echo "$arch $obj|$v|$("$out/alexlens-$v" featurevis --arch "$arch" --weights "$w" $obj --steps 64 --size 128 --threads "$THREADS" --json -o "$out/fv.png" 2>/dev/null | ms)"
		done
		# shellcheck disable=SC2086
		echo "$arch $obj|torch|$("$PY" bench/featurevis_torch.py --arch "$arch" $obj --steps 64 --size 128 --threads "$THREADS" "${pyw[@]}" | ms)"
	done
done | "$PY" -c '
import collections, statistics, sys
d = collections.defaultdict(lambda: collections.defaultdict(list))
for line in sys.stdin:
    case, v, t = line.strip().split("|")
    d[case][v].append(float(t))
for case, runs in d.items():
    o, n, t = (statistics.median(runs[v]) for v in ("OLD", "NEW", "torch"))
    print("%s: old %.0f ms, new %.0f ms, PyTorch %.0f ms; new/old %.2f, new/PyTorch %.2f" % (case, o, n, t, n / o, n / t))
'
