# lapor-flow: the two commands a new user runs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo admin test test-unit chaos check check-ops services services-down bench bench-quick clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing lapor-flow and its dev tools into $(VENV) (log: $(VENV)/install.log)"
	@( $(PY) -m pip install -q --upgrade pip && $(PY) -m pip install -q -e '.[dev]' ) \
		> $(VENV)/install.log 2>&1 || { tail -30 $(VENV)/install.log; exit 1; }
	@touch $(STAMP)

install: $(STAMP)

## Start a local Apache Kafka and PostgreSQL; prints eval-able LAPORFLOW_* lines.
services: install
	@scripts/ensure_java_maven.sh >&2
	@$(PY) scripts/services.py up

## Stop what `make services` started.
services-down:
	@$(PYTHON) scripts/services.py down

## The main job on embedded defaults: SQLite + the local Kafka.
demo: install
	@scripts/ensure_java_maven.sh
	$(PY) scripts/services.py run --kafka-only -- $(VENV)/bin/laporflow demo

## The demo's database on the admin page (http://127.0.0.1:8080/admin) until Ctrl-C.
## Token: $LAPORFLOW_API_TOKEN, or a fresh random one, printed.
admin: install
	@test -f laporflow-demo.db || { echo "no laporflow-demo.db here: run 'make demo' first" >&2; exit 1; }
	@token="$${LAPORFLOW_API_TOKEN:-$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(24))')}"; \
	echo "admin page: http://127.0.0.1:$${LAPORFLOW_API_PORT:-8080}/admin  token: $$token  (Ctrl-C stops)"; \
	LAPORFLOW_API_TOKEN="$$token" exec $(VENV)/bin/laporflow serve --database-url sqlite:///laporflow-demo.db

## Every test, with Kafka and PostgreSQL started and stopped around the run.
test: install
	@scripts/ensure_prometheus.sh
	@scripts/ensure_chromium.sh
	@scripts/ensure_java_maven.sh
	$(PY) scripts/services.py run -- $(PY) -m pytest $(PYTEST_ARGS)

## Fault injection (tests/chaos/): kill -9, broker and database restarts, scale-out,
## hostile input, secrets, replay. Sizes: LAPORFLOW_CHAOS_* (docs/chaos.md).
chaos: install
	@scripts/ensure_java_maven.sh
	$(PY) scripts/services.py run -- $(PY) -m pytest -m chaos tests/chaos --basetemp=.cache/chaos-tmp $(PYTEST_ARGS)

## Pure unit tests only (no services).
test-unit: install
	@scripts/ensure_prometheus.sh
	$(PY) -m pytest -m "not integration" $(PYTEST_ARGS)

## Prometheus config and alert rules, checked with promtool.
check-ops:
	@scripts/ensure_prometheus.sh
	promtool check config ops/prometheus/prometheus.yml
	promtool test rules ops/prometheus/alerts_test.yml

check: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

## End-to-end benchmarks on the real Kafka + PostgreSQL (issue 12 sizes: 200k commands,
## 1M stored complaints; long). Writes bench/results.json.
bench: install
	@scripts/ensure_java_maven.sh
	$(PY) scripts/services.py run -- $(PY) bench/e2e.py

## The same measurements, smaller (under 3 minutes on a quiet 2-core box).
bench-quick: install
	@scripts/ensure_java_maven.sh
	$(PY) scripts/services.py run -- $(PY) bench/e2e.py --quick

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
