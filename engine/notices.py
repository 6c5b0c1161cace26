"""The notice table of ``laporflow notify``: stored first, claimed, then marked (CONTRACT §8).

Exactly one notice per (event, recipient, channel): :meth:`NoticeStore.add` inserts
with the unique key and ignores a row that exists, so re-reading ``lapor.events`` after a
restart (or a kill -9 before the offsets were committed) adds nothing. The sender
claims due rows with a conditional update (``attempts`` is the version), which also sets
``next_attempt_at`` to a lease: a notice in flight is never claimed twice, and one whose
sender died is retried once the lease ends. The one window left is a crash after the
channel accepted a notice and before :meth:`NoticeStore.mark_sent`: that notice goes
out again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from engine.errors import StoreError
from engine.schema import clocks_table, events_table, notices_table
from engine.store import Store
from workflows.model import Event
from workflows.notices import MissingContact, PlannedNotice

__all__ = ["ComplaintContext", "NoticeStore", "StoredNotice"]

#: Statuses of a notice row. ``obsolete``: its clock stopped before it could go out.
PENDING, SENT, FAILED, NO_CONTACT, OBSOLETE = (
    "pending",
    "sent",
    "failed",
    "no_contact",
    "obsolete",
)


@dataclass(frozen=True)
class StoredNotice:
    """A notice row, as the sender sees it."""

    id: int
    event_id: str
    complaint_id: str
    kind: str
    role: str
    channel: str
    recipient: str
    region: str | None
    skpd: str | None
    digest: bool
    due_at: datetime
    attempts: int
    event: Event


@dataclass(frozen=True)
class ComplaintContext:
    """What a message may say about a complaint beyond its event: its title, if public."""

    title: str | None
    confidential: bool


@dataclass(frozen=True)
class Added:
    """What :meth:`NoticeStore.add` inserted (rows that already existed are not counted)."""

    notices: tuple[tuple[str, str], ...]  # (channel, kind) per new notice
    missing: tuple[tuple[str, str], ...]  # (role, kind) per new missing-contact row


class NoticeStore:
    """Reads and writes ``notices`` through the engine's :class:`Store` connection."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # --- writes -----------------------------------------------------------------------

    def add(
        self,
        notices: Iterable[PlannedNotice],
        missing: Iterable[MissingContact],
        events: dict[str, Event],
        now: datetime,
    ) -> Added:
        """Store notices and missing-contact records in one transaction; existing keys are kept."""
        rows: list[dict[str, Any]] = []
        for n in notices:
            event = events[n.event_id]
            rows.append(
                _row(
                    event, n.kind, n.role, n.channel, n.recipient, n.digest, PENDING, n.due_at, now
                )
            )
        for m in missing:
            event = events[m.event_id]
            # The role is the recipient: one record per (event, role), however often replayed.
            rows.append(_row(event, m.kind, m.role, "none", m.role, False, NO_CONTACT, now, now))
        if not rows:
            return Added((), ())
        dialect_insert = pg_insert if self.store.dialect == "postgresql" else sqlite_insert
        stmt = (
            dialect_insert(notices_table)
            .on_conflict_do_nothing(index_elements=["event_id", "recipient", "channel"])
            .returning(notices_table.c.channel, notices_table.c.kind, notices_table.c.role)
        )
        try:
            with self.store.engine.begin() as conn:
                inserted = [tuple(r) for r in conn.execute(stmt, rows)]
        except SQLAlchemyError as exc:
            raise StoreError(f"storing notices failed: {exc}") from exc
        return Added(
            notices=tuple((c, k) for c, k, _ in inserted if c != "none"),
            missing=tuple((r, k) for c, k, r in inserted if c == "none"),
        )

    def claim_due(self, now: datetime, lease: timedelta, limit: int = 100) -> list[StoredNotice]:
        """Claim up to ``limit`` pending notices due at ``now``; each claim is one attempt.

        A digest notice is claimed with every other due digest notice of its recipient,
        so one mail carries them all.
        """
        t = notices_table
        due = and_(t.c.status == PENDING, t.c.due_at <= now, t.c.next_attempt_at <= now)
        with self.store.connect("reading due notices") as conn:
            rows = list(
                conn.execute(select(t).where(due).order_by(t.c.due_at, t.c.id).limit(limit))
            )
            digest_keys = {(r.channel, r.recipient) for r in rows if r.digest}
            if digest_keys:
                seen = {r.id for r in rows}
                for channel, recipient in digest_keys:
                    more = conn.execute(
                        select(t).where(
                            and_(
                                due,
                                t.c.digest.is_(True),
                                t.c.channel == channel,
                                t.c.recipient == recipient,
                            )
                        )
                    )
                    rows.extend(r for r in more if r.id not in seen)
        claimed: list[StoredNotice] = []
        try:
            with self.store.engine.begin() as conn:
                for r in rows:
                    result = conn.execute(
                        update(t)
                        .where(
                            and_(t.c.id == r.id, t.c.attempts == r.attempts, t.c.status == PENDING)
                        )
                        .values(attempts=r.attempts + 1, next_attempt_at=now + lease)
                    )
                    if result.rowcount == 1:
                        claimed.append(_stored(r, r.attempts + 1))
        except SQLAlchemyError as exc:
            raise StoreError(f"claiming notices failed: {exc}") from exc
        return claimed

    def mark_sent(self, ids: Sequence[int], now: datetime) -> None:
        """The channel accepted these notices."""
        self._set(ids, status=SENT, sent_at=now, last_error=None)

    def mark_obsolete(self, ids: Sequence[int], reason: str) -> None:
        """Not sent: the clock it was about stopped before it could go out (recorded)."""
        self._set(ids, status=OBSOLETE, last_error=reason[:2000])

    def mark_retry(self, ids: Sequence[int], error: str, next_attempt_at: datetime) -> None:
        """An attempt failed; try again at ``next_attempt_at``."""
        self._set(ids, next_attempt_at=next_attempt_at, last_error=error[:2000])

    def mark_failed(self, ids: Sequence[int], error: str) -> None:
        """The last attempt failed: the notice stays, recorded as failed."""
        self._set(ids, status=FAILED, last_error=error[:2000])

    def _set(self, ids: Sequence[int], **values: Any) -> None:
        if not ids:
            return
        try:
            with self.store.engine.begin() as conn:
                conn.execute(
                    update(notices_table).where(notices_table.c.id.in_(list(ids))).values(**values)
                )
        except SQLAlchemyError as exc:
            raise StoreError(f"updating notices failed: {exc}") from exc

    # --- reads ------------------------------------------------------------------------

    def pending_count(self) -> int:
        """Notices stored and not yet sent (nor failed)."""
        t = notices_table
        with self.store.connect("counting notices") as conn:
            return int(conn.execute(select(func.count()).where(t.c.status == PENDING)).scalar_one())

    def counts(self) -> dict[tuple[str, str], int]:
        """Notices per (status, channel)."""
        t = notices_table
        with self.store.connect("counting notices") as conn:
            rows = conn.execute(
                select(t.c.status, t.c.channel, func.count()).group_by(t.c.status, t.c.channel)
            )
            return {(status, channel): n for status, channel, n in rows}

    def by_recipient(self) -> dict[tuple[str, str, str], int]:
        """Notices per (channel, recipient, status): who was told how often."""
        t = notices_table
        with self.store.connect("counting notices") as conn:
            rows = conn.execute(
                select(t.c.channel, t.c.recipient, t.c.status, func.count()).group_by(
                    t.c.channel, t.c.recipient, t.c.status
                )
            )
            return {(c, r, s): n for c, r, s, n in rows}

    def by_role(self) -> dict[tuple[str, str, str, str], int]:
        """Notices per (role, channel, recipient, status): the demo's who-was-told table."""
        t = notices_table
        with self.store.connect("counting notices") as conn:
            rows = conn.execute(
                select(t.c.role, t.c.channel, t.c.recipient, t.c.status, func.count()).group_by(
                    t.c.role, t.c.channel, t.c.recipient, t.c.status
                )
            )
            return {(ro, c, r, s): n for ro, c, r, s, n in rows}

    def for_complaint(self, complaint_id: str) -> list[dict[str, Any]]:
        """Every notice of a complaint, oldest first, for ``laporflow status``."""
        t = notices_table
        with self.store.connect("loading notices") as conn:
            rows = conn.execute(
                select(t).where(t.c.complaint_id == complaint_id).order_by(t.c.due_at, t.c.id)
            )
            return [
                {
                    "event_id": r.event_id,
                    "kind": r.kind,
                    "role": r.role,
                    "channel": r.channel,
                    "recipient": r.recipient,
                    "status": r.status,
                    "due_at": r.due_at.isoformat(),
                    "attempts": r.attempts,
                    "sent_at": r.sent_at.isoformat() if r.sent_at else None,
                    "last_error": r.last_error,
                }
                for r in rows
            ]

    def clock_stopped_at(
        self, complaint_id: str, clock: str, started_at: datetime
    ) -> datetime | None:
        """When a complaint's clock stopped, if it is the run that began at ``started_at``."""
        t = clocks_table
        with self.store.connect("loading a clock") as conn:
            row = conn.execute(
                select(t.c.started_at, t.c.stopped_at).where(
                    and_(t.c.complaint_id == complaint_id, t.c.clock == clock)
                )
            ).first()
        if row is None or row.started_at != started_at:
            return None
        stopped: datetime | None = row.stopped_at
        return stopped

    def clock_deadline(
        self, complaint_id: str, clock: str, started_at: datetime
    ) -> datetime | None:
        """The deadline of a complaint's clock, if that clock still runs from ``started_at``."""
        t = clocks_table
        with self.store.connect("loading a clock") as conn:
            row = conn.execute(
                select(t.c.started_at, t.c.deadline).where(
                    and_(t.c.complaint_id == complaint_id, t.c.clock == clock)
                )
            ).first()
        if row is None or row.started_at != started_at:
            return None
        deadline: datetime = row.deadline
        return deadline

    def complaint_context(self, complaint_id: str) -> ComplaintContext:
        """The complaint's title from its ``complaint.submitted`` event, unless confidential.

        Unknown complaints (events from another database) get no title: safe by default.
        """
        t = events_table
        with self.store.connect("loading the submitted event") as conn:
            body = conn.execute(
                select(t.c.body)
                .where(and_(t.c.complaint_id == complaint_id, t.c.type == "complaint.submitted"))
                .limit(1)
            ).scalar_one_or_none()
        if body is None:
            return ComplaintContext(title=None, confidential=False)
        payload = json.loads(body).get("payload", {})
        confidential = bool(payload.get("confidential", False))
        title = payload.get("title")
        return ComplaintContext(
            title=None if confidential or not isinstance(title, str) else title,
            confidential=confidential,
        )


def _row(
    event: Event,
    kind: str,
    role: str,
    channel: str,
    recipient: str,
    digest: bool,
    status: str,
    due_at: datetime,
    now: datetime,
) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "complaint_id": event.complaint_id,
        "kind": kind,
        "role": role,
        "channel": channel,
        "recipient": recipient,
        "region": event.region,
        "skpd": event.skpd,
        "digest": digest,
        "status": status,
        "due_at": due_at,
        "next_attempt_at": due_at,
        "attempts": 0,
        "last_error": None,
        "event": event.model_dump_json(),
        "created_at": now,
        "sent_at": None,
    }


def _stored(row: Any, attempts: int) -> StoredNotice:
    return StoredNotice(
        id=row.id,
        event_id=row.event_id,
        complaint_id=row.complaint_id,
        kind=row.kind,
        role=row.role,
        channel=row.channel,
        recipient=row.recipient,
        region=row.region,
        skpd=row.skpd,
        digest=bool(row.digest),
        due_at=row.due_at,
        attempts=attempts,
        event=Event.model_validate_json(row.event),
    )
