# lapor-flow: the two commands a new user runs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test test-unit check services services-down bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## Start a local Apache Kafka and PostgreSQL; prints eval-able LAPORFLOW_* lines.
services: install
	@$(PY) scripts/services.py up

## Stop what `make services` started.
services-down:
	@$(PYTHON) scripts/services.py down

## The main job on embedded defaults: SQLite + the local Kafka.
demo: install
	$(PY) scripts/services.py run --kafka-only -- $(VENV)/bin/laporflow demo

## Every test, with Kafka and PostgreSQL started and stopped around the run.
test: install
	$(PY) scripts/services.py run -- $(PY) -m pytest $(PYTEST_ARGS)

## Pure unit tests only (no services).
test-unit: install
	$(PY) -m pytest -m "not integration" $(PYTEST_ARGS)

check: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: install
	$(PY) scripts/services.py run -- $(PY) bench/run.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
