"""Two ``laporflow run`` processes in one group share the partitions *and* the outbox.

CONTRACT §6: each event is published once in normal operation, whatever the number of
instances. The second engine joins while the first is busy, so a rebalance moves
partitions (and their outbox rows) from one relay to the other mid-stream.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections import Counter
from datetime import date
from pathlib import Path

from engine.topics import Topics
from laporflow.demo_data import expected_kinds, generate
from producers.kafka_io import ensure_topics
from tests.integration.test_crash_recovery import (
    CONSUMED,
    DUE,
    PARTITIONS,
    UNPUBLISHED,
    Db,
    EngineProcess,
    _free_port,
    _produce,
    _read_topic,
)


def _assigned(engine: EngineProcess) -> bool:
    """True once the engine's consumer was given partitions (a JSON log line says so)."""
    for line in engine.log.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("msg", "").startswith("partitions assigned") and record.get("partitions"):
            return True
    return False


def _wait(what: str, check: object, engines: list[EngineProcess], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        for engine in engines:
            engine.assert_running()
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n" + "\n".join(
            e.tail() for e in engines
        )
        time.sleep(0.1)


def test_two_engines_publish_every_event_exactly_once(
    kafka_bootstrap: str, pg_database_url: str, tmp_path: Path
) -> None:
    prefix = f"two-{uuid.uuid4().hex[:8]}."
    topics = Topics(prefix)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAPORFLOW_")}
    env.update(
        LAPORFLOW_KAFKA_BOOTSTRAP=kafka_bootstrap,
        LAPORFLOW_DATABASE_URL=pg_database_url,
        LAPORFLOW_TOPIC_PREFIX=prefix,
        LAPORFLOW_GROUP_ID=f"two-{uuid.uuid4().hex[:8]}",
        LAPORFLOW_PARTITIONS=str(PARTITIONS),
        LAPORFLOW_MAX_POLL_RECORDS="100",
        PYTHONUNBUFFERED="1",
    )
    _, records = generate(seed=11, complaints=300, start=date(2026, 1, 5), days=30)
    kinds = expected_kinds(records)
    ensure_topics(kafka_bootstrap, topics.all(), PARTITIONS)
    half = len(records) // 2

    db = Db(pg_database_url)
    engines: list[EngineProcess] = []
    try:
        first = EngineProcess.start(
            {**env, "LAPORFLOW_METRICS_PORT": str(_free_port())}, tmp_path / "a.log"
        )
        engines.append(first)
        _wait("the first engine to join", lambda: _assigned(first), engines, 60)
        _produce(kafka_bootstrap, topics.commands, records[:half])
        # The second engine joins while the first is applying and publishing.
        _wait(
            "the first engine to start publishing",
            lambda: db.scalar("SELECT count(*) FROM outbox WHERE published") > 0,
            engines,
            60,
        )
        second = EngineProcess.start(
            {**env, "LAPORFLOW_METRICS_PORT": str(_free_port())}, tmp_path / "b.log"
        )
        engines.append(second)
        _wait("the second engine to join", lambda: _assigned(second), engines, 60)
        _produce(kafka_bootstrap, topics.commands, records[half:])

        def finished() -> bool:
            return (
                db.scalar(CONSUMED) == len(records)
                and db.scalar(UNPUBLISHED) == 0
                and db.scalar(DUE) == 0
            )

        _wait("both engines to finish", finished, engines, 120)
        stored = {event_id for (event_id,) in db.rows("SELECT event_id FROM events")}
        on_topic = Counter(
            json.loads(r.value)["event_id"] for r in _read_topic(kafka_bootstrap, topics.events)
        )
        twice = {event_id: n for event_id, n in on_topic.items() if n > 1}
        assert not twice, f"{len(twice)} of {len(stored)} events published more than once"
        assert set(on_topic) == stored
        dead = Counter(
            (dict(r.headers)["source_partition"], dict(r.headers)["source_offset"])
            for r in _read_topic(kafka_bootstrap, topics.dlq)
        )
        assert len(dead) == kinds["invalid"]
        assert set(dead.values()) == {1}
        # Every outbox row knows its partition, so exactly one relay owns it.
        assert db.scalar("SELECT count(*) FROM outbox WHERE partition IS NULL") == 0
        for engine in engines:
            engine.proc.send_signal(signal.SIGTERM)
        for engine in engines:
            try:
                assert engine.proc.wait(timeout=60) == 0, engine.tail()
            except subprocess.TimeoutExpired:
                raise AssertionError(f"engine did not stop on SIGTERM\n{engine.tail()}") from None
    finally:
        for engine in engines:
            engine.kill_group()
        db.close()
