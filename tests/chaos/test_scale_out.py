"""Scale-out: three engines in one consumer group; one killed and one added mid-run.

``LAPORFLOW_CHAOS_SCALE_COMPLAINTS`` complaints (default 2,000, about 10,000 records) are
produced; three ``laporflow run`` processes share the group and the database. At a third
of the work one is SIGKILLed (its dead member removed from the group, as an operator
would), at two thirds a fourth joins. Then:

* nothing applied twice, nothing lost: each command has exactly one outcome, seqs run
  1..n per complaint, and the database equals an undisturbed run of the same records;
* every timer fired once (one event per timer causation and type);
* per-complaint order on ``lapor.events`` (first appearances in seq order);
* each event published once before the crash, and after it duplicates are bounded by
  what one relay page in flight at the kill can account for (at-least-once).
"""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections import Counter
from datetime import date
from pathlib import Path

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
    read_topic,
    remove_members,
    snapshot,
)

PROCESSED = "SELECT count(*) FROM processed_commands"
#: OutboxRelay's page: what one relay can have sent but not yet marked when killed.
RELAY_PAGE = 1000


def _join(
    engines: list[EngineProcess], members: dict[int, str], env: dict[str, str], log: Path
) -> EngineProcess:
    """Start one more engine and learn its group member id."""
    group = env["LAPORFLOW_GROUP_ID"]
    bootstrap = env["LAPORFLOW_KAFKA_BOOTSTRAP"]
    engine = EngineProcess.start(env, log)
    engines.append(engine)
    deadline = time.monotonic() + 90
    with admin(bootstrap) as client:
        while True:
            engine.assert_running()
            new = member_ids(client, group) - set(members.values())
            if len(new) == 1:
                members[engine.pid] = new.pop()
                return engine
            assert time.monotonic() < deadline, f"engine did not join\n{engine.tail()}"
            time.sleep(0.2)


def test_three_engines_one_killed_one_added(
    kafka_bootstrap: str, postgres_url: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    _, records = generate(
        seed=31, complaints=env_int("SCALE_COMPLAINTS", 2000), start=date(2026, 1, 5), days=30
    )
    kinds = expected_kinds(records)
    with_outcome = kinds["lifecycle"] + kinds["forbidden"] + kinds["unknown_complaint"]
    prefix = f"chaos-scale-{uuid.uuid4().hex[:8]}."
    group = f"chaos-scale-{uuid.uuid4().hex[:8]}"
    topics = Topics(prefix)
    ensure_topics(kafka_bootstrap, topics.all(), 3)
    produced = produce(kafka_bootstrap, topics.commands, records)
    figures: dict[str, object] = {"records": len(records), "commands": with_outcome}

    with new_database(postgres_url) as url, new_database(postgres_url) as ref_url:
        reference = ReferenceThread(ref_url, topics, produced)
        reference.start()
        db = Db(url)
        engines: list[EngineProcess] = []
        members: dict[int, str] = {}
        try:
            for i in range(3):
                env = engine_env(kafka_bootstrap, url, prefix, group)
                _join(engines, members, env, tmp_path / f"engine-{i}.log")
            wait_until = time.monotonic() + 240
            while db.scalar(PROCESSED) < with_outcome // 3:
                for engine in engines:
                    engine.assert_running()
                assert time.monotonic() < wait_until, engines[0].tail()
                time.sleep(0.05)
            before_kill = read_topic(kafka_bootstrap, topics.events)
            dup_before_kill = len(before_kill) - len({_event_id(r) for r in before_kill})
            victim = engines[1]
            figures["killed_at_processed"] = db.scalar(PROCESSED)
            victim.kill_group()
            assert victim.proc.returncode == -signal.SIGKILL
            with admin(kafka_bootstrap) as client:
                remove_members(client, group, {members[victim.pid]})
            while db.scalar(PROCESSED) < 2 * with_outcome // 3:
                for engine in (engines[0], engines[2]):
                    engine.assert_running()
                assert time.monotonic() < wait_until + 120, engines[0].tail()
                time.sleep(0.05)
            figures["added_at_processed"] = db.scalar(PROCESSED)
            env = engine_env(kafka_bootstrap, url, prefix, group)
            _join(engines, members, env, tmp_path / "engine-3.log")
            live_engines = [e for e in engines if e is not victim]
            deadline = time.monotonic() + 300
            while not (
                db.scalar("SELECT coalesce(sum(next_offset), 0) FROM partition_progress")
                == len(records)
                and db.scalar("SELECT count(*) FROM outbox WHERE NOT published") == 0
                and db.scalar("SELECT count(*) FROM complaints WHERE next_due_at <= now()") == 0
            ):
                for engine in live_engines:
                    engine.assert_running()
                assert time.monotonic() < deadline, live_engines[-1].tail()
                time.sleep(0.2)
            for engine in live_engines:
                engine.proc.send_signal(signal.SIGTERM)
            for engine in live_engines:
                assert engine.proc.wait(timeout=60) == 0, engine.tail()
            figures["run_s"] = round(time.monotonic() - started, 1)
            republished = assert_exactly_once(db, kafka_bootstrap, topics, produced, kinds)
            timer_events = db.rows(
                "SELECT causation_id, type, body FROM events WHERE causation_id LIKE 'timer:%'"
            )
        finally:
            for engine in engines:
                engine.kill_group()
            db.close()

        live = snapshot(url)
        assert_history_sound(live)
        fired = Counter((causation, kind) for causation, kind, _ in timer_events)
        assert fired and max(fired.values()) == 1, "a timer fired twice"
        figures["reference_s"] = round(reference.result(), 1)
        assert_same_snapshot(live, snapshot(ref_url))
        figures.update(
            complaints=len(live.complaints),
            events=len(live.events),
            timers_fired=len(fired),
            published_twice_before_kill=dup_before_kill,
            published_twice_total=republished["events"],
            lost=0,
            doubled=0,
            total_s=round(time.monotonic() - started, 1),
        )
        print(f"\nCHAOS scale-out figures: {figures}")
    # Claimed outbox (one relay per partition): once in normal operation, and across the
    # crash at most what one relay page in flight can account for.
    assert dup_before_kill == 0, f"{dup_before_kill} events published twice before any crash"
    assert republished["events"] <= RELAY_PAGE, republished


def _event_id(record: object) -> str:
    return str(json.loads(record.value)["event_id"])  # type: ignore[attr-defined]
