# Two commands on a fresh machine with only Python 3.11+: `make run` and `make test`
# (`make test-fast` for the inner loop: no live servers, Node or browser).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000
CHROMIUM := /usr/bin/chromium
SOCKETIO_DIST := node_modules/socket.io-client/dist
WEB_VENDOR := banter/web/static/web/vendor
SDK := clients/js
SDK_VENDOR := $(WEB_VENDOR)/banter-client

.PHONY: run test test-fast lint fmt node-deps web-assets sdk browser-deps migrate seed clean conformance conformance-suites chaos bench

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	touch $(STAMP)

# JS test dependencies (socket.io-client for the real-client tests). Without npm the node
# tests skip with a reason (and fail under BANTER_REQUIRE_SERVICES=1).
node-deps:
	@if command -v npm >/dev/null 2>&1; then \
		if [ ! -f node_modules/.stamp ] || [ package-lock.json -nt node_modules/.stamp ]; then \
			npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.stamp; \
		fi; \
	else echo "npm not found: node client tests will be skipped"; fi
	@$(MAKE) --no-print-directory web-assets

# The web page (banter/web) uses the official socket.io-client browser build, copied from
# node_modules into its static files, and the client SDK's build (clients/js/dist). The copies
# are committed, so `make run` needs no node; tests/browser/test_web_app.py and
# tests/clients/test_js_sdk.py check they still match after an npm upgrade or `make sdk`.
web-assets:
	@if [ -f $(SOCKETIO_DIST)/socket.io.min.js ]; then \
		mkdir -p $(WEB_VENDOR); \
		for f in socket.io.min.js socket.io.min.js.map; do \
			cmp -s $(SOCKETIO_DIST)/$$f $(WEB_VENDOR)/$$f || cp $(SOCKETIO_DIST)/$$f $(WEB_VENDOR)/$$f; \
		done; \
	else echo "node_modules/socket.io-client missing: keeping the vendored copy in $(WEB_VENDOR)"; fi
	@mkdir -p $(SDK_VENDOR)
	@for f in $(SDK)/dist/*.js; do \
		cmp -s $$f $(SDK_VENDOR)/$${f##*/} || cp $$f $(SDK_VENDOR)/; \
	done
	@for f in $(SDK_VENDOR)/*.js; do [ -f $(SDK)/dist/$${f##*/} ] || rm -f $$f; done

# The JavaScript client SDK (clients/js): regenerate its protocol and REST types from the
# server (scripts/gen_client_protocol.py), compile it with tsc into clients/js/dist and copy
# that to the page. dist/ and the generated sources are committed (tests/clients checks them).
sdk: $(STAMP) node-deps
	DEBUG=$${DEBUG:-1} $(BIN)/python scripts/gen_client_protocol.py
	node node_modules/typescript/bin/tsc -p $(SDK)
	@$(MAKE) --no-print-directory web-assets

# Debian's Chromium for the browser test (tests/browser). Never fails the build: without it
# that test skips with a reason (and fails under BANTER_REQUIRE_SERVICES=1).
browser-deps:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian's chromium for the browser test"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 \
		|| { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends chromium; } \
		|| echo "could not install chromium: the browser test will be skipped"; \
	else echo "$(CHROMIUM) missing (needs root and apt-get to install): the browser test will be skipped"; fi

migrate: $(STAMP)
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py migrate --noinput

# Embedded default: SQLite file + in-memory channel layer, one process.
run: migrate
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py serve --host $(HOST) --port $(PORT)

seed: migrate
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py seed_demo

# One process by default. TEST_WORKERS=2 runs two pytest-xdist workers, a test file each at a
# time (--dist loadfile: a file's session-scoped servers stay in one worker): 5 min instead of
# 8.5 on 2 cores, but with two files' live servers on two cores the ring-timeout call test
# (tests/e2e/test_calls.py) failed 1 run in 2, against 1 in 3 serial runs under load; serial
# until that is understood (docs/development.md).
TEST_WORKERS ?= 0
test: $(STAMP) node-deps browser-deps
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The inner loop: unit, service, protocol and in-process socket tests (tests/inprocess), every
# test but those marked e2e (live server processes, Node clients, the browser). No node or
# browser install; about 35 s on 2 cores with two workers (50 s with FAST_WORKERS=0).
FAST_WORKERS ?= 2
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n $(FAST_WORKERS) --dist loadfile -m "not e2e" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The servers the upstream suites expect on http://localhost:3000 (Socket.IO at /socket.io/,
# Engine.IO echo at /engine.io/), left running for a manual `npx mocha` (docs/protocol.md).
conformance: migrate
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py socketio_conformance --host localhost --port 3000

# The upstream Socket.IO v5 and Engine.IO v4 suites, unmodified (../shared/conformance), against
# that server; skips with a reason without them or without npm (scripts/conformance_suites.sh).
conformance-suites: $(STAMP)
	PYTHON=$(CURDIR)/$(BIN)/python DEBUG=$${DEBUG:-1} bash scripts/conformance_suites.sh

# Kill -9 one of two instances (Redis; PostgreSQL when DATABASE_URL says so) under load and
# check that no acked message is lost or duplicated (bench/chaos.py; e.g.
# CHAOS_ARGS="--clients 40 --rooms 8 --duration 30").
chaos: $(STAMP) node-deps
	$(BIN)/python bench/chaos.py $(CHAOS_ARGS)

# Banter against the python-socketio reference under one load generator, server and generator
# pinned to their own cores (bench/run.py; docs/benchmarks.md). About 35 minutes; e.g.
# BENCH_ARGS="--quick" or BENCH_ARGS="--scenarios sweep --servers banter,reference".
BENCH_STAMP := $(VENV)/.bench-stamp
$(BENCH_STAMP): $(STAMP) bench/requirements.txt
	$(BIN)/python -m pip install -q -r bench/requirements.txt
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP) node-deps
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
