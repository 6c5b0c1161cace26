"""The LAPOR! feed's state in the engine's database (tables in :mod:`engine.schema`).

* the poller's cursor, saved in the same transaction as the statuses of the page it
  read, and only after that page's commands were produced and flushed;
* the last upstream status per tracking ID (what tells a status change from a re-poll);
* webhook deliveries already taken (a repeated delivery is acknowledged, not re-read);
* the sync-back's pushes: ``pushed`` or ``failed``, with the body to retry a failed one.

SQLAlchemy errors are translated into :class:`~engine.errors.StoreError` here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, and_, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from engine.errors import StoreError
from engine.schema import (
    lapor_cursor_table,
    lapor_deliveries_table,
    lapor_pushes_table,
    lapor_reports_table,
)
from engine.store import Store

__all__ = ["FeedStore", "PushRecord", "SeenReport"]


@dataclass(frozen=True)
class SeenReport:
    """A report's upstream status as the feed last took it."""

    tracking_id: str
    status: str
    upstream_updated_at: datetime


@dataclass(frozen=True)
class PushRecord:
    """One push of the sync-back and how it went."""

    event_id: str
    complaint_id: str
    push_type: str
    outcome: str
    attempts: int
    last_error: str | None
    body: str
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        """For ``laporflow status --json`` (the body is not repeated)."""
        return {
            "event_id": self.event_id,
            "type": self.push_type,
            "outcome": self.outcome,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "updated_at": self.updated_at.isoformat(),
        }


class FeedStore:
    """Reads and writes of the feed's tables, over the engine's :class:`Store`."""

    def __init__(self, store: Store, feed: str = "default") -> None:
        self.store = store
        self.feed = feed

    @contextmanager
    def _begin(self, what: str) -> Iterator[Connection]:
        try:
            with self.store.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"{what} failed: {exc}") from exc

    def _upsert(
        self,
        conn: Connection,
        table: Table,
        rows: list[dict[str, Any]],
        keys: Sequence[str],
        *,
        keep: Sequence[str] = (),
    ) -> None:
        if not rows:
            return
        dialect_insert = pg_insert if self.store.dialect == "postgresql" else sqlite_insert
        stmt = dialect_insert(table)
        skip = set(keys) | set(keep)
        updates = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in skip}
        if updates:
            stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_=updates)
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
        conn.execute(stmt, rows)

    # --- the poller -------------------------------------------------------------------

    def cursor(self) -> str | None:
        """Where the poller resumes (``None``: from the beginning)."""
        table = lapor_cursor_table
        with self.store.connect("reading the LAPOR! cursor") as conn:
            return conn.execute(
                select(table.c.cursor).where(table.c.feed == self.feed)
            ).scalar_one_or_none()

    def last_poll(self) -> datetime | None:
        """When a poll last succeeded."""
        table = lapor_cursor_table
        with self.store.connect("reading the LAPOR! cursor") as conn:
            return conn.execute(
                select(table.c.polled_at).where(table.c.feed == self.feed)
            ).scalar_one_or_none()

    def seen(self, tracking_ids: Iterable[str]) -> dict[str, SeenReport]:
        """The last status taken for each known tracking ID among ``tracking_ids``."""
        ids = sorted(set(tracking_ids))
        if not ids:
            return {}
        table = lapor_reports_table
        with self.store.connect("reading LAPOR! statuses") as conn:
            rows = conn.execute(
                select(table.c.tracking_id, table.c.status, table.c.upstream_updated_at).where(
                    table.c.tracking_id.in_(ids)
                )
            )
            return {r.tracking_id: SeenReport(*r) for r in rows}

    def save(
        self,
        reports: Sequence[SeenReport],
        *,
        cursor: str | None,
        move_cursor: bool,
        delivery_id: str | None = None,
        now: datetime | None = None,
    ) -> None:
        """Store the statuses taken (and the cursor, the delivery) in one transaction."""
        now = now or datetime.now(UTC)
        with self._begin("saving LAPOR! feed progress") as conn:
            self._upsert(
                conn,
                lapor_reports_table,
                [
                    {
                        "tracking_id": r.tracking_id,
                        "status": r.status,
                        "upstream_updated_at": r.upstream_updated_at,
                        "first_seen_at": now,
                        "seen_at": now,
                    }
                    for r in reports
                ],
                ("tracking_id",),
                keep=("first_seen_at",),
            )
            if move_cursor:
                self._upsert(
                    conn,
                    lapor_cursor_table,
                    [{"feed": self.feed, "cursor": cursor, "polled_at": now}],
                    ("feed",),
                )
            if delivery_id is not None:
                self._upsert(
                    conn,
                    lapor_deliveries_table,
                    [{"delivery_id": delivery_id, "received_at": now}],
                    ("delivery_id",),
                    keep=("received_at",),
                )

    def delivery_seen(self, delivery_id: str) -> bool:
        """True when a webhook delivery with this id was already taken."""
        table = lapor_deliveries_table
        with self.store.connect("reading LAPOR! deliveries") as conn:
            found = conn.execute(
                select(table.c.delivery_id).where(table.c.delivery_id == delivery_id)
            ).first()
            return found is not None

    # --- the sync-back ----------------------------------------------------------------

    def known(self, tracking_ids: Iterable[str]) -> set[str]:
        """The tracking IDs that came in through the feed."""
        return set(self.seen(tracking_ids))

    def push_outcomes(self, event_ids: Iterable[str]) -> dict[str, str]:
        """``pushed`` or ``failed`` for each event id already handled."""
        ids = sorted(set(event_ids))
        if not ids:
            return {}
        table = lapor_pushes_table
        with self.store.connect("reading LAPOR! pushes") as conn:
            rows = conn.execute(
                select(table.c.event_id, table.c.outcome).where(table.c.event_id.in_(ids))
            )
            return {event_id: outcome for event_id, outcome in rows}

    def record_push(
        self,
        *,
        event_id: str,
        complaint_id: str,
        push_type: str,
        outcome: str,
        attempts: int,
        last_error: str | None,
        body: str,
    ) -> None:
        """Record (or update) one push; attempts add up across retries."""
        table = lapor_pushes_table
        now = datetime.now(UTC)
        with self._begin("recording a LAPOR! push") as conn:
            before = conn.execute(
                select(table.c.attempts).where(table.c.event_id == event_id)
            ).scalar_one_or_none()
            self._upsert(
                conn,
                table,
                [
                    {
                        "event_id": event_id,
                        "complaint_id": complaint_id,
                        "push_type": push_type,
                        "outcome": outcome,
                        "attempts": (before or 0) + attempts,
                        "last_error": last_error,
                        "body": body,
                        "updated_at": now,
                    }
                ],
                ("event_id",),
            )

    def failed_pushes(self, limit: int = 100, max_attempts: int = 50) -> list[PushRecord]:
        """Failed pushes to try again, oldest first."""
        table = lapor_pushes_table
        with self.store.connect("reading failed LAPOR! pushes") as conn:
            rows = conn.execute(
                select(table)
                .where(and_(table.c.outcome == "failed", table.c.attempts < max_attempts))
                .order_by(table.c.updated_at)
                .limit(limit)
            )
            return [PushRecord(**row._mapping) for row in rows]

    def pushes_for(self, complaint_id: str) -> list[PushRecord]:
        """Every push of one complaint, in order."""
        table = lapor_pushes_table
        with self.store.connect("reading LAPOR! pushes") as conn:
            rows = conn.execute(
                select(table)
                .where(table.c.complaint_id == complaint_id)
                .order_by(table.c.updated_at, table.c.event_id)
            )
            return [PushRecord(**row._mapping) for row in rows]

    def pushed_types(self, complaint_ids: Iterable[str]) -> set[tuple[str, str]]:
        """(complaint id, push type) pairs pushed upstream: their echo is not a change."""
        ids = sorted(set(complaint_ids))
        if not ids:
            return set()
        table = lapor_pushes_table
        with self.store.connect("reading LAPOR! pushes") as conn:
            rows = conn.execute(
                select(table.c.complaint_id, table.c.push_type).where(
                    and_(table.c.complaint_id.in_(ids), table.c.outcome == "pushed")
                )
            )
            return {(c, t) for c, t in rows}

    def push_counts(self) -> dict[str, int]:
        """Pushes per outcome (for the gauges)."""
        table = lapor_pushes_table
        with self.store.connect("counting LAPOR! pushes") as conn:
            rows = conn.execute(select(table.c.outcome, func.count()).group_by(table.c.outcome))
            return {outcome: int(n) for outcome, n in rows}
