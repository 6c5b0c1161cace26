"""The per-SKPD KPI report Diskominfo is judged on (CONTRACT §6 ``report``).

Two steps: :mod:`engine.report_query` counts the period's events in SQL (the definitions
are in its docstring), and :func:`aggregate`, a pure function, turns those counts and
the follow-up spans into :class:`SkpdRow`: the follow-up rate and the working days to
follow-up, in the calendar and time zone of each complaint's region.
:func:`build_report` runs both.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from engine.gc_tuning import collector_paused
from engine.report_query import ReportFacts, fetch_report_facts, period_windows
from engine.store import Store
from workflows.policy import Policy

__all__ = ["SkpdRow", "aggregate", "build_report"]


@dataclass(frozen=True, kw_only=True)
class SkpdRow:
    """One SKPD's KPIs for the period (the fields of ``report --json``)."""

    skpd: str
    received: int
    followed_up: int
    #: followed_up / (received - returned); ``None`` when that is 0.
    follow_up_rate: float | None
    median_follow_up_working_days: float | None
    p90_follow_up_working_days: float | None
    open_breaches: int
    escalations: int
    returned: int
    settled: int
    auto_closed: int

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
    """KPIs per SKPD, for complaints of ``region`` (all if ``None``), in [since, until].

    ``since`` and ``until`` are local dates in each region's time zone, both included;
    ``None`` leaves that side of the period open.
    """
    windows = period_windows(policy, region=region, since=since, until=until)
    # A month's spans are tens of thousands of new rows, all alive until the report is
    # built: a cyclic collection in their midst reads them all and frees nothing (a
    # sixth of the report's time at 1,000,000 stored; docs/perf.md section 31).
    with collector_paused():
        with store.connect("building the report") as conn:
            if store.dialect == "postgresql":
                # One snapshot for every query, so the spans are those of the counted rows.
                conn.execution_options(isolation_level="REPEATABLE READ")
                # Compiling the report's statements with LLVM (JIT) cost seconds more than
                # running them when they probed each row's history (measured: 3.7 of 6.3
                # s); the scans of receipts and settlements have nothing for it to gain.
                conn.exec_driver_sql("SET LOCAL jit = off")
            facts = fetch_report_facts(conn, windows, region=region)
        return aggregate(facts, policy)


def aggregate(facts: ReportFacts, policy: Policy) -> list[SkpdRow]:
    """The report's rows from the database's counts and spans (no database involved).

    One row per SKPD with any count, sorted by SKPD. Working days are counted with the
    policy's calendar, in the time zone of each complaint's region.
    """
    calendar = policy.calendar
    zones: dict[str, ZoneInfo] = {}
    # Spans that share an SKPD and both local dates took the same working days: count
    # them by those dates first, then count each distinct pair's working days once.
    dates: Counter[tuple[str, date, date]] = Counter()
    for skpd, region, dispatched_at, answered_at in facts.spans:
        tz = zones.get(region) or zones.setdefault(region, policy.timezone(region))
        if dispatched_at.tzinfo is None or answered_at.tzinfo is None:
            # astimezone() would take a naive instant for the machine's local time.
            raise ValueError(
                f"a follow-up span of {skpd} has a naive instant "
                f"({dispatched_at.isoformat()} to {answered_at.isoformat()})"
            )
        dates[(skpd, dispatched_at.astimezone(tz).date(), answered_at.astimezone(tz).date())] += 1
    days: dict[str, list[int]] = {}
    for (skpd, dispatched_on, answered_on), n in dates.items():
        elapsed = calendar.working_days_between(dispatched_on, answered_on)
        days.setdefault(skpd, []).extend([elapsed] * n)
    rows = []
    for counts in sorted(facts.counts, key=lambda c: c.skpd):
        if not counts.skpd:
            continue
        spans = sorted(days.get(counts.skpd, []))
        answerable = counts.received - counts.returned
        rows.append(
            SkpdRow(
                skpd=counts.skpd,
                received=counts.received,
                followed_up=counts.followed_up,
                follow_up_rate=round(counts.followed_up / answerable, 4) if answerable else None,
                median_follow_up_working_days=statistics.median(spans) if spans else None,
                p90_follow_up_working_days=_percentile(spans, 0.9),
                open_breaches=counts.open_breaches,
                escalations=counts.escalations,
                returned=counts.returned,
                settled=counts.settled,
                auto_closed=counts.auto_closed,
            )
        )
    return rows


def _percentile(sorted_values: list[int], fraction: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least ``fraction`` at or below."""
    if not sorted_values:
        return None
    # Rounded first: 10 * 0.9 is 9.000000000000002 in floating point, and rank 9 is meant.
    rank = max(1, math.ceil(round(len(sorted_values) * fraction, 9)))
    return float(sorted_values[rank - 1])
