"""Crash recovery: ``laporflow run`` as a real OS process, SIGKILLed mid-stream, restarted.

The engine (and its outbox relay child) is killed with SIGKILL while it is part-way
through a generated quarter of traffic, then a second engine process with the same
settings finishes the work. Nothing may be lost and nothing applied twice:

* every lifecycle command is applied exactly once, every forbidden or unknown-complaint
  command rejected exactly once (one ``command.rejected`` event each), every invalid
  record dead-lettered exactly once (one outbox row each);
* every complaint's stored events have seq 1..n, no gaps, no duplicates;
* the events topic, de-duplicated by ``event_id``, is exactly the stored events, and
  each complaint's events first appear there in seq order (at-least-once publishing);
* the DLQ topic, de-duplicated by source position, is exactly the invalid records.

Two variants: ``crash`` restarts from whatever offsets the group had committed; in
``crash+rewind`` the group's offsets are also reset to 0 before the restart, the worst
case of dying between the database commit and the offset commit, so every record the
first engine applied comes back and must be skipped by the stored ``next_offset``.

The dead consumer would stay in the group until its session times out (45 s); the test
removes it with the admin API, as an operator would, so the restart joins at once.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any

import psycopg
import pytest
from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from kafka.admin import KafkaAdminClient, MemberToRemove
from kafka.errors import NoError
from psycopg import errors as pg_errors
from sqlalchemy.engine import make_url

from engine.topics import Topics
from laporflow.demo_data import DemoRecord, expected_kinds, generate
from producers.kafka_io import ensure_topics

REPO_ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 3


# --------------------------------------------------------------------------- processes


def _proc_state(pid: int) -> str | None:
    """The /proc state letter of ``pid`` (R, S, Z ...), None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie nobody reaped yet counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return _proc_state(pid) not in (None, "Z", "X")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (children by parent pid, scanned in /proc)."""
    parents: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents[ppid].append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return [p for p in found if _alive(p)]


def _wait_dead(pids: list[int], timeout_s: float = 10.0) -> list[int]:
    """Wait for ``pids`` to end; return the ones still alive after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        left = [p for p in pids if _alive(p)]
        if not left:
            return []
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


@dataclass
class EngineProcess:
    """One ``python -m laporflow run`` in a session (process group) of its own."""

    proc: subprocess.Popen[bytes]
    log: Path
    _out: IO[bytes] = field(repr=False)

    @classmethod
    def start(cls, env: dict[str, str], log: Path) -> EngineProcess:
        out = log.open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "laporflow", "run"],
            env=env,
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return cls(proc, log, out)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def tail(self, lines: int = 40) -> str:
        self._out.flush()
        text = self.log.read_text(errors="replace").splitlines()
        return f"--- {self.log.name} (last {lines} lines) ---\n" + "\n".join(text[-lines:])

    def assert_running(self) -> None:
        assert self.proc.poll() is None, (
            f"engine exited early with {self.proc.returncode}\n{self.tail()}"
        )

    def kill_group(self) -> None:
        """SIGKILL the whole process group (engine, relay child, resource tracker)."""
        with suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self._out.close()


# --------------------------------------------------------------------------- database


class Db:
    """Plain SQL on the engine's database (autocommit, one connection)."""

    def __init__(self, url: str) -> None:
        conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.conn = psycopg.connect(conninfo, autocommit=True)

    def scalar(self, query: str) -> int:
        """A count; 0 while the engine has not created its tables yet."""
        try:
            row = self.conn.execute(query).fetchone()
        except pg_errors.UndefinedTable:
            return 0
        return int(row[0] or 0) if row else 0

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        return self.conn.execute(query).fetchall()

    def close(self) -> None:
        self.conn.close()


PROCESSED = "SELECT count(*) FROM processed_commands"
CONSUMED = "SELECT sum(next_offset) FROM partition_progress"
UNPUBLISHED = "SELECT count(*) FROM outbox WHERE NOT published"
PUBLISHED = "SELECT count(*) FROM outbox WHERE published"
DUE = "SELECT count(*) FROM complaints WHERE next_due_at <= now()"


# --------------------------------------------------------------------------- kafka


@dataclass(frozen=True)
class Produced:
    """A generated record and where it landed in ``lapor.commands``."""

    record: DemoRecord
    partition: int
    offset: int

    @property
    def command_id(self) -> str | None:
        if self.record.kind not in ("lifecycle", "forbidden", "unknown_complaint"):
            return None
        return str(json.loads(self.record.value)["command_id"])


def _produce(bootstrap: str, topic: str, records: list[DemoRecord]) -> list[Produced]:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    try:
        futures = [producer.send(topic, key=r.key, value=r.value) for r in records]
        producer.flush(timeout=60)
        metas = [f.get(timeout=30) for f in futures]
    finally:
        producer.close()
    return [Produced(r, m.partition, m.offset) for r, m in zip(records, metas, strict=True)]


def _read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every record of ``topic`` from the beginning up to its current end offsets."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=5000,
    )
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        out: list[Any] = []
        deadline = time.monotonic() + 60
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for batch in consumer.poll(timeout_ms=1000).values():
                out.extend(batch)
        return out
    finally:
        consumer.close()


@contextmanager
def _admin(bootstrap: str) -> Iterator[KafkaAdminClient]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="crash-test-admin")
    try:
        yield admin
    finally:
        admin.close()


def _committed(admin: KafkaAdminClient, group: str, topic: str) -> dict[int, int]:
    offsets = admin.list_group_offsets(group).get(group, {})
    return {tp.partition: oam.offset for tp, oam in offsets.items() if tp.topic == topic}


def _remove_dead_members(admin: KafkaAdminClient, group: str) -> None:
    """Drop the killed engine's consumer from the group instead of waiting 45 s for it."""
    deadline = time.monotonic() + 20
    while True:
        described = admin.describe_groups([group])[group]
        members = [m["member_id"] for m in described.get("members", [])]
        if not members and described.get("group_state") in ("Empty", "Dead"):
            return
        assert time.monotonic() < deadline, f"group {group} still has members: {described}"
        if members:
            admin.remove_group_members(group, [MemberToRemove(member_id=m) for m in members])
        time.sleep(0.2)


# --------------------------------------------------------------------------- the test


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(what: str, check: Any, engine: EngineProcess, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        engine.assert_running()
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{engine.tail()}"
        time.sleep(0.05)


@pytest.mark.parametrize("rewind", [False, True], ids=["crash", "crash+rewind"])
def test_sigkill_mid_stream_then_restart_loses_nothing_and_applies_nothing_twice(
    rewind: bool,
    kafka_bootstrap: str,
    pg_database_url: str,
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    prefix = f"crash-{uuid.uuid4().hex[:8]}."
    group = f"crash-{uuid.uuid4().hex[:8]}"
    topics = Topics(prefix)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAPORFLOW_")}
    env.update(
        LAPORFLOW_KAFKA_BOOTSTRAP=kafka_bootstrap,
        LAPORFLOW_DATABASE_URL=pg_database_url,
        LAPORFLOW_TOPIC_PREFIX=prefix,
        LAPORFLOW_GROUP_ID=group,
        LAPORFLOW_METRICS_PORT=str(_free_port()),
        LAPORFLOW_PARTITIONS=str(PARTITIONS),
        LAPORFLOW_MAX_POLL_RECORDS="200",
        PYTHONUNBUFFERED="1",
    )

    _, records = generate(seed=3, complaints=600, start=date(2026, 1, 5), days=30)
    kinds = expected_kinds(records)
    # Every record is produced before the engine starts: with the wall clock as the
    # engine's clock, a partition that ran dry half-way would fire January's timers
    # (auto-close ...) before the rest of its commands arrived.
    ensure_topics(kafka_bootstrap, topics.all(), PARTITIONS)
    produced = _produce(kafka_bootstrap, topics.commands, records)
    with_outcome = kinds["lifecycle"] + kinds["forbidden"] + kinds["unknown_complaint"]

    db = Db(pg_database_url)
    engines: list[EngineProcess] = []
    timings: dict[str, float] = {}
    try:
        # --- first engine: kill it with SIGKILL mid-stream -------------------------
        first = EngineProcess.start(env, tmp_path / "engine-1.log")
        engines.append(first)
        seen: list[int] = []

        def partly_applied() -> bool:
            # Past 20% of the commands and, preferably, once the relay child has begun
            # publishing, so the kill can also cut it between a send and its mark.
            seen.append(db.scalar(PROCESSED))
            if seen[-1] < 0.2 * with_outcome:
                return False
            return seen[-1] >= 0.6 * with_outcome or db.scalar(PUBLISHED) > 0

        _wait_for("partial progress", partly_applied, first, timeout_s=60)
        at_decision = seen[-1]
        assert at_decision <= 0.8 * with_outcome, (
            f"the engine was too fast to be killed mid-stream: {at_decision} of "
            f"{with_outcome} commands already applied at the first look past 20%"
        )
        children = _descendants(first.pid)
        relay = [p for p in children if "spawn_main" in _cmdline(p)]
        assert relay, f"no relay child process under {first.pid}: {children}"
        os.killpg(first.pid, signal.SIGKILL)
        first.proc.wait(timeout=10)
        assert first.proc.returncode == -signal.SIGKILL
        assert not _wait_dead([first.pid, *children]), "a process survived SIGKILL"
        # os.kill(pid, 0) raises for a reaped child; an orphan nobody reaped is a zombie.
        assert not any(_alive(pid) for pid in relay), f"relay child survived: {relay}"
        timings["killed_at_s"] = round(time.monotonic() - started, 1)

        landed = {
            "processed": db.scalar(PROCESSED),
            "of": with_outcome,
            "consumed": db.scalar(CONSUMED),
            "records": len(records),
            "outbox_published": db.scalar(PUBLISHED),
            "outbox_unpublished": db.scalar(UNPUBLISHED),
            "next_offsets": dict(
                db.rows('SELECT "partition", next_offset FROM partition_progress ORDER BY 1')
            ),
        }
        assert 0 < landed["processed"] < with_outcome, f"the kill did not land mid-stream: {landed}"

        with _admin(kafka_bootstrap) as admin:
            landed["committed"] = _committed(admin, group, topics.commands)
            _remove_dead_members(admin, group)
            if rewind:
                tps = [TopicPartition(topics.commands, p) for p in range(PARTITIONS)]
                result = admin.alter_group_offsets(
                    group, {tp: OffsetAndMetadata(0, "", -1) for tp in tps}
                )
                assert set(result.values()) == {NoError}, result
                assert _committed(admin, group, topics.commands) == dict.fromkeys(
                    range(PARTITIONS), 0
                )

        # --- second engine: same settings, finishes the stream ---------------------
        second = EngineProcess.start(env, tmp_path / "engine-2.log")
        engines.append(second)
        restarted = time.monotonic()

        def finished() -> bool:
            return (
                db.scalar(CONSUMED) == len(records)
                and db.scalar(UNPUBLISHED) == 0
                and db.scalar(DUE) == 0
            )

        _wait_for("the restarted engine to finish", finished, second, timeout_s=120)
        timings["restart_to_done_s"] = round(time.monotonic() - restarted, 1)
        children = _descendants(second.pid)
        assert any("spawn_main" in _cmdline(p) for p in children), children
        second.proc.send_signal(signal.SIGTERM)
        try:
            code = second.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"engine did not stop on SIGTERM\n{second.tail()}")
        assert code == 0, f"engine exited with {code} on SIGTERM\n{second.tail()}"
        assert not _wait_dead(children), f"children left after SIGTERM: {children}"
        assert db.scalar(UNPUBLISHED) == 0

        republished = _assert_exactly_once(db, kafka_bootstrap, topics, produced, kinds)
        timings["total_s"] = round(time.monotonic() - started, 1)
        print(f"\nkill landed: {landed}\nrepublished: {republished}\ntimings: {timings}")
    finally:
        for engine in engines:
            engine.kill_group()
        db.close()


def _assert_exactly_once(
    db: Db,
    bootstrap: str,
    topics: Topics,
    produced: list[Produced],
    kinds: dict[str, int],
) -> dict[str, int]:
    """Assert the end state; return how many records each topic holds more than once."""
    # Commands: each applied or rejected exactly once, at the position it was produced.
    first_position: dict[str, tuple[int, int]] = {}
    expected_outcome: dict[str, str] = {}
    for p in produced:
        if p.command_id is not None:
            first_position.setdefault(p.command_id, (p.partition, p.offset))
            expected_outcome[p.command_id] = (
                "applied" if p.record.kind == "lifecycle" else "rejected"
            )
    rows = db.rows('SELECT command_id, outcome, "partition", "offset" FROM processed_commands')
    # An invalid record whose command id could be read is recorded too (so a replay of
    # it is recognised); each such row sits at the position of an invalid record.
    invalid_positions = {(p.partition, p.offset) for p in produced if p.record.kind == "invalid"}
    invalid_rows = [(part, off) for _, outcome, part, off in rows if outcome == "invalid"]
    assert len(set(invalid_rows)) == len(invalid_rows)
    assert set(invalid_rows) <= invalid_positions
    rows = [row for row in rows if row[1] != "invalid"]
    outcomes = Counter(outcome for _, outcome, _, _ in rows)
    assert outcomes == {
        "applied": kinds["lifecycle"],
        "rejected": kinds["forbidden"] + kinds["unknown_complaint"],
    }
    assert {cid: outcome for cid, outcome, _, _ in rows} == expected_outcome
    assert {cid: (part, off) for cid, _, part, off in rows} == first_position

    # Stored history: seq 1..n per complaint, matching the complaint's own seq.
    events = db.rows("SELECT event_id, complaint_id, seq, type FROM events")
    seqs: dict[str, list[int]] = defaultdict(list)
    for _, complaint_id, seq, _ in events:
        if seq is not None:
            seqs[complaint_id].append(seq)
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
    invalid = {(p.partition, p.offset): p.record for p in produced if p.record.kind == "invalid"}
    assert {(int(h["source_partition"]), int(h["source_offset"])) for h in dlq_rows} == set(invalid)

    # lapor.events: at least once; de-duplicated, exactly the stored events, in seq order.
    by_id = {event_id: seq for event_id, _, seq, _ in events}
    on_topic = _read_topic(bootstrap, topics.events)
    first_seen: dict[str, dict[str, Any]] = {}
    for record in on_topic:
        event = json.loads(record.value)
        assert record.key.decode() == event["complaint_id"]
        first_seen.setdefault(event["event_id"], event)
    assert set(first_seen) == set(by_id)
    order: dict[str, list[int]] = defaultdict(list)
    for event in first_seen.values():
        assert event["seq"] == by_id[event["event_id"]]
        if event["seq"] is not None:
            order[event["complaint_id"]].append(event["seq"])
    for complaint_id, got in order.items():
        assert got == list(range(1, len(got) + 1)), complaint_id

    # lapor.dlq: at least once; de-duplicated by source position, exactly the invalid ones.
    dead: dict[tuple[int, int], bytes] = {}
    dlq_topic = _read_topic(bootstrap, topics.dlq)
    for record in dlq_topic:
        headers = {name: value.decode() for name, value in record.headers}
        assert headers["source_topic"] == topics.commands
        position = (int(headers["source_partition"]), int(headers["source_offset"]))
        dead.setdefault(position, record.value or b"")
    assert len(dead) == kinds["invalid"]
    assert dead == {pos: r.value for pos, r in invalid.items()}
    return {"events": len(on_topic) - len(first_seen), "dlq": len(dlq_topic) - len(dead)}


# --------------------------------------------------------------------------- one process


def _engine_env(kafka_bootstrap: str, pg_database_url: str, name: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAPORFLOW_")}
    env.update(
        LAPORFLOW_KAFKA_BOOTSTRAP=kafka_bootstrap,
        LAPORFLOW_DATABASE_URL=pg_database_url,
        LAPORFLOW_TOPIC_PREFIX=f"{name}.",
        LAPORFLOW_GROUP_ID=name,
        LAPORFLOW_METRICS_PORT=str(_free_port()),
        LAPORFLOW_PARTITIONS=str(PARTITIONS),
        LAPORFLOW_LOG_FORMAT="text",
        PYTHONUNBUFFERED="1",
    )
    return env


def _relay_running(engine: EngineProcess) -> list[int]:
    """The relay child of ``engine`` once it logged that it runs (empty before)."""
    if "outbox relay running" not in engine.log.read_text(errors="replace"):
        return []
    return [p for p in _descendants(engine.pid) if "spawn_main" in _cmdline(p)]


def _wait_for_relay(engine: EngineProcess) -> list[int]:
    """Wait until ``engine``'s relay child runs; its pids."""
    relay: list[int] = []

    def relay_up() -> bool:
        relay[:] = _relay_running(engine)
        return bool(relay)

    _wait_for("the relay child", relay_up, engine, timeout_s=60)
    return relay


def test_an_engine_killed_alone_takes_its_relay_child_with_it(
    kafka_bootstrap: str, pg_database_url: str, tmp_path: Path
) -> None:
    """SIGKILL on the engine's pid only (``kill -9 <pid>``, the OOM killer), not its group.

    The relay child used to outlive it for ever, publishing for partitions its dead
    parent no longer owned, beside the next engine's relay.
    """
    env = _engine_env(kafka_bootstrap, pg_database_url, f"orphan-{uuid.uuid4().hex[:8]}")
    engine = EngineProcess.start(env, tmp_path / "engine.log")
    relay: list[int] = []
    try:
        relay = _wait_for_relay(engine)
        os.kill(engine.pid, signal.SIGKILL)
        engine.proc.wait(timeout=10)
        assert not _wait_dead(relay, timeout_s=10), f"the relay child outlived the engine: {relay}"
        log = engine.log.read_text(errors="replace")
        assert f"the engine (pid {engine.pid}) is gone" in log, engine.tail()
    finally:
        engine.kill_group()
        for pid in relay:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_sigterm_while_the_group_still_waits_for_a_killed_member_stops_promptly(
    kafka_bootstrap: str, pg_database_url: str, tmp_path: Path
) -> None:
    """A restart right after a crash waits in its JoinGroup for the dead member's session.

    Stopped there, it used to wait the whole request timeout (30 s) for its LeaveGroup,
    queued behind that JoinGroup on the same connection, past common grace periods.
    Closing is now bounded (consumers.group.CLOSE_TIMEOUT_MS, 5 s).
    """
    name = f"join-{uuid.uuid4().hex[:8]}"
    env = _engine_env(kafka_bootstrap, pg_database_url, name)
    first = EngineProcess.start(env, tmp_path / "engine-1.log")
    second: EngineProcess | None = None
    try:
        _wait_for(
            "the first engine's partitions",
            lambda: "partitions assigned: [0" in first.log.read_text(errors="replace"),
            first,
            timeout_s=60,
        )
        first.kill_group()  # its member stays in the group until its session expires
        env["LAPORFLOW_METRICS_PORT"] = str(_free_port())
        second = EngineProcess.start(env, tmp_path / "engine-2.log")
        _wait_for_relay(second)
        time.sleep(2.0)  # well into its JoinGroup, which the broker holds for the dead member
        log = second.log.read_text(errors="replace")
        assert "partitions assigned: [0" not in log, "the join did not wait: " + second.tail()
        second.proc.send_signal(signal.SIGTERM)
        try:
            # Before the bound: 30.5 s here. Now the close's 5 s and the poll's return.
            code = second.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the engine did not stop within 20 s of SIGTERM\n{second.tail()}")
        assert code == 0, second.tail()
    finally:
        for engine in (first, second):
            if engine is not None:
                engine.kill_group()
        with _admin(kafka_bootstrap) as admin:
            _remove_dead_members(admin, name)


def test_a_killed_relay_child_is_replaced_and_the_outbox_still_goes_out(
    kafka_bootstrap: str, pg_database_url: str, tmp_path: Path
) -> None:
    """SIGKILL on the relay child alone: the engine starts a new one, which publishes all."""
    name = f"relay-{uuid.uuid4().hex[:8]}"
    env = _engine_env(kafka_bootstrap, pg_database_url, name)
    topics = Topics(f"{name}.")
    _, records = generate(seed=5, complaints=300, start=date(2026, 1, 5), days=30)
    kinds = expected_kinds(records)
    ensure_topics(kafka_bootstrap, topics.all(), PARTITIONS)
    produced = _produce(kafka_bootstrap, topics.commands, records)
    db = Db(pg_database_url)
    engine = EngineProcess.start(env, tmp_path / "engine.log")
    try:
        first = _wait_for_relay(engine)
        os.kill(first[0], signal.SIGKILL)
        replaced = "outbox relay process exited (code -9); starting a new one"
        _wait_for(
            "the engine to replace its relay",
            lambda: replaced in engine.log.read_text(errors="replace"),
            engine,
            timeout_s=30,
        )
        # The engine logs the restart just before it spawns the new child: wait for it
        # (the killed one was reaped when the engine logged its exit).
        children = _wait_for_relay(engine)
        assert first[0] not in children, (first, children)

        def finished() -> bool:
            return db.scalar(CONSUMED) == len(records) and db.scalar(UNPUBLISHED) == 0

        _wait_for("every record applied and published", finished, engine, timeout_s=120)
        republished = _assert_exactly_once(db, kafka_bootstrap, topics, produced, kinds)
        print(f"\nrepublished after the relay's kill: {republished}")
    finally:
        engine.kill_group()
        db.close()
