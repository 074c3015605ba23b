#!/usr/bin/env bash
# Runs the engine's kernel tests and the atlas layouts' compiled to WebAssembly under Node: the
# portable build with the project's Go, and the SIMD build (the *wasmsimd*.go files of engine,
# engine/featurevis and gallery) with Go 1.27's GOEXPERIMENT=simd, both checked against the same
# reference results. The SIMD half is skipped, with a message, when the Go 1.27 toolchain cannot
# be fetched (offline).
set -euo pipefail
cd "$(dirname "$0")/.."
tests='TestKernels|TestSIMD|TestMaxPool|TestReluMask|TestMaxF32|TestFastCPUConv|TestFastCPUPool|TestPackCache'
fv_tests='TestButterflyRows|TestFFT|TestRealFFT2|TestFourierImage|TestSigmoids|TestAdamParts|TestRound8' # feature visualization's image
layout_tests='TestSquaredDistance|TestDot64Axpy64|TestNearestNeighbours|TestPowPositive|TestExpLogPortable|TestLayoutsSameEverywhere' # atlas layouts: the same maps as natively
if ! command -v node >/dev/null; then
	echo "test-wasm: SKIP: node is not installed"
	exit 0
fi
run() { # GOTOOLCHAIN GOEXPERIMENT
	local goroot
	goroot=$(GOTOOLCHAIN=$1 go env GOROOT)
	PATH="$goroot/lib/wasm:$PATH" GOTOOLCHAIN=$1 GOEXPERIMENT=$2 GOOS=js GOARCH=wasm \
		go test -count=1 -run "$tests" ./engine
	PATH="$goroot/lib/wasm:$PATH" GOTOOLCHAIN=$1 GOEXPERIMENT=$2 GOOS=js GOARCH=wasm \
		go test -count=1 -run "$fv_tests" ./engine/featurevis
	PATH="$goroot/lib/wasm:$PATH" GOTOOLCHAIN=$1 GOEXPERIMENT=$2 GOOS=js GOARCH=wasm \
		go test -count=1 -run "$layout_tests" ./gallery
	# The generated kernel module installed in a Go wasm program, against the Go kernels;
	# wasm-node-exec hands the program its memory as the browser pages do.
	GOTOOLCHAIN=$1 GOEXPERIMENT=$2 GOOS=js GOARCH=wasm \
		go test -count=1 -exec "$PWD/scripts/wasm-node-exec" ./wasm/cpukernel
	# The same on a shared memory: the test program rewritten by wasm/sharedmem, as the
	# benchmark and isolated pages run the engine.
	local bin
	bin=$(mktemp -d)
	GOTOOLCHAIN=$1 GOEXPERIMENT=$2 GOOS=js GOARCH=wasm go test -c -o "$bin/t.wasm" ./wasm/cpukernel
	go run ./wasm/sharedmem/sharemem "$bin/t.wasm" "$bin/shared.wasm" >/dev/null
	(cd wasm/cpukernel && GOTOOLCHAIN=$1 ../../scripts/wasm-node-exec "$bin/shared.wasm" -test.count=1)
	rm -rf "$bin"
}
echo "test-wasm: portable kernels ($(go env GOVERSION), js/wasm under node)"
run local ""
echo "test-wasm: the worker's promise helpers (wasm/jsutil, js/wasm under node)"
GOOS=js GOARCH=wasm go test -count=1 -exec "$PWD/scripts/wasm-node-exec" ./wasm/jsutil
simd_go=${SIMD_GOTOOLCHAIN:-go1.27.3}
if GOTOOLCHAIN=$simd_go go version >/dev/null 2>&1; then
	echo "test-wasm: SIMD kernels ($simd_go GOEXPERIMENT=simd, js/wasm under node)"
	run "$simd_go" simd
else
	echo "test-wasm: SKIP SIMD kernels: toolchain $simd_go cannot be fetched (offline?)"
fi
