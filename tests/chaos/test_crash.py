"""kill -9 the engine at random moments, many times, during one long run.

``LAPORFLOW_CHAOS_COMPLAINTS`` complaints (default 4,000: about 20,600 records, 19,900
applied commands, full lifecycles whose SLA clocks warn, breach, escalate and auto-close)
are produced first. Then ``laporflow run`` processes (engine + relay child) are started
and SIGKILLed as a process group ``LAPORFLOW_CHAOS_KILLS`` times (default 20), each at a
random point of the remaining work, plus a random delay so kills land mid-batch and with
the relay mid-publish. Every other restart also rewinds the group's committed offsets to
0 (the worst case of dying between the database and the offset commit). The last engine
finishes; then its database must equal an undisturbed run of the same records, and:

* no seq gap, one event per (complaint, seq), each event queued once in the outbox;
* every command has exactly one outcome (processed_commands, or the DLQ for invalid);
* lapor.events, de-duplicated by event_id, is exactly the stored events, in seq order.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
import uuid
from datetime import date
from pathlib import Path

import pytest
from kafka import OffsetAndMetadata, TopicPartition
from kafka.errors import NoError

from engine.topics import Topics
from laporflow.demo_data import expected_kinds, generate
from producers.kafka_io import ensure_topics
from tests.chaos.harness import (
    Db,
    EngineProcess,
    ReferenceThread,
    admin,
    assert_exactly_once,
    assert_history_sound,
    assert_same_snapshot,
    engine_env,
    env_int,
    member_ids,
    new_database,
    produce,
    remove_members,
    snapshot,
)

PARTITIONS = 3
PROCESSED = "SELECT count(*) FROM processed_commands"
CONSUMED = "SELECT coalesce(sum(next_offset), 0) FROM partition_progress"
UNPUBLISHED = "SELECT count(*) FROM outbox WHERE NOT published"
DUE = "SELECT count(*) FROM complaints WHERE next_due_at <= now()"


def test_repeated_sigkill_loses_nothing_and_doubles_nothing(
    kafka_bootstrap: str, postgres_url: str, tmp_path: Path
) -> None:
    complaints = env_int("COMPLAINTS", 4000)
    kills = env_int("KILLS", 20)
    seed = env_int("SEED", 11)
    rng = random.Random(seed)
    started = time.monotonic()
    prefix = f"chaos-crash-{uuid.uuid4().hex[:8]}."
    group = f"chaos-crash-{uuid.uuid4().hex[:8]}"
    topics = Topics(prefix)
    _, records = generate(seed=seed, complaints=complaints, start=date(2026, 1, 5), days=45)
    kinds = expected_kinds(records)
    with_outcome = kinds["lifecycle"] + kinds["forbidden"] + kinds["unknown_complaint"]
    assert with_outcome >= 20_000 or complaints < 4000, kinds
    ensure_topics(kafka_bootstrap, topics.all(), PARTITIONS)
    produced = produce(kafka_bootstrap, topics.commands, records)
    figures: dict[str, object] = {"records": len(records), "commands": with_outcome}

    with new_database(postgres_url) as live_url, new_database(postgres_url) as ref_url:
        # The undisturbed run, in-process, alongside the chaos (it only needs the records).
        reference = ReferenceThread(ref_url, topics, produced)
        reference.start()
        env = engine_env(kafka_bootstrap, live_url, prefix, group)
        db = Db(live_url)
        engines: list[EngineProcess] = []
        landed: list[dict[str, int]] = []
        rate: float | None = None  # commands/s, as last measured between two commits
        batch = int(env["LAPORFLOW_MAX_POLL_RECORDS"])  # the engine's records per poll
        try:
            for life in range(kills):
                engine = EngineProcess.start(env, tmp_path / f"engine-{life:02d}.log")
                engines.append(engine)
                before = db.scalar(PROCESSED)
                remaining = with_outcome - before
                # A random share of what is left for the lives still to come.
                target = before + int(remaining * rng.uniform(0.15, 1.2) / (kills - life + 1))
                deadline = time.monotonic() + 120
                first: tuple[float, int] | None = None  # this life's first commit seen
                while (done := db.scalar(PROCESSED)) < max(target, before + 1):
                    if first is None and done > before:
                        first = (time.monotonic(), done)
                    engine.assert_running()
                    assert time.monotonic() < deadline, engine.tail()
                    time.sleep(0.02)
                if first is not None and done > first[1]:
                    rate = (done - first[1]) / max(time.monotonic() - first[0], 1e-3)
                # Mid-batch, mid-publish: a random point of up to a quarter of a second,
                # and of no more than one batch's work at the rate measured, so a fast
                # engine does not finish the run during the waits (each wait used to
                # cover about six batches at 7,000 commands/s).
                time.sleep(rng.uniform(0.0, 0.25) * _wait_scale(rate, batch))
                state = {
                    "processed": db.scalar(PROCESSED),
                    "unpublished": db.scalar(UNPUBLISHED),
                }
                with admin(kafka_bootstrap) as client:
                    members = member_ids(client, group)
                    engine.kill_group()
                    assert engine.proc.returncode == -signal.SIGKILL, engine.tail()
                    remove_members(client, group, members)
                    if life % 2 == 1:  # worst case: the committed offsets are lost too
                        tps = [TopicPartition(topics.commands, p) for p in range(PARTITIONS)]
                        _rewind(client, group, {tp: OffsetAndMetadata(0, "", -1) for tp in tps})
                landed.append(state)
                assert state["processed"] < with_outcome, (
                    f"the run finished before kill {life + 1}; use more complaints"
                )
            figures["kills"] = len(landed)
            figures["kills_with_relay_backlog"] = sum(1 for s in landed if s["unpublished"])

            last = EngineProcess.start(env, tmp_path / "engine-last.log")
            engines.append(last)
            deadline = time.monotonic() + 300
            while not (
                db.scalar(CONSUMED) == len(records)
                and db.scalar(UNPUBLISHED) == 0
                and db.scalar(DUE) == 0
            ):
                last.assert_running()
                assert time.monotonic() < deadline, last.tail()
                time.sleep(0.2)
            last.proc.send_signal(signal.SIGTERM)
            try:
                assert last.proc.wait(timeout=60) == 0, last.tail()
            except subprocess.TimeoutExpired:
                pytest.fail(f"engine did not stop on SIGTERM\n{last.tail()}")
            figures["chaos_run_s"] = round(time.monotonic() - started, 1)

            republished = assert_exactly_once(db, kafka_bootstrap, topics, produced, kinds)
            figures["republished_events"] = republished["events"]
            figures["republished_dlq"] = republished["dlq"]
        finally:
            for engine in engines:
                engine.kill_group()
            db.close()

        live = snapshot(live_url)
        assert_history_sound(live)
        figures["reference_s"] = round(reference.result(), 1)
        wanted = snapshot(ref_url)
        assert_history_sound(wanted)
        assert_same_snapshot(live, wanted)
        figures.update(
            complaints=len(live.complaints),
            events=len(live.events),
            lost=0,
            doubled=0,
            total_s=round(time.monotonic() - started, 1),
        )
        print(f"\nCHAOS crash figures: {figures}")


def _wait_scale(rate: float | None, batch: int) -> float:
    """The share of the 0.25 s wait that stays within one ``batch``'s work at ``rate``."""
    if rate is None or rate <= 0:
        return 1.0
    return min(1.0, batch / rate / 0.25)


def _rewind(client: object, group: str, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
    """Reset the group's committed offsets (the group must be empty)."""
    deadline = time.monotonic() + 20
    while True:
        try:
            result = client.alter_group_offsets(group, offsets)  # type: ignore[attr-defined]
        except Exception:
            result = None
        if result is not None and set(result.values()) == {NoError}:
            return
        assert time.monotonic() < deadline, f"cannot rewind {group}: {result}"
        time.sleep(0.2)
