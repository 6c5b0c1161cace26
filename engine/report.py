"""The per-SKPD KPI report Diskominfo is judged on (CONTRACT §6 ``report``).

Computed from the stored history, in event time: a complaint counts as *received* by an
SKPD when it was dispatched to it in the period, *followed up* when that SKPD answered
it (at any time after the dispatch), and its time to follow-up is in working days of
the complaint's region, from the first dispatch to that SKPD to its first answer.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, select

from engine.schema import clocks_table, events_table
from engine.store import Store
from workflows.policy import Policy
from workflows.sla import working_days_elapsed

__all__ = ["SkpdRow", "build_report"]

_TYPES = (
    "complaint.dispatched",
    "complaint.followed_up",
    "complaint.escalated",
    "complaint.resolved",
)


@dataclass(frozen=True)
class SkpdRow:
    """One SKPD's KPIs for the period."""

    skpd: str
    received: int
    followed_up: int
    follow_up_rate: float | None
    median_follow_up_working_days: float | None
    p90_follow_up_working_days: float | None
    open_breaches: int
    escalations: int
    settled: int

    def as_dict(self) -> dict[str, Any]:
        """The row as JSON-ready data."""
        return asdict(self)


def build_report(
    store: Store,
    policy: Policy,
    *,
    region: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> list[SkpdRow]:
    """KPIs per SKPD, for complaints of ``region`` (all if ``None``), in [since, until]."""
    tz_cache: dict[str, Any] = {}

    def local_day(at: datetime, reg: str) -> date:
        tz = tz_cache.setdefault(reg, policy.timezone(reg))
        return at.astimezone(tz).date()

    def in_period(at: datetime, reg: str) -> bool:
        day = local_day(at, reg)
        return (since is None or day >= since) and (until is None or day <= until)

    conditions: list[ColumnElement[bool]] = [events_table.c.type.in_(_TYPES)]
    if region is not None:
        conditions.append(events_table.c.region == region)
    query = (
        select(
            events_table.c.complaint_id,
            events_table.c.type,
            events_table.c.occurred_at,
            events_table.c.skpd,
            events_table.c.region,
        )
        .where(and_(*conditions))
        .order_by(events_table.c.complaint_id, events_table.c.seq)
    )
    dispatched: dict[tuple[str, str], tuple[datetime, str]] = {}
    answered: dict[tuple[str, str], datetime] = {}
    escalations: defaultdict[str, int] = defaultdict(int)
    settled: defaultdict[str, int] = defaultdict(int)
    with store.connect("building the report") as conn:
        for complaint_id, kind, occurred_at, skpd, reg in conn.execute(query):
            skpd = skpd or ""
            key = (complaint_id, skpd)
            if kind == "complaint.dispatched":
                dispatched.setdefault(key, (occurred_at, reg))
            elif kind == "complaint.followed_up":
                answered.setdefault(key, occurred_at)
            elif kind == "complaint.escalated" and in_period(occurred_at, reg):
                escalations[skpd] += 1
            elif kind == "complaint.resolved" and in_period(occurred_at, reg):
                settled[skpd] += 1
        breach_conditions: list[ColumnElement[bool]] = [
            clocks_table.c.stopped_at.is_(None),
            clocks_table.c.breached_at.is_not(None),
        ]
        if region is not None:
            breach_conditions.append(clocks_table.c.region == region)
        open_breaches: defaultdict[str, int] = defaultdict(int)
        for (skpd,) in conn.execute(select(clocks_table.c.skpd).where(and_(*breach_conditions))):
            open_breaches[skpd or ""] += 1

    received: defaultdict[str, int] = defaultdict(int)
    followed: defaultdict[str, int] = defaultdict(int)
    durations: defaultdict[str, list[int]] = defaultdict(list)
    for (complaint_id, skpd), (at, reg) in dispatched.items():
        if not in_period(at, reg):
            continue
        received[skpd] += 1
        answer = answered.get((complaint_id, skpd))
        if answer is not None and answer >= at:
            followed[skpd] += 1
            tz = tz_cache.setdefault(reg, policy.timezone(reg))
            durations[skpd].append(working_days_elapsed(at, answer, tz, policy.calendar))

    skpds = sorted((set(received) | set(open_breaches) | set(escalations) | set(settled)) - {""})
    rows = []
    for skpd in skpds:
        days = sorted(durations[skpd])
        rows.append(
            SkpdRow(
                skpd=skpd,
                received=received[skpd],
                followed_up=followed[skpd],
                follow_up_rate=round(followed[skpd] / received[skpd], 4)
                if received[skpd]
                else None,
                median_follow_up_working_days=statistics.median(days) if days else None,
                p90_follow_up_working_days=_percentile(days, 0.9),
                open_breaches=open_breaches[skpd],
                escalations=escalations[skpd],
                settled=settled[skpd],
            )
        )
    return rows


def _percentile(sorted_values: list[int], fraction: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least ``fraction`` at or below."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * fraction // 1))
    return float(sorted_values[int(rank) - 1])
