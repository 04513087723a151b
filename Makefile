# otelcol-goebpf — see README.md. The two commands a newcomer needs: `make run`, `make test`.
SHELL := /bin/bash
GO ?= go
TOOLS := $(CURDIR)/.tools
OCB_VERSION := v0.159.0
OCB := $(TOOLS)/builder
MDATAGEN := $(TOOLS)/mdatagen
BIN := $(CURDIR)/bin/otelcol-goebpf
# Benchmarks `make bench` runs; each prints its figures and its ratio against a baseline
# measured in the same run (see BENCHMARKS.md).
BENCH_PKGS ?= ./processor/... ./exporter/... ./receiver/...
BENCH_TIME ?= 1s

export OTELCOL_GOEBPF_BIN := $(BIN)
# The demo service is a module of its own (its SQLite driver stays out of go.mod):
# `go test ./...` and `go vet ./...` at the root do not reach it, so test, unit and
# lint name it.
DEMO_SERVICE := config/demo/service

.PHONY: all build run demo test unit integration loadtest generate offsets offsets-grpc offsets-modules check-generated bench lint clean tools

all: build

tools: $(OCB) $(MDATAGEN)

$(OCB):
	GOBIN=$(TOOLS) $(GO) install go.opentelemetry.io/collector/cmd/builder@$(OCB_VERSION)

$(MDATAGEN): tools/go.mod
	cd tools && $(GO) build -o $(MDATAGEN) go.opentelemetry.io/collector/cmd/mdatagen

# ocb generates the distribution's main package; it is regenerated when the manifest or
# this module's dependencies change (our own sources are picked up through `replaces`).
_build/go.mod: builder-config.yaml go.mod go.sum | $(OCB)
	$(OCB) --config builder-config.yaml --skip-compilation
	@touch $@

## build: the distribution binary, bin/otelcol-goebpf
build: _build/go.mod
	cp cmd/otelcol-goebpf/default_config.go _build/
	cd _build && CGO_ENABLED=0 $(GO) build -trimpath -tags otelcolgoebpf_main -ldflags='-s -w' -o $(BIN) .
	@echo "built $(BIN)"

## run: build, then run the collector on the built-in demo and show what it captured
run: build demo

demo:
	bash config/demo/run.sh

## test: every unit test and the integration tests against the built binary
test: build
	$(GO) test -count=1 -timeout 40m ./...
	cd $(DEMO_SERVICE) && $(GO) test -count=1 ./...

unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /integration)
	cd $(DEMO_SERVICE) && $(GO) test -count=1 ./...

integration: build
	$(GO) test -count=1 -timeout 30m -v ./integration/...

## loadtest: the tier under sustained load (agent → 3 gateways → file sinks), LOAD_DURATION
## at LOAD_RATE spans/s with zero loss, then as long at twice the rate; not part of
## `make test`, which runs TestTierLoad for 20 s at 2000 spans/s (BENCHMARKS.md)
LOAD_RATE ?= 20000
LOAD_DURATION ?= 5m
loadtest: build
	TIER_LOAD_RATE=$(LOAD_RATE) TIER_LOAD_DURATION=$(LOAD_DURATION) TIER_LOAD_OVERLOAD=1 \
		$(GO) test -count=1 -timeout 40m -v -run '^TestTierLoad$$' ./integration/

## generate: eBPF objects (bpf2go, clang-19) and mdatagen code; the output is committed
generate: $(MDATAGEN)
	PATH=$(TOOLS):$$PATH $(GO) generate -run 'mdatagen|fieldgen|probelist|bpf2go' ./...

## offsets: regenerate the struct offsets table of Go binaries without DWARF (builds a
## probe program with every supported Go toolchain, fetched through GOTOOLCHAIN, then
## the gRPC demo against every grpc-go minor from v1.33: offsets-grpc)
offsets:
	$(GO) generate -run offsetgen ./receiver/ebpfreceiver/internal/goexe/

## offsets-grpc: only the grpc-go part of the table (~55 minors, each built with its
## first and newest patch release and with go1.24.0 where it allows: about 25 minutes)
offsets-grpc:
	$(GO) generate -run 'offsetgen -module' ./receiver/ebpfreceiver/internal/goexe/

## offsets-modules: only the per-release entries of other modules ("key @module" lines:
## go-redis v9 and v8 and golang.org/x/net, every release the module proxy lists, offsets
## and field sizes stored as change points; ~15 minutes on a busy VM), the rest of the
## table kept as it is
offsets-modules:
	cd receiver/ebpfreceiver/internal/goexe && $(GO) run ./cmd/offsetgen -fields offsets_fields.txt -out offsets.json -modules-only

## check-generated: fail when committed generated files differ from their sources
check-generated: generate
	@if [ -n "$$(git status --porcelain)" ]; then \
		echo "generated files are stale; run 'make generate' and commit:"; git status --porcelain; git diff --stat; exit 1; fi
	@echo "generated files are up to date"

## bench: benchmarks with figures and same-run ratios (see BENCHMARKS.md)
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCH_TIME) $(BENCH_PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt: $$out"; exit 1; fi
	$(GO) vet ./...
	cd $(DEMO_SERVICE) && $(GO) vet ./...

clean:
	rm -rf bin _build
