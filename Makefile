# Rudder: the one entry point. `make up` starts a cluster, `make test` runs every test.
SHELL := /bin/bash
CARGO ?= cargo
# Builds go to ./target; CI and developers may point it at a shared directory outside the
# clone (see .ci/run), which keeps rebuilds incremental.
OUT := _output/local-cluster

.PHONY: all build deps up down test unit e2e lint fmt bench clean

all: build

deps:
	@hack/install-deps.sh

build: deps
	$(CARGO) build --release --workspace --bins

up: build
	@hack/local-up-cluster.sh

down:
	@hack/local-down-cluster.sh

# One build for binaries and tests: --all-targets unifies features with the
# dev-dependencies, so `cargo test` then reuses every artifact instead of rebuilding.
test: deps
	@hack/install-deps.sh --python
	@hack/containerd.sh install
	@hack/containerd.sh images
	$(CARGO) build --release --workspace --all-targets
	$(CARGO) test --workspace --release -- --test-threads=2
	@hack/e2e.sh
	@hack/e2e-cluster.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

bench: build
	@hack/bench.sh

clean:
	$(CARGO) clean
