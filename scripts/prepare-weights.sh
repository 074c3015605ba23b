#!/usr/bin/env bash
# Prepares the folder of .alxw weights that `make run` serves, with its manifest.json.
#   prepare-weights.sh BIN DIR [SRC]
# With SRC (make run WEIGHTS=../shared/weights), every .pth/.onnx/.alxw there is converted.
# Otherwise the official torchvision weights are fetched once (with progress); offline, that
# fails fast and the app is served with untrained fixture weights and a banner saying so.
# Fixtures are always made for architectures that have no trained weights, so every network
# can be explored.
set -euo pipefail
bin=$1 dir=$2 src=${3:-}
mkdir -p "$dir"

# has KIND ARCH: the manifest lists complete weights of that kind for the architecture.
has() {
	[ -f "$dir/manifest.json" ] &&
		tr -d ' \n\t' <"$dir/manifest.json" | grep -q "\"arch\":\"$2\",\"precision\":\"[a-z0-9]*\",\"kind\":\"$1\",\"partial\":\"\""
}

if [ -n "$src" ]; then
	stamp="$dir/.converted-$(echo "$src" | tr '/.' '__')"
	for f in "$src"/*.pth "$src"/*.onnx "$src"/*.alxw; do
		[ -e "$f" ] || continue
		if [ -e "$stamp" ] && [ ! "$f" -nt "$stamp" ]; then continue; fi
		echo "converting $f"
		"$bin" weights convert --dir "$dir" "$f" >/dev/null || echo "  (skipped: $f is not a weight file AlexLens can read)"
	done
	touch "$stamp"
elif ! has trained alexnet; then
	echo "fetching the official torchvision weights (once; they are kept in $dir)"
	if ! "$bin" weights fetch alexnet squeezenet1_1 --dir "$dir"; then
		echo
		echo "*** Offline: could not download the trained weights. Serving UNTRAINED fixture weights:"
		echo "*** predictions will be meaningless (the app shows a banner). Run \`make run\` again when online,"
		echo "*** or \`make run WEIGHTS=DIR\` with a folder holding alexnet-owt-7be5be79.pth or squeezenet1_1-*.pth."
		echo
	fi
fi

for arch in alexnet squeezenet1_1 alexnet-bvlc; do
	if ! has trained "$arch" && ! has fixture "$arch"; then
		echo "making fixture (untrained) weights for $arch"
		"$bin" weights fixture --arch "$arch" --dir "$dir" >/dev/null 2>&1
	fi
done
