# Two commands on a fresh machine: `make run` (the service on embedded defaults) and
# `make test` (the test suite). Each creates .venv and installs the project when needed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: run test test-faults lint format clean browser-deps

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: web + worker + beat on SQLite, the embedded broker and the Maildir outbox (./var/)
run: $(STAMP)
	NEWSLETTER_ENV=$${NEWSLETTER_ENV:-development} $(BIN)/newsletter db upgrade
	NEWSLETTER_ENV=$${NEWSLETTER_ENV:-development} $(BIN)/newsletter articles import --demo
	NEWSLETTER_ENV=$${NEWSLETTER_ENV:-development} $(BIN)/newsletter run

## browser-deps: Debian's chromium for the browser test (quick when already installed)
browser-deps:
	@test -x /usr/bin/chromium || { \
		apt-get -o DPkg::Lock::Timeout=600 update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium; }

## test: the whole suite against SQLite and the local PostgreSQL and Redis
test: $(STAMP) browser-deps
	$(BIN)/pytest $(PYTEST_ARGS)

## test-faults: the fault-injection suite (workers killed, Redis/PostgreSQL/SMTP broken; docs/faults.md)
test-faults: $(STAMP)
	$(BIN)/pytest -m faults tests/faults $(PYTEST_ARGS)

## lint: ruff (check + format check) and mypy
lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix src tests
	$(BIN)/ruff format src tests

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
