"""The report's SQL: per-SKPD counts and follow-up spans of one period (CONTRACT §6).

Every query is bounded by the period, between UTC instants computed from the local dates
in each region's time zone. Received complaints, their answers and returns are the
period's receipts (``skpd_receipts``: engine/receipts), read through their dispatch
instant; settled complaints are the period's settlements (``settlements``:
engine/settlements), read through their resolution instant; both tables are kept by
``Store.write`` as events are written. Escalations are the period's events, found through
the ``(type, occurred_at)`` index. The cost therefore grows with the period, not with
everything ever stored. Open breaches are a "now" figure read from the clock rows.

The definitions, per SKPD (each counted in SQL):

- *received*: complaints whose first dispatch to the SKPD falls in the period;
- *followed_up*: of those, the ones the SKPD answered (its first ``complaint.followed_up``
  after that dispatch, whenever it came);
- *returned*: of those, the ones the SKPD returned as not its authority
  (``complaint.returned`` naming it) and never answered; a complaint returned, sent back
  to it and then answered counts as followed up, so ``followed_up <= received - returned``;
- *escalations*: ``complaint.escalated`` events in the period naming the SKPD;
- *settled*: distinct complaints whose latest resolution names the SKPD, falls in the
  period, and that are still resolved; *auto_closed*: how many of those the system
  resolved (actor role ``system``, id ``auto_close``);
- *open_breaches*: clocks breached and still running now, held by the SKPD.

Only the follow-up spans (first dispatch and first answer instants, one row per answered
complaint received in the period) leave the database uncounted: working days need the
region's calendar, which is Python's job (:func:`engine.report.aggregate`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    case,
    func,
    or_,
    select,
    true,
)

from engine.schema import clocks_table, events_table, settlements_table, skpd_receipts_table
from workflows.policy import Policy

__all__ = [
    "FollowUpSpan",
    "Queries",
    "ReportFacts",
    "SkpdCounts",
    "Window",
    "fetch_report_facts",
    "period_windows",
    "report_queries",
]

ESCALATED = "complaint.escalated"
_new_tuple = tuple.__new__


@dataclass(frozen=True)
class Window:
    """The period as UTC instants ``[start, end)`` for the events of some regions.

    ``regions`` lists the regions it applies to; ``None`` means every region not in
    ``other_regions`` (those sharing the default time zone, listed in the policy or not).
    An open side (``None``) is unbounded.
    """

    regions: tuple[str, ...] | None
    other_regions: tuple[str, ...]
    start: datetime | None
    end: datetime | None


@dataclass(frozen=True)
class SkpdCounts:
    """One SKPD's counts for the period, as the database counted them."""

    skpd: str
    received: int = 0
    followed_up: int = 0
    returned: int = 0
    escalations: int = 0
    settled: int = 0
    auto_closed: int = 0
    open_breaches: int = 0


class FollowUpSpan(NamedTuple):
    """A complaint received in the period and answered: first dispatch to first answer.

    A named tuple, not a dataclass: a month holds one per answered complaint (80,000 at
    1,000,000 stored), and a frozen dataclass costs several times more to build.
    """

    skpd: str
    region: str
    dispatched_at: datetime
    answered_at: datetime


@dataclass(frozen=True)
class Queries:
    """The report's statements (:func:`report_queries`)."""

    received: Select[Any]
    spans: Select[Any]
    escalations: Select[Any]
    settled: Select[Any]
    open_breaches: Select[Any]


@dataclass(frozen=True)
class ReportFacts:
    """Everything the report needs from the database: counts and follow-up spans.

    ``counts`` are sorted by SKPD; ``spans`` come in no particular order (the report
    sorts what it derives from them).
    """

    counts: tuple[SkpdCounts, ...] = ()
    spans: tuple[FollowUpSpan, ...] = ()


def period_windows(
    policy: Policy,
    *,
    region: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> tuple[Window, ...]:
    """The local dates ``[since, until]`` as UTC windows, one per time zone in use.

    With ``region`` given, one window in its zone. Otherwise one window per zone of the
    policy's listed regions plus one, for every other region, in the default zone.
    """

    def bounds(zone_region: str | None) -> tuple[datetime | None, datetime | None]:
        tz = policy.timezone(zone_region)
        start = None if since is None else datetime.combine(since, time.min, tzinfo=tz)
        end = (
            None
            if until is None
            else datetime.combine(until + timedelta(days=1), time.min, tzinfo=tz)
        )
        return start, end

    if region is not None:
        return (Window((region,), (), *bounds(region)),)
    if since is None and until is None:
        return (Window(None, (), None, None),)
    default_zone = policy.timezone(None).key
    by_zone: defaultdict[str, list[str]] = defaultdict(list)
    for name in sorted(policy.regions):
        zone = policy.timezone(name).key
        if zone != default_zone:
            by_zone[zone].append(name)
    others = tuple(name for names in by_zone.values() for name in names)
    windows = [Window(tuple(names), (), *bounds(names[0])) for names in by_zone.values()]
    windows.append(Window(None, others, *bounds(None)))
    return tuple(windows)


def report_queries(windows: Sequence[Window], region: str | None = None) -> Queries:
    """The report's SQL statements, by name (the same on both backends).

    ``received`` gives (skpd, received, followed_up, returned); ``spans`` one row per
    answered complaint received in the period: (skpd, region, dispatched_at,
    answered_at); ``escalations`` (skpd, count); ``settled`` (skpd, settled,
    auto_closed); ``open_breaches`` (skpd, count). Exposed so their query plans can be
    checked (tests, ``bench/report_bench.py``).
    """
    escalated = events_table.alias("escalated")
    clocks = clocks_table
    breach_conditions: list[ColumnElement[bool]] = [
        clocks.c.stopped_at.is_(None),
        clocks.c.breached_at.is_not(None),
        clocks.c.skpd.is_not(None),
    ]
    if region is not None:
        breach_conditions.append(clocks.c.region == region)
    return Queries(
        received=_received_query(windows),
        spans=_spans_query(windows),
        escalations=select(escalated.c.skpd, func.count())
        .where(
            escalated.c.type == ESCALATED,
            escalated.c.skpd.is_not(None),
            _in_period(escalated.c.occurred_at, escalated.c.region, windows),
        )
        .group_by(escalated.c.skpd),
        settled=_settled_query(windows),
        open_breaches=select(clocks.c.skpd, func.count())
        .where(*breach_conditions)
        .group_by(clocks.c.skpd),
    )


def fetch_report_facts(
    conn: Connection,
    windows: Sequence[Window],
    *,
    region: str | None = None,
) -> ReportFacts:
    """Count the period's KPIs per SKPD, and fetch its follow-up spans.

    ``windows`` is the period (:func:`period_windows`); ``region`` restricts the open
    breaches (a "now" figure, outside any period) to one region.
    """
    queries = report_queries(windows, region)
    counts: defaultdict[str, dict[str, int]] = defaultdict(dict)
    for skpd, received, followed, returned in conn.execute(queries.received):
        counts[skpd].update(received=received, followed_up=followed, returned=int(returned))
    # tuple.__new__ builds each named tuple in C; calling the class runs its Python
    # __new__, once per answered complaint of the period.
    spans = [_new_tuple(FollowUpSpan, row) for row in _fetch_all(conn, queries.spans)]
    for skpd, n in conn.execute(queries.escalations):
        counts[skpd]["escalations"] = n
    for skpd, settled, auto_closed in conn.execute(queries.settled):
        counts[skpd].update(settled=settled, auto_closed=int(auto_closed))
    for skpd, n in conn.execute(queries.open_breaches):
        counts[skpd]["open_breaches"] = n
    return ReportFacts(
        counts=tuple(SkpdCounts(skpd, **values) for skpd, values in sorted(counts.items())),
        spans=tuple(spans),
    )


def _fetch_all(conn: Connection, statement: Select[Any]) -> Sequence[Sequence[Any]]:
    """Every row of ``statement`` at once (iterating would fetch them one by one).

    On PostgreSQL, as the driver gives them: the session runs in UTC, so its timestamps
    are already the aware UTC datetimes ``UTCDateTime`` returns, and SQLAlchemy's row
    processing was half the cost of reading a month's spans (18,400 rows: 62-130 against
    51-57 ms). SQLite's timestamps are text until SQLAlchemy converts them.
    """
    result = conn.execute(statement)
    if conn.dialect.name != "postgresql":
        return result.all()
    with result:
        rows: Sequence[Sequence[Any]] = result.cursor.fetchall()
    return rows


def _in_period(
    at: ColumnElement[Any], reg: ColumnElement[Any], windows: Sequence[Window]
) -> ColumnElement[bool]:
    """Rows whose instant ``at`` in region ``reg`` falls in the period: per-zone windows,
    plus overall bounds for the index."""
    branches = []
    for w in windows:
        conditions: list[ColumnElement[bool]] = []
        if w.regions is not None:
            conditions.append(reg.in_(w.regions))
        if w.other_regions:
            conditions.append(reg.not_in(w.other_regions))
        if w.start is not None:
            conditions.append(at >= w.start)
        if w.end is not None:
            conditions.append(at < w.end)
        branches.append(and_(true(), *conditions))
    overall: list[ColumnElement[bool]] = []
    # The outermost instants, so the planner gets one plain range on the index too.
    if windows and all(w.start is not None for w in windows):
        overall.append(at >= min(w.start for w in windows if w.start is not None))
    if windows and all(w.end is not None for w in windows):
        overall.append(at < max(w.end for w in windows if w.end is not None))
    return and_(true(), *overall, or_(*branches)) if branches else and_(true(), *overall)


def _received_query(windows: Sequence[Window]) -> Select[Any]:
    """Per SKPD: the complaints received in the period, answered, and returned.

    The rows are the period's receipts (engine/receipts), read through
    ``ix_skpd_receipts_dispatched``.
    """
    r = skpd_receipts_table
    # Returned and never answered: a complaint returned, sent back and answered counts
    # as followed up, so followed_up <= received - returned.
    returned = case((and_(r.c.returned_at.is_not(None), r.c.answered_at.is_(None)), 1), else_=0)
    return (
        select(r.c.skpd, func.count(), func.count(r.c.answered_at), func.sum(returned))
        .where(_in_period(r.c.dispatched_at, r.c.region, windows))
        .group_by(r.c.skpd)
    )


def _spans_query(windows: Sequence[Window]) -> Select[Any]:
    """The answered receipts of the period: skpd, region, dispatched_at, answered_at.

    Unsorted: the report counts them per SKPD and sorts only the working days it
    derives, so sorting the rows in the database was a cost nobody used.
    """
    r = skpd_receipts_table
    return select(r.c.skpd, r.c.region, r.c.dispatched_at, r.c.answered_at).where(
        _in_period(r.c.dispatched_at, r.c.region, windows), r.c.answered_at.is_not(None)
    )


def _settled_query(windows: Sequence[Window]) -> Select[Any]:
    """Per SKPD: complaints whose latest resolution is in the period and still stands.

    The rows are the period's settlements (engine/settlements), read through
    ``ix_settlements_resolved``.
    """
    t = settlements_table
    return (
        select(t.c.skpd, func.count(), func.sum(case((t.c.auto_closed, 1), else_=0)))
        .where(t.c.skpd.is_not(None), _in_period(t.c.resolved_at, t.c.region, windows))
        .group_by(t.c.skpd)
    )
