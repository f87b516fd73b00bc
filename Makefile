# smslocker — one entry point for every developer task and for CI (.ci/run calls `make test`).
#
# Stamps keep the slow steps idempotent: the venv is rebuilt only when pyproject.toml
# changes, the node interop peers only when their package.json / lock changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VENV_STAMP := $(VENV)/.installed

NODE_DIR := tests/interop/node
NODE_STAMP := $(NODE_DIR)/node_modules/.installed
NPM_FLAGS := --no-audit --no-fund --loglevel=error

# Parallel pytest workers for `make test` (pytest-xdist); 0 runs in this process. Twice
# the cores of this 2-core machine: many tests wait on subprocesses, sockets and fsync, and
# four workers finish the suite in 12 minutes where two took 15.
PYTEST_WORKERS ?= 4

# Fuzzing: how many examples each hypothesis test gets under the `fuzz` profile.
FUZZ_EXAMPLES ?= 20000

.DEFAULT_GOAL := help

.PHONY: help venv interop-deps lint format test bench fuzz demo clean distclean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

venv: $(VENV_STAMP)  ## create .venv and install smslocker with its dev extras

$(VENV_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing smslocker[dev] into $(VENV)"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

interop-deps: $(NODE_STAMP)  ## install the node SMPP peers used by interop tests

$(NODE_STAMP): $(NODE_DIR)/package.json $(wildcard $(NODE_DIR)/package-lock.json)
	@echo "installing node interop peers in $(NODE_DIR)"
	@cd $(NODE_DIR) && if [ -f package-lock.json ]; then npm ci $(NPM_FLAGS); else npm install $(NPM_FLAGS); fi
	@touch $@

lint: venv  ## ruff check, ruff format --check, mypy src
	$(BIN)/ruff check --quiet .
	$(BIN)/ruff format --quiet --check .
	$(BIN)/mypy src

format: venv  ## apply ruff's fixes and formatting
	$(BIN)/ruff check --quiet --fix .
	$(BIN)/ruff format --quiet .

test: venv interop-deps  ## lint, then the whole test suite (PYTEST_WORKERS parallel workers)
	@$(MAKE) --no-print-directory lint
	$(BIN)/pytest -q -n $(PYTEST_WORKERS)

# Debian's chromium for the web pages' browser tests (tests/web, Playwright with
# executable_path): installed only when missing; never a browser download of Playwright's.
.PHONY: browser-deps
APT_SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

browser-deps:  ## install Debian's chromium (browser tests) when /usr/bin/chromium is missing
	@test -x /usr/bin/chromium || { echo "installing chromium (Debian)"; \
		$(APT_SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(APT_SUDO) apt-get install -y -qq chromium; }

test: browser-deps

bench: venv  ## SMPP ingest benchmark
	$(BIN)/python bench/smpp_ingest.py
	$(BIN)/python bench/rent.py --numbers 10000 1000000
	$(BIN)/python bench/ingest.py --postgres $(or $(SMSLOCKER_TEST_POSTGRES_URL),postgresql://127.0.0.1:5432/test)
	$(BIN)/python bench/sqlite_floor.py
	$(BIN)/python bench/gateways.py --postgres $(or $(SMSLOCKER_TEST_POSTGRES_URL),postgresql://127.0.0.1:5432/test)
	$(BIN)/python bench/ws_latency.py
	$(BIN)/python bench/ws_latency.py --redis $(or $(SMSLOCKER_TEST_REDIS_URL),redis://127.0.0.1:6379/0)
	$(BIN)/python bench/ingest_guard.py
	$(BIN)/python bench/bus.py --redis-url $(or $(SMSLOCKER_TEST_REDIS_URL),redis://127.0.0.1:6379/0)

# Property tests (marked `hypothesis` by hypothesis' pytest plugin) and `slow` tests, with
# many examples. Exit code 5 means "no test selected": not a failure of the fuzz run.
fuzz: venv  ## property tests and slow tests with many examples
	HYPOTHESIS_PROFILE=fuzz SMSLOCKER_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) \
		$(BIN)/pytest -q -m "slow or hypothesis" -o timeout=0; \
		status=$$?; if [ $$status -eq 5 ]; then echo "fuzz: no test selected"; exit 0; fi; exit $$status

# Extra arguments for `smslocker demo`, e.g. make demo DEMO_ARGS="--traffic --port 8080".
DEMO_ARGS ?=

demo: venv  ## the whole platform: API, simulator, demo pool and keys (DEMO_ARGS=--traffic)
	$(BIN)/smslocker demo $(DEMO_ARGS)

clean:  ## remove caches and build output (keeps .venv and node_modules)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis .coverage .coverage.* htmlcov \
		build dist src/*.egg-info
	find . -path ./$(VENV) -prune -o -path ./$(NODE_DIR)/node_modules -prune \
		-o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean  ## clean, and remove .venv and node_modules too
	rm -rf $(VENV) $(NODE_DIR)/node_modules
