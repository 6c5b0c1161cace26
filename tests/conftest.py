"""Shared pytest fixtures and hooks.

Services (Apache Kafka, PostgreSQL) come from the ``devservices`` package: a session fixture
uses the externally provided address when its environment variable is set (as under
``python -m devservices run``), otherwise starts the service itself and stops, at session
end, only what it started.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

import devservices as services

REPO_ROOT = Path(__file__).resolve().parent.parent
INTEGRATION_DIR = Path(__file__).resolve().parent / "integration"
CHAOS_DIR = Path(__file__).resolve().parent / "chaos"


# --------------------------------------------------------------------------- hooks


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests/integration/ ``integration`` and tests/chaos/ ``chaos`` (plus integration).

    Chaos runs take minutes: they are deselected unless ``-m`` names ``chaos`` (``make
    chaos``), so ``make test`` and ``make test-unit`` never run them.
    """
    chaos_selected = "chaos" in (config.getoption("markexpr", "") or "")
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        if item.path.is_relative_to(INTEGRATION_DIR):
            item.add_marker(pytest.mark.integration)
        if item.path.is_relative_to(CHAOS_DIR):
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.chaos)
            if not chaos_selected:
                dropped.append(item)
                continue
        kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


# --------------------------------------------------------------------------- services


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap address of a real Apache Kafka broker."""
    external = os.environ.get("LAPORFLOW_KAFKA_BOOTSTRAP", "").strip()
    if external:
        yield external
        return
    bootstrap, started = services.ensure_kafka()
    try:
        yield bootstrap
    finally:
        if started:
            services.stop_kafka()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of the server's main database (``postgresql+psycopg://...``)."""
    external = os.environ.get("LAPORFLOW_TEST_DATABASE_URL", "").strip()
    if external:
        yield external
        return
    url, started = services.ensure_postgres()
    try:
        yield url
    finally:
        if started:
            services.stop_postgres()


@pytest.fixture
def pg_database_url(postgres_url: str) -> Iterator[str]:
    """A fresh, uniquely named database for one test; dropped afterwards."""
    server = make_url(postgres_url)
    conninfo = server.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield server.set(drivername="postgresql+psycopg", database=name).render_as_string(
            hide_password=False
        )
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
