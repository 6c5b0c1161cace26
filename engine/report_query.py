"""The report's SQL: per-SKPD counts and follow-up spans of one period (CONTRACT §6).

Every query starts from the events of the period, found through the ``(type,
occurred_at)`` index between UTC instants computed from the local dates in each region's
time zone. What else it needs about a complaint (its first dispatch to the SKPD, that
SKPD's first answer or return after it, a later resolution) is an index probe on
``(complaint_id, type, skpd, seq)``, written as a correlated scalar subquery so that the
plan stays a per-row probe and never becomes a join over the whole history. The cost
therefore grows with the period's events, not with everything ever stored. Open breaches
are a "now" figure read from the clock rows.

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
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    case,
    cast,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.expression import FromClause

from engine.schema import clocks_table, complaints_table, events_table
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

DISPATCHED = "complaint.dispatched"
FOLLOWED_UP = "complaint.followed_up"
RETURNED = "complaint.returned"
ESCALATED = "complaint.escalated"
RESOLVED = "complaint.resolved"
#: The resolver the engine names when a complainant stays silent (CONTRACT §4), and the
#: prefix of the command id its auto-close timer gives that resolution.
AUTO_CLOSE_ROLE = "system"
AUTO_CLOSE_ID = "auto_close"


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


@dataclass(frozen=True)
class FollowUpSpan:
    """A complaint received in the period and answered: first dispatch to first answer."""

    skpd: str
    region: str
    dispatched_at: datetime
    answered_at: datetime


@dataclass(frozen=True)
class Queries:
    """The report's statements (:func:`report_queries`)."""

    received: Select[Any]
    escalations: Select[Any]
    settled: Select[Any]
    open_breaches: Select[Any]


@dataclass(frozen=True)
class ReportFacts:
    """Everything the report needs from the database: counts and follow-up spans."""

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


def report_queries(dialect: str, windows: Sequence[Window], region: str | None = None) -> Queries:
    """The report's SQL statements, by name, for a database of ``dialect``.

    ``received`` gives one row per complaint received in the period: (skpd, region,
    dispatched_at, answered_at) and its SKPD's (received, followed_up, returned);
    ``escalations`` (skpd, count); ``settled`` (skpd, settled, auto_closed);
    ``open_breaches`` (skpd, count). Exposed so their query plans
    can be checked (tests, ``bench/report_bench.py``).
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
        escalations=select(escalated.c.skpd, func.count())
        .where(
            escalated.c.type == ESCALATED,
            escalated.c.skpd.is_not(None),
            _in_period(escalated, windows),
        )
        .group_by(escalated.c.skpd),
        settled=_settled_query(dialect, windows),
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
    queries = report_queries(conn.dialect.name, windows, region)
    counts: defaultdict[str, dict[str, int]] = defaultdict(dict)
    spans = []
    for skpd, reg, dispatched_at, answered_at, received, followed, returned in conn.execute(
        queries.received
    ):
        counts[skpd].update(received=received, followed_up=followed, returned=int(returned))
        if answered_at is not None:
            spans.append(FollowUpSpan(skpd, reg, dispatched_at, answered_at))
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


def _in_period(table: FromClause, windows: Sequence[Window]) -> ColumnElement[bool]:
    """``table``'s events in the period: per-zone windows, plus overall index bounds."""
    at, reg = table.c.occurred_at, table.c.region
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
    """One row per complaint received in the period, per SKPD, with its SKPD's counts.

    Columns: skpd, region, dispatched_at, answered_at (the SKPD's first answer after
    the dispatch, NULL if none), then the SKPD's received, followed_up and returned,
    counted over the rows (window aggregates), so the counts and the spans come from
    one evaluation. Each lookup into a complaint's other events is an index probe on
    ``ix_events_complaint_type``.
    """
    d = events_table.alias("d")
    earlier = events_table.alias("earlier")
    first_dispatch = (
        select(func.min(earlier.c.seq))
        .where(
            earlier.c.complaint_id == d.c.complaint_id,
            earlier.c.type == DISPATCHED,
            earlier.c.skpd == d.c.skpd,
        )
        .scalar_subquery()
    )
    received = (
        select(
            d.c.complaint_id,
            d.c.skpd,
            d.c.region,
            d.c.seq.label("dispatch_seq"),
            d.c.occurred_at.label("dispatched_at"),
        )
        .where(
            d.c.type == DISPATCHED,
            d.c.skpd.is_not(None),
            _in_period(d, windows),
            d.c.seq == first_dispatch,
        )
        .cte("received")
    )

    def later(kind: str, column: str) -> Any:
        """The first event of ``kind`` naming the SKPD after the dispatch: its ``column``."""
        e = events_table.alias(kind.rpartition(".")[2])
        return (
            select(e.c[column])
            .where(
                e.c.complaint_id == received.c.complaint_id,
                e.c.type == kind,
                e.c.skpd == received.c.skpd,
                e.c.seq > received.c.dispatch_seq,
            )
            .order_by(e.c.seq)
            .limit(1)
            .scalar_subquery()
        )

    outcome = select(
        received.c.skpd,
        received.c.region,
        received.c.dispatched_at,
        later(FOLLOWED_UP, "occurred_at").label("answered_at"),
        later(RETURNED, "seq").label("return_seq"),
    ).cte("outcome")
    # Evaluated once: its answered_at is read three times below, and an inlined CTE
    # would repeat the lookup for each.
    outcome = outcome.prefix_with("MATERIALIZED", dialect="postgresql")
    # Returned and never answered: a complaint returned, sent back and answered counts
    # as followed up, so followed_up <= received - returned.
    returned = case(
        (and_(outcome.c.return_seq.is_not(None), outcome.c.answered_at.is_(None)), 1), else_=0
    )
    skpd = outcome.c.skpd
    return select(
        outcome.c.skpd,
        outcome.c.region,
        outcome.c.dispatched_at,
        outcome.c.answered_at,
        func.count().over(partition_by=skpd),
        func.count(outcome.c.answered_at).over(partition_by=skpd),
        func.sum(returned).over(partition_by=skpd),
    ).order_by(outcome.c.skpd, outcome.c.dispatched_at)


def _settled_query(dialect: str, windows: Sequence[Window]) -> Select[Any]:
    """Per SKPD: complaints whose latest resolution is in the period and still stands."""
    s = events_table.alias("s")
    later = events_table.alias("later")
    latest_seq = (
        select(func.max(later.c.seq))
        .where(later.c.complaint_id == s.c.complaint_id, later.c.type == RESOLVED)
        .scalar_subquery()
    )
    role, actor_id = _actor(dialect, s, "role"), _actor(dialect, s, "id")
    by_system = and_(role == AUTO_CLOSE_ROLE, actor_id == AUTO_CLOSE_ID)
    # The actor decides; parsing every body's JSON costs, so only the resolutions caused
    # by an auto-close timer (command id "auto_close:...") are parsed at all.
    auto = case(
        (
            s.c.causation_id.startswith(f"{AUTO_CLOSE_ID}:", autoescape=True),
            case((by_system, 1), else_=0),
        ),
        else_=0,
    )
    c = complaints_table
    return (
        select(s.c.skpd, func.count(), func.sum(auto))
        .select_from(s.join(c, c.c.complaint_id == s.c.complaint_id))
        .where(
            s.c.type == RESOLVED,
            s.c.skpd.is_not(None),
            _in_period(s, windows),
            s.c.seq == latest_seq,
            # Still resolved: reopened since, it is not settled (yet) in any period.
            c.c.state == s.c.state,
        )
        .group_by(s.c.skpd)
    )


def _actor(dialect: str, table: FromClause, key: str) -> ColumnElement[Any]:
    """The event body's ``actor.<key>`` as text (the body is JSON stored as text)."""
    if dialect == "postgresql":
        value: ColumnElement[Any] = cast(table.c.body, JSONB)["actor"][key].astext
        return value
    return func.json_extract(table.c.body, f"$.actor.{key}")
