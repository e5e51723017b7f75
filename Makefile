# Shieldwall: `make run` serves it, `make test` runs the whole suite on SQLite and PostgreSQL.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/shieldwall_test
PYTEST_ARGS ?=

.PHONY: install browser run test test-sqlite test-postgres lint format bench screenshots clean

install: $(STAMP)

$(STAMP): pyproject.toml setup.py src/shieldwall/detection/_scan.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The browser tests drive Debian's Chromium (never a downloaded one): install it when it is
# missing and this is root on Debian; otherwise say how, and the tests fail saying so too.
browser:
	@if [ -x /usr/bin/chromium ]; then true; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium and chromium-driver for the browser tests"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null; \
	else echo "the browser tests need Debian's chromium: apt-get install chromium chromium-driver (as root)"; fi

run: install
	$(BIN)/shieldwall up

test: install browser test-sqlite test-postgres

test-sqlite: install browser
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

test-postgres: install browser
	SHIELDWALL_TEST_DATABASE_URL=$(PG_URL) $(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

# Pictures of the main pages for docs/screenshots (the browser flow, taking them as it goes).
screenshots: install browser
	SHIELDWALL_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q tests/e2e

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build src/shieldwall/detection/_scan.*.so
