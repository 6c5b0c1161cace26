"""Intake against target: complaints submitted per region and local month (CONTRACT §9).

"The number of complaints is still very low": intake is itself a KPI. A region sets a
monthly target in the policy (``targets: {HSU: {complaints_per_month: 40}}``) and the
admin sees, for each local calendar month of the period, how many complaints the region
received (``complaint.submitted`` events, in event time, in the region's time zone), and
through which channel (web, SMS 1708, mobile, Twitter, WhatsApp, other).

Counting happens in SQL, one range count per (zone, month) over the index on
``events (type, occurred_at)``, so the cost grows with the period's submissions. A
region with a target gets a row for every month of the period, even with nothing
received: a month with no intake is the finding, not a gap.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, cast, func, literal, select, union_all
from sqlalchemy.dialects.postgresql import JSON

from engine.period import ZoneSlice, month_starts, zone_slices
from engine.schema import events_table
from engine.store import Store
from workflows.policy import Policy

__all__ = ["IntakeRow", "build_intake"]

_SUBMITTED = "complaint.submitted"
# Compound SELECTs per statement (SQLite allows 500 by default).
_CHUNK = 200


@dataclass(frozen=True)
class IntakeRow:
    """One region's intake in one local month."""

    region: str
    #: The local calendar month, ``YYYY-MM``.
    month: str
    received: int
    #: ``complaints_per_month`` from the policy's ``targets``, or ``None`` if unset.
    target: int | None
    #: The period covers only part of this month (its count is for that part only).
    partial: bool
    #: ``received`` per submission channel (web, sms, mobile, twitter, whatsapp, other).
    by_channel: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The row as JSON-ready data."""
        data = asdict(self)
        data["by_channel"] = dict(sorted(self.by_channel.items()))
        return data


def build_intake(
    store: Store,
    policy: Policy,
    *,
    region: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> list[IntakeRow]:
    """Complaints submitted per region and local month in [since, until], with targets.

    An open end of the period stops at the first or last submission stored.
    """
    slices = zone_slices(policy, since, until, region)
    counts: dict[tuple[str, str], dict[str, int]] = {}
    channel = _channel(store.dialect)
    months_of: dict[int, list[tuple[date, bool]]] = {}
    with store.connect("building the intake report") as conn:
        queries: list[Select[Any]] = []
        for index, zone in enumerate(slices):
            first, last = since, until
            if first is None or last is None:
                low, high = conn.execute(
                    select(
                        func.min(events_table.c.occurred_at), func.max(events_table.c.occurred_at)
                    ).where(_submitted_in(zone, zone.start, zone.end))
                ).one()
                if low is None or high is None:
                    continue
                first = first or _as_utc(low).astimezone(zone.timezone).date()
                last = last or _as_utc(high).astimezone(zone.timezone).date()
            months = []
            for month in month_starts(first, last):
                following = (month + timedelta(days=32)).replace(day=1)
                start = max(month, first)
                end = min(following - timedelta(days=1), last)
                partial = start != month or end != following - timedelta(days=1)
                months.append((month, partial))
                queries.append(_count_query(zone, month, start, end, channel))
            months_of[index] = months
        for chunk_start in range(0, len(queries), _CHUNK):
            chunk = queries[chunk_start : chunk_start + _CHUNK]
            statement = chunk[0] if len(chunk) == 1 else union_all(*chunk)
            for reg, month_label, via, n in conn.execute(statement):
                per_channel = counts.setdefault((reg, month_label), {})
                key = via or "unknown"
                per_channel[key] = per_channel.get(key, 0) + int(n)

    rows: dict[tuple[str, str], IntakeRow] = {}
    partial_of: dict[tuple[int, str], bool] = {}
    for index, months in months_of.items():
        for month, partial in months:
            label = month.strftime("%Y-%m")
            partial_of[(index, label)] = partial
            # Regions with a target get every month of the period, received or not.
            for reg in policy.targets:
                if (region is None or reg == region) and slices[index].has_region(reg):
                    rows[(reg, label)] = IntakeRow(
                        reg, label, 0, policy.monthly_intake_target(reg), partial
                    )
    for (reg, label), per_channel in counts.items():
        index = next(i for i, zone in enumerate(slices) if zone.has_region(reg))
        rows[(reg, label)] = IntakeRow(
            reg,
            label,
            sum(per_channel.values()),
            policy.monthly_intake_target(reg),
            partial_of[(index, label)],
            per_channel,
        )
    return [rows[key] for key in sorted(rows)]


def _submitted_in(
    zone: ZoneSlice, start: datetime | None, end: datetime | None
) -> ColumnElement[bool]:
    parts = [events_table.c.type == _SUBMITTED, zone.region_condition(events_table.c.region)]
    if start is not None:
        parts.append(events_table.c.occurred_at >= start)
    if end is not None:
        parts.append(events_table.c.occurred_at < end)
    return and_(*parts)


def _channel(dialect: str) -> ColumnElement[str]:
    """The submitted event's ``payload.channel``, extracted by the database."""
    body = events_table.c.body
    if dialect == "postgresql":
        return func.json_extract_path_text(cast(body, JSON), "payload", "channel")
    return func.json_extract(body, "$.payload.channel")


def _count_query(
    zone: ZoneSlice, month: date, first: date, last: date, channel: ColumnElement[str]
) -> Select[Any]:
    """Submissions per region and channel of ``zone`` in local days [first, last]."""
    start = datetime.combine(first, datetime.min.time(), tzinfo=zone.timezone)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=zone.timezone)
    return (
        select(
            events_table.c.region,
            literal(month.strftime("%Y-%m")).label("month"),
            channel.label("channel"),
            func.count().label("received"),
        )
        .where(_submitted_in(zone, start, end))
        .group_by(events_table.c.region, channel)
    )


def _as_utc(value: datetime | str) -> datetime:
    # Aggregates may bypass the column type on SQLite: a naive UTC value comes back.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
