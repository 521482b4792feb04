# Flotilla: the two user commands are `make run` and `make test` (see README.md).
# Everything else here is a helper they call, or an entry point for scripts owned elsewhere.

SWIFT  ?= swift
PYTHON ?= python3
# Extra flags for `flotilla serve`, e.g. make run ARGS="--mqtt-port 1884"
ARGS   ?=
# Binary the integration tests start (override to test another build).
FLOTILLA_BIN ?= $(CURDIR)/.build/debug/flotilla

.PHONY: chaos chaos-short run cluster test deps build-release build-tests check-layers test-swift test-integration test-chaos-checker bench bench-tls bench-raft bench-failover bench-shadow bench-cluster fuzz

## make run: install missing dependencies, build the release binary, start a single embedded node with its TLS
## listeners (8883 mutual TLS, 8443 ALPN/HTTPS/WebSocket) on development certificates made on first start
run: deps build-release
	.build/release/flotilla serve --mqtts-port 8883 --tls-port 8443 $(ARGS)

## make cluster: build the release binary, start a local three-node cluster (cluster/up 3; stop: cluster/down)
cluster: deps build-release
	cluster/up 3

## make test: the layering check, Swift unit + channel tests, the integration tests against the real debug
## binary, the chaos checker's own tests, then the chaos suite's short run (a real 3-node cluster under every fault
## type, ~80 s; fails on any violation). Every step runs even if an earlier one fails, so one run reports
## everything; the exit status is non-zero if any failed.
test: deps build-tests
	@status=0; \
	$(MAKE) --no-print-directory check-layers || status=1; \
	$(MAKE) --no-print-directory test-swift || status=1; \
	$(MAKE) --no-print-directory test-integration || status=1; \
	$(MAKE) --no-print-directory test-chaos-checker || status=1; \
	$(MAKE) --no-print-directory chaos-short || status=1; \
	if [ $$status -ne 0 ]; then echo "make test: FAILED (see the output above)" >&2; fi; \
	exit $$status

deps:
	bash scripts/install-deps.sh

build-release:
	$(SWIFT) build -c release --product flotilla

# Builds every target, tests included, in debug; this also produces .build/debug/flotilla.
build-tests:
	$(SWIFT) build --build-tests

# Pure modules (L0-L2) must not import I/O modules or read clocks (STYLE C1).
check-layers:
	bash scripts/check-imports.sh

test-swift:
	$(SWIFT) test --skip-build --no-parallel

test-integration:
	FLOTILLA_BIN="$(FLOTILLA_BIN)" $(PYTHON) -m pytest -q Tests/integration

## make test-chaos-checker: the chaos checker's own tests (hand-made and generated histories, no cluster; ~5 s)
test-chaos-checker:
	$(PYTHON) -m pytest -q cluster/chaos/test_checker.py

bench:
	bash benchmarks/run.sh

## make bench-tls: mutual-TLS handshakes/s (Flotilla vs openssl s_server) and QoS 0 over TLS (Flotilla vs
## mosquitto), release builds, about 3 min; results in benchmarks/results/ and benchmarks/README.md. Not part of
## `make test`.
bench-tls:
	bash benchmarks/tls.sh

# Extra flags for `flotilla bench raft`, e.g. make bench-raft BENCH_RAFT_ARGS="--concurrency 256 --duration 5"
BENCH_RAFT_ARGS ?=
## make bench-raft: committed commands/s and commit latency on 1 and 3 local nodes (release build, about 2 min;
## JSON in benchmarks/results/, see benchmarks/README.md). Not part of `make test`.
bench-raft: build-release
	.build/release/flotilla bench raft \
		--commit "$$(git rev-parse --short HEAD)$$(git diff --quiet HEAD -- Sources Package.swift || echo +dirty)" \
		$(BENCH_RAFT_ARGS)

fuzz:
	bash fuzz/run.sh

## make bench-shadow: device shadow updates/s and update → accepted latency over MQTT, 1,000 devices, on 1 node and
## on 3 local nodes (release builds, about 1 min; results in benchmarks/results/). Not part of `make test`.
bench-shadow: deps build-release
	bash benchmarks/shadow.sh

## make bench-cluster: cross-node vs same-node routing (throughput, and latency at a fixed rate) with mosquitto in the
## same run, then route propagation and failure detection next to Serf (release builds, about 6 min; results in
## benchmarks/results/cluster-*.md). Not part of `make test`.
bench-cluster: deps build-release
	bash benchmarks/cluster.sh

## make bench-failover: leader SIGKILL → first committed write on a local three-node cluster, 20 times
bench-failover: deps build-release
	$(PYTHON) benchmarks/failover.py

## make chaos-short: the chaos suite's short run (issue 8): fixed seed, 3 nodes in network namespaces, every fault
## type once, under 5 minutes; exits non-zero on any violation. Report in cluster/chaos/results/<stamp>/.
chaos-short:
	FLOTILLA_BIN="$(FLOTILLA_BIN)" cluster/chaos/run --short

## make chaos: a long chaos run, e.g. make chaos CHAOS_ARGS="--duration 30m --nodes 5 --seed 7"
CHAOS_ARGS ?= --duration 30m
chaos:
	FLOTILLA_BIN="$(FLOTILLA_BIN)" cluster/chaos/run $(CHAOS_ARGS)
