#!/usr/bin/env bash
# Builds the AlexLens web app into a folder (default build/web) that any static server can
# serve next to a weights folder at ./weights/ (alexlens serve --web build/web --weights DIR):
#   index.html, favicon.svg, samples/          stable names (index.html is revalidated)
#   app.<hash>.wasm        the Vugu UI (ui/)
#   engine.<hash>.wasm     the engine, run in a Web Worker (wasm/worker)
#   engine-portable.<hash>.wasm  the engine without SIMD, for browsers that lack it
#   engine-shared.<hash>.wasm  the same on a shared memory, for cross-origin isolated pages,
#                          with shared-memory.<hash>.js and kernel-worker.<hash>.js
#   worker.<hash>.js, boot.<hash>.js, wasm_exec.<hash>.js, vugu-render.<hash>.js, style.<hash>.css
# Every asset but index.html carries a content hash in its name, so it can be cached forever.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/web}
go=${GO:-go}

tmp=$(mktemp -d)
# The build is staged beside $out (same file system), so that it can replace $out in one step.
mkdir -p "$(dirname "$out")"
stage=$(mktemp -d "$(dirname "$out")/.$(basename "$out").next-XXXXXX")
trap 'rm -rf "$tmp" "$stage"' EXIT

# Vugu's generator (the views in ui/*.vugu -> ui/0_components_gen.go), only when a view
# changed: builds running side by side (tests) then never rewrite the file under each other.
if [ ! -e ui/0_components_gen.go ] || [ -n "$(find ui -maxdepth 1 -name '*.vugu' -newer ui/0_components_gen.go)" ]; then
	(cd ui && GOOS=js GOARCH=wasm $go generate .)
fi

export GOOS=js GOARCH=wasm
$go build -trimpath -ldflags="-s -w" -o "$tmp/app.wasm" ./ui
# The engine gets the WebAssembly SIMD kernels (engine/*wasmsimd*.go, ~4x faster) from Go
# 1.27's GOEXPERIMENT=simd when that toolchain can be had (the go command fetches it once from
# the module proxy; its wasm_exec.js is the same as Go 1.26's); otherwise the portable build.
simd_go=${SIMD_GOTOOLCHAIN:-go1.27.3}
# A browser without WebAssembly SIMD (Safari before 16.4, or SIMD switched off) cannot
# compile that engine at all: worker.js gives it engine-portable.wasm, the build without SIMD.
$go build -trimpath -ldflags="-s -w" -o "$tmp/engine-portable.wasm" ./wasm/worker
if GOTOOLCHAIN=$simd_go GOEXPERIMENT=simd $go build -trimpath -ldflags="-s -w" -o "$tmp/engine.wasm" ./wasm/worker 2>"$tmp/simd.log"; then
	echo "build-web: engine with WebAssembly SIMD ($simd_go)"
else
	echo "build-web: engine without SIMD ($simd_go unavailable: $(head -c 200 "$tmp/simd.log"))" >&2
	cp "$tmp/engine-portable.wasm" "$tmp/engine.wasm"
fi
unset GOOS GOARCH
# The same engine on a shared memory (wasm/sharedmem), which cross-origin isolated pages load
# so that kernel workers can split each layer across cores (wasm/cpukernel's pool).
$go run ./wasm/sharedmem/sharemem "$tmp/engine.wasm" "$tmp/engine-shared.wasm" >/dev/null

cp "$($go env GOROOT)/lib/wasm/wasm_exec.js" "$tmp/wasm_exec.js"
$go run ./ui/internal/vuguhelper "$($go list -m -f '{{.Dir}}' github.com/vugu/vugu)" >"$tmp/vugu-render.js"
cp ui/static/boot.js ui/static/style.css ui/static/shared-memory.js ui/static/kernel-worker.js "$tmp/"

# hashed NAME: copies $tmp/NAME into the staging folder under NAME with a content hash
# inserted before the extension, and prints the new name.
hashed() {
	local f=$1 base ext h
	base=${f%.*}
	ext=${f##*.}
	h=$(sha256sum "$tmp/$f" | cut -c1-12)
	cp "$tmp/$f" "$stage/$base.$h.$ext"
	echo "$base.$h.$ext"
}

app=$(hashed app.wasm)
engine=$(hashed engine.wasm)
wasm_exec=$(hashed wasm_exec.js)
vugu_render=$(hashed vugu-render.js)
boot=$(hashed boot.js)
style=$(hashed style.css)
engine_shared=$(hashed engine-shared.wasm)
engine_portable=$(hashed engine-portable.wasm)
shared_memory=$(hashed shared-memory.js)
kernel_worker=$(hashed kernel-worker.js)
sed -e "s/@WASM_EXEC_JS@/$wasm_exec/g" -e "s/@ENGINE_WASM@/$engine/g" -e "s/@ENGINE_SHARED_WASM@/$engine_shared/g" \
	-e "s/@ENGINE_PORTABLE_WASM@/$engine_portable/g" \
	-e "s/@SHARED_MEMORY_JS@/$shared_memory/g" -e "s/@KERNEL_WORKER_JS@/$kernel_worker/g" ui/static/worker.js >"$tmp/worker.js"
if grep -q '@[A-Z_]*@' "$tmp/worker.js"; then
	echo "build-web: unfilled placeholder in worker.js" >&2
	exit 1
fi
worker=$(hashed worker.js)
sed -e "s/@APP_WASM@/$app/g" -e "s/@WORKER_JS@/$worker/g" -e "s/@WASM_EXEC_JS@/$wasm_exec/g" \
	-e "s/@VUGU_RENDER_JS@/$vugu_render/g" -e "s/@BOOT_JS@/$boot/g" -e "s/@STYLE_CSS@/$style/g" \
	ui/static/index.html >"$stage/index.html"
if grep -q '@[A-Z_]*@' "$stage/index.html"; then
	echo "build-web: unfilled placeholder in index.html" >&2
	exit 1
fi
cp ui/static/favicon.svg "$stage/"
mkdir -p "$stage/samples"
cp ui/samples/*.jpg ui/samples/LICENSES.md "$stage/samples/"

# Replace the output folder in one step, so a server reading it never sees half a build or
# no folder at all: the new and old folders trade places atomically (internal/swapdir), and
# $stage then holds the old build, removed on exit. Where the system cannot swap (exit 3),
# two renames.
chmod 755 "$stage" # mktemp made it private
$go build -o "$tmp/swapdir" ./internal/swapdir/cmd/swapdir
if [ ! -e "$out" ]; then
	mv "$stage" "$out"
elif "$tmp/swapdir" "$stage" "$out"; then
	:
elif [ $? -eq 3 ]; then
	rm -rf "$out.old"
	mv "$out" "$out.old"
	mv "$stage" "$out"
	rm -rf "$out.old"
else
	exit 1
fi
echo "build-web: $out ($(du -sh "$out" | cut -f1)): $app, $engine"
