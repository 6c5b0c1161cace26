"""Contract tests of the store port, run on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from engine.errors import ConcurrencyError
from engine.store import (
    _DUE_TIMERS,
    _PROBE_PROCESSED,
    BatchWrite,
    ComplaintWrite,
    OutboxRecord,
    ProcessedCommand,
    Progress,
    Store,
)
from workflows.apply import event_id_for
from workflows.model import Actor, ClockState, ComplaintState, Event

WITA = timezone(timedelta(hours=8))
T0 = datetime(2026, 3, 2, 9, 15, tzinfo=WITA)


BACKENDS = ["sqlite", pytest.param("postgresql", marks=[pytest.mark.integration])]


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no schema yet, on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("pg_database_url"))


@pytest.fixture
def store(empty_url: str) -> Iterator[Store]:
    s = Store(empty_url)
    s.migrate()
    yield s
    s.close()


def complaint(
    cid: str = "HSU-2026-000001", seq: int = 1, state: str = "submitted", **kw: object
) -> ComplaintState:
    base: dict[str, object] = {
        "complaint_id": cid,
        "workflow": "complaint",
        "workflow_version": 1,
        "state": state,
        "seq": seq,
        "region": "HSU",
        "category": "kesehatan",
        "classification": "pengaduan",
        "submit_fingerprint": "f" * 64,
        "created_at": T0,
        "updated_at": T0,
    }
    base.update(kw)
    return ComplaintState.model_validate(base)


def event(cid: str, seq: int | None, type_: str = "complaint.submitted", **kw: object) -> Event:
    base: dict[str, object] = {
        "event_id": event_id_for(cid, seq) if seq is not None else f"e-rej-{cid}-{kw.pop('n', 0)}",
        "type": type_,
        "complaint_id": cid,
        "seq": seq,
        "occurred_at": T0,
        "recorded_at": datetime(2026, 11, 27, tzinfo=UTC),
        "state": "submitted",
        "previous_state": None,
        "region": "HSU",
        "skpd": None,
        "causation_id": "c-1",
        "actor": Actor(role="complainant", id="p-1"),
        "payload": {"title": "Jalan rusak"},
    }
    base.update(kw)
    return Event.model_validate(base)


def write_new(
    store: Store, c: ComplaintState, *, partition: int = 0, due: datetime | None = None
) -> None:
    store.write(
        BatchWrite(
            complaints=[ComplaintWrite(c, None, partition, due, complainant='{"name": "Budi"}')],
            events=[event(c.complaint_id, c.seq)],
        )
    )


def test_migrate_is_idempotent(store: Store) -> None:
    store.migrate()
    assert store.ping()
    assert store.outbox_pending_count() == 0


def test_processes_migrating_one_empty_database_at_once_all_succeed(empty_url: str) -> None:
    # `docker compose up` starts the engine, the notifier and the feed together on an
    # empty database; each runs migrate() first. Unserialized, the second CREATE TABLE
    # collided with the first ("duplicate key ... pg_type" on PostgreSQL, "table
    # alembic_version already exists" on SQLite), and on SQLite the switch of the new
    # file to WAL could fail at once ("database is locked"). Processes, not threads:
    # Alembic's migration context is one per process.
    start_at = time.time() + 3  # after every interpreter has imported the store
    script = (
        "import sys, time\n"
        "from engine.store import Store\n"
        "store = Store(sys.argv[1])\n"
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
        "store.migrate()\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, empty_url, str(start_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]  # a bound on a hang
    assert [out for p, out in zip(procs, outputs, strict=True) if p.returncode != 0] == []
    store = Store(empty_url)
    try:
        assert store.outbox_pending_count() == 0
    finally:
        store.close()


def test_complaint_round_trip_keeps_every_field(store: Store) -> None:
    clock = ClockState(
        name="verification",
        started_at=T0,
        limit=3,
        deadline=datetime(2026, 3, 5, 23, 59, 59, tzinfo=WITA),
        warning_at=datetime(2026, 3, 5, 6, 38, 59, tzinfo=WITA),
    )
    c = complaint(clocks={"verification": clock}, skpd=None)
    write_new(store, c)
    loaded = store.complaint(c.complaint_id)
    assert loaded == c
    assert loaded is not None
    assert loaded.clocks["verification"].deadline == clock.deadline
    assert store.complaint("HSU-2026-404") is None


def test_update_with_stale_seq_conflicts_and_writes_nothing(store: Store) -> None:
    c = complaint()
    write_new(store, c)
    moved = c.model_copy(update={"seq": 2, "state": "verified"})
    store.write(
        BatchWrite(
            complaints=[ComplaintWrite(moved, 1, 0, None)], events=[event(c.complaint_id, 2)]
        )
    )
    stale = c.model_copy(update={"seq": 2, "state": "archived"})
    other = complaint("HSU-2026-000002")
    with pytest.raises(ConcurrencyError) as info:
        store.write(
            BatchWrite(
                complaints=[
                    ComplaintWrite(other, None, 0, None),
                    ComplaintWrite(stale, 1, 0, None),
                ],
                events=[event(other.complaint_id, 1)],
                outbox=[OutboxRecord("lapor.events", b"k", b"v")],
            )
        )
    assert info.value.context["complaint_id"] == c.complaint_id
    # Atomic: neither the other complaint nor the outbox row of the failed batch exist.
    assert store.complaint(other.complaint_id) is None
    assert store.outbox_pending_count() == 0
    current = store.complaint(c.complaint_id)
    assert current is not None
    assert current.state == "verified"


def test_second_writer_of_the_same_seq_conflicts(store: Store) -> None:
    c = complaint()
    write_new(store, c)
    with pytest.raises(ConcurrencyError):
        write_new(store, c)  # the same new complaint written twice (two instances)
    with pytest.raises(ConcurrencyError):
        store.write(BatchWrite(events=[event(c.complaint_id, 1, event_id="e-other")]))
    assert [e.seq for e in store.history(c.complaint_id)] == [1]


def test_history_is_in_seq_order_with_rejections_last(store: Store) -> None:
    cid = "HSU-2026-000003"
    write_new(store, complaint(cid))
    store.write(
        BatchWrite(
            events=[
                event(cid, None, "command.rejected", n=1),
                event(cid, 3, "complaint.dispatched"),
                event(cid, 2, "complaint.verified"),
            ]
        )
    )
    assert [(e.seq, e.type) for e in store.history(cid)] == [
        (1, "complaint.submitted"),
        (2, "complaint.verified"),
        (3, "complaint.dispatched"),
        (None, "command.rejected"),
    ]


def test_processed_commands_and_replacement_of_a_rejection(store: Store) -> None:
    def processed(outcome: str, offset: int) -> ProcessedCommand:
        return ProcessedCommand("c-1", "HSU-1", "verify", outcome, "lapor.commands", 2, offset, T0)

    store.write(BatchWrite(processed=[processed("rejected", 10)]))
    assert store.processed(["c-1", "c-2"]) == {"c-1": "rejected"}
    store.write(BatchWrite(processed=[processed("applied", 11)]))
    assert store.processed(["c-1"]) == {"c-1": "applied"}


def unanalyzed_plan(url: str, table: str, fill: str, sql: str, params: dict[str, Any]) -> str:
    """EXPLAIN of ``sql`` over ``table`` filled by ``fill``, never analyzed (as when fresh).

    A fresh database fills faster than autovacuum analyzes it, and the planner then has
    no statistics: autovacuum is turned off for the table so the plan is the one it picks
    in that state.
    """
    store = Store(url)
    store.migrate()
    with store.engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {table} SET (autovacuum_enabled = off)"))
        conn.execute(text(fill))
    with store.connect("explain") as conn:
        never = conn.execute(
            text("SELECT reltuples FROM pg_class WHERE relname = :table"), {"table": table}
        ).scalar_one()
        plan = "\n".join(conn.execute(text(f"EXPLAIN {sql}"), params).scalars())
    store.close()
    assert never < 0, "the table must not have been analyzed for this test to mean anything"
    return plan


@pytest.mark.integration
def test_the_processed_ids_are_probed_by_key_even_before_the_table_is_analyzed(
    pg_database_url: str,
) -> None:
    """A batch's processed-id lookup reads the key index, not the whole table.

    A fresh database fills faster than autovacuum analyzes it; with no statistics the
    planner scanned the whole of ``processed_commands`` for ``command_id = ANY(...)``,
    once per batch. 50,000 rows, never analyzed (autovacuum off for the table), 500 ids:
    the plan must probe the primary key and never scan.
    """
    ids = [f"c-{n}" for n in range(49_800, 50_300)]  # 201 stored, 299 not
    plan = unanalyzed_plan(
        pg_database_url,
        "processed_commands",
        "INSERT INTO processed_commands (command_id, complaint_id, command_type,"
        ' outcome, topic, partition, "offset", processed_at)'
        " SELECT 'c-' || g, 'HSU-' || g, 'verify', 'applied', 'lapor.commands', 0, g,"
        " now() FROM generate_series(1, 50000) AS g",
        _PROBE_PROCESSED.text,
        {"ids": ids},
    )
    store = Store(pg_database_url)
    assert "Seq Scan on processed_commands" not in plan, plan
    assert "Index Scan using processed_commands_pkey" in plan, plan
    outcomes = store.processed(ids)
    assert outcomes == {f"c-{n}": "applied" for n in range(49_800, 50_001)}
    store.close()


def test_a_stored_command_id_among_new_ones_replaces_its_row_and_keeps_the_batch(
    store: Store,
) -> None:
    # On PostgreSQL the new rows are copied under a savepoint; the one stored id makes
    # the copy fail, and the rows are upserted instead, in the same transaction: the
    # batch's other writes, made before, must survive the savepoint's rollback.
    def processed(cid: str, outcome: str, offset: int) -> ProcessedCommand:
        return ProcessedCommand(f"c-{cid}", cid, "verify", outcome, "lapor.commands", 0, offset, T0)

    store.write(BatchWrite(processed=[processed("N-7", "rejected", 1)]))
    ids = [f"N-{i}" for i in range(30)]
    store.write(
        BatchWrite(
            complaints=[ComplaintWrite(complaint(cid), None, 0, None) for cid in ids],
            events=[event(cid, 1) for cid in ids],
            # The same command twice in one batch: the last row is kept.
            processed=[processed(cid, "applied", 10 + i) for i, cid in enumerate(ids)]
            + [processed("N-3", "rejected", 99)],
        )
    )
    outcomes = store.processed(f"c-{cid}" for cid in ids)
    assert outcomes == {f"c-{cid}": "rejected" if cid == "N-3" else "applied" for cid in ids}
    assert set(store.load(ids)) == set(ids)
    assert [e.seq for e in store.history("N-29")] == [1]


def test_large_batches_update_and_upsert_like_small_ones(store: Store) -> None:
    # 30 rows: past the size at which PostgreSQL stages them (COPY + one statement).
    n = 30
    ids = [f"L-{i}" for i in range(n)]
    clock = ClockState(
        name="verification",
        started_at=T0,
        limit=3,
        deadline=T0 + timedelta(days=3),
        warning_at=T0 + timedelta(days=2),
    )

    def processed(cid: str, outcome: str, offset: int) -> ProcessedCommand:
        return ProcessedCommand(f"c-{cid}", cid, "verify", outcome, "lapor.commands", 0, offset, T0)

    store.write(
        BatchWrite(
            complaints=[ComplaintWrite(complaint(cid), None, 0, None) for cid in ids],
            events=[event(cid, 1) for cid in ids],
            processed=[processed(cid, "rejected", i) for i, cid in enumerate(ids)],
        )
    )
    moved = [complaint(cid, seq=2, state="verified", clocks={"verification": clock}) for cid in ids]
    stale = complaint(ids[-1], seq=3, state="dispatched", skpd="DINKES")
    with pytest.raises(ConcurrencyError):
        store.write(
            BatchWrite(
                complaints=[ComplaintWrite(c, 1, 0, None) for c in moved[:-1]]
                + [ComplaintWrite(stale, 2, 0, None)]
            )
        )
    assert {c.seq for c in store.load(ids).values()} == {1}  # all or nothing
    # A key twice in one batch: the last row wins, as upserting one by one would leave.
    twice = [processed(cid, "applied", 100 + i) for i, cid in enumerate(ids)]
    twice.append(processed(ids[0], "duplicate", 999))
    store.write(
        BatchWrite(
            complaints=[
                ComplaintWrite(c, 1, 0, T0 + timedelta(days=2), state_before="submitted")
                for c in moved
            ],
            events=[event(cid, 2) for cid in ids],
            processed=twice,
        )
    )
    loaded = store.load(ids)
    assert all(loaded[c.complaint_id] == c for c in moved)
    outcomes = store.processed([f"c-{cid}" for cid in ids])
    assert outcomes == {f"c-{cid}": "applied" for cid in ids[1:]} | {f"c-{ids[0]}": "duplicate"}
    assert store.count_by_state_skpd() == {("verified", ""): n}
    assert len(store.running_clocks(None, 100)) == n  # the clock rows, upserted
    assert len(store.due({0: T0 + timedelta(days=3)}, 100)[0]) == n


def test_progress_upsert_keeps_watermark_instant(store: Store) -> None:
    wm = datetime(2026, 3, 2, 9, 15, tzinfo=WITA)
    store.write(BatchWrite(progress=[Progress("t", 0, 5, wm), Progress("t", 1, 7, None)]))
    store.write(BatchWrite(progress=[Progress("t", 0, 9, wm + timedelta(hours=1), 5)]))
    got = store.progress("t", [0, 1, 2])
    assert set(got) == {0, 1}
    assert got[0].next_offset == 9
    assert got[0].watermark == wm + timedelta(hours=1)
    assert got[0].watermark is not None and got[0].watermark.utcoffset() == timedelta(0)
    assert got[1] == Progress("t", 1, 7, None)


def test_due_filters_by_partition_and_orders_by_instant(store: Store) -> None:
    base = datetime(2026, 3, 5, 23, 59, 59, tzinfo=WITA)
    for i, (partition, hours) in enumerate([(0, 5), (0, 1), (1, 0), (0, 30), (0, None)]):
        due = None if hours is None else base + timedelta(hours=hours)
        write_new(store, complaint(f"HSU-2026-1{i:05d}"), partition=partition, due=due)

    def ids(until: dict[int, datetime], limit: int) -> dict[int, list[str]]:
        return {p: [c.complaint_id for c in cs] for p, cs in store.due(until, limit).items()}

    until = base + timedelta(hours=5)
    later = base + timedelta(days=3)
    # Strictly before `until`: the one due exactly at `until` is not yet due.
    assert ids({0: until}, 10) == {0: ["HSU-2026-100001"]}
    assert ids({0: later}, 10) == {0: ["HSU-2026-100001", "HSU-2026-100000", "HSU-2026-100003"]}
    assert ids({0: later}, 2) == {0: ["HSU-2026-100001", "HSU-2026-100000"]}
    assert ids({1: later}, 10) == {1: ["HSU-2026-100002"]}
    # Several partitions in one statement, each with its own instant and limit.
    assert ids({0: later, 1: until, 2: later}, 2) == {
        0: ["HSU-2026-100001", "HSU-2026-100000"],
        1: ["HSU-2026-100002"],
        2: [],
    }
    assert ids({}, 5) == {}
    assert store.timer_backlog(later) == 4


def test_due_refuses_a_naive_instant(store: Store) -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        store.due({0: datetime(2026, 3, 5, 12, 0)}, 10)


@pytest.mark.integration
def test_the_due_timers_are_read_by_index_per_swept_partition(pg_database_url: str) -> None:
    """Each swept partition's due complaints come from ``ix_complaints_due``, never a scan.

    50,000 complaints over 6 partitions, never analyzed (autovacuum off for the table),
    as in a fresh database under a backlog: one index scan per partition, each under its
    own LIMIT.
    """
    plan = unanalyzed_plan(
        pg_database_url,
        "complaints",
        "INSERT INTO complaints (complaint_id, workflow, workflow_version, state, seq,"
        " region, category, partition, escalation_level, next_due_at, created_at,"
        " updated_at, data)"
        " SELECT 'HSU-' || g, 'lapor', 1, 'verified', 1, 'HSU', 'jalan', g % 6, 0,"
        " now() + g * interval '1 minute', now(), now(), '{}'"
        " FROM generate_series(1, 50000) AS g",
        _DUE_TIMERS.text,
        {"partitions": list(range(6)), "until": [T0] * 6, "limit": 100},
    )
    store = Store(pg_database_url)
    assert "Seq Scan on complaints" not in plan, plan
    assert "ix_complaints_due" in plan, plan
    assert store.due(dict.fromkeys(range(6), T0), 100) == {p: [] for p in range(6)}
    store.close()


def test_outbox_keeps_order_bytes_and_headers(store: Store) -> None:
    records = [
        OutboxRecord("lapor.events", b"HSU-1", b'{"seq":1}', event_id="e-1"),
        OutboxRecord(
            "lapor.dlq",
            b"k",
            b"\xff\xfe not utf-8",
            headers=(("error", b"not_json"), ("source_offset", b"42")),
        ),
        OutboxRecord("lapor.events", None, b'{"seq":2}', event_id="e-2"),
    ]
    store.write(BatchWrite(outbox=records))
    pending = store.pending_outbox(10)
    assert [(r.topic, r.key, r.value, r.headers, r.event_id) for r in pending] == [
        (r.topic, r.key, r.value, r.headers, r.event_id) for r in records
    ]
    assert store.outbox_pending_count() == 3
    store.mark_published([pending[0].id or 0, pending[1].id or 0])
    assert [r.value for r in store.pending_outbox(10)] == [b'{"seq":2}']
    assert store.outbox_pending_count() == 1


def test_counts_for_gauges(store: Store) -> None:
    breached = ClockState(
        name="follow_up",
        started_at=T0,
        limit=5,
        deadline=T0 + timedelta(days=7),
        warning_at=T0 + timedelta(days=5),
        warned=True,
        breached_at=T0 + timedelta(days=7),
        escalation_level=1,
    )
    write_new(
        store, complaint("A-1", state="dispatched", skpd="DINKES", clocks={"follow_up": breached})
    )
    write_new(store, complaint("A-2", state="dispatched", skpd="DINKES"))
    write_new(store, complaint("A-3", state="submitted"))
    assert store.count_by_state_skpd() == {("dispatched", "DINKES"): 2, ("submitted", ""): 1}
    assert store.open_breaches() == {("DINKES", "follow_up"): 1}


def _counted_by_scan(store: Store) -> dict[tuple[str, str], int]:
    """The gauge's counts as a full scan of the complaints table gives them."""
    from sqlalchemy import text

    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT state, skpd, count(*) FROM complaints GROUP BY 1, 2"))
        return {(state, skpd or ""): n for state, skpd, n in rows}


def test_gauge_counts_follow_moves_across_partitions_and_failed_writes(store: Store) -> None:
    write_new(store, complaint("B-1"), partition=0)
    write_new(store, complaint("B-2"), partition=1)
    write_new(store, complaint("B-3"), partition=1)
    dispatched = complaint("B-1", seq=2, state="dispatched", skpd="DINKES")
    store.write(
        BatchWrite(
            complaints=[
                ComplaintWrite(dispatched, 1, 0, None, state_before="submitted"),
                # No state_before given: the store reads the old state itself.
                ComplaintWrite(complaint("B-2", seq=2, state="verified"), 1, 1, None),
                # Moved to another partition (a repartitioned topic): sums stay exact.
                ComplaintWrite(
                    complaint("B-3", seq=2, state="verified"), 1, 5, None, state_before="submitted"
                ),
            ],
            events=[event("B-1", 2), event("B-2", 2), event("B-3", 2)],
        )
    )
    expected = {("dispatched", "DINKES"): 1, ("verified", ""): 2}
    assert store.count_by_state_skpd() == expected == _counted_by_scan(store)
    # A batch that fails on its seq check leaves the counts as they were.
    stale = complaint("B-1", seq=3, state="resolved", skpd="DINKES")
    with pytest.raises(ConcurrencyError):
        store.write(
            BatchWrite(
                complaints=[
                    ComplaintWrite(complaint("B-4"), None, 0, None),
                    ComplaintWrite(stale, 1, 0, None, skpd_before="DINKES", state_before="x"),
                ]
            )
        )
    assert store.count_by_state_skpd() == expected == _counted_by_scan(store)


def test_progress_is_an_optimistic_lock_per_partition(store: Store) -> None:
    store.write(BatchWrite(progress=[Progress("t", 0, 10, None)]))
    with pytest.raises(ConcurrencyError):
        store.write(BatchWrite(progress=[Progress("t", 0, 12, None)]))  # "new" again
    # Another instance moved the partition from 10 to 20 first; our batch read 10 too.
    store.write(BatchWrite(progress=[Progress("t", 0, 20, None, 10)]))
    with pytest.raises(ConcurrencyError) as info:
        store.write(
            BatchWrite(
                progress=[Progress("t", 0, 15, None, 10)],
                outbox=[OutboxRecord("lapor.dlq", b"k", b"garbage")],
            )
        )
    assert info.value.context["partitions"] == [0]
    assert store.progress("t", [0])[0].next_offset == 20
    assert store.outbox_pending_count() == 0  # the dead letter was not written twice


def test_an_event_outbox_row_publishes_the_stored_body(store: Store) -> None:
    c = complaint("HSU-2026-000077")
    stored = event(c.complaint_id, 1)
    store.write(
        BatchWrite(
            complaints=[ComplaintWrite(c, None, 0, None)],
            events=[stored],
            outbox=[
                OutboxRecord("lapor.events", b"HSU-2026-000077", None, event_id=stored.event_id)
            ],
        )
    )
    (pending,) = store.pending_outbox(10)
    assert pending.value == stored.model_dump_json().encode()
    assert Event.model_validate_json(pending.value or b"") == stored


def test_upgrade_from_the_first_revision_keeps_rows(empty_url: str) -> None:
    from importlib.resources import files

    from alembic import command as alembic_command
    from alembic.config import Config
    from sqlalchemy import inspect, text

    old = Store(empty_url)
    config = Config()
    config.set_main_option("script_location", str(files("engine") / "migrations"))
    with old.engine.begin() as conn:
        config.attributes["connection"] = conn
        alembic_command.upgrade(config, "0001")
    with old.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO sla_clocks (complaint_id, clock, region, started_at, deadline,"
                " escalation_level) VALUES ('HSU-1', 'verification', 'HSU',"
                " '2026-03-02 01:15:00+00:00', '2026-03-05 15:59:59+00:00', 0)"
            )
        )
    assert "warning_at" not in {c["name"] for c in inspect(old.engine).get_columns("sla_clocks")}
    old.migrate()  # what `laporflow run` does on start
    columns = {c["name"] for c in inspect(old.engine).get_columns("sla_clocks")}
    assert {"warning_at", "next_fire_at"} <= columns
    with old.engine.connect() as conn:
        assert conn.execute(text("SELECT complaint_id FROM sla_clocks")).scalars().all() == [
            "HSU-1"
        ]
    old.close()


def test_clock_rows_carry_their_instants(store: Store) -> None:
    clock = ClockState(
        name="follow_up",
        started_at=T0,
        limit=5,
        deadline=datetime(2026, 3, 9, 23, 59, 59, tzinfo=WITA),
        warning_at=datetime(2026, 3, 8, 11, 35, 59, tzinfo=WITA),
    )
    c = complaint(state="dispatched", skpd="DINKES", clocks={"follow_up": clock})
    store.write(
        BatchWrite(
            complaints=[
                ComplaintWrite(
                    c, None, 0, clock.warning_at, clock_due={"follow_up": clock.warning_at}
                )
            ]
        )
    )
    from sqlalchemy import select

    from engine.schema import clocks_table

    with store.engine.connect() as conn:
        row = conn.execute(select(clocks_table)).one()
    assert row.warning_at == clock.warning_at
    assert row.next_fire_at == clock.warning_at
    assert row.deadline == clock.deadline
    assert row.skpd == "DINKES"


def test_label_values_are_admitted_up_to_the_limit_in_order(store: Store) -> None:
    assert store.admitted_label_values("skpd", 3) == []
    assert store.admit_label_values("skpd", ["B", "A", "B"], 3) == ["B", "A"]
    # Known values are not admitted twice; only one slot was left.
    assert store.admit_label_values("skpd", ["A", "C", "D"], 3) == ["B", "A", "C"]
    assert store.admit_label_values("skpd", ["E"], 3) == ["B", "A", "C"]
    assert store.admitted_label_values("skpd", 3) == ["B", "A", "C"]
    # Labels are independent; a lower limit keeps the first admitted.
    assert store.admit_label_values("region", ["HSU"], 3) == ["HSU"]
    assert store.admitted_label_values("skpd", 2) == ["B", "A"]
    assert store.admit_label_values("skpd", ["F"], 2) == ["B", "A"]
    assert store.admitted_label_values("skpd", 10) == ["B", "A", "C"]


def test_concurrent_admissions_never_exceed_the_limit(empty_url: str) -> None:
    import threading

    first = Store(empty_url)
    first.migrate()
    stores = [first, Store(empty_url), Store(empty_url), Store(empty_url)]
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def admit(s: Store, n: int) -> None:
        try:
            for i in range(10):
                results.append(s.admit_label_values("skpd", [f"S{n}-{i}", f"T{n}-{i}"], 25))
        except BaseException as exc:  # collected and re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=admit, args=(s, n)) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    admitted = first.admitted_label_values("skpd", 1000)
    for s in stores:
        s.close()
    if errors:
        raise errors[0]
    assert len(admitted) == 25
    assert all(len(r) <= 25 for r in results)
    # Every answer is a prefix of the final admission order.
    assert all(r == admitted[: len(r)] for r in results)


# --- outbox claims, parking and pruning (issue 7) -------------------------------------


def _outbox_rows(store: Store, partitions: list[int | None]) -> list[int]:
    store.write(
        BatchWrite(
            outbox=[
                OutboxRecord("lapor.events", f"K-{i}".encode(), f"v{i}".encode(), partition=p)
                for i, p in enumerate(partitions)
            ]
        )
    )
    return [r.id or 0 for r in store.pending_outbox(100)]


def test_claim_keeps_only_the_given_partitions_in_write_order(store: Store) -> None:
    ids = _outbox_rows(store, [0, 1, 2, None, 1])
    with store.claim_outbox({1}, 10) as claim:
        assert [r.value for r in claim.records] == [b"v1", b"v4"]
        assert {r.partition for r in claim.records} == {1}
    # Rows with no partition (written before revision 0003) go with partition 0.
    with store.claim_outbox({0, 2}, 10) as claim:
        assert [r.value for r in claim.records] == [b"v0", b"v2", b"v3"]
    with store.claim_outbox(set(), 10) as claim:
        assert claim.records == []
    with store.claim_outbox(None, 2) as claim:
        assert [r.id for r in claim.records] == ids[:2]


def test_a_claim_looks_only_above_the_id_it_is_told_to_start_after(store: Store) -> None:
    ids = _outbox_rows(store, [0, 1, 0, 1])
    with store.claim_outbox({0, 1}, 10, after=ids[1]) as claim:
        assert [r.id for r in claim.records] == ids[2:]
    with store.claim_outbox(None, 10, after=ids[2]) as claim:
        assert [r.id for r in claim.records] == ids[3:]
    with store.claim_outbox({0}, 10, after=0) as claim:
        assert [r.id for r in claim.records] == [ids[0], ids[2]]


def test_a_claim_marks_what_it_published_and_parks_what_kafka_refused(store: Store) -> None:
    ids = _outbox_rows(store, [0, 0, 0])
    with store.claim_outbox({0}, 10) as claim:
        claim.published.append(ids[0])
        claim.parked[ids[1]] = "MessageSizeTooLargeError: too big"
    assert [r.id for r in store.pending_outbox(10)] == [ids[2]]
    assert store.outbox_pending_count() == 1
    assert store.outbox_parked_count() == 1
    (parked,) = store.parked_outbox()
    assert (parked.id, parked.key, parked.size, parked.partition) == (ids[1], b"K-1", 2, 0)
    assert parked.reason.startswith("MessageSizeTooLargeError")
    assert parked.parked_at.tzinfo is not None
    assert [p.id for p in store.parked_outbox("K-1")] == [ids[1]]
    assert store.parked_outbox("K-0") == []
    # A claim that ends in an exception marks nothing.
    with pytest.raises(RuntimeError), store.claim_outbox({0}, 10) as claim:
        claim.published.append(ids[2])
        raise RuntimeError("relay died")
    assert store.outbox_pending_count() == 1
    assert store.unpark_outbox() == 1
    assert [r.id for r in store.pending_outbox(10)] == [ids[1], ids[2]]
    assert store.outbox_parked_count() == 0


def test_prune_deletes_old_published_rows_in_batches(store: Store) -> None:
    ids = _outbox_rows(store, [0, 0, 0, 0, 0])
    store.mark_published(ids[:4])
    store.park_outbox(ids[4], "refused")
    future = datetime.now(UTC) + timedelta(days=8)
    # Nothing is older than the cutoff yet.
    assert store.prune_outbox(datetime.now(UTC) - timedelta(days=7), limit=10) == 0
    assert store.prune_outbox(future, limit=3) == 3
    assert store.prune_outbox(future, limit=3) == 1
    assert store.prune_outbox(future, limit=3) == 0
    # Parked rows stay for the operator; they were never published.
    assert store.outbox_parked_count() == 1
    with store.engine.connect() as conn:
        from sqlalchemy import func, select

        from engine.schema import outbox_table

        assert conn.execute(select(func.count()).select_from(outbox_table)).scalar_one() == 1


@pytest.mark.integration
def test_postgres_claims_never_share_a_partition(pg_database_url: str) -> None:
    store = Store(pg_database_url)
    store.migrate()
    try:
        _outbox_rows(store, [0, 1, 2, 1])
        with store.claim_outbox({0, 1}, 10) as first:
            assert first.partitions == frozenset({0, 1})
            # A second relay (another engine during a rebalance) skips what is held.
            with store.claim_outbox({0, 1, 2}, 10) as second:
                assert second.partitions == frozenset({2})
                assert [r.value for r in second.records] == [b"v2"]
                second.published.extend(r.id or 0 for r in second.records)
            first.published.extend(r.id or 0 for r in first.records)
        # Released at the end of the claim; the rows were marked in the same transaction.
        with store.claim_outbox({0, 1, 2}, 10) as third:
            assert third.partitions == frozenset({0, 1, 2})
            assert third.records == []
        assert store.outbox_pending_count() == 0
    finally:
        store.close()


def test_upgrade_to_0003_places_pending_outbox_rows(empty_url: str) -> None:
    from importlib.resources import files

    from alembic import command as alembic_command
    from alembic.config import Config
    from sqlalchemy import text

    old = Store(empty_url)
    config = Config()
    config.set_main_option("script_location", str(files("engine") / "migrations"))
    with old.engine.begin() as conn:
        config.attributes["connection"] = conn
        alembic_command.upgrade(config, "0002")
    with old.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO complaints (complaint_id, workflow, workflow_version, state, seq,"
                " region, category, partition, escalation_level, created_at, updated_at, data)"
                " VALUES ('HSU-1', 'complaint', 1, 'submitted', 1, 'HSU', 'x', 4, 0,"
                " '2026-03-02 01:15:00+00:00', '2026-03-02 01:15:00+00:00', '{}')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO events (event_id, complaint_id, seq, type, occurred_at,"
                " recorded_at, causation_id, body) VALUES ('e-1', 'HSU-1', 1,"
                " 'complaint.submitted', '2026-03-02 01:15:00+00:00',"
                " '2026-03-02 01:15:00+00:00', 'c-1', '{}')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO outbox (topic, key, value, headers, event_id, created_at,"
                " published) VALUES"
                " ('lapor.events', NULL, NULL, '[]', 'e-1', '2026-03-02 01:15:00+00:00', false),"
                " ('lapor.dlq', NULL, NULL, :h, NULL, '2026-03-02 01:15:00+00:00', false),"
                " ('lapor.dlq', NULL, NULL, '[]', NULL, '2026-03-02 01:15:00+00:00', false)"
            ),
            {"h": '[["error", "not_json"], ["source_partition", "5"]]'},
        )
    old.migrate()
    with old.engine.connect() as conn:
        placed = conn.execute(text("SELECT partition FROM outbox ORDER BY id")).scalars().all()
    assert placed == [4, 5, None]
    old.close()


@pytest.mark.integration
def test_a_postgresql_session_runs_in_utc_and_keeps_the_url_options(
    pg_database_url: str,
) -> None:
    """Timestamps come back tagged ``datetime.UTC`` (passed through as they are), and
    libpq ``options`` given in the URL still apply next to the session's time zone."""
    from sqlalchemy import select, text

    from engine.schema import events_table

    url = f"{pg_database_url}?options=-c%20application_name%3Dlaporflow-test"
    s = Store(url)
    try:
        s.migrate()
        write_new(s, complaint())
        with s.connect("reading the session") as conn:
            assert conn.execute(text("SHOW TimeZone")).scalar() == "UTC"
            assert conn.execute(text("SHOW application_name")).scalar() == "laporflow-test"
            occurred = conn.execute(select(events_table.c.occurred_at)).scalar_one()
        assert occurred.tzinfo is UTC and occurred == T0
        loaded = s.complaint("HSU-2026-000001")
        assert loaded is not None and loaded.created_at == T0
    finally:
        s.close()


def test_reads_inside_one_connection_share_it_in_their_own_thread(store: Store) -> None:
    seen: dict[str, object] = {}

    def elsewhere() -> None:
        with store.connect("another thread") as conn:
            seen["other"] = conn

    with store.one_connection():
        with store.connect("first") as first, store.connect("second") as second:
            assert first is second
            seen["held"] = first
        # Nested: still the same connection.
        with store.one_connection(), store.connect("third") as third:
            assert third is first
        worker = threading.Thread(target=elsewhere)
        worker.start()
        worker.join()
        assert seen["other"] is not first
        assert store.load(["nobody"]) == {}
    with store.connect("after") as after:
        assert after is not seen["held"]


def test_a_write_inside_one_connection_commits_the_reads_transaction(store: Store) -> None:
    c = complaint()
    with store.one_connection():
        with store.connect("the reads") as held:
            assert store.load([c.complaint_id]) == {}
            assert held.in_transaction()  # the reads began it
            write_new(store, c)
            # Committed on the held connection: no other transaction was used for it.
            assert not held.in_transaction()
        seen: dict[str, ComplaintState | None] = {}
        worker = threading.Thread(target=lambda: seen.update(c=store.complaint(c.complaint_id)))
        worker.start()
        worker.join()
        assert seen["c"] == c  # visible to another connection before the block ends
    assert store.complaint(c.complaint_id) == c


def test_a_failed_write_inside_one_connection_rolls_back_and_keeps_it_usable(
    store: Store,
) -> None:
    c = complaint()
    write_new(store, c)
    other = complaint("HSU-2026-000002")
    with store.one_connection():
        with store.connect("the reads") as held:
            assert set(store.load([c.complaint_id])) == {c.complaint_id}
            with pytest.raises(ConcurrencyError):
                store.write(
                    BatchWrite(
                        complaints=[
                            ComplaintWrite(other, None, 0, None),
                            ComplaintWrite(c, None, 0, None),  # already stored
                        ],
                        events=[event(other.complaint_id, 1)],
                        outbox=[OutboxRecord("lapor.events", b"k", b"v")],
                    )
                )
            assert not held.in_transaction()
            # The same connection reads again, and nothing of the failed batch is there.
            assert store.load([other.complaint_id]) == {}
            assert store.outbox_pending_count() == 0
        write_new(store, other)  # and the next batch writes on it
    assert store.complaint(other.complaint_id) == other
    assert [e.seq for e in store.history(c.complaint_id)] == [1]
