"""The label bound on a real ``laporflow run`` process, scraped over HTTP (issue 14).

The engine runs with the example policy (HSU lists its 30 SKPDs; BJM has no directory),
on real Kafka and PostgreSQL. 5,000 complaints are dispatched to random SKPD codes (a
fifth to listed ones): the first 1,000 give the baseline scrape, the next 4,000 must not
grow it. Then the engine is stopped and started again: the gauges export the same series,
and new dispatches to codes seen before land in the same series as before (admitted
codes under their own value, folded ones under ``other``).
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from kafka import KafkaProducer

from engine.labels import FOLD
from engine.policy_file import load_policy
from engine.topics import Topics
from producers.kafka_io import ensure_topics
from tests.engine.test_labels_flood import (
    BASELINE,
    COMPLAINTS,
    EXAMPLE_POLICY,
    LIMIT,
    Dispatch,
    Scrape,
    assert_flat,
    check_bound,
    commands,
    flood,
)
from tests.integration.test_crash_recovery import Db, EngineProcess, _free_port

PARTITIONS = 3
GAUGES = ("laporflow_complaints", "laporflow_sla_breached", "laporflow_label_values")


def produce(bootstrap: str, topic: str, dispatches: Sequence[Dispatch], start: datetime) -> int:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    sent = 0
    try:
        for i, d in enumerate(dispatches):
            for value in commands(d, start + timedelta(seconds=2 * i)):
                producer.send(topic, key=d.complaint_id.encode(), value=value)
                sent += 1
        producer.flush(timeout=60)
    finally:
        producer.close()
    return sent


def scrape(port: int, repeat: int = 5) -> Scrape:
    """GET /metrics ``repeat`` times; the last body with the median time."""
    times = []
    body = ""
    with httpx.Client(timeout=10) as client:
        for _ in range(repeat):
            started = time.perf_counter()
            response = client.get(f"http://127.0.0.1:{port}/metrics")
            times.append(time.perf_counter() - started)
            assert response.status_code == 200
            body = response.text
    return Scrape(body, statistics.median(times))


def wait_for(what: str, check: Callable[[], bool], engine: EngineProcess, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        engine.assert_running()
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{engine.tail()}"
        time.sleep(0.2)


def complaints_gauge_total(port: int) -> float:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return -1
    scraped = Scrape(text, 0.0)
    return sum(v for f, _, _, v in scraped.samples() if f == "laporflow_complaints")


def stop(engine: EngineProcess) -> None:
    engine.proc.send_signal(signal.SIGTERM)
    try:
        code = engine.proc.wait(timeout=60)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"engine did not stop on SIGTERM\n{engine.tail()}") from exc
    assert code == 0, f"engine exited with {code}\n{engine.tail()}"


def test_a_real_engine_keeps_metrics_bounded_and_stable_across_a_restart(
    kafka_bootstrap: str, pg_database_url: str, tmp_path: Path
) -> None:
    policy = load_policy(EXAMPLE_POLICY)
    listed = sorted(policy.listed_skpds())
    prefix = f"labels-{uuid.uuid4().hex[:8]}."
    topics = Topics(prefix)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAPORFLOW_")}
    env.update(
        LAPORFLOW_KAFKA_BOOTSTRAP=kafka_bootstrap,
        LAPORFLOW_DATABASE_URL=pg_database_url,
        LAPORFLOW_TOPIC_PREFIX=prefix,
        LAPORFLOW_GROUP_ID=f"labels-{uuid.uuid4().hex[:8]}",
        LAPORFLOW_METRICS_PORT=str(port),
        LAPORFLOW_PARTITIONS=str(PARTITIONS),
        LAPORFLOW_POLICY=str(EXAMPLE_POLICY),
        LAPORFLOW_MAX_LABEL_VALUES=str(LIMIT),
        PYTHONUNBUFFERED="1",
    )
    traffic = flood(COMPLAINTS, seed=41, regions=["HSU", "BJM"], listed=listed, listed_share=0.2)
    expected_rejected = {d.complaint_id for d in traffic if not policy.skpd_known(d.region, d.skpd)}
    # Command time in the recent past (within the future-skew limit), no timer due yet.
    start = datetime.now(UTC) - timedelta(hours=4)
    ensure_topics(kafka_bootstrap, topics.all(), PARTITIONS)
    db = Db(pg_database_url)
    engines: list[EngineProcess] = []
    try:
        sent = produce(kafka_bootstrap, topics.commands, traffic[:BASELINE], start)
        first = EngineProcess.start(env, tmp_path / "engine-1.log")
        engines.append(first)
        processed = "SELECT count(*) FROM processed_commands"
        wait_for("the baseline", lambda: db.scalar(processed) == sent, first, 120)
        wait_for("the gauges", lambda: complaints_gauge_total(port) == BASELINE, first, 30)
        baseline = scrape(port)

        sent += produce(
            kafka_bootstrap,
            topics.commands,
            traffic[BASELINE:],
            start + timedelta(seconds=2 * BASELINE),
        )
        wait_for("all commands", lambda: db.scalar(processed) == sent, first, 180)
        wait_for("the gauges", lambda: complaints_gauge_total(port) == COMPLAINTS, first, 30)
        final = scrape(port)

        counts = check_bound(final, limit=LIMIT, listed=listed)
        admitted = [v for (v,) in db.rows("SELECT value FROM label_values ORDER BY id")]
        assert len(admitted) == LIMIT - len(listed)
        allowed = set(admitted) | set(listed) | {"", FOLD}
        assert final.label_values("skpd") <= allowed
        assert FOLD in final.label_values("skpd")
        assert_flat(baseline, final)

        # Exactly the HSU dispatches to codes outside its directory were refused.
        rejected = db.rows(
            "SELECT complaint_id, body::json->'payload'->>'reason' FROM events "
            "WHERE type = 'command.rejected'"
        )
        assert {cid for cid, _ in rejected} == expected_rejected
        assert {reason for _, reason in rejected} == {"unknown_skpd"}
        assert len(rejected) == len(expected_rejected) > 1000
        stored = dict(db.rows("SELECT complaint_id, skpd FROM complaints WHERE skpd IS NOT NULL"))
        assert stored == {
            d.complaint_id: d.skpd for d in traffic if d.complaint_id not in expected_rejected
        }

        # --- restart --------------------------------------------------------------------
        stop(first)
        second = EngineProcess.start(env, tmp_path / "engine-2.log")
        engines.append(second)
        wait_for("the gauges", lambda: complaints_gauge_total(port) == COMPLAINTS, second, 60)
        restarted = scrape(port, repeat=1)
        # Same series with the same values; a gauge child that fell to 0 before (a state
        # no complaint is in any more) is not re-created by a fresh process.
        before = {k: v for k, v in final.values(GAUGES).items() if v}
        assert {k: v for k, v in restarted.values(GAUGES).items() if v} == before
        assert set(restarted.values(GAUGES)) <= set(final.values(GAUGES))

        # Codes seen before the restart map as before: admitted ones keep their series.
        rng = random.Random(7)
        applied = sorted({d.skpd for d in traffic if d.region == "BJM"})
        kept = rng.sample(admitted, 20)
        gone = rng.sample(sorted(set(applied) - set(admitted) - set(listed)), 20)
        again = [Dispatch(f"BJM-AGAIN-{i:04d}", "BJM", code) for i, code in enumerate(kept + gone)]
        sent += produce(kafka_bootstrap, topics.commands, again, datetime.now(UTC))
        wait_for("the new dispatches", lambda: db.scalar(processed) == sent, second, 60)
        after = scrape(port, repeat=1)
        durations = {
            labels["skpd"]
            for family, _, labels, _ in after.samples()
            if family == "laporflow_stage_duration_seconds"
        }
        assert durations == set(kept) | {FOLD}
        assert [v for (v,) in db.rows("SELECT value FROM label_values ORDER BY id")] == admitted
        stop(second)
        print(
            f"\nengine: {counts}; baseline {baseline.size} B / {baseline.seconds * 1000:.1f} ms,"
            f" final {final.size} B / {final.seconds * 1000:.1f} ms; "
            f"{len(expected_rejected)} rejected"
        )
    finally:
        for engine in engines:
            engine.kill_group()
        db.close()
