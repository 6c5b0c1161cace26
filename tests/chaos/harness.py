"""Shared machinery of the chaos runs: engine processes, reference runs, table snapshots.

The chaos tests compare what real ``laporflow run`` processes stored under faults with an
*undisturbed* run of the same records. The undisturbed run is the engine's own
:class:`~engine.processor.Processor` fed in-process with the very records that were
produced (same topic name, partitions and offsets, polls of ``REFERENCE_POLL`` records in
partition order), into a database of its own, then swept to the wall clock as a caught-up
engine does. Everything a complaint is (state row, clock rows, history) and every command
outcome must then be equal; only wall-clock columns (``recorded_at``, ``processed_at``,
watermarks) are left out of the comparison.
"""

from __future__ import annotations

import json
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import psycopg
from kafka.admin import KafkaAdminClient, MemberToRemove
from psycopg import sql
from sqlalchemy.engine import make_url

from engine.policy_file import load_policy
from engine.processor import Processor
from engine.store import Store
from engine.topics import Topics
from laporflow.demo_data import DemoRecord
from tests.integration.test_crash_recovery import (
    Db,
    EngineProcess,
    Produced,
    _descendants,
    _produce,
    _read_topic,
    _wait_dead,
)

__all__ = [
    "Db",
    "EngineProcess",
    "Produced",
    "ReferenceThread",
    "Snapshot",
    "admin",
    "assert_exactly_once",
    "assert_same_snapshot",
    "descendants",
    "engine_env",
    "env_int",
    "free_port",
    "get_json",
    "member_ids",
    "new_database",
    "produce",
    "read_topic",
    "reference_run",
    "remove_members",
    "snapshot",
    "wait_dead",
]

REFERENCE_POLL = 500
descendants = _descendants
produce = _produce
read_topic = _read_topic
wait_dead = _wait_dead


def env_int(name: str, default: int) -> int:
    """A size knob: ``LAPORFLOW_CHAOS_<name>`` or ``default``."""
    raw = os.environ.get(f"LAPORFLOW_CHAOS_{name}", "").strip()
    return int(raw) if raw else default


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def engine_env(
    bootstrap: str, database_url: str, prefix: str, group: str, **extra: str
) -> dict[str, str]:
    """The environment of a ``laporflow run`` child (only our LAPORFLOW_* variables)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAPORFLOW_")}
    env.update(
        LAPORFLOW_KAFKA_BOOTSTRAP=bootstrap,
        LAPORFLOW_DATABASE_URL=database_url,
        LAPORFLOW_TOPIC_PREFIX=prefix,
        LAPORFLOW_GROUP_ID=group,
        LAPORFLOW_METRICS_PORT=str(free_port()),
        LAPORFLOW_PARTITIONS="3",
        LAPORFLOW_MAX_POLL_RECORDS="300",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


# --------------------------------------------------------------------------- databases


@contextmanager
def new_database(server_url: str) -> Iterator[str]:
    """A fresh database on the server of ``server_url``; dropped afterwards."""
    server = make_url(server_url)
    conninfo = server.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"chaos_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield server.set(drivername="postgresql+psycopg", database=name).render_as_string(
            hide_password=False
        )
    finally:
        with suppress(psycopg.Error), psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


# --------------------------------------------------------------------------- reference


@dataclass(frozen=True)
class _Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def reference_run(database_url: str, topics: Topics, produced: Sequence[Produced]) -> float:
    """Apply ``produced`` undisturbed, in-process, into ``database_url``; return seconds."""
    started = time.monotonic()
    store = Store(database_url)
    store.migrate()
    try:
        processor = Processor(store, policy=load_policy(None), topics=topics)
        topic = topics.commands
        by_partition: dict[int, list[_Rec]] = {}
        for p in sorted(produced, key=lambda p: (p.partition, p.offset)):
            by_partition.setdefault(p.partition, []).append(
                _Rec(topic, p.partition, p.offset, p.record.key, p.record.value)
            )
        cursors = dict.fromkeys(by_partition, 0)
        while any(cursors[p] < len(by_partition[p]) for p in by_partition):
            poll: list[_Rec] = []
            for p in sorted(by_partition):
                take = by_partition[p][cursors[p] : cursors[p] + REFERENCE_POLL // 3]
                cursors[p] += len(take)
                poll.extend(take)
            processor.process(poll)
        # Caught up everywhere: the wall clock fires what is still due (as a live engine).
        for _ in range(1000):
            result = processor.sweep(sorted(by_partition), topic=topic)
            if not result.events:
                break
    finally:
        store.close()
    return time.monotonic() - started


class ReferenceThread(threading.Thread):
    """:func:`reference_run` in a thread, so it runs while the chaos does."""

    def __init__(self, database_url: str, topics: Topics, produced: Sequence[Produced]) -> None:
        super().__init__(name="reference-run", daemon=True)
        self.args_ = (database_url, topics, produced)
        self.seconds: float | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.seconds = reference_run(*self.args_)
        except BaseException as exc:
            self.error = exc

    def result(self, timeout: float = 900.0) -> float:
        """Wait for the run; its duration in seconds (re-raises its error)."""
        self.join(timeout)
        if self.error is not None:
            raise self.error
        assert self.seconds is not None, "the reference run did not finish"
        return self.seconds


# --------------------------------------------------------------------------- snapshots


@dataclass
class Snapshot:
    """The comparable content of an engine database (wall-clock columns left out)."""

    complaints: dict[str, tuple[Any, ...]]
    clocks: dict[tuple[str, str], tuple[Any, ...]]
    events: dict[str, tuple[Any, ...]]
    processed: dict[str, tuple[Any, ...]]
    dlq: Counter[tuple[Any, ...]]
    outbox_events: Counter[str]
    next_offsets: dict[int, int]


def _body(raw: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(raw)
    body.pop("recorded_at", None)
    return body


def snapshot(database_url: str) -> Snapshot:
    """Read every table of the engine's database into a :class:`Snapshot`."""
    db = Db(database_url)
    try:
        complaints = {
            row[0]: tuple(row[1:])
            for row in db.rows(
                "SELECT complaint_id, workflow, workflow_version, state, seq, region, skpd, "
                'category, "partition", escalation_level, next_due_at, created_at, updated_at, '
                "data, complainant FROM complaints"
            )
        }
        clocks = {
            (row[0], row[1]): tuple(row[2:])
            for row in db.rows(
                "SELECT complaint_id, clock, region, skpd, started_at, deadline, warning_at, "
                "next_fire_at, paused_at, breached_at, escalation_level, stopped_at "
                "FROM sla_clocks"
            )
        }
        events = {
            row[0]: (*row[1:-1], _body(row[-1]))
            for row in db.rows(
                "SELECT event_id, complaint_id, seq, type, occurred_at, state, previous_state, "
                "region, skpd, causation_id, body FROM events"
            )
        }
        processed = {
            row[0]: tuple(row[1:])
            for row in db.rows(
                'SELECT command_id, complaint_id, command_type, outcome, topic, "partition", '
                '"offset" FROM processed_commands'
            )
        }
        outbox = db.rows("SELECT topic, key, value, headers, event_id FROM outbox")
        dlq = Counter(
            (bytes(k or b""), bytes(v or b""), h) for t, k, v, h, e in outbox if e is None
        )
        outbox_events = Counter(e for *_, e in outbox if e is not None)
        next_offsets = dict(db.rows('SELECT "partition", next_offset FROM partition_progress'))
    finally:
        db.close()
    return Snapshot(complaints, clocks, events, processed, dlq, outbox_events, next_offsets)


def _diff(name: str, got: dict[Any, Any], want: dict[Any, Any], limit: int = 5) -> list[str]:
    problems = []
    missing = sorted(set(want) - set(got), key=str)
    extra = sorted(set(got) - set(want), key=str)
    changed = sorted((k for k in set(got) & set(want) if got[k] != want[k]), key=str)
    if missing:
        problems.append(f"{name}: {len(missing)} missing, e.g. {missing[:limit]}")
    if extra:
        problems.append(f"{name}: {len(extra)} extra, e.g. {extra[:limit]}")
    for key in changed[:limit]:
        problems.append(f"{name}[{key}]:\n   got  {got[key]}\n   want {want[key]}")
    if len(changed) > limit:
        problems.append(f"{name}: {len(changed)} differ in all")
    return problems


def assert_same_snapshot(got: Snapshot, want: Snapshot) -> None:
    """Every complaint, clock, event, outcome, dead letter and outbox row equal."""
    problems = [
        *_diff("complaints", got.complaints, want.complaints),
        *_diff("clocks", got.clocks, want.clocks),
        *_diff("events", got.events, want.events),
        *_diff("processed_commands", got.processed, want.processed),
        *_diff("dead letters", dict(got.dlq), dict(want.dlq)),
        *_diff("outbox events", dict(got.outbox_events), dict(want.outbox_events)),
        *_diff("next_offset", got.next_offsets, want.next_offsets),
    ]
    assert not problems, "differs from the undisturbed run:\n" + "\n".join(problems)


def assert_history_sound(snap: Snapshot) -> None:
    """Per complaint: seq 1..n without gap, one event per (complaint, seq), seq = row seq."""
    seqs: dict[str, list[int]] = {}
    for _, (complaint_id, seq, *_) in snap.events.items():
        if seq is not None:
            seqs.setdefault(complaint_id, []).append(seq)
    for complaint_id, row in snap.complaints.items():
        got = sorted(seqs.get(complaint_id, []))
        assert got == list(range(1, row[3] + 1)), f"{complaint_id}: seqs {got}, row seq {row[3]}"
    assert set(seqs) <= set(snap.complaints)
    assert all(n == 1 for n in snap.outbox_events.values()), "an event queued twice"


# --------------------------------------------------------------------------- outcomes


def assert_exactly_once(
    db: Db, bootstrap: str, topics: Topics, produced: list[Produced], kinds: dict[str, int]
) -> dict[str, int]:
    """Every record has exactly one outcome; topics hold exactly the stored records.

    Returns how many records each topic holds more than once (at-least-once publishing).
    """
    # Commands: each applied or rejected exactly once, at the position it was produced.
    first_position: dict[str, tuple[int, int]] = {}
    expected_outcome: dict[str, str] = {}
    for p in produced:
        if p.command_id is not None:
            first_position.setdefault(p.command_id, (p.partition, p.offset))
            expected_outcome[p.command_id] = (
                "applied" if p.record.kind == "lifecycle" else "rejected"
            )
    invalid = {(p.partition, p.offset): p.record for p in produced if p.record.kind == "invalid"}
    rows = db.rows('SELECT command_id, outcome, "partition", "offset" FROM processed_commands')
    decided = [r for r in rows if r[1] != "invalid"]
    outcomes = Counter(outcome for _, outcome, _, _ in decided)
    assert outcomes == {
        "applied": kinds["lifecycle"],
        "rejected": kinds["forbidden"] + kinds["unknown_complaint"],
    }
    assert {cid: outcome for cid, outcome, _, _ in decided} == expected_outcome
    assert {cid: (part, off) for cid, _, part, off in decided} == first_position
    # An invalid record that had a command id is recorded as such, at its own position.
    assert {(part, off) for _, o, part, off in rows if o == "invalid"} <= set(invalid)

    # Stored history: seq 1..n per complaint, matching the complaint's own seq.
    events = db.rows("SELECT event_id, complaint_id, seq, type FROM events")
    seqs: dict[str, list[int]] = {}
    for _, complaint_id, seq, _ in events:
        if seq is not None:
            seqs.setdefault(complaint_id, []).append(seq)
    complaint_seq = dict(db.rows("SELECT complaint_id, seq FROM complaints"))
    assert set(seqs) == set(complaint_seq)
    for complaint_id, got in seqs.items():
        assert sorted(got) == list(range(1, complaint_seq[complaint_id] + 1)), complaint_id
    rejected_events = sum(1 for *_, kind in events if kind == "command.rejected")
    assert rejected_events == kinds["forbidden"] + kinds["unknown_complaint"]

    # Outbox: one row per stored event, one per dead letter, each written once.
    outbox = db.rows("SELECT topic, event_id, headers FROM outbox")
    event_rows = [event_id for topic, event_id, _ in outbox if topic == topics.events]
    assert Counter(event_rows) == Counter(event_id for event_id, *_ in events)
    dlq_rows = [dict(json.loads(h)) for topic, _, h in outbox if topic == topics.dlq]
    assert len(dlq_rows) == kinds["invalid"]
    assert {(int(h["source_partition"]), int(h["source_offset"])) for h in dlq_rows} == set(invalid)

    # lapor.events: at least once; de-duplicated, exactly the stored events, in seq order.
    by_id = {event_id: seq for event_id, _, seq, _ in events}
    on_topic = read_topic(bootstrap, topics.events)
    first_seen: dict[str, dict[str, Any]] = {}
    for record in on_topic:
        event = json.loads(record.value)
        assert record.key.decode() == event["complaint_id"]
        first_seen.setdefault(event["event_id"], event)
    assert set(first_seen) == set(by_id)
    order: dict[str, list[int]] = {}
    for event in first_seen.values():
        assert event["seq"] == by_id[event["event_id"]]
        if event["seq"] is not None:
            order.setdefault(event["complaint_id"], []).append(event["seq"])
    for complaint_id, got in order.items():
        assert got == list(range(1, len(got) + 1)), complaint_id

    # lapor.dlq: at least once; de-duplicated by source position, exactly the invalid ones.
    dead: dict[tuple[int, int], bytes] = {}
    dlq_topic = read_topic(bootstrap, topics.dlq)
    for record in dlq_topic:
        headers = {name: value.decode() for name, value in record.headers}
        assert headers["source_topic"] == topics.commands
        position = (int(headers["source_partition"]), int(headers["source_offset"]))
        dead.setdefault(position, record.value or b"")
    assert dead == {pos: r.value for pos, r in invalid.items()}
    return {"events": len(on_topic) - len(first_seen), "dlq": len(dlq_topic) - len(dead)}


# --------------------------------------------------------------------------- kafka group


@contextmanager
def admin(bootstrap: str) -> Iterator[KafkaAdminClient]:
    """A Kafka admin client, closed afterwards."""
    client = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="chaos-admin")
    try:
        yield client
    finally:
        client.close()


def member_ids(client: KafkaAdminClient, group: str) -> set[str]:
    """The member ids of ``group`` now."""
    described = client.describe_groups([group])[group]
    return {m["member_id"] for m in described.get("members", [])}


def remove_members(client: KafkaAdminClient, group: str, members: set[str]) -> None:
    """Remove (dead) ``members`` from ``group`` instead of waiting for their session timeout."""
    if members:
        with suppress(Exception):
            client.remove_group_members(group, [MemberToRemove(member_id=m) for m in members])


def get_json(port: int, path: str, timeout: float = 3.0) -> tuple[int, Any]:
    """GET ``http://127.0.0.1:port/path``: (status, JSON body); (0, None) when unreachable."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")
    except (OSError, ValueError):
        return 0, None


def jitter(rng: random.Random, low: float, high: float) -> None:
    """Sleep a random time in [low, high) seconds."""
    time.sleep(rng.uniform(low, high))


__all__ += ["DemoRecord", "assert_history_sound", "jitter"]
