# Two commands on a fresh machine: `make run` (the service on embedded defaults) and
# `make test` (the test suite). Each creates .venv and installs the project when needed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# `make run PORT=8150`: links in pages and mail follow it unless NEWSLETTER_PUBLIC_URL is set.
PORT ?= 8000

.PHONY: run test test-faults lint format clean browser-deps spam-deps spamcheck bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: web + worker + beat on SQLite, the embedded broker and the Maildir outbox (./var/)
run: $(STAMP)
	NEWSLETTER_ENV=$${NEWSLETTER_ENV:-development} $(BIN)/newsletter db upgrade
	NEWSLETTER_ENV=$${NEWSLETTER_ENV:-development} $(BIN)/newsletter articles import --demo
	NEWSLETTER_ENV=$${NEWSLETTER_ENV:-development} $(BIN)/newsletter run --port $(PORT)

## browser-deps: Debian's chromium for the browser test (quick when already installed)
browser-deps:
	@test -x /usr/bin/chromium || { \
		apt-get -o DPkg::Lock::Timeout=600 update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium; }

## spam-deps: Debian's spamassassin for the spam-score test (quick when already installed;
## without recommends, so no spamd daemon comes with it)
spam-deps:
	@test -x /usr/bin/spamassassin || { \
		apt-get -o DPkg::Lock::Timeout=600 update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
			--no-install-recommends spamassassin; }

## spamcheck: score every kind of mail with SpamAssassin's local rules; fails above 0
spamcheck: $(STAMP) spam-deps
	$(BIN)/pytest -q -s tests/test_spamassassin.py

## test: the whole suite against SQLite and the local PostgreSQL and Redis
test: $(STAMP) browser-deps spam-deps
	$(BIN)/pytest $(PYTEST_ARGS)

## test-faults: the fault-injection suite (workers killed, Redis/PostgreSQL/SMTP broken; docs/faults.md)
test-faults: $(STAMP)
	$(BIN)/pytest -m faults tests/faults $(PYTEST_ARGS)

## lint: ruff (check + format check) and mypy
lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

## bench: end-to-end benchmark (quick: 100,000 subscribers; `make bench ARGS=--full`: 1,000,000),
## then the starts by frequency and by area at TARGET_N readers (`make bench TARGET_N=1000000`).
## Needs the local PostgreSQL and Redis; installs Postfix's smtp-sink when missing (the
## postfix daemon is never started). Report on stdout; see docs/benchmarks.md.
BENCH_STAMP := $(VENV)/.bench-stamp
TARGET_N ?= 100000
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	@# A policy-rc.d answering 101 (when there is none) keeps the package from starting
	@# the postfix daemon; the bench runs smtp-sink alone.
	@test -x /usr/sbin/smtp-sink || { \
		made=; test -e /usr/sbin/policy-rc.d || { made=1; \
			printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }; \
		apt-get -o DPkg::Lock::Timeout=600 update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq postfix; \
		status=$$?; test -z "$$made" || rm -f /usr/sbin/policy-rc.d; exit $$status; }
	$(BIN)/python bench/run.py $(ARGS)
	$(BIN)/python bench/bench_frequency.py --start-n $(TARGET_N) --send-n 2000 --rounds 1
	$(BIN)/python bench/bench_area_start.py -n $(TARGET_N)

format: $(STAMP)
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
