# Two commands on a fresh machine with only Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint fmt node-deps migrate seed clean conformance

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

migrate: $(STAMP)
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py migrate --noinput

# Embedded default: SQLite file + in-memory channel layer, one process.
run: migrate
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py serve --host $(HOST) --port $(PORT)

seed: migrate
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py seed_demo

test: $(STAMP) node-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

conformance: migrate
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py socketio_conformance --port 3000

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
