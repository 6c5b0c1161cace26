"""Contract tests of the notice table, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.notices import NoticeStore
from engine.store import BatchWrite, Store
from workflows.model import Actor, Event
from workflows.notices import MissingContact, PlannedNotice

T0 = datetime(2026, 3, 6, 7, 30, tzinfo=UTC)
LEASE = timedelta(seconds=60)

BACKENDS = ["sqlite", pytest.param("postgresql", marks=[pytest.mark.integration])]


@pytest.fixture(params=BACKENDS)
def notices(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NoticeStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = str(request.getfixturevalue("pg_database_url"))
    store = Store(url)
    store.migrate()
    yield NoticeStore(store)
    store.close()


def event(
    n: int, *, cid: str = "HSU-1", type_: str = "complaint.escalated", **payload: object
) -> Event:
    return Event(
        event_id=f"e-{cid}-{n}",
        type=type_,
        complaint_id=cid,
        seq=n,
        occurred_at=T0,
        recorded_at=T0,
        state="dispatched",
        previous_state="dispatched",
        region="HSU",
        skpd="PUPR",
        causation_id="timer:x",
        actor=Actor(role="system", id="sla"),
        payload=dict(payload),
    )


def planned(
    e: Event,
    recipient: str = "a@x.go.id",
    *,
    channel: str = "email",
    digest: bool = False,
    due: datetime = T0,
) -> PlannedNotice:
    return PlannedNotice(
        e.event_id,
        e.complaint_id,
        "escalation",
        "kepala_skpd",
        channel,  # type: ignore[arg-type]
        recipient,
        due,
        digest,
    )


def test_a_notice_is_stored_once_however_often_its_event_is_read(notices: NoticeStore) -> None:
    e = event(1)
    missing = MissingContact(e.event_id, e.complaint_id, "escalation", "sekda", "HSU", "PUPR")
    first = notices.add(
        [planned(e), planned(e, "wa", channel="webhook")], [missing], {e.event_id: e}, T0
    )
    assert sorted(first.notices) == [("email", "escalation"), ("webhook", "escalation")]
    assert first.missing == (("sekda", "escalation"),)
    again = notices.add(
        [planned(e), planned(e, "wa", channel="webhook")], [missing], {e.event_id: e}, T0
    )
    assert again.notices == () and again.missing == ()
    assert notices.counts() == {
        ("pending", "email"): 1,
        ("pending", "webhook"): 1,
        ("no_contact", "none"): 1,
    }
    assert notices.pending_count() == 2


def test_claim_respects_due_time_and_lease_and_is_exclusive(notices: NoticeStore) -> None:
    e1, e2 = event(1), event(2)
    notices.add(
        [planned(e1), planned(e2, due=T0 + timedelta(hours=1))],
        [],
        {e1.event_id: e1, e2.event_id: e2},
        T0,
    )
    (claimed,) = notices.claim_due(T0, LEASE)
    assert (claimed.event_id, claimed.attempts, claimed.event) == (e1.event_id, 1, e1)
    # In flight: nobody else claims it before the lease ends.
    assert notices.claim_due(T0 + timedelta(seconds=30), LEASE) == []
    # The sender died: after the lease it is claimed again, as attempt 2.
    (again,) = notices.claim_due(T0 + timedelta(seconds=61), LEASE)
    assert again.id == claimed.id and again.attempts == 2
    notices.mark_sent([again.id], T0 + timedelta(seconds=62))
    (second,) = notices.claim_due(T0 + timedelta(hours=2), LEASE)
    assert second.event_id == e2.event_id
    notices.mark_sent([second.id], T0 + timedelta(hours=2))
    assert notices.claim_due(T0 + timedelta(hours=3), LEASE) == []


def test_retry_then_failed_is_kept_and_visible(notices: NoticeStore) -> None:
    e = event(1)
    notices.add([planned(e)], [], {e.event_id: e}, T0)
    (n,) = notices.claim_due(T0, LEASE)
    notices.mark_retry([n.id], "smtp down", T0 + timedelta(seconds=5))
    assert notices.claim_due(T0 + timedelta(seconds=4), LEASE) == []
    (n,) = notices.claim_due(T0 + timedelta(seconds=5), LEASE)
    notices.mark_failed([n.id], "smtp down for good")
    assert notices.claim_due(T0 + timedelta(days=1), LEASE) == []
    (row,) = notices.for_complaint("HSU-1")
    assert (row["status"], row["attempts"], row["last_error"]) == (
        "failed",
        2,
        "smtp down for good",
    )
    assert notices.pending_count() == 0


def test_digest_notices_of_a_recipient_are_claimed_together(notices: NoticeStore) -> None:
    events = {e.event_id: e for e in (event(i, cid=f"HSU-{i}") for i in range(1, 6))}
    rows = [planned(e, digest=True) for e in events.values()]
    rows.append(planned(event(9), "other@x.go.id"))
    events[event(9).event_id] = event(9)
    notices.add(rows, [], events, T0)
    claimed = notices.claim_due(T0, LEASE, limit=2)
    assert sorted(n.complaint_id for n in claimed if n.digest) == [f"HSU-{i}" for i in range(1, 6)]


def test_complaint_context_reads_the_submitted_title_unless_confidential(
    notices: NoticeStore,
) -> None:
    public = event(
        1, cid="HSU-P", type_="complaint.submitted", title="Jalan rusak", confidential=False
    )
    secret = event(1, cid="HSU-S", type_="complaint.submitted", confidential=True)
    notices.store.write(BatchWrite(events=[public, secret]))
    assert notices.complaint_context("HSU-P").title == "Jalan rusak"
    ctx = notices.complaint_context("HSU-S")
    assert (ctx.title, ctx.confidential) == (None, True)
    assert notices.complaint_context("HSU-UNKNOWN").title is None
