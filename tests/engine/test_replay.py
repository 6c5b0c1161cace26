"""Rebuilding state and clocks from the stored history (engine/replay.py), on SQLite."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.errors import StoreError
from engine.policy_file import load_policy
from engine.processor import Processor
from engine.replay import compare_with_live, copy_rebuilt, count_complaints, rebuild
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


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A database the engine's processor filled with a small quarter, swept to now."""
    path = tmp_path_factory.mktemp("replay") / "live.db"
    store = Store(f"sqlite:///{path}")
    store.migrate()
    _, records = generate(seed=7, complaints=150, start=date(2026, 1, 5), days=20)
    processor = Processor(store, policy=POLICY)
    recs = [_Rec("lapor.commands", hash(r.key) % 2, 0, r.key, r.value) for r in records]
    offsets = {0: 0, 1: 0}
    numbered = []
    for r in recs:
        numbered.append(_Rec(r.topic, r.partition, offsets[r.partition], r.key, r.value))
        offsets[r.partition] += 1
    for start in range(0, len(numbered), 200):
        processor.process(numbered[start : start + 200])
    while processor.sweep([0, 1]).events:  # a share of the due timers per sweep
        pass
    return store


def _rows(store: Store, query: str) -> list[tuple[object, ...]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(query))]


def test_check_mode_finds_the_live_state(live: Store) -> None:
    differences: list[str] = []
    report = rebuild(
        live,
        registry=REGISTRY,
        policy=POLICY,
        on_complaint=lambda r: differences.extend(compare_with_live(live, r)),
    )
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


def test_a_changed_history_is_a_conflict(live: Store, tmp_path: Path) -> None:
    target = Store(f"sqlite:///{tmp_path / 'copy.db'}")
    try:
        copy_rebuilt(live, target, registry=REGISTRY, policy=POLICY)
        with target.engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE events SET body = replace(body, "
                    "'\"complaint.sla_warning\"', '\"complaint.sla_nothing\"') "
                    "WHERE type = 'complaint.sla_warning'"
                )
            )
        report = rebuild(target, registry=REGISTRY, policy=POLICY, on_complaint=lambda r: None)
        assert report.conflicts
    finally:
        target.close()
