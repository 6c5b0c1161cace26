"""A reporting period of local dates, turned into UTC instants the indexes can serve.

Reports count in the region's time zone: ``since=2026-04-06`` in HSU (WITA) starts at
2026-04-05T16:00Z. Regions share a zone unless the policy says otherwise, so a period
becomes one UTC range per zone (:class:`ZoneSlice`), each with a condition selecting its
regions. SQL then filters ``occurred_at`` by plain range comparisons, which an index on
``(type, occurred_at)`` serves: the cost grows with the period, not with the history.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, false, or_, true

from workflows.policy import Policy

__all__ = ["ZoneSlice", "month_starts", "period_condition", "zone_slices"]


@dataclass(frozen=True)
class ZoneSlice:
    """The regions sharing one time zone, and the period's UTC bounds in that zone."""

    timezone: ZoneInfo
    #: The regions of this zone; with ``listed=False`` every region *not* in ``others``.
    regions: frozenset[str]
    others: frozenset[str]
    listed: bool
    start: datetime | None
    end: datetime | None

    def region_condition(self, column: ColumnElement[str | None]) -> ColumnElement[bool]:
        """SQL condition: the row's region belongs to this zone."""
        if self.listed:
            return column.in_(sorted(self.regions)) if self.regions else false()
        if not self.others:
            return true()
        return or_(column.is_(None), column.not_in(sorted(self.others)))

    def has_region(self, region: str) -> bool:
        """Whether ``region`` belongs to this zone."""
        return region in self.regions if self.listed else region not in self.others


def _local_start(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def zone_slices(
    policy: Policy, since: date | None, until: date | None, region: str | None = None
) -> list[ZoneSlice]:
    """One slice per time zone in use: ``[since 00:00, until+1 00:00)`` local, in UTC.

    With ``region`` given, only that region's zone. The default zone holds every region
    the policy gives no zone of its own.
    """
    default = ZoneInfo(policy.defaults.timezone)
    by_zone: dict[str, set[str]] = {}
    for name, entry in policy.regions.items():
        if entry.timezone is not None and entry.timezone != policy.defaults.timezone:
            by_zone.setdefault(entry.timezone, set()).add(name)
    own = frozenset(r for regions in by_zone.values() for r in regions)

    def bounds(tz: ZoneInfo) -> tuple[datetime | None, datetime | None]:
        start = _local_start(since, tz) if since is not None else None
        end = _local_start(until + timedelta(days=1), tz) if until is not None else None
        return start, end

    if region is not None:
        tz = policy.timezone(region)
        start, end = bounds(tz)
        return [ZoneSlice(tz, frozenset({region}), frozenset(), True, start, end)]
    slices = [ZoneSlice(default, frozenset(), own, False, *bounds(default))]
    for zone, regions in sorted(by_zone.items()):
        tz = ZoneInfo(zone)
        slices.append(ZoneSlice(tz, frozenset(regions), frozenset(), True, *bounds(tz)))
    return slices


def period_condition(
    slices: list[ZoneSlice],
    region_column: ColumnElement[str | None],
    at_column: ColumnElement[datetime],
) -> ColumnElement[bool]:
    """Rows whose instant falls in the period of their region's zone.

    The outer bounds (earliest start, latest end over the zones) come first, so the
    database can range-scan an index on the instant column.
    """
    starts = [s.start for s in slices if s.start is not None]
    ends = [s.end for s in slices if s.end is not None]
    outer: list[ColumnElement[bool]] = []
    if len(starts) == len(slices) and starts:
        outer.append(at_column >= min(starts))
    if len(ends) == len(slices) and ends:
        outer.append(at_column < max(ends))
    per_zone: list[ColumnElement[bool]] = []
    for zone in slices:
        parts = [zone.region_condition(region_column)]
        if zone.start is not None:
            parts.append(at_column >= zone.start)
        if zone.end is not None:
            parts.append(at_column < zone.end)
        per_zone.append(and_(*parts))
    return and_(*outer, or_(*per_zone))


def month_starts(first: date, last: date) -> Iterator[date]:
    """The first day of every month from ``first``'s month to ``last``'s, in order."""
    month = first.replace(day=1)
    while month <= last:
        yield month
        month = (month + timedelta(days=32)).replace(day=1)
