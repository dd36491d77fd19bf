# Two commands on a fresh machine: `make run` and `make test`. Both install what they need.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
KAFKA_LIBS := .cache/kafka-libs
PYTEST_ARGS ?=

.PHONY: run test lint unit integration bench chaos demo schemas deps system-deps clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

system-deps:
	@command -v java >/dev/null && command -v mvn >/dev/null || { \
	  echo "installing a JDK and Maven (Debian packages)"; \
	  apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless maven >/dev/null; }
	@test -x /usr/bin/chromium || { \
	  echo "installing chromium (Debian package; the dashboard's browser test)"; \
	  apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
	@test -x /usr/bin/prometheus -a -x /usr/bin/promtool || { \
	  echo "installing prometheus and promtool (Debian package; the metrics tests)"; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }

$(KAFKA_LIBS)/.resolved: infra/pom.xml | system-deps
	mvn -q -B -f infra/pom.xml dependency:copy-dependencies -DoutputDirectory=$(CURDIR)/$(KAFKA_LIBS)
	cp infra/pom.xml $(KAFKA_LIBS)/.resolved

deps: $(STAMP) $(KAFKA_LIBS)/.resolved

run: deps
	$(BIN)/metering run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: deps lint
	$(BIN)/pytest -p no:cacheprovider $(PYTEST_ARGS)

unit: $(STAMP)
	$(BIN)/pytest tests/unit tests/pricing -q

integration: deps
	$(BIN)/pytest tests/integration -q

bench: deps
	$(BIN)/python -m bench

chaos: deps
	$(BIN)/python -m chaos --full

demo: deps
	$(BIN)/python -m demo

schemas: $(STAMP)
	$(BIN)/metering schemas export

clean:
	rm -rf var .cache $(VENV)
