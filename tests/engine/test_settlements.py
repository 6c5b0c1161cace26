"""Settlements: the pure fold, and the rows the store keeps (SQLite and PostgreSQL).

The reference is CONTRACT §6's definition, computed from a whole history at once: a
complaint is settled by its latest resolution (by seq) if its state now is the state that
resolution left it in. The store must reach the same rows however the history is cut
into batches and ordered within them, and so must the migration that derives them from a
history stored before the table existed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from engine.schema import settlements_table
from engine.settlements import RESOLVED, settlement_changes
from engine.store import BatchWrite, Store
from tests.engine.derived_rows import migrate_again_from, write_interleaved
from workflows.apply import AUTO_CLOSE_ACTOR, event_id_for
from workflows.model import Actor, Event

T0 = datetime(2026, 4, 6, 1, 0, tzinfo=UTC)
BACKENDS = ["sqlite", pytest.param("postgresql", marks=[pytest.mark.integration])]
COMPLAINANT = Actor(role="complainant", id="p-1")

#: complaint id -> (skpd, region, state, seq, resolved_at, auto_closed)
Rows = dict[str, tuple[str | None, str | None, str, int, datetime, bool]]
#: One step of a history: (event type, state after it, skpd, resolved by auto-close); a
#: state of None keeps the state before it, as an event that is not a transition does.
Step = tuple[str, str | None, str | None, bool]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'settlements.db'}"
    else:
        url = str(request.getfixturevalue("pg_database_url"))
    s = Store(url)
    s.migrate()
    yield s
    s.close()


def history(cid: str, steps: list[Step], start: str = "dispatched") -> list[Event]:
    """One complaint's events, seq 1, 2, ...; each step's previous state is the last's."""
    events, previous = [], start
    for seq, (type_, to, skpd, auto) in enumerate(steps, 1):
        state = previous if to is None else to
        at = T0 + timedelta(hours=seq)
        events.append(
            Event.model_validate(
                {
                    "event_id": event_id_for(cid, seq),
                    "type": type_,
                    "complaint_id": cid,
                    "seq": seq,
                    "occurred_at": at,
                    "recorded_at": T0,
                    "state": state,
                    "previous_state": previous,
                    "region": "HSU",
                    "skpd": skpd,
                    "causation_id": f"auto_close:{cid}:{seq}" if auto else f"c-{cid}-{seq}",
                    "actor": AUTO_CLOSE_ACTOR if auto else COMPLAINANT,
                    "payload": {},
                }
            )
        )
        previous = state
    return events


def expected(events: list[Event]) -> Rows:
    """The settlements by definition, from whole histories."""
    rows: Rows = {}
    by_complaint: dict[str, list[Event]] = {}
    for e in events:
        if e.seq is not None:
            by_complaint.setdefault(e.complaint_id, []).append(e)
    for cid, own in by_complaint.items():
        own.sort(key=lambda e: e.seq or 0)
        resolutions = [e for e in own if e.type == RESOLVED]
        if resolutions and own[-1].state == resolutions[-1].state:
            r = resolutions[-1]
            assert r.state is not None and r.seq is not None
            auto = r.causation_id.startswith("auto_close:") and r.actor == AUTO_CLOSE_ACTOR
            rows[cid] = (r.skpd, r.region, r.state, r.seq, r.occurred_at, auto)
    return rows


def stored(store: Store, complaint_ids: set[str]) -> Rows:
    t = settlements_table
    with store.connect("reading settlements") as conn:
        result = conn.execute(select(t).where(t.c.complaint_id.in_(sorted(complaint_ids))))
        return {
            row.complaint_id: (
                row.skpd,
                row.region,
                row.state,
                row.seq,
                row.resolved_at,
                bool(row.auto_closed),
            )
            for row in result
        }


RESOLVE: Step = (RESOLVED, "resolved", "PUPR", False)
AUTO_CLOSE: Step = (RESOLVED, "resolved", "PUPR", True)
REOPEN: Step = ("complaint.reopened", "dispatched", "PUPR", False)
ANSWER: Step = ("complaint.followed_up", "followed_up", "PUPR", False)
# A reschedule changes no state: given one, Hypothesis built a history whose note moved
# a reopened complaint back to "resolved" with no resolution, which no engine writes.
NOTE: Step = ("complaint.sla_rescheduled", None, "PUPR", False)


# --- the pure fold -------------------------------------------------------------------


def test_the_latest_resolution_settles_unless_the_batch_reopens_it() -> None:
    settled = history("C-1", [ANSWER, RESOLVE, REOPEN, ANSWER, AUTO_CLOSE])
    changes = settlement_changes(reversed(settled))
    assert [(s.complaint_id, s.seq, s.auto_closed) for s in changes.settled] == [("C-1", 5, True)]
    assert changes.unsettled == []
    reopened = settlement_changes(history("C-2", [RESOLVE, REOPEN]))
    assert reopened.settled == [] and reopened.unsettled == [("C-2", "dispatched")]


def test_a_batch_without_a_change_of_state_leaves_a_settlement_alone() -> None:
    assert not settlement_changes(history("C-3", [NOTE], start="resolved"))


# --- the stored rows -----------------------------------------------------------------


def test_a_reopen_in_a_later_batch_ends_the_settlement_and_a_new_resolution_replaces_it(
    store: Store,
) -> None:
    events = history("S-1", [ANSWER, RESOLVE, NOTE, REOPEN, ANSWER, AUTO_CLOSE])
    store.write(BatchWrite(events=events[:3]))
    assert stored(store, {"S-1"}) == expected(events[:3]) != {}
    store.write(BatchWrite(events=events[3:4]))
    assert stored(store, {"S-1"}) == {}
    store.write(BatchWrite(events=events[4:]))
    assert stored(store, {"S-1"}) == expected(events)
    assert stored(store, {"S-1"})["S-1"][5] is True  # auto-closed


STEPS = st.sampled_from([RESOLVE, AUTO_CLOSE, REOPEN, ANSWER, NOTE])


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    steps=st.lists(st.lists(STEPS, max_size=8), min_size=1, max_size=4),
    cuts=st.lists(st.integers(min_value=1, max_value=30), max_size=6),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_any_batching_of_any_history_stores_the_settlements_by_definition(
    store: Store, steps: list[list[Step]], cuts: list[int], seed: int
) -> None:
    """Histories of a few complaints, interleaved, cut into batches, each shuffled."""
    ids, stream = write_interleaved(store, history, steps, cuts, seed)
    assert stored(store, ids) == expected(stream)


def test_the_migration_derives_the_settlements_of_a_history_stored_before_it(
    store: Store,
) -> None:
    """The backfill reads the complaints' states: write rows for them as the engine does."""
    from sqlalchemy import insert

    from engine.schema import complaints_table

    histories = {
        "M-1": history("M-1", [ANSWER, RESOLVE, REOPEN, ANSWER, AUTO_CLOSE, NOTE]),
        "M-2": history("M-2", [ANSWER, RESOLVE, REOPEN]),
        "M-3": history("M-3", [AUTO_CLOSE]),
    }
    events = [e for h in histories.values() for e in h]
    store.write(BatchWrite(events=events))
    with store.engine.begin() as conn:
        conn.execute(
            insert(complaints_table),
            [
                {
                    "complaint_id": cid,
                    "workflow": "complaint",
                    "workflow_version": 1,
                    "state": h[-1].state,
                    "seq": h[-1].seq,
                    "region": "HSU",
                    "skpd": "PUPR",
                    "category": "x",
                    "partition": 0,
                    "escalation_level": 0,
                    "created_at": T0,
                    "updated_at": T0,
                    "data": "{}",
                }
                for cid, h in histories.items()
            ],
        )
    written = stored(store, set(histories))
    assert written == expected(events) and set(written) == {"M-1", "M-3"}
    migrate_again_from(store, "0011_receipts")
    assert stored(store, set(histories)) == written
