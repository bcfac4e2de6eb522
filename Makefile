# nftsync. `make help` lists the targets.
GO ?= go

.PHONY: help run deps test test/short generate verify lint build bench bench-quick bench/all

help: ## list targets
	@grep -E '^[a-z/-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

run: ## the main job on the embedded default: local PostgreSQL + indexer simulator + worker
	$(GO) run ./cmd/nftsync dev

build: ## build bin/nftsync
	$(GO) build -o bin/nftsync ./cmd/nftsync

# deps first: it installs (as root, through apt-get) or names exactly what the
# tests need beyond Go (.ci/install-deps.sh), so no test is skipped.
#
# Packages run side by side and parallel tests one per core (go test's
# defaults). The limiter's tests bound times, so more parallel tests than
# cores is not worth it: try make test TESTFLAGS='-parallel 4' on a quiet
# machine. TESTFLAGS adds flags, e.g. TESTFLAGS=-json for per-test timings.
TESTFLAGS ?=
test: deps ## all tests, race detector on, against a throwaway PostgreSQL
	.ci/with-postgres.sh $(GO) test -race -count=1 -timeout 10m $(TESTFLAGS) ./...

test/short: deps ## all tests without the race detector
	.ci/with-postgres.sh $(GO) test -count=1 ./...

deps: ## install what the tests need (PostgreSQL server, Chromium, python3-psycopg) or say how
	.ci/install-deps.sh

# The report benchmarks start their own simulator; the PostgreSQL cluster is
# throwaway. See internal/tools/benchreport for the rows and their benchmarks.
bench: ## regenerate BENCHMARKS.md: every row at full size (about 10 min on 2 cores)
	.ci/with-postgres.sh $(GO) run ./internal/tools/benchreport -size full -out BENCHMARKS.md

bench-quick: ## every BENCHMARKS.md row at toy sizes, table to stdout (proves the harness; CI runs it)
	.ci/with-postgres.sh $(GO) run ./internal/tools/benchreport -size quick

bench/all: ## every Go benchmark in the module, default sizes, against a throwaway PostgreSQL
	.ci/with-postgres.sh $(GO) test -run '^$$' -bench . -benchmem ./...

# generate derives every generated file; verify fails when that changed any
# of them, so a catalogue row, a query or the schema cannot drift from what
# is derived from it. schemadump needs the PostgreSQL server binaries and
# pg_dump (the tests need them too); its output follows pg_dump's major
# version, 15 in CI.
GENERATED := db jobs/jobargs/internal migrations/catalog.sql internal/api deploy/k8s README.md docs

generate: ## regenerate sqlc and gqlgen code, River's schema copy, the catalogue's derived files (SQL rows, GraphQL enum, KEDA triggers, doc tables) and db/schema.sql
	$(GO) run ./internal/tools/riverschema > db/schema/river.sql
	$(GO) run ./internal/tools/catalogen
	$(GO) tool sqlc generate
	cd internal/api && $(GO) tool gqlgen generate --config gqlgen.yml
	$(GO) run ./internal/tools/schemadump -out db/schema.sql

verify: generate lint ## fail when generated files are stale, code is unformatted or a linter complains
	@test -z "$$(git status --porcelain -- $(GENERATED))" || (git status --short -- $(GENERATED); git diff --stat -- $(GENERATED); echo "generated files are stale: run make generate and commit" >&2; exit 1)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed" >&2; exit 1)
	$(GO) vet ./...

# golangci-lint v2, pinned; built from source once (about 4 CPU-minutes) into
# bin/tools/, keyed by version; later runs, and other clones on a machine with
# a warm Go build cache, only check that it is there. .golangci.yaml says which
# linters are on and why.
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := bin/tools/golangci-lint-$(GOLANGCI_LINT_VERSION)/golangci-lint

$(GOLANGCI_LINT):
	GOBIN=$(CURDIR)/$(dir $(GOLANGCI_LINT)) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

lint: $(GOLANGCI_LINT) ## golangci-lint (.golangci.yaml); make verify runs it
	$(GOLANGCI_LINT) run ./...
