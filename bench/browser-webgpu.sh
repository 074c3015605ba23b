#!/usr/bin/env bash
# Times the forward pass in headless Chromium per backend (WebGPU, CPU WebAssembly),
# precision and layer, and records GPU buffer bytes (bench/browserbench).
#
#   bench/browser-webgpu.sh                  # here: WebGPU runs on SwiftShader (CPU emulation)
#   GPU=1 bench/browser-webgpu.sh            # a machine with a real GPU and Chromium
#   ARCH=alexnet RUNS=10 BATCH=8 bench/browser-webgpu.sh
#
# SwiftShader times are not GPU performance; they only show the harness works. On a GPU
# machine check the printed adapter line: "google swiftshader" means Chromium did not get
# the GPU (try --use-angle=vulkan drivers, or run with a display and without GPU=1 flags).
set -euo pipefail
cd "$(dirname "$0")/.."
args=(-arch "${ARCH:-squeezenet1_1,alexnet,alexnet-bvlc}" -runs "${RUNS:-3}" -batch "${BATCH:-1}")
[ -n "${GPU:-}" ] && args+=(-gpu)
exec go run ./bench/browserbench "${args[@]}"
