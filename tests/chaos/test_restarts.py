"""Broker and database restarts mid-run: the engine waits, logs, resumes, loses nothing.

Private Kafka and PostgreSQL instances (free ports; the shared ones are never touched)
serve one ``laporflow run``. With the commands produced and the engine part-way through
them, the broker is stopped (controlled shutdown), kept down for ``OUTAGE_S`` seconds and
started again on its data; later PostgreSQL is stopped (fast shutdown: every connection
is cut) and started again; ``LAPORFLOW_CHAOS_RESTART_ROUNDS`` rounds of both (default 2).
The same engine process must carry on by itself, and its database must equal an
undisturbed run of the same records. While each outage lasts, ``/readyz`` must answer
503 naming the dependency that is down, and the log must say what is wrong.
"""

from __future__ import annotations

import re
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from engine.topics import Topics
from laporflow.demo_data import expected_kinds, generate
from producers.kafka_io import ensure_topics
from tests.chaos.harness import (
    Db,
    EngineProcess,
    ReferenceThread,
    assert_exactly_once,
    assert_history_sound,
    assert_same_snapshot,
    engine_env,
    env_int,
    get_json,
    new_database,
    produce,
    snapshot,
)
from tests.chaos.private_services import PrivateKafka, PrivatePostgres

OUTAGE_S = 6.0
#: A warning or error line, in the text or the JSON log format.
_LOUD = re.compile(r'( (WARNING|ERROR) |"level": "(WARNING|ERROR)")')
PROCESSED = "SELECT count(*) FROM processed_commands"


@pytest.fixture(scope="module")
def private_kafka() -> Iterator[PrivateKafka]:
    kafka = PrivateKafka()
    kafka.create()
    try:
        yield kafka
    finally:
        kafka.destroy()


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres()
    pg.create()
    try:
        yield pg
    finally:
        pg.destroy()


def _watch_outage(port: int, dependency: str, seconds: float) -> dict[str, object]:
    """Poll /readyz through an outage: did it report ``dependency`` down (503)?"""
    seen: list[tuple[int, object]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status, body = get_json(port, "/readyz", timeout=2.0)
        seen.append((status, body))
        time.sleep(0.5)
    reported = any(
        status == 503 and isinstance(body, dict) and body["checks"].get(dependency) is False
        for status, body in seen
    )
    return {"reported": reported, "statuses": sorted({s for s, _ in seen})}


def _ready_after(port: int, seconds: float) -> int:
    """The first /readyz status of 200 within ``seconds``, else the last one seen."""
    deadline = time.monotonic() + seconds
    status = 0
    while time.monotonic() < deadline:
        status = get_json(port, "/readyz", timeout=2.0)[0]
        if status == 200:
            break
        time.sleep(0.5)
    return status


def _wait_progress(db: Db, beyond: int, engine: EngineProcess, total: int) -> float:
    """Seconds until the engine applies commands again (or is done)."""
    started = time.monotonic()
    while db.scalar(PROCESSED) <= beyond and db.scalar(PROCESSED) < total:
        engine.assert_running()
        assert time.monotonic() - started < 180, f"no progress after the outage\n{engine.tail(60)}"
        time.sleep(0.1)
    return time.monotonic() - started


def test_broker_and_database_restarts_mid_run_lose_nothing(
    private_kafka: PrivateKafka,
    private_postgres: PrivatePostgres,
    postgres_url: str,
    tmp_path: Path,
) -> None:
    rounds = env_int("RESTART_ROUNDS", 2)
    started = time.monotonic()
    _, records = generate(
        seed=21, complaints=env_int("RESTART_COMPLAINTS", 1500), start=date(2026, 1, 5), days=30
    )
    kinds = expected_kinds(records)
    with_outcome = kinds["lifecycle"] + kinds["forbidden"] + kinds["unknown_complaint"]
    prefix = f"chaos-restart-{uuid.uuid4().hex[:8]}."
    topics = Topics(prefix)
    bootstrap = private_kafka.bootstrap
    ensure_topics(bootstrap, topics.all(), 3)
    produced = produce(bootstrap, topics.commands, records)
    outages: list[dict[str, object]] = []

    with (
        new_database(private_postgres.url) as url,
        new_database(postgres_url) as ref_url,  # the shared server: never restarted
    ):
        reference = ReferenceThread(ref_url, topics, produced)
        reference.start()
        env = engine_env(
            bootstrap,
            url,
            prefix,
            f"chaos-restart-{uuid.uuid4().hex[:8]}",
            LAPORFLOW_MAX_POLL_RECORDS="100",
        )
        port = int(env["LAPORFLOW_METRICS_PORT"])
        engine = EngineProcess.start(env, tmp_path / "engine.log")
        db = Db(url)
        try:
            for round_no in range(rounds):
                for dependency, service in (
                    ("kafka", private_kafka),
                    ("database", private_postgres),
                ):
                    target = (
                        with_outcome
                        * (1 + 2 * round_no + (dependency == "database"))
                        // (2 * rounds + 1)
                    )
                    deadline = time.monotonic() + 180
                    while db.scalar(PROCESSED) < target:
                        engine.assert_running()
                        assert time.monotonic() < deadline, engine.tail(60)
                        time.sleep(0.05)
                    at = db.scalar(PROCESSED)
                    log_mark = len(engine.log.read_text(errors="replace").splitlines())
                    if dependency == "database":
                        db.close()
                    ready_before = get_json(port, "/readyz", timeout=2.0)[0]
                    at_outage = db.scalar(PROCESSED) if dependency == "kafka" else at
                    stop_s = service.stop()
                    watch = _watch_outage(port, dependency, OUTAGE_S)
                    engine.assert_running()
                    start_s = service.start()
                    if dependency == "database":
                        db = Db(url)
                    resumed_s = _wait_progress(db, at_outage, engine, with_outcome)
                    ready_after = _ready_after(port, 5)
                    lines = engine.log.read_text(errors="replace").splitlines()[log_mark:]
                    complaints = [ln for ln in lines if _LOUD.search(ln)]
                    outages.append(
                        {
                            "what": dependency,
                            "at_processed": at,
                            "stop_s": round(stop_s, 1),
                            "start_s": round(start_s, 1),
                            "resumed_s": round(resumed_s, 1),
                            "readyz_before": ready_before,
                            "readyz_after": ready_after,
                            "log_lines": len(complaints),
                            "first_log": complaints[0][:160] if complaints else None,
                            **watch,
                        }
                    )
                    assert complaints, f"nothing logged about the {dependency} outage"
            deadline = time.monotonic() + 300
            while not (
                db.scalar("SELECT coalesce(sum(next_offset), 0) FROM partition_progress")
                == len(records)
                and db.scalar("SELECT count(*) FROM outbox WHERE NOT published") == 0
                and db.scalar("SELECT count(*) FROM complaints WHERE next_due_at <= now()") == 0
            ):
                engine.assert_running()
                assert time.monotonic() < deadline, engine.tail(60)
                time.sleep(0.2)
            engine.proc.send_signal(signal.SIGTERM)
            assert engine.proc.wait(timeout=60) == 0, engine.tail()
            republished = assert_exactly_once(db, bootstrap, topics, produced, kinds)
        finally:
            engine.kill_group()
            db.close()
        run_s = time.monotonic() - started
        live = snapshot(url)
        assert_history_sound(live)
        reference_s = reference.result()
        assert_same_snapshot(live, snapshot(ref_url))
        print(
            f"\nCHAOS restart figures: records {len(records)}, commands {with_outcome}, "
            f"restarts {len(outages)} ({outages}), republished {republished}, lost 0, "
            f"doubled 0, run {run_s:.1f} s, reference {reference_s:.1f} s"
        )
    # /readyz: 200 before and after each outage, 503 naming the dependency during it.
    for outage in outages:
        assert outage["reported"], f"/readyz never reported the outage: {outage}"
        assert outage["readyz_before"] == 200 and outage["readyz_after"] == 200, outage
