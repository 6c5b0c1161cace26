"""Liaison continuity: who answered for each SKPD, and how often that changed (CONTRACT §9).

"Liaison officers should not be rotated often" is measured from the answers
(``complaint.followed_up`` events, whose actor has role ``skpd``): per region and SKPD,
the officers (actor ids) who answered in the period, how many times the answering
officer changed from one answer to the next in event-time order (a, b, a is 2 changes),
the current officer (the last to answer) and since when (the first answer of that
officer's final unbroken run of answers).

All in SQL: one range scan over the index on ``events (type, occurred_at)`` and a
``LAG`` window per SKPD. Only the period is read, so a run that began before
``since`` shows as beginning at its first answer in the period; such rows say so
(``current_since_clipped``): widen the period to see the whole tenure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, cast, func, select, type_coerce
from sqlalchemy.dialects.postgresql import JSON

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
    #: The current officer already answered first in the period: the run may have
    #: begun before ``since`` (only the period is read).
    current_since_clipped: bool = False

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
            "current_since_clipped": self.current_since_clipped,
        }


def _actor_field(dialect: str, field: str) -> ColumnElement[str]:
    """The event body's ``actor.<field>``, extracted by the database."""
    body = events_table.c.body
    if dialect == "postgresql":
        # json, not jsonb: one extraction per row is cheaper without jsonb's conversion.
        return func.json_extract_path_text(cast(body, JSON), "actor", field)
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
    conditions = [
        e.c.type == _ANSWERED,
        e.c.skpd.is_not(None),
        _actor_field(store.dialect, "role") == "skpd",
        period_condition(zone_slices(policy, since, until, region), e.c.region, e.c.occurred_at),
    ]
    if region is not None:
        conditions.append(e.c.region == region)
    # The period's answers, each body parsed once; then the windows over them.
    period = (
        select(
            e.c.region,
            e.c.skpd,
            _actor_field(store.dialect, "id").label("actor"),
            e.c.occurred_at,
            e.c.complaint_id,
            e.c.seq,
        )
        .where(and_(*conditions))
        .subquery("period")
    )
    p = period.c
    team = (p.region, p.skpd)
    order = (p.occurred_at, p.complaint_id, p.seq)
    answers = select(
        p.region,
        p.skpd,
        p.actor,
        p.occurred_at,
        func.lag(p.actor).over(partition_by=team, order_by=order).label("previous"),
        func.row_number()
        .over(partition_by=team, order_by=[c.desc() for c in order])
        .label("from_last"),
    ).subquery("answers")
    a = answers.c
    changed = and_(a.previous.is_not(None), a.previous != a.actor)
    run_start = case((a.previous.is_(None), a.occurred_at), (a.previous != a.actor, a.occurred_at))
    # One row per (region, SKPD, officer): the team's totals are sums over its officers,
    # and the current officer's last run start is the start of the team's final run.
    per_officer = (
        select(
            a.region,
            a.skpd,
            a.actor,
            func.count().label("answers"),
            func.sum(case((changed, 1), else_=0)).label("changes"),
            func.max(case((a.from_last == 1, 1), else_=0)).label("is_current"),
            type_coerce(func.min(a.occurred_at), UTCDateTime()).label("first"),
            type_coerce(func.max(run_start), UTCDateTime()).label("run_start"),
        )
        .group_by(a.region, a.skpd, a.actor)
        .order_by(a.skpd, a.region, func.min(a.occurred_at), a.actor)
    )
    teams: dict[tuple[str, str], dict[str, Any]] = {}
    with store.connect("building the liaison report") as conn:
        for reg, skpd, officer, n, changes, is_current, first, started in conn.execute(per_officer):
            team_row = teams.setdefault(
                (skpd, reg),
                {"officers": [], "answers": 0, "changes": 0, "first": _as_utc(first)},
            )
            team_row["officers"].append(officer)
            team_row["answers"] += int(n)
            team_row["changes"] += int(changes)
            team_row["first"] = min(team_row["first"], _as_utc(first))
            if is_current:
                team_row["current"], team_row["since"] = officer, _as_utc(started)
    return [
        LiaisonRow(
            skpd=skpd,
            officers=row["officers"],
            changes=row["changes"],
            current=row["current"],
            current_since=row["since"],
            region=reg,
            answers=row["answers"],
            current_since_clipped=since is not None and row["since"] == row["first"],
        )
        for (skpd, reg), row in teams.items()
    ]


def _as_utc(value: datetime | str) -> datetime:
    # Aggregates over a CASE may bypass the column type on SQLite: naive UTC comes back.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
