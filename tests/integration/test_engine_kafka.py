"""The engine end to end on a real Kafka broker and a real PostgreSQL.

A few hundred generated complaints through full lifecycles, plus duplicates, forbidden
commands, unknown complaints and garbage bytes: every outcome is counted exactly, every
complaint's events have a gap-free seq, dead letters keep their bytes and carry the
contract's headers, and ``laporflow status --json`` reads the result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer

from engine.metrics import REGISTRY
from engine.settings import Settings
from laporflow.demo_data import DemoRecord, expected_kinds, generate
from laporflow.runtime import EngineRuntime

WITA = timezone(timedelta(hours=8))


@dataclass
class Run:
    settings: Settings
    records: list[DemoRecord]
    runtime: EngineRuntime
    before: dict[tuple[str, str], float]


def _command_counts() -> dict[tuple[str, str], float]:
    counts: dict[tuple[str, str], float] = defaultdict(float)
    for metric in REGISTRY.collect():
        if metric.name == "laporflow_commands":
            for sample in metric.samples:
                if sample.name == "laporflow_commands_total":
                    counts[(sample.labels["type"], sample.labels["outcome"])] += sample.value
    return counts


def _read_all(bootstrap: str, topic: str, expected: int) -> list[Any]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=5000,
    )
    out: list[Any] = []
    try:
        for record in consumer:
            out.append(record)
            if len(out) >= expected:
                # Keep reading briefly: more than expected is a failure too.
                consumer.config["consumer_timeout_ms"] = 1000
    finally:
        consumer.close()
    return out


@pytest.fixture(scope="module")
def engine_run(kafka_bootstrap: str, postgres_url: str) -> Iterator[Run]:
    # A module-scoped database of its own on the session's PostgreSQL server.
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"it_{uuid.uuid4().hex[:10]}"
    admin = make_url(postgres_url)
    with psycopg.connect(
        host=admin.host,
        port=admin.port,
        user=admin.username,
        dbname=admin.database,
        autocommit=True,
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin.set(database=name).render_as_string(hide_password=False)

    _, records = generate(seed=7, complaints=300, start=date(2026, 1, 5), days=30)
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=url,
        topic_prefix=f"it-{uuid.uuid4().hex[:8]}.",
        group_id=f"it-{uuid.uuid4().hex[:8]}",
        partitions=3,
        max_poll_records=200,
    )
    # The engine's clock: the day after the last command, like the demo.
    as_of = datetime.combine(
        max(r.issued_at for r in records).date() + timedelta(days=1),
        datetime.min.time(),
        tzinfo=WITA,
    )
    from producers.kafka_io import ensure_topics

    ensure_topics(kafka_bootstrap, settings.topics.all(), settings.partitions)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for r in records:
        producer.send(settings.topics.commands, key=r.key, value=r.value)
    producer.flush()
    producer.close()

    before = _command_counts()
    runtime = EngineRuntime(settings, clock=lambda: as_of, serve_http=False)
    deadline = datetime.now() + timedelta(seconds=120)
    while runtime.consumer.stats.records < len(records):
        assert datetime.now() < deadline, f"only {runtime.consumer.stats.records} consumed"
        runtime.consumer.poll_once()
    for _ in range(5):  # caught up: timers up to the clock fire
        runtime.consumer.poll_once()
    runtime.relay.drain()
    yield Run(settings, records, runtime, before)
    runtime.shutdown()
    with psycopg.connect(
        host=admin.host,
        port=admin.port,
        user=admin.username,
        dbname=admin.database,
        autocommit=True,
    ) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_every_record_has_exactly_its_intended_outcome(engine_run: Run) -> None:
    kinds = expected_kinds(engine_run.records)
    outcomes = engine_run.runtime.consumer.stats.outcomes
    assert sum(outcomes.values()) == len(engine_run.records)
    assert outcomes.get("invalid", 0) == kinds["invalid"]
    assert outcomes.get("duplicate", 0) == kinds["duplicate"]
    assert outcomes.get("rejected", 0) == kinds["forbidden"] + kinds["unknown_complaint"]
    assert outcomes.get("applied", 0) == kinds["lifecycle"]


def test_metrics_count_each_outcome(engine_run: Run) -> None:
    after = _command_counts()
    delta: Counter[str] = Counter()
    for (_, outcome), value in after.items():
        delta[outcome] += int(value - engine_run.before.get((_, outcome), 0))
    assert dict(delta) == {k: v for k, v in engine_run.runtime.consumer.stats.outcomes.items() if v}


def test_events_have_gap_free_seq_and_no_identity(engine_run: Run, kafka_bootstrap: str) -> None:
    with engine_run.runtime.store.engine.connect() as conn:
        from sqlalchemy import func, select

        from engine.schema import events_table

        stored = conn.execute(select(func.count()).select_from(events_table)).scalar_one()
    records = _read_all(kafka_bootstrap, engine_run.settings.topics.events, stored)
    assert len(records) == stored
    seqs: dict[str, list[int]] = defaultdict(list)
    ids = set()
    for record in records:
        event = json.loads(record.value)
        assert record.key.decode() == event["complaint_id"]
        ids.add(event["event_id"])
        assert "complainant" not in event["payload"]
        if event["seq"] is not None:
            seqs[event["complaint_id"]].append(event["seq"])
    assert len(ids) == len(records)
    for complaint_id, got in seqs.items():
        # Per-complaint order is the partition order: 1, 2, 3 ... with no gaps.
        assert got == list(range(1, len(got) + 1)), complaint_id
    submitted = sum(
        1
        for r in engine_run.records
        if b'"type": "submit"' in r.value or b'"type":"submit"' in r.value
    )
    assert len(seqs) >= min(submitted, 250)
    rejected = [
        json.loads(r.value) for r in records if json.loads(r.value)["type"] == "command.rejected"
    ]
    assert {e["payload"]["reason"] for e in rejected} >= {"invalid_transition", "unknown_complaint"}


def test_dead_letters_keep_bytes_and_carry_headers(engine_run: Run, kafka_bootstrap: str) -> None:
    invalid = [r for r in engine_run.records if r.kind == "invalid"]
    records = _read_all(kafka_bootstrap, engine_run.settings.topics.dlq, len(invalid))
    assert sorted((r.value or b"") for r in records) == sorted(r.value for r in invalid)
    for record in records:
        headers = dict(record.headers)
        assert set(headers) >= {
            "error",
            "error_detail",
            "source_topic",
            "source_partition",
            "source_offset",
        }
        assert headers["source_topic"].decode() == engine_run.settings.topics.commands
        assert int(headers["source_offset"]) >= 0
        assert headers["error"].decode() in {
            "empty",
            "too_large",
            "not_json",
            "schema",
            "unknown_type",
        }


def test_status_json_reads_the_stored_complaint(engine_run: Run) -> None:
    store = engine_run.runtime.store
    with store.engine.connect() as conn:
        from sqlalchemy import select

        from engine.schema import complaints_table

        complaint_id, state, seq = conn.execute(
            select(
                complaints_table.c.complaint_id, complaints_table.c.state, complaints_table.c.seq
            )
            .where(complaints_table.c.state == "resolved")
            .limit(1)
        ).one()
    env = {
        **os.environ,
        "LAPORFLOW_DATABASE_URL": engine_run.settings.database_url.get_secret_value(),
    }
    out = subprocess.run(
        [sys.executable, "-m", "laporflow", "status", complaint_id, "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    status = json.loads(out.stdout)
    assert status["complaint_id"] == complaint_id
    assert status["state"] == state == "resolved"
    assert status["seq"] == seq == len([h for h in status["history"] if h["seq"] is not None])
    assert set(status["clocks"]) >= {"verification", "resolution"}
    for clock in status["clocks"].values():
        assert set(clock) >= {"started_at", "deadline", "paused", "breached", "stopped"}
    assert isinstance(status["escalation_level"], int)
    missing = subprocess.run(
        [sys.executable, "-m", "laporflow", "status", "HSU-2026-NOPE", "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 1
    assert "No complaint" in missing.stderr
