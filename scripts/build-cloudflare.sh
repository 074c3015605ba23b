#!/usr/bin/env bash
# Builds the Cloudflare Worker (cloudflare/, Go compiled to WebAssembly with
# github.com/syumai/workers) into OUT/code: worker.mjs (wrangler's entry), runtime.mjs,
# wasm_exec.js and app.wasm. The site it serves is staged separately as static assets
# (`alexlens site --cloudflare-assets OUT/assets`, which `make cloudflare` runs).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/cloudflare}
go=${GO:-go}
mkdir -p "$out"
$go run github.com/syumai/workers/cmd/workers-assets-gen -mode=go -o "$out/code"
GOOS=js GOARCH=wasm $go build -trimpath -ldflags="-s -w" -o "$out/code/app.wasm" ./cloudflare
echo "build-cloudflare: $out/code ($(du -k "$out/code/app.wasm" | cut -f1) KB wasm, $(gzip -9c "$out/code/app.wasm" | wc -c | awk '{printf "%d", $1/1024}') KB gzipped)"
