"""Liaison continuity: who answered for each SKPD, and how often that changed (CONTRACT §9).

"Liaison officers should not be rotated often" is measured from the answers
(``complaint.followed_up`` events, whose actor has role ``skpd``): per region and SKPD,
the officers (actor ids) who answered in the period, how many times the answering
officer changed from one answer to the next in event-time order (a, b, a is 2 changes),
the current officer (the last to answer) and since when (the first answer of that
officer's final unbroken run of answers).

All in SQL: one range scan over the index on ``events (type, occurred_at)`` and a
``LAG`` window per SKPD. Only the period is read, so a run that began before
``since`` shows as beginning at its first answer in the period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, cast, func, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB

from engine.period import period_condition, zone_slices
from engine.schema import UTCDateTime, events_table
from engine.store import Store
from workflows.policy import Policy

__all__ = ["LiaisonRow", "build_liaisons"]

_ANSWERED = "complaint.followed_up"


@dataclass(frozen=True)
class LiaisonRow:
    """One SKPD's liaison officers in the period."""

    skpd: str
    #: Officers (actor ids) who answered, in order of their first answer in the period.
    officers: list[str]
    #: How many times the answering officer differed from the previous answer's.
    changes: int
    current: str
    current_since: datetime
    region: str
    #: Answers in the period.
    answers: int

    def as_dict(self) -> dict[str, Any]:
        """The row as JSON-ready data (instants in RFC 3339, UTC)."""
        return {
            "skpd": self.skpd,
            "officers": list(self.officers),
            "changes": self.changes,
            "current": self.current,
            "current_since": self.current_since.isoformat(),
            "region": self.region,
            "answers": self.answers,
        }


def _actor_field(dialect: str, field: str) -> ColumnElement[str]:
    """The event body's ``actor.<field>``, extracted by the database."""
    body = events_table.c.body
    if dialect == "postgresql":
        return func.jsonb_extract_path_text(cast(body, JSONB), "actor", field)
    return func.json_extract(body, f"$.actor.{field}")


def build_liaisons(
    store: Store,
    policy: Policy,
    *,
    region: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> list[LiaisonRow]:
    """Per (region, SKPD): officers, changes, current officer and since when."""
    e = events_table
    actor = _actor_field(store.dialect, "id").label("actor")
    conditions = [
        e.c.type == _ANSWERED,
        e.c.skpd.is_not(None),
        _actor_field(store.dialect, "role") == "skpd",
        period_condition(zone_slices(policy, since, until, region), e.c.region, e.c.occurred_at),
    ]
    if region is not None:
        conditions.append(e.c.region == region)
    team = (e.c.region, e.c.skpd)
    order = (e.c.occurred_at, e.c.complaint_id, e.c.seq)
    answers = (
        select(
            e.c.region,
            e.c.skpd,
            actor,
            e.c.occurred_at,
            func.lag(actor).over(partition_by=team, order_by=order).label("previous"),
            func.row_number()
            .over(partition_by=team, order_by=[c.desc() for c in order])
            .label("from_last"),
        )
        .where(and_(*conditions))
        .subquery("answers")
    )
    a = answers.c
    changed = and_(a.previous.is_not(None), a.previous != a.actor)
    run_start = case((a.previous.is_(None), a.occurred_at), (a.previous != a.actor, a.occurred_at))
    summary = select(
        a.region,
        a.skpd,
        func.count().label("answers"),
        func.sum(case((changed, 1), else_=0)).label("changes"),
        func.max(case((a.from_last == 1, a.actor))).label("current"),
        type_coerce(func.max(run_start), UTCDateTime()).label("current_since"),
    ).group_by(a.region, a.skpd)
    officers = (
        select(a.region, a.skpd, a.actor, type_coerce(func.min(a.occurred_at), UTCDateTime()))
        .group_by(a.region, a.skpd, a.actor)
        .order_by(a.region, a.skpd, func.min(a.occurred_at), a.actor)
    )
    with store.connect("building the liaison report") as conn:
        summaries = conn.execute(summary.order_by(a.skpd, a.region)).all()
        officer_lists: dict[tuple[str, str], list[str]] = {}
        for reg, skpd, officer, _first in conn.execute(officers):
            officer_lists.setdefault((reg, skpd), []).append(officer)
    return [
        LiaisonRow(
            skpd=skpd,
            officers=officer_lists.get((reg, skpd), []),
            changes=int(changes),
            current=current,
            current_since=_as_utc(since_at),
            region=reg,
            answers=int(n),
        )
        for reg, skpd, n, changes, current, since_at in summaries
    ]


def _as_utc(value: datetime | str) -> datetime:
    # Aggregates over a CASE may bypass the column type on SQLite: naive UTC comes back.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
