# Quire developer entry points. `make up` and `make test` work on a fresh clone: they install
# what is missing (npm packages, etcd) first. Node.js 24 comes from the `node` devDependency;
# every recipe runs with node_modules/.bin first on PATH so that it, not the machine's Node, runs.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

NPM_STAMP := node_modules/.quire-install-stamp
PACKAGE_FILES := package.json package-lock.json $(wildcard */package.json)
DATA_DIR ?= .quire

.PHONY: help up test deps etcd chaos-tools build gen lint test-unit test-integration test-chaos test-readme chaos bench bench-storage bench-move clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

up: build ## Start a local cluster (etcd, coordinator, 3 data nodes, 2 routers) in ./.quire
	node cli/dist/main.js dev --routers 2 --data-dir $(DATA_DIR)

test: build lint test-unit test-integration test-chaos test-readme ## Install what is missing, build, lint, run every CI test tier

deps: $(NPM_STAMP) etcd ## Install npm packages and etcd if missing

$(NPM_STAMP): $(PACKAGE_FILES)
	npm ci --no-audit --no-fund
	touch $@

etcd:
	@scripts/ensure-etcd.sh

chaos-tools: ## Install the fault-injection tools if missing (iproute2, iptables, faketime, fiu-utils)
	@scripts/ensure-chaos-tools.sh

gen: $(NPM_STAMP) ## Generate TypeScript from proto/
	npm run gen

build: deps ## Generate code and compile every package
	npm run build

lint: build ## ESLint (boundaries, floating promises, cycles) and buf lint/breaking
	eslint --max-warnings 0 .
	cd proto && buf lint && scripts/buf-breaking.sh

test-unit: build ## Unit tests (pure modules, milliseconds each)
	vitest run --project unit

test-integration: build ## Integration tests: real etcd and real processes on 127.0.0.1
	vitest run --project integration

test-chaos: build chaos-tools ## Chaos suite, short tier (~18 min): namespaces, nemeses, checked histories
	QUIRE_CHAOS_TIER=short vitest run --project chaos

test-readme: build ## The README run literally in a fresh clone: make up, the tour, the packed client library (~1 min)
	vitest run --project readme

chaos: build chaos-tools ## Chaos suite, long tier (~60 min); reports in e2e/results/
	QUIRE_CHAOS_TIER=long vitest run --project chaos

BENCH_ARGS ?=
bench: build ## Benchmarks with etcd measured in the same run: throughput, latency, CPU per put (~4 min); writes bench/results/
	node bench/dist/main.js $(BENCH_ARGS)

bench-storage: build ## One replica's durable commit today (LMDB) against a WAL append + background apply, CPU and wall time (~1 min)
	node bench/dist/storage-commit.js $(BENCH_ARGS)

bench-move: build ## Move 1 GiB onto a fourth data node under load, then lose a node; an etcd learner's catch-up in the same run (~10 min); writes bench/results/
	node bench/dist/move.js $(BENCH_ARGS)

clean: ## Remove build outputs (keeps node_modules and .quire)
	rm -rf */dist */tsconfig.tsbuildinfo proto/src/gen
