# AlexLens: `make run` serves the app, `make test` runs every test. Both install what they need.
GO ?= go
BIN := bin
WEB := build/web
# The folder of .alxw weights make run serves. WEIGHTS=DIR converts the weight files in DIR
# (e.g. ../shared/weights) instead of fetching the official ones.
WEIGHTS_DIR ?= build/weights
WEIGHTS ?=
ADDR ?= 127.0.0.1:8080
# The page is served cross-origin isolated (threads); ISOLATED=false serves it without.
ISOLATED ?= true

.PHONY: all build web weights site cloudflare run test vet fuzz-short deps bench bench-browser-cpu bench-memory clean

all: build web

# The native CLI uses Go's experimental SIMD (AVX2/AVX-512 kernels, chosen at start-up from
# what the CPU has; a portable kernel otherwise). `make build SIMD=` builds without it.
SIMD ?= simd
build:
	GOEXPERIMENT=$(SIMD) $(GO) build -o $(BIN)/alexlens ./cmd/alexlens

web: build
	./scripts/build-web.sh $(WEB)
	$(BIN)/alexlens precompress --brotli 9 $(WEB)

weights: build
	./scripts/prepare-weights.sh $(BIN)/alexlens $(WEIGHTS_DIR) $(WEIGHTS)

# A self-contained static site in dist/ (docs/PUBLISH.md): hashed names, sharded weights,
# service worker, precompressed copies, _headers.
SITE ?= dist
site: web weights
	$(BIN)/alexlens site -o $(SITE) --web $(WEB) --weights $(WEIGHTS_DIR)

# The Cloudflare Worker (cloudflare/, docs/PUBLISH.md): its code in build/cloudflare/code and the
# exported site staged as Workers static assets in build/cloudflare/assets. Deploy with
# `npx wrangler deploy --config cloudflare/wrangler.toml`.
cloudflare: web weights
	./scripts/build-cloudflare.sh build/cloudflare
	$(BIN)/alexlens site -o $(SITE) --web $(WEB) --weights $(WEIGHTS_DIR) --cloudflare-assets build/cloudflare/assets

run: web weights
	$(BIN)/alexlens serve --addr $(ADDR) --web $(WEB) --weights $(WEIGHTS_DIR) --isolated=$(ISOLATED)

deps:
	./scripts/install-test-deps.sh

vet:
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./wasm/... ./ui/...

test: deps vet
	$(GO) test -count=1 -timeout 40m ./...
	# The SIMD kernels against the portable ones and the reference (amd64 only).
	GOEXPERIMENT=simd $(GO) test -count=1 -run 'Kernel|FastCPU|Gemm|Pack' ./engine
	# The engine kernels compiled to WebAssembly (portable, and Go 1.27 SIMD) under Node.
	./scripts/test-wasm.sh
	$(MAKE) fuzz-short

# Each fuzz target runs briefly; seeds that found bugs live in testdata/fuzz.
FUZZTIME ?= 10s
fuzz-short:
	./scripts/fuzz-all.sh $(FUZZTIME)

bench: build
	./bench/native.sh

# AlexLens's Go wasm CPU path against onnxruntime-web and tfjs-backend-wasm in headless
# Chromium (peers from npm into build/browser-cpu); updates BENCHMARKS.md's Browser CPU section.
bench-browser-cpu:
	./bench/browser-cpu/run.sh --update

# The app's memory in Chromium, Firefox ESR and WebKitGTK while AlexNet f32 and int8 load
# and classify (whole-browser PSS, peak and settled); results go in BENCHMARKS.md.
bench-memory: deps
	ALEXLENS_BENCH_MEMORY=1 $(GO) test -count=1 -run TestMemory -v -timeout 40m ./bench/memory

# Browser benchmarks in headless Chromium (SwiftShader WebGPU here: not GPU performance).
bench-browser:
	./bench/browser-webgpu.sh

clean:
	rm -rf $(BIN) $(WEB)
