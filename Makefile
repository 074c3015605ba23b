# AlexLens: `make run` serves the app, `make test` runs every test. Both install what they need.
GO ?= go
BIN := bin

.PHONY: all build test test-go fuzz-short bench run clean deps

all: build

build:
	$(GO) build -o $(BIN)/alexlens ./cmd/alexlens

deps:
	./scripts/install-test-deps.sh

test: deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 25m ./...
	$(MAKE) fuzz-short

# Each fuzz target runs briefly in CI; seeds that found bugs live in testdata/fuzz.
FUZZTIME ?= 10s
fuzz-short:
	./scripts/fuzz-all.sh $(FUZZTIME)

clean:
	rm -rf $(BIN) dist build
