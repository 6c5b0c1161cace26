"""Rebuilding state and clocks from the stored history (engine/replay.py), on SQLite."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.errors import StoreError
from engine.policy_file import load_policy
from engine.processor import Processor
from engine.replay import (
    ReplayReport,
    compare_with_live,
    copy_rebuilt,
    count_complaints,
    rebuild,
)
from engine.store import Store
from laporflow.demo_data import generate
from workflows.registry import WorkflowRegistry

POLICY = load_policy(None)
REGISTRY = WorkflowRegistry.default()


@dataclass(frozen=True)
class _Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def _fill(store: Store, processor: Processor) -> None:
    """Apply a small quarter's generated commands, in polls of 200 records."""
    _, records = generate(seed=7, complaints=150, start=date(2026, 1, 5), days=20)
    recs = [_Rec("lapor.commands", hash(r.key) % 2, 0, r.key, r.value) for r in records]
    offsets = {0: 0, 1: 0}
    numbered = []
    for r in recs:
        numbered.append(_Rec(r.topic, r.partition, offsets[r.partition], r.key, r.value))
        offsets[r.partition] += 1
    for start in range(0, len(numbered), 200):
        processor.process(numbered[start : start + 200])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A database the engine's processor filled with a small quarter, swept to now."""
    path = tmp_path_factory.mktemp("replay") / "live.db"
    store = Store(f"sqlite:///{path}")
    store.migrate()
    processor = Processor(store, policy=POLICY)
    _fill(store, processor)
    while processor.sweep([0, 1]).events:  # a share of the due timers per sweep
        pass
    return store


def _rows(store: Store, query: str) -> list[tuple[object, ...]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(query))]


def _check(store: Store) -> tuple[ReplayReport, list[str]]:
    """``laporflow replay``'s check: the report, and the live tables' differences."""
    differences: list[str] = []
    report = rebuild(
        store,
        registry=REGISTRY,
        policy=POLICY,
        on_complaint=lambda r: differences.extend(compare_with_live(store, r)),
    )
    return report, differences


def test_check_mode_finds_the_live_state(live: Store) -> None:
    report, differences = _check(live)
    assert report.complaints == count_complaints(live) == 150
    assert report.conflicts == []
    assert differences == []


def test_rebuild_into_a_fresh_database_equals_the_live_tables(live: Store, tmp_path: Path) -> None:
    target = Store(f"sqlite:///{tmp_path / 'rebuilt.db'}")
    try:
        seen: list[int] = []
        report = copy_rebuilt(
            live, target, registry=REGISTRY, policy=POLICY, on_history=seen.append
        )
        assert report.conflicts == [] and sum(seen) == report.complaints
        for query in (
            "SELECT * FROM complaints ORDER BY complaint_id",
            "SELECT * FROM sla_clocks ORDER BY complaint_id, clock",
            "SELECT event_id, complaint_id, seq, type, occurred_at, state FROM events "
            "ORDER BY event_id",
            "SELECT * FROM processed_commands ORDER BY command_id",
            "SELECT * FROM partition_progress ORDER BY partition",
            # The report's receipts and settlements are rebuilt with the events.
            "SELECT * FROM skpd_receipts ORDER BY complaint_id, skpd",
            "SELECT * FROM settlements ORDER BY complaint_id",
        ):
            assert _rows(target, query) == _rows(live, query), query
        with pytest.raises(StoreError, match="already holds complaints"):
            copy_rebuilt(live, target, registry=REGISTRY, policy=POLICY)
    finally:
        target.close()


def _tampered_copy(live: Store, path: Path, statement: str) -> Store:
    """A rebuilt copy of ``live``, then ``statement`` run on it behind the engine's back."""
    copy = Store(f"sqlite:///{path}")
    copy_rebuilt(live, copy, registry=REGISTRY, policy=POLICY)
    with copy.engine.begin() as conn:
        conn.execute(text(statement))
    return copy


def test_a_changed_history_is_a_conflict(live: Store, tmp_path: Path) -> None:
    target = _tampered_copy(
        live,
        tmp_path / "copy.db",
        "UPDATE events SET body = replace(body, "
        "'\"complaint.sla_warning\"', '\"complaint.sla_nothing\"') "
        "WHERE type = 'complaint.sla_warning'",
    )
    try:
        report = rebuild(target, registry=REGISTRY, policy=POLICY, on_complaint=lambda r: None)
        assert report.conflicts
    finally:
        target.close()


#: The clock of an engine stopped in the middle of a flood of due timers.
STOPPED_AT = datetime(2026, 3, 2, tzinfo=UTC)


def stopped_in_a_flood(url: str) -> Store:
    """Like ``live``, but its engine stopped after one share of the due timers.

    The watermarks moved to the clock; most timers due before them are not fired.
    """
    store = Store(url)
    store.migrate()
    processor = Processor(store, policy=POLICY, clock=lambda: STOPPED_AT, sweep_limit=2)
    _fill(store, processor)
    assert processor.sweep([0, 1]).more_due  # stopped here, with timers left due
    return store


@pytest.fixture
def stopped(tmp_path: Path) -> Store:
    return stopped_in_a_flood(f"sqlite:///{tmp_path / 'stopped.db'}")


def _sweep_all(store: Store) -> None:
    """What the engine's next sweeps do after a restart (at the same clock)."""
    processor = Processor(store, policy=POLICY, clock=lambda: STOPPED_AT)
    while processor.sweep([0, 1]).events:
        pass


def test_timers_not_fired_yet_are_counted_not_reported_as_conflicts(stopped: Store) -> None:
    report, differences = _check(stopped)
    assert report.conflicts == [] and differences == []
    assert report.unfired >= report.unfired_complaints > 1
    _sweep_all(stopped)  # the engine restarted and fired them
    report, differences = _check(stopped)
    assert (report.conflicts, differences, report.unfired) == ([], [], 0)


def test_a_database_rebuilt_before_the_timers_fired_fires_the_same_events(
    stopped: Store, tmp_path: Path
) -> None:
    target = Store(f"sqlite:///{tmp_path / 'rebuilt.db'}")
    try:
        report = copy_rebuilt(stopped, target, registry=REGISTRY, policy=POLICY)
        assert report.conflicts == [] and report.unfired > 0
        for query in (
            "SELECT * FROM complaints ORDER BY complaint_id",
            "SELECT * FROM sla_clocks ORDER BY complaint_id, clock",
        ):
            assert _rows(target, query) == _rows(stopped, query), query
        _sweep_all(stopped)
        _sweep_all(target)
        query = "SELECT event_id, seq, type, occurred_at, body FROM events ORDER BY event_id"
        assert _rows(target, query) == _rows(stopped, query)
    finally:
        target.close()


def test_a_timer_event_deleted_from_the_history_is_still_a_difference(
    live: Store, tmp_path: Path
) -> None:
    """The live state still counts it: only a complaint whose state matches is "unfired"."""
    tampered = _tampered_copy(
        live,
        tmp_path / "tampered.db",
        # The last event of a complaint whose history ends with a timer.
        "DELETE FROM events WHERE event_id = (SELECT e.event_id FROM events e "
        "WHERE e.causation_id LIKE 'timer:%' AND e.seq = (SELECT max(x.seq) "
        "FROM events x WHERE x.complaint_id = e.complaint_id) "
        "ORDER BY e.complaint_id LIMIT 1)",
    )
    try:
        report, differences = _check(tampered)
        assert report.unfired == 1 and report.conflicts == []
        assert len(differences) == 1
    finally:
        tampered.close()
