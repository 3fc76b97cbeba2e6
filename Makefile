# TokenPool: `make run` serves on an embedded Redis, `make test` runs every test.
# Both install what is missing first (Debian/Ubuntu: apt; elsewhere they say what to install).

SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := libhiredis-dev redis-server redis-tools pkg-config python3-venv haproxy faketime openssl curl
PY_PACKAGES := schemathesis==4.32.5 openapi-spec-validator==0.9.0 PyYAML==6.0.3
# The dashboard's browser test: Debian's Chromium and its driver, Selenium from PyPI.
BROWSER_APT_PACKAGES := chromium chromium-driver
BROWSER_PY_PACKAGES := selenium==4.27.1
# Swagger UI's and ReDoc's files, so /docs and /redoc work offline (--docs-assets): the package's
# static folder only (--no-deps: FastAPI itself is not needed).
DOCS_PY_PACKAGE := fastapi-offline==1.7.7
DOCS_ASSETS = $$($(VENV)/bin/python -c 'import importlib.util, os; print(os.path.join(importlib.util.find_spec("fastapi_offline").submodule_search_locations[0], "static"))')
VENV := .venv
# The Python client's own venv: its one dependency, and what its tests and type check need.
CLIENT_VENV := .venv-client
CLIENT_PY_PACKAGES := httpx==0.29.0 sniffio==1.3.1 pytest==9.2.0 pytest-asyncio==1.5.0 mypy==2.4.1
# The Python test support (free ports, real redis-servers, tokenpool servers and Redis Clusters as
# context managers, the ok/FAIL lines) that every script in Tests/, Benchmarks/ and topology/ imports,
# and topology/ itself (the compose topology that Tests/topology checks).
export PYTHONPATH := $(CURDIR)/Tests/support:$(CURDIR)/topology
# Release builds skip Swift's run-time exclusivity checks: 11 % of a request's instructions
# (Benchmarks/instructions.py). Debug builds, which every test runs, keep them, so a violation
# still traps there; the compile-time checks stay on in both. They also optimise across
# modules: NIO's and Hummingbird's generic code is specialised for ours (5 % of a cycle
# request's instructions; a from-scratch build takes about a minute longer). And they link
# Swift's runtime and libraries statically, as the Dockerfile's image always has: what is
# measured is what ships, and every retain, release and task switch is a direct call, without
# the shared libraries' PLT stubs and `__tls_get_addr` (2 % of a request's instructions,
# docs/profile.md). (Linux only: Swift has no static runtime on macOS.)
STATIC_RUNTIME := $(if $(filter Linux,$(shell uname -s)),--static-swift-stdlib,)
RELEASE_FLAGS := -Xswiftc -enforce-exclusivity=unchecked -Xswiftc -cross-module-optimization $(STATIC_RUNTIME)

.PHONY: deps build run test security-test python-test history sentinel-test redis-cluster-test soak cluster cluster-test contract dashboard-test bench bench-cpu bench-listeners bench-waiters bench-script-keys bench-churn clean

deps:
	@if command -v dpkg >/dev/null 2>&1; then \
		missing=""; \
		for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
		if [ -n "$$missing" ]; then \
			echo "Installing:$$missing"; \
			$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
		fi; \
	else \
		command -v redis-server >/dev/null || { echo "Install redis-server and hiredis (macOS: brew install redis hiredis)"; exit 1; }; \
	fi

build: deps
	$(SWIFT) build -c release --product tokenpool $(RELEASE_FLAGS)

run: build $(VENV)/.docs-assets
	.build/release/tokenpool serve --docs-assets "$(DOCS_ASSETS)"

$(VENV)/.docs-assets: $(VENV)/.installed
	$(VENV)/bin/pip install -q --no-deps $(DOCS_PY_PACKAGE)
	touch $@

$(VENV)/.installed:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q $(PY_PACKAGES)
	touch $@

# Unit and integration suites (swift-testing), then the API contract against a live server:
# the generated OpenAPI document and Postman collection are current, schemathesis finds
# nothing, the collection replays.
test: deps $(VENV)/.installed
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	python3 Tests/cli/test_cli.py .build/debug
	python3 Tests/cli/test_readme_lua.py
	$(MAKE) --no-print-directory security-test
	$(MAKE) --no-print-directory python-test
	python3 Tests/events/test_fanout.py .build/debug
	python3 Tests/http/test_parked_waits.py .build/debug
	ulimit -n 65536 2>/dev/null || ulimit -n $$(ulimit -Hn); python3 Tests/load/many_waiters.py .build/debug 2000
	$(MAKE) --no-print-directory history
	$(MAKE) --no-print-directory sentinel-test
	$(MAKE) --no-print-directory redis-cluster-test
	$(MAKE) --no-print-directory cluster-test
	$(MAKE) --no-print-directory contract
	$(MAKE) --no-print-directory dashboard-test

# Three replicas, one Redis, tokenpool-load for 20 s with faults injected (a replica SIGKILLed,
# Redis killed and restarted on its append-only file, a coordinated failover to a standby,
# connections killed, DEBUG SLEEP); the history checker and the fault checks must find nothing.
# The checker is first shown to catch violations.
history:
	python3 Tests/load/test_check_history.py
	python3 Tests/load/run_load.py .build/debug 20 replica-kill,redis-restart,failover,client-kill,debug-sleep
	python3 Tests/load/run_load.py .build/debug 20 replica-kill,redis-restart,client-kill --wait 1.5 --watch-queue --max-per-holder 2
	python3 Tests/load/run_load.py .build/debug 12 replica-kill,client-kill --rate-limit 3/0.5
	python3 Tests/load/run_wait.py .build/debug 30

# Keys file (scopes on every pool route, live reload under load, refusals at start), per-key
# rates across three replicas, the audit trail, TLS with HTTP/2 (curl) and its reload on SIGHUP.
security-test:
	python3 Tests/security/test_security.py .build/debug

# The Python client (clients/python): installed the way a user does (pip install ./clients/python)
# into a venv of its own, `mypy --strict`, then pytest against real servers it starts: every call,
# hold and lost leases, two processes on one pool, 200 async holds, a Redis restart, HTTPS with a
# CA, no key in any log, and the examples of docs/patterns.md.
python-test: $(CLIENT_VENV)/.installed
	$(CLIENT_VENV)/bin/pip install -q --no-deps --force-reinstall ./clients/python
	cd clients/python && $(CURDIR)/$(CLIENT_VENV)/bin/mypy
	TOKENPOOL_BINARY=$(CURDIR)/.build/debug/tokenpool $(CLIENT_VENV)/bin/python -m pytest -q -p no:cacheprovider clients/python/tests

$(CLIENT_VENV)/.installed:
	python3 -m venv $(CLIENT_VENV)
	$(CLIENT_VENV)/bin/pip install -q $(CLIENT_PY_PACKAGES)
	touch $@

# Redis Sentinel: 1 master, 2 replicas, 3 sentinels, three replicas with --redis-wait-replicas 1
# under tokenpool-load; the master is SIGKILLed. No history violation, every replica serving
# again within 3 s of the promotion.
sentinel-test:
	python3 Tests/load/run_sentinel.py .build/debug 20 1 --waiting

# Redis Cluster: 3 masters with 2 replicas each; the API contract against it, then three pools on
# three masters under load while a pool's slot migrates and another pool's master is SIGKILLed.
redis-cluster-test: $(VENV)/.installed
	$(VENV)/bin/python Tests/load/run_redis_cluster.py .build/debug contract
	$(VENV)/bin/python Tests/load/run_redis_cluster.py .build/debug registry
	$(VENV)/bin/python Tests/load/run_redis_cluster.py .build/debug handover
	$(VENV)/bin/python Tests/load/run_redis_cluster.py .build/debug midway
	python3 Tests/load/run_redis_cluster.py .build/debug 30 --waiting

# docker-compose.yml agrees with make cluster; then the cluster itself: traffic through haproxy
# while a replica is stopped and started again.
cluster-test: $(VENV)/.installed
	$(VENV)/bin/python Tests/topology/test_compose.py
	$(VENV)/bin/python topology/topology.py test .build/debug single
	$(VENV)/bin/python topology/topology.py test .build/debug sentinel
	$(VENV)/bin/python topology/topology.py test .build/debug cluster

# The docker-compose topology without Docker: Redis, three replicas, haproxy on :8080.
# REDIS=sentinel (docker-compose.sentinel.yml) or REDIS=cluster (docker-compose.cluster.yml).
cluster: build $(VENV)/.installed
	$(VENV)/bin/python topology/topology.py up .build/release $(REDIS)

# The same for minutes, every fault again and again, Redis away for 3 s among them.
# REDIS=sentinel: the Sentinel topology, its master SIGKILLed every 25 s. REDIS=cluster: the
# Redis Cluster run, a slot migration and a master SIGKILLed every 30 s.
SOAK_SECONDS ?= 180
REDIS ?= single
soak: deps
	$(SWIFT) build --build-tests
ifeq ($(REDIS),sentinel)
	python3 Tests/load/run_sentinel.py .build/debug $(SOAK_SECONDS) 1
else ifeq ($(REDIS),cluster)
	python3 Tests/load/run_redis_cluster.py .build/debug $(SOAK_SECONDS)
else
	python3 Tests/load/run_load.py .build/debug $(SOAK_SECONDS) replica-kill,redis-restart,redis-pause,failover,client-kill,debug-sleep
endif

# The dashboard in headless Chromium: it loads offline, shows the pools, follows an assign made
# through the API within 2 s, its buttons change the pool; writes docs/dashboard.png.
dashboard-test: $(VENV)/.docs-assets
	@missing=""; for p in $(BROWSER_APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "Installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
	$(VENV)/bin/pip install -q $(BROWSER_PY_PACKAGES)
	$(VENV)/bin/python Tests/dashboard/test_dashboard.py .build/debug/tokenpool docs/dashboard.png "$(DOCS_ASSETS)"

contract: $(VENV)/.docs-assets
	python3 openapi/build_openapi.py --check
	python3 postman/build_collection.py --check
	$(VENV)/bin/python Tests/contract/run_contract.py .build/debug/tokenpool --docs-assets "$(DOCS_ASSETS)"

# Release build, its own redis-server, wrk scenarios at 1,000 and 1,000,000 tokens:
# writes docs/benchmarks.md, .json and .png. A few minutes.
# BASELINE=COMMIT also builds that commit (from git archive, in its own scratch path, kept for
# the next run, with the release flags make build uses) and measures both binaries alternately
# on one Redis (docs/benchmarks-ab.md) and in instructions per request under qemu, with
# Redis's side under callgrind (docs/benchmarks-instructions.md; without BASELINE, the
# current build alone).
BASELINE ?=
# Rounds of each side-by-side run (Benchmarks/ab.py): the machine's slow spells make single runs swing.
AB_ROUNDS ?= 5
# The release build of BASELINE, from its own copy of the sources, once.
BUILD_BASELINE = @if [ ! -x .build/baseline-$(BASELINE)/release/tokenpool ]; then \
		rm -rf .build/baseline-src-$(BASELINE) && mkdir -p .build/baseline-src-$(BASELINE) && \
		git archive $(BASELINE) | tar -x -C .build/baseline-src-$(BASELINE) && \
		$(SWIFT) build -c release --product tokenpool $(RELEASE_FLAGS) --package-path .build/baseline-src-$(BASELINE) \
			--scratch-path .build/baseline-$(BASELINE); \
	fi
bench: deps $(VENV)/.installed
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk >/dev/null; }
	$(VENV)/bin/pip install -q matplotlib==3.10.7
	@command -v qemu-x86_64 >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq qemu-user >/dev/null; }
	@command -v callgrind_control >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq valgrind >/dev/null; }
	$(SWIFT) build -c release --product tokenpool $(RELEASE_FLAGS)
	$(VENV)/bin/python Benchmarks/run_bench.py .build/release/tokenpool
	$(VENV)/bin/python Benchmarks/wait_replicas.py .build/release/tokenpool
	$(VENV)/bin/python Benchmarks/handover.py .build/release/tokenpool
	$(VENV)/bin/python Benchmarks/allocation.py .build/release/tokenpool
	$(VENV)/bin/python Benchmarks/codec.py
	$(VENV)/bin/python Benchmarks/script_keys.py .build/release/tokenpool
	$(VENV)/bin/python Benchmarks/cluster_pools.py
	ulimit -n 65536 2>/dev/null || ulimit -n $$(ulimit -Hn); $(VENV)/bin/python Benchmarks/churn.py current=.build/release/tokenpool
	ulimit -n 65536 2>/dev/null || ulimit -n $$(ulimit -Hn); $(VENV)/bin/python Benchmarks/listeners.py .build/release/tokenpool 10000 10
	ulimit -n 65536 2>/dev/null || ulimit -n $$(ulimit -Hn); $(VENV)/bin/python Tests/load/many_waiters.py .build/release 100 10000 10000/100 --report
	AB_BASELINE_ARGS="--threads 2" AB_CANDIDATE_ARGS="--threads 1" AB_REPORT=docs/benchmarks-threads.md BASELINE_LABEL="--threads 2" \
		AB_TITLE="One event-loop thread against two (\`--threads\`), side by side" \
		$(VENV)/bin/python Benchmarks/ab.py .build/release/tokenpool .build/release/tokenpool $(AB_ROUNDS)
	AB_CANDIDATE_POOL='{"cooldown": 0.05}' AB_REPORT=docs/benchmarks-cooldown.md BASELINE_LABEL="no cooldown" \
		AB_TITLE="Pools with a 50 ms cooldown against pools with none (one binary), side by side" \
		$(VENV)/bin/python Benchmarks/ab.py .build/release/tokenpool .build/release/tokenpool $(AB_ROUNDS)
	AB_CANDIDATE_POOL='{"rateLimit": {"assigns": 100, "per": 1}}' AB_REPORT=docs/benchmarks-ratelimit.md BASELINE_LABEL="no rate limit" \
		AB_TITLE="Pools with a rate budget (100 assignments a token a second) against pools with none (one binary), side by side" \
		$(VENV)/bin/python Benchmarks/ab.py .build/release/tokenpool .build/release/tokenpool $(AB_ROUNDS)
	AB_CANDIDATE_KEYS=file AB_REPORT=docs/benchmarks-keys.md BASELINE_LABEL="no keys" \
		AB_TITLE="Behind a keys file of 50 keys against no keys (one binary), side by side" \
		$(VENV)/bin/python Benchmarks/ab.py .build/release/tokenpool .build/release/tokenpool $(AB_ROUNDS)
	AB_CANDIDATE_KEYS=rate AB_REPORT=docs/benchmarks-key-rate.md BASELINE_LABEL="no keys" \
		AB_TITLE="Keys with a per-key rate (counted in the request's own script call) against no keys (one binary), side by side" \
		$(VENV)/bin/python Benchmarks/ab.py .build/release/tokenpool .build/release/tokenpool $(AB_ROUNDS)
ifneq ($(BASELINE),)
	$(BUILD_BASELINE)
	BASELINE_LABEL=$(BASELINE) $(VENV)/bin/python Benchmarks/ab.py .build/baseline-$(BASELINE)/release/tokenpool .build/release/tokenpool $(AB_ROUNDS)
	ulimit -n 65536 2>/dev/null || ulimit -n $$(ulimit -Hn); $(VENV)/bin/python Benchmarks/connection_memory.py \
		$(BASELINE)=.build/baseline-$(BASELINE)/release/tokenpool current=.build/release/tokenpool --report docs/benchmarks-connections.md
	$(VENV)/bin/python Benchmarks/instructions.py $(BASELINE)=.build/baseline-$(BASELINE)/release/tokenpool current=.build/release/tokenpool
	$(VENV)/bin/python Benchmarks/server_cpu.py $(BASELINE)=.build/baseline-$(BASELINE)/release/tokenpool current=.build/release/tokenpool
else
	$(VENV)/bin/python Benchmarks/server_cpu.py current=.build/release/tokenpool
	$(VENV)/bin/python Benchmarks/instructions.py current=.build/release/tokenpool
	ulimit -n 65536 2>/dev/null || ulimit -n $$(ulimit -Hn); $(VENV)/bin/python Benchmarks/connection_memory.py \
		current=.build/release/tokenpool --report docs/benchmarks-connections.md
endif

# The server's own CPU per request (/healthz, a 404 assign, the cycle, keep-alive), wrk sending a fixed
# number of each, side by side against BASELINE when given (also part of `make bench`): docs/benchmarks-cpu.md.
bench-cpu: deps $(VENV)/.installed
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk >/dev/null; }
	$(SWIFT) build -c release --product tokenpool $(RELEASE_FLAGS)
	$(if $(BASELINE),$(BUILD_BASELINE))
	$(VENV)/bin/python Benchmarks/server_cpu.py $(if $(BASELINE),$(BASELINE)=.build/baseline-$(BASELINE)/release/tokenpool) current=.build/release/tokenpool

# Redis's instructions a script call by the keys it declares: one Redis, Redis Cluster, and Cluster's
# twelve of before (also part of `make bench`): docs/benchmarks-script-keys.md.
bench-script-keys: deps $(VENV)/.installed
	@command -v callgrind_control >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq valgrind >/dev/null; }
	$(SWIFT) build -c release --product tokenpool $(RELEASE_FLAGS)
	$(VENV)/bin/python Benchmarks/script_keys.py .build/release/tokenpool

# A new connection's cost with and without 10,000 idle ones held open, side by side against
# BASELINE when given (also part of `make bench`): docs/benchmarks-churn.md.
bench-churn: deps $(VENV)/.installed
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk >/dev/null; }
	$(SWIFT) build -c release --product tokenpool $(RELEASE_FLAGS)
	$(if $(BASELINE),$(BUILD_BASELINE))
	ulimit -n 65536 2>/dev/null || ulimit -n $$(ulimit -Hn); $(VENV)/bin/python Benchmarks/churn.py \
		$(if $(BASELINE),$(BASELINE)=.build/baseline-$(BASELINE)/release/tokenpool) current=.build/release/tokenpool

# 100 and then 10,000 waiting assigns on one replica (also part of `make bench`): what waiting costs
# Redis and the replica, hand-over times, every waiter served once.
bench-waiters: deps $(VENV)/.installed
	$(SWIFT) build -c release --product tokenpool $(RELEASE_FLAGS)
	ulimit -n 65536 2>/dev/null || ulimit -n $$(ulimit -Hn); $(VENV)/bin/python Tests/load/many_waiters.py .build/release 100 10000 10000/100 --report

# 10,000 SSE listeners over 10 pools on one replica (also part of `make bench`): Redis's reads,
# each event's delay to every listener, server memory per listener. The file limit is raised here only.
bench-listeners: deps $(VENV)/.installed
	$(SWIFT) build -c release --product tokenpool $(RELEASE_FLAGS)
	ulimit -n 65536 2>/dev/null || ulimit -n $$(ulimit -Hn); $(VENV)/bin/python Benchmarks/listeners.py .build/release/tokenpool 10000 10

clean:
	rm -rf .build $(VENV)
