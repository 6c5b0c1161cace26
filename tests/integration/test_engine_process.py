"""``laporflow run`` as a real process: ``/readyz`` and its JSON logs (issue 7).

* healthy and idle, ``/readyz`` answers 200, and keeps answering 200 (kafka-python's
  ``bootstrap_connected()`` turns false once metadata is loaded: it cannot tell);
* with its database gone, ``/readyz`` answers 503 naming the database;
* every line on stderr, the relay child's included, is a JSON object at the level
  given by ``--log-level``, and the database password appears nowhere.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from tests.integration.test_crash_recovery import EngineProcess, _free_port


def _readyz(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except (urllib.error.URLError, ConnectionError):
        return 0, {}


def _wait_status(port: int, status: int, engine: EngineProcess, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        got, body = _readyz(port)
        if got == status:
            return body
        engine.assert_running()
        assert time.monotonic() < deadline, f"/readyz stayed {got} {body}\n{engine.tail()}"
        time.sleep(0.25)


def test_readyz_follows_the_dependencies_and_logs_are_json_without_secrets(
    kafka_bootstrap: str, postgres_url: str, tmp_path: Path
) -> None:
    server = make_url(postgres_url)
    name = f"t_{uuid.uuid4().hex[:16]}"
    password = f"pw-{uuid.uuid4().hex}"  # the test server trusts local users; never logged
    admin_conninfo = server.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = server.set(database=name, password=password).render_as_string(hide_password=False)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAPORFLOW_")}
    env.update(
        LAPORFLOW_KAFKA_BOOTSTRAP=kafka_bootstrap,
        LAPORFLOW_DATABASE_URL=url,
        LAPORFLOW_TOPIC_PREFIX=f"ready-{uuid.uuid4().hex[:8]}.",
        LAPORFLOW_GROUP_ID=f"ready-{uuid.uuid4().hex[:8]}",
        LAPORFLOW_METRICS_PORT=str(port),
        LAPORFLOW_PARTITIONS="1",
        # The default under `run` is json; WARNING must reach the relay child too.
        LAPORFLOW_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    engine = EngineProcess.start(env, tmp_path / "engine.log")
    try:
        body = _wait_status(port, 200, engine, timeout_s=60)
        assert body["checks"] == {"database": True, "kafka": True, "relay": True}
        # Healthy and idle, it stays ready.
        until = time.monotonic() + 10
        while time.monotonic() < until:
            status, body = _readyz(port)
            assert status == 200, (body, engine.tail())
            time.sleep(0.5)

        with psycopg.connect(admin_conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        body = _wait_status(port, 503, engine, timeout_s=20)
        assert body["checks"]["database"] is False
        assert body["checks"]["kafka"] is True
        time.sleep(2)  # let both processes log their retries

        engine.proc.send_signal(signal.SIGTERM)
        try:
            engine.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"engine did not stop on SIGTERM\n{engine.tail()}") from None
    finally:
        engine.kill_group()
        with psycopg.connect(admin_conninfo, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    text = engine.log.read_text(errors="replace")
    assert password not in text
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "the engine logged nothing"
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON log line: {line!r}") from None
    for record in records:
        assert {"ts", "level", "logger", "process", "msg"} <= set(record), record
        assert record["level"] in ("WARNING", "ERROR", "CRITICAL"), record
    relay = [r for r in records if r["process"] == "laporflow-relay"]
    assert relay, "the relay child logged nothing about the lost database"
    assert any(r["level"] == "ERROR" for r in relay)
