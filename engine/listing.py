"""A paged list of complaints for the admin (``GET /api/v1/complaints``, CONTRACT §9).

Keyset paging on the primary key (``complaint_id``): a page is one index range read,
whatever page it is, and complaints changing state while someone pages never make a
row appear twice. The cursor is opaque to clients (URL-safe base64 of the last id);
a cursor that does not decode is a :class:`~engine.errors.QueryError`.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, select, true, type_coerce

from engine.errors import QueryError
from engine.schema import UTCDateTime, clocks_table, complaints_table, events_table
from engine.store import Store

__all__ = [
    "MAX_PAGE",
    "ComplaintPage",
    "ComplaintSummary",
    "known_regions",
    "latest_submission",
    "list_complaints",
]

#: The largest page a client may ask for.
MAX_PAGE = 200
_CURSOR_VERSION = "v1:"


@dataclass(frozen=True)
class ComplaintSummary:
    """One complaint in a listing."""

    complaint_id: str
    state: str
    region: str
    skpd: str | None
    category: str
    seq: int
    escalation_level: int
    #: Some clock is past its deadline and still running.
    breached: bool
    created_at: datetime
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready data (instants in RFC 3339)."""
        return {
            "complaint_id": self.complaint_id,
            "state": self.state,
            "region": self.region,
            "skpd": self.skpd,
            "category": self.category,
            "seq": self.seq,
            "escalation_level": self.escalation_level,
            "breached": self.breached,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True)
class ComplaintPage:
    """A page of complaints and the cursor of the next one (``None``: last page)."""

    items: list[ComplaintSummary] = field(default_factory=list)
    next_cursor: str | None = None


def encode_cursor(complaint_id: str) -> str:
    """The opaque cursor that continues after ``complaint_id``."""
    raw = (_CURSOR_VERSION + complaint_id).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The complaint id a cursor continues after; :class:`QueryError` if it is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise QueryError("the cursor is not one this API gave out", cursor=cursor) from exc
    if not raw.startswith(_CURSOR_VERSION) or len(raw) == len(_CURSOR_VERSION):
        raise QueryError("the cursor is not one this API gave out", cursor=cursor)
    return raw[len(_CURSOR_VERSION) :]


def list_complaints(
    store: Store,
    *,
    state: str | None = None,
    skpd: str | None = None,
    region: str | None = None,
    breached: bool | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> ComplaintPage:
    """Complaints in id order matching every given filter, ``limit`` at a time."""
    if not 1 <= limit <= MAX_PAGE:
        raise QueryError(f"limit must be 1..{MAX_PAGE}", limit=limit)
    c = complaints_table
    k = clocks_table
    open_breach = exists().where(
        and_(
            k.c.complaint_id == c.c.complaint_id,
            k.c.breached_at.is_not(None),
            k.c.stopped_at.is_(None),
        )
    )
    conditions: list[ColumnElement[bool]] = []
    if state is not None:
        conditions.append(c.c.state == state)
    if skpd is not None:
        conditions.append(c.c.skpd == skpd)
    if region is not None:
        conditions.append(c.c.region == region)
    if breached is not None:
        conditions.append(open_breach if breached else ~open_breach)
    if cursor is not None:
        conditions.append(c.c.complaint_id > decode_cursor(cursor))
    query = (
        select(
            c.c.complaint_id,
            c.c.state,
            c.c.region,
            c.c.skpd,
            c.c.category,
            c.c.seq,
            c.c.escalation_level,
            open_breach.label("breached"),
            c.c.created_at,
            c.c.updated_at,
        )
        .where(and_(true(), *conditions))
        .order_by(c.c.complaint_id)
        .limit(limit + 1)
    )
    with store.connect("listing complaints") as conn:
        rows = conn.execute(query).all()
    items = [
        ComplaintSummary(
            complaint_id=row.complaint_id,
            state=row.state,
            region=row.region,
            skpd=row.skpd,
            category=row.category,
            seq=row.seq,
            escalation_level=row.escalation_level,
            breached=bool(row.breached),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
        for row in rows[:limit]
    ]
    more = len(rows) > limit
    return ComplaintPage(items, encode_cursor(items[-1].complaint_id) if more else None)


def known_regions(store: Store) -> list[str]:
    """Every region with a stored complaint, sorted (for the admin's region selector)."""
    c = complaints_table
    with store.connect("listing regions") as conn:
        return [r for (r,) in conn.execute(select(c.c.region).distinct().order_by(c.c.region))]


def latest_submission(store: Store) -> datetime | None:
    """When the newest complaint was submitted (event time), or ``None`` with none stored."""
    e = events_table
    with store.connect("finding the latest submission") as conn:
        value = conn.execute(
            select(type_coerce(func.max(e.c.occurred_at), UTCDateTime())).where(
                e.c.type == "complaint.submitted"
            )
        ).scalar_one()
    if value is None:
        return None
    at: datetime = value
    return at
