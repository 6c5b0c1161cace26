"""SKPD receipts: the pure fold, and the rows the store keeps (SQLite and PostgreSQL).

The reference is CONTRACT §6's definition, computed here from a whole history at once:
per (complaint, SKPD), the first dispatch, and that SKPD's first answer and first return
after it, by seq. The store must reach the same rows however the history is cut into
batches, in whatever order a batch lists its events, and so must the migration that
derives them from a history stored before the table existed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from engine.receipts import DISPATCHED, FOLLOWED_UP, RETURNED, receipt_changes
from engine.schema import skpd_receipts_table
from engine.store import BatchWrite, Store
from tests.engine.derived_rows import migrate_again_from, write_interleaved
from workflows.apply import event_id_for
from workflows.model import Actor, Event

T0 = datetime(2026, 4, 6, 1, 0, tzinfo=UTC)
BACKENDS = ["sqlite", pytest.param("postgresql", marks=[pytest.mark.integration])]

#: (complaint id, skpd) -> (region, dispatch_seq, dispatched_at, answered_at, returned_at)
Rows = dict[tuple[str, str], tuple[str | None, int, datetime, datetime | None, datetime | None]]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'receipts.db'}"
    else:
        url = str(request.getfixturevalue("pg_database_url"))
    s = Store(url)
    s.migrate()
    yield s
    s.close()


def at(seq: int) -> datetime:
    """Event instants: not in seq order, so a receipt must follow seq, not time."""
    return T0 + timedelta(minutes=(seq * 7) % 11, seconds=seq)


def event(cid: str, seq: int | None, type_: str, skpd: str | None, n: int = 0) -> Event:
    return Event.model_validate(
        {
            "event_id": event_id_for(cid, seq) if seq is not None else f"e-rej-{cid}-{n}",
            "type": type_,
            "complaint_id": cid,
            "seq": seq,
            "occurred_at": at(seq or 0),
            "recorded_at": T0,
            "state": "dispatched",
            "previous_state": None,
            "region": "HSU",
            "skpd": skpd,
            "causation_id": f"c-{cid}-{seq}",
            "actor": Actor(role="admin", id="a-1"),
            "payload": {},
        }
    )


def history(cid: str, steps: list[tuple[str, str | None]]) -> list[Event]:
    """One complaint's events, seq 1, 2, ... in the order of ``steps``."""
    return [event(cid, seq, type_, skpd) for seq, (type_, skpd) in enumerate(steps, 1)]


def expected(events: list[Event]) -> Rows:
    """The receipts by definition, from a whole history."""
    rows: Rows = {}
    ordered = sorted((e for e in events if e.seq is not None), key=lambda e: e.seq or 0)
    for d in ordered:
        if d.type != DISPATCHED or d.skpd is None or (d.complaint_id, d.skpd) in rows:
            continue

        def first(kind: str, d: Event = d) -> datetime | None:
            return next(
                (
                    e.occurred_at
                    for e in ordered
                    if e.complaint_id == d.complaint_id
                    and e.type == kind
                    and e.skpd == d.skpd
                    and (e.seq or 0) > (d.seq or 0)
                ),
                None,
            )

        assert d.seq is not None
        rows[(d.complaint_id, d.skpd)] = (
            d.region,
            d.seq,
            d.occurred_at,
            first(FOLLOWED_UP),
            first(RETURNED),
        )
    return rows


def stored(store: Store, complaint_ids: set[str]) -> Rows:
    r = skpd_receipts_table
    with store.connect("reading receipts") as conn:
        result = conn.execute(select(r).where(r.c.complaint_id.in_(sorted(complaint_ids))))
        return {
            (row.complaint_id, row.skpd): (
                row.region,
                row.dispatch_seq,
                row.dispatched_at,
                row.answered_at,
                row.returned_at,
            )
            for row in result
        }


# --- the pure fold -------------------------------------------------------------------


def test_only_the_first_dispatch_to_an_skpd_is_a_receipt_in_any_order() -> None:
    events = history(
        "C-1",
        [
            ("complaint.submitted", None),
            (DISPATCHED, "DINKES"),
            (RETURNED, "DINKES"),
            (DISPATCHED, "PUPR"),
            (DISPATCHED, "DINKES"),
            (FOLLOWED_UP, "DINKES"),
        ],
    )
    changes = receipt_changes(reversed(events))
    assert [(r.skpd, r.dispatch_seq, r.dispatched_at) for r in changes.receipts] == [
        ("DINKES", 2, at(2)),
        ("PUPR", 4, at(4)),
    ]
    assert [(o.skpd, o.seq) for o in changes.answers] == [("DINKES", 6)]
    assert [(o.skpd, o.seq) for o in changes.returns] == [("DINKES", 3)]


def test_rejections_and_events_naming_no_skpd_change_nothing() -> None:
    events = [
        event("C-1", None, FOLLOWED_UP, "DINKES", n=1),  # a rejection has no seq
        event("C-1", 3, DISPATCHED, None),
        event("C-1", 4, "complaint.verified", "DINKES"),
    ]
    assert not receipt_changes(events)


# --- the stored rows -----------------------------------------------------------------


def test_an_answer_before_a_redispatch_in_the_same_batch_is_the_first_answer(
    store: Store,
) -> None:
    """Dispatched at 2 (earlier batch); answered 3, returned 4, sent again 5, answered 6."""
    events = history(
        "C-2",
        [
            ("complaint.submitted", None),
            (DISPATCHED, "DINKES"),
            (FOLLOWED_UP, "DINKES"),
            (RETURNED, "DINKES"),
            (DISPATCHED, "DINKES"),
            (FOLLOWED_UP, "DINKES"),
        ],
    )
    store.write(BatchWrite(events=events[:2]))
    store.write(BatchWrite(events=events[2:]))
    assert stored(store, {"C-2"}) == {("C-2", "DINKES"): ("HSU", 2, at(2), at(3), at(4))}


def test_a_return_and_an_answer_before_any_dispatch_to_the_skpd_are_not_its_outcomes(
    store: Store,
) -> None:
    events = history(
        "C-3",
        [
            (RETURNED, "PUPR"),
            (FOLLOWED_UP, "PUPR"),
            (DISPATCHED, "PUPR"),
            (FOLLOWED_UP, "PUPR"),
        ],
    )
    store.write(BatchWrite(events=events))
    assert stored(store, {"C-3"}) == {("C-3", "PUPR"): ("HSU", 3, at(3), at(4), None)}


STEP = st.tuples(
    st.sampled_from([DISPATCHED, FOLLOWED_UP, RETURNED, "complaint.verified"]),
    st.sampled_from(["DINKES", "PUPR", None]),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    steps=st.lists(st.lists(STEP, max_size=8), min_size=1, max_size=4),
    cuts=st.lists(st.integers(min_value=1, max_value=30), max_size=6),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_any_batching_of_any_history_stores_the_receipts_by_definition(
    store: Store,
    steps: list[list[tuple[str, str | None]]],
    cuts: list[int],
    seed: int,
) -> None:
    """Histories of a few complaints, interleaved, cut into batches, each shuffled."""
    ids, stream = write_interleaved(store, history, steps, cuts, seed)
    assert stored(store, ids) == expected(stream)


def test_the_migration_derives_the_receipts_of_a_history_stored_before_it(
    store: Store,
) -> None:
    events = [
        *history(
            "M-1",
            [
                (DISPATCHED, "DINKES"),
                (RETURNED, "DINKES"),
                (DISPATCHED, "PUPR"),
                (DISPATCHED, "DINKES"),
                (FOLLOWED_UP, "DINKES"),
                (FOLLOWED_UP, "PUPR"),
            ],
        ),
        *history("M-2", [(FOLLOWED_UP, "PUPR"), (DISPATCHED, "PUPR"), (RETURNED, "PUPR")]),
        event("M-2", None, FOLLOWED_UP, "PUPR", n=1),
    ]
    store.write(BatchWrite(events=events))
    written = stored(store, {"M-1", "M-2"})
    assert written == expected(events)
    migrate_again_from(store, "0010_perf")
    assert stored(store, {"M-1", "M-2"}) == written
