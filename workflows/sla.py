"""SLA clock arithmetic: deadlines, warnings, pauses and escalation instants.

Pure functions on timezone-aware datetimes (CONTRACT §4). A clock started at some
instant is due at 23:59:59 local time on the N-th working day (or calendar day, for
``resolution``) *after* the local date on which it started; the local date is taken in
the region's time zone, whatever UTC offset the command was stamped with.

Breach is strict: a clock is breached when the time is *after* its deadline
(``now > deadline``); at exactly 23:59:59 it is still on time. See :func:`is_breached`.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Final, Literal
from zoneinfo import ZoneInfo

from workflows.calendar import WorkingCalendar

__all__ = [
    "CALENDAR_DAY_CLOCKS",
    "CLOCK_NAMES",
    "END_OF_DAY",
    "ESCALATION_LEVELS",
    "ClockName",
    "compute_deadline",
    "end_of_local_day",
    "escalation_instants",
    "is_breached",
    "local_date",
    "shift_for_pause",
    "warning_instant",
    "working_days_elapsed",
]

ClockName = Literal["verification", "follow_up", "resolution", "auto_close"]
"""The four SLA clocks of a complaint."""

CLOCK_NAMES: Final[tuple[ClockName, ...]] = (
    "verification",
    "follow_up",
    "resolution",
    "auto_close",
)
"""Every clock name, in the contract's order."""

CALENDAR_DAY_CLOCKS: Final[frozenset[ClockName]] = frozenset({"resolution"})
"""Clocks counted in calendar days (Perpres 76/2013's 60 days); the rest count working days."""

ESCALATION_LEVELS: Final[tuple[int, int, int]] = (1, 2, 3)
"""Escalation levels: at the breach, then 2 and 5 working days after the deadline."""

END_OF_DAY: Final[time] = time(23, 59, 59)
"""Local wall time at which every deadline falls."""

# Working days after the deadline's local date at which levels 2 and 3 fire.
_LEVEL_2_DAYS: Final = 2
_LEVEL_3_DAYS: Final = 5


def _require_aware(name: str, value: datetime) -> None:
    """Reject naive datetimes: a local date cannot be derived from them."""
    tzinfo = value.tzinfo
    if tzinfo is None or (type(tzinfo) not in _ALWAYS_AWARE and value.utcoffset() is None):
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")


#: Time zone classes whose ``utcoffset`` is never ``None``: commands' instants and
#: deadlines carry one of them, and the check runs several times per command, so it
#: skips that call for them.
_ALWAYS_AWARE: Final = frozenset({timezone, ZoneInfo})


def local_date(value: datetime, tz: ZoneInfo) -> date:
    """The calendar date of ``value`` as seen in ``tz``."""
    return value.astimezone(tz).date()


def end_of_local_day(day: date, tz: ZoneInfo) -> datetime:
    """23:59:59 local time on ``day`` in ``tz``, as an aware datetime."""
    return datetime.combine(day, END_OF_DAY, tzinfo=tz)


def is_breached(now: datetime, deadline: datetime) -> bool:
    """Whether a clock due at ``deadline`` is breached at ``now``: strictly ``now > deadline``."""
    _require_aware("now", now)
    _require_aware("deadline", deadline)
    return now > deadline


def compute_deadline(
    started_at: datetime,
    limit: int,
    tz: ZoneInfo,
    calendar: WorkingCalendar,
    *,
    working_days: bool,
) -> datetime:
    """The deadline of a clock started at ``started_at`` with a limit of ``limit`` days.

    23:59:59 in ``tz`` on the ``limit``-th working day (``working_days=True``) or calendar
    day after the local date on which the clock started. ``started_at`` may carry any UTC
    offset; it is converted to ``tz`` first, so 2026-03-02T23:30:00Z starts a Makassar
    clock on 2026-03-03. A clock started on a weekend or holiday counts from the next
    working day. The clock is breached when the time is strictly after the result.
    """
    _require_aware("started_at", started_at)
    if limit < 1:
        raise ValueError(f"limit must be >= 1 day, got {limit}")
    start_day = local_date(started_at, tz)
    if working_days:
        due_day = calendar.add_working_days(start_day, limit)
    else:
        due_day = start_day + timedelta(days=limit)
    return end_of_local_day(due_day, tz)


def warning_instant(started_at: datetime, deadline: datetime, fraction: float) -> datetime:
    """When the ``sla_warning`` fires: ``started_at + fraction * (deadline - started_at)``.

    Returned in the deadline's time zone so all of a clock's instants print alike.
    """
    _require_aware("started_at", started_at)
    _require_aware("deadline", deadline)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must lie strictly between 0 and 1, got {fraction}")
    return (started_at + (deadline - started_at) * fraction).astimezone(deadline.tzinfo)


def escalation_instants(
    deadline: datetime, tz: ZoneInfo, calendar: WorkingCalendar
) -> tuple[datetime, datetime, datetime]:
    """The instants at which escalation levels 1, 2 and 3 fire.

    Level 1 is the deadline itself (the breach); level 2 is 23:59:59 local on the 2nd
    working day after the deadline's local date, level 3 on the 5th. This holds for
    calendar-day clocks too: escalation is handled by offices, which work working days.
    """
    _require_aware("deadline", deadline)
    due_day = local_date(deadline, tz)
    return (
        deadline,
        end_of_local_day(calendar.add_working_days(due_day, _LEVEL_2_DAYS), tz),
        end_of_local_day(calendar.add_working_days(due_day, _LEVEL_3_DAYS), tz),
    )


def shift_for_pause(
    deadline: datetime,
    deferred_at: datetime,
    resumed_at: datetime,
    tz: ZoneInfo,
    calendar: WorkingCalendar,
    *,
    working_days: bool,
) -> datetime:
    """The deadline after a pause from ``deferred_at`` to ``resumed_at``.

    The pause costs the working days (calendar days if ``working_days`` is false) that
    fall after the defer's local date, up to and including the resume's local date; a
    defer and resume on the same local date cost nothing. The deadline's local date is
    advanced by that many working (or calendar) days and the new deadline is 23:59:59
    local on it. A resume stamped before its defer (skewed client clocks) shifts
    nothing rather than pulling the deadline earlier.
    """
    _require_aware("deadline", deadline)
    _require_aware("deferred_at", deferred_at)
    _require_aware("resumed_at", resumed_at)
    paused_from = local_date(deferred_at, tz)
    paused_to = local_date(resumed_at, tz)
    due_day = local_date(deadline, tz)
    if working_days:
        days = calendar.working_days_between(paused_from, paused_to)
        if days == 0:
            return deadline
        return end_of_local_day(calendar.add_working_days(due_day, days), tz)
    days = max(0, (paused_to - paused_from).days)
    if days == 0:
        return deadline
    return end_of_local_day(due_day + timedelta(days=days), tz)


def working_days_elapsed(
    start: datetime, end: datetime, tz: ZoneInfo, calendar: WorkingCalendar
) -> int:
    """Working days from ``start``'s local date to ``end``'s (0 on the same day or before).

    Counts the working days ``d`` with ``start_date < d <= end_date``: a follow-up on the
    next working day took 1 working day. Used for the "median working days to
    follow-up" KPI.
    """
    _require_aware("start", start)
    _require_aware("end", end)
    return calendar.working_days_between(local_date(start, tz), local_date(end, tz))
