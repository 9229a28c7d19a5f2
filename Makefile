# tutti — run `make help` for the list of targets.
GO      ?= go
BIN     := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/tuttifleet/tutti/server/version.Version=$(VERSION)
PKGS    := ./...
FUZZTIME ?= 20s
FUZZMINIMIZE ?= 1s
FUZZSMOKE ?= 3s

.PHONY: help build demo test race unit lint fmt vet fuzz fuzz-smoke bench integration docs packages deps clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build tutti, tuttid and tutti-aaa into ./bin
	@mkdir -p $(BIN)
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

demo: ## Run a demo fleet on the embedded broker (README command 1)
	$(GO) run ./cmd/tutti demo

test: lint deps ## Lint, install test dependencies, then run every test with the race detector (README command 2, what CI runs)
	$(GO) test -race -count=1 -timeout 20m $(PKGS)
	@# timing bounds the race detector's slowdown skips (the verified flood): once more without it
	$(GO) test -count=1 -timeout 5m -run 'TestFloodFromOneCallerDoesNotStarveAnother' ./server/daemon

deps: ## Install what the tests need when missing (ActiveMQ, RabbitMQ and MCollective 2.12 from Debian's packages, for the STOMP and interop tests)
	@scripts/activemq/install || echo "deps: ActiveMQ could not be installed; the STOMP tests will skip" >&2
	@scripts/rabbitmq/install || echo "deps: RabbitMQ could not be installed; the RabbitMQ tests will skip" >&2
	@scripts/mcollective/install || echo "deps: MCollective could not be installed; the mco interop tests will skip" >&2

unit: ## Run the tests without the race detector (quicker)
	$(GO) test -count=1 $(PKGS)

lint: fmt vet ## gofmt and go vet must be clean

fmt: ## Fail if any file is not gofmt-ed
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet: ## go vet
	$(GO) vet $(PKGS)

fuzz: ## Fuzz every Fuzz* target for FUZZTIME each (default 20s), minimizing new inputs for FUZZMINIMIZE (1s)
	GO=$(GO) scripts/fuzz $(FUZZTIME) $(FUZZMINIMIZE)

fuzz-smoke: ## Fuzz every Fuzz* target briefly (FUZZSMOKE, default 3s each; what CI runs after make test)
	GO=$(GO) scripts/fuzz $(FUZZSMOKE) $(FUZZMINIMIZE)

BENCH_NODES ?= 100,1000,5000,10000
BENCH_RUNS  ?= 5
BENCH_DIR   ?= $(HOME)/.cache/tutti-bench

bench: build ## Go benchmarks of the hot paths, then `tutti bench` on an emulated fleet (BENCH_NODES, BENCH_RUNS; ~3 min)
	$(GO) test -run XXX -bench . -benchmem ./server/ ./client/ ./security/... ./connector/protocol/ ./cmd/tutti/cli/
	$(BIN)/tutti bench --nodes $(BENCH_NODES) --runs $(BENCH_RUNS) --workdir $(BENCH_DIR) \
		--out $(BIN)/bench.json --plot $(BIN)/bench.svg

integration: ## End-to-end tests only (real broker, TLS, several nodes)
	$(GO) test -race -count=1 -run 'E2E' ./cmd/...

docs: ## Regenerate docs/cli-reference.md and docs/config-reference.md (TestCLIReference, TestConfigReference fail when stale)
	$(GO) test ./cmd/tutti/cli -count=1 -run TestCLIReference -update
	$(GO) test ./config -count=1 -run TestConfigReference -update

PKG_VERSION ?= $(shell git describe --tags --exact-match 2>/dev/null | sed 's/^v//' | grep . || echo 0.1.0~git$$(git rev-parse --short HEAD 2>/dev/null || echo 0))
PKG_ARCH    ?= $(shell $(GO) env GOARCH)

packages: ## Build .deb and .rpm packages (three binaries, man pages, shell completions, docs) into ./bin (nfpm, pinned in go.mod)
	@mkdir -p $(BIN)/pkg
	CGO_ENABLED=0 GOOS=linux GOARCH=$(PKG_ARCH) $(GO) build -trimpath -ldflags '-s -w -X github.com/tuttifleet/tutti/server/version.Version=$(PKG_VERSION)' -o $(BIN)/pkg/ ./cmd/...
	rm -rf $(BIN)/pkg/man $(BIN)/pkg/completions && mkdir -p $(BIN)/pkg/man $(BIN)/pkg/completions
	$(GO) test ./cmd/tutti/cli -count=1 -run '^TestManPages$$' -man $(abspath $(BIN)/pkg/man) >/dev/null
	for sh in bash zsh fish; do $(GO) run ./cmd/tutti completion $$sh > $(BIN)/pkg/completions/tutti.$$sh || exit 1; done
	PKG_VERSION='$(PKG_VERSION)' PKG_ARCH='$(PKG_ARCH)' $(GO) tool nfpm package --config dist/nfpm.yaml --packager deb --target $(BIN)/
	PKG_VERSION='$(PKG_VERSION)' PKG_ARCH='$(PKG_ARCH)' $(GO) tool nfpm package --config dist/nfpm.yaml --packager rpm --target $(BIN)/

clean: ## Remove build output
	rm -rf $(BIN)
