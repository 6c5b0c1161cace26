# lapor-flow engine image: `laporflow run` (consume commands, publish events, fire SLA
# timers, serve /metrics, /healthz and /readyz on port 9108).
#
#   docker build -t lapor-flow .
#   docker run --rm -e LAPORFLOW_KAFKA_BOOTSTRAP=kafka:9092 \
#       -e LAPORFLOW_DATABASE_URL=postgresql+psycopg://user:pass@db:5432/laporflow lapor-flow
#
# Configuration is the environment of CONTRACT §6 (LAPORFLOW_KAFKA_BOOTSTRAP,
# LAPORFLOW_DATABASE_URL, LAPORFLOW_METRICS_PORT, LAPORFLOW_POLICY, LAPORFLOW_TOPIC_PREFIX,
# LAPORFLOW_PARTITIONS). Other subcommands: `docker run ... lapor-flow report --json`.

# ---- build: a wheel of the package (only the sources it needs, no .venv or caches)
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# README.md is optional (pyproject names it; setuptools only warns when it is missing).
COPY pyproject.toml README.md* ./
COPY engine ./engine
COPY workflows ./workflows
COPY consumers ./consumers
COPY producers ./producers
COPY lapor ./lapor
COPY notices ./notices
COPY webapp ./webapp
COPY laporflow ./laporflow
RUN pip wheel --no-deps --wheel-dir /wheels .

# ---- runtime
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LAPORFLOW_METRICS_PORT=9108

COPY --from=build /wheels /tmp/wheels
RUN pip install /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels \
    && groupadd --system --gid 10001 laporflow \
    && useradd --system --uid 10001 --gid laporflow --home-dir /app --create-home \
        --shell /usr/sbin/nologin laporflow

# The embedded default database (SQLite, ./laporflow.db) lands in /app; production
# sets LAPORFLOW_DATABASE_URL=postgresql+psycopg://...
WORKDIR /app
USER 10001:10001

EXPOSE 9108
# `laporflow serve` (the admin API and page, LAPORFLOW_API_PORT).
EXPOSE 8080

# Liveness only (/healthz); /readyz also checks Kafka and the database.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('LAPORFLOW_METRICS_PORT', '9108'), timeout=4)"]

# `laporflow run` stops cleanly on SIGTERM (drains the outbox, leaves the group).
STOPSIGNAL SIGTERM
ENTRYPOINT ["laporflow"]
CMD ["run"]
