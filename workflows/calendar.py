"""Indonesian working days (hari kerja) for the SLA clocks.

A working day is Monday to Friday, minus Indonesian public holidays (libur nasional)
and collective leave (cuti bersama) as published by the ``holidays`` package
(categories ``public`` and ``government``), adjusted by the policy file: dates it adds
are never working days, and dates it removes (a holiday or cuti bersama a region works
through, or one the decree later cancelled) are working days again when they fall on a
weekday.

The ``holidays`` data covers 1946-2100; cuti bersama stop after 2027 and later Islamic
dates are estimates ("perkiraan"), which is why the policy file can correct them.

This module is pure: the holiday data ships inside the package, nothing is read from
disk or network at call time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import date, timedelta

import holidays

from workflows.memo import BoundedMemo

__all__ = ["HOLIDAY_CATEGORIES", "POLICY_HOLIDAY_NAME", "WorkingCalendar"]

#: The ``holidays`` categories that make a day non-working: national holidays and
#: cuti bersama (the joint ministerial decree's collective leave).
HOLIDAY_CATEGORIES: tuple[str, ...] = ("public", "government")

#: Name reported by :meth:`WorkingCalendar.holiday_name` for a day the policy file adds
#: and the library does not know (a regional holiday, a late decree).
POLICY_HOLIDAY_NAME = "Libur tambahan (kebijakan daerah)"

_SATURDAY = 5
#: Entries each answer memo keeps before it starts over (a few MB at most).
_MEMO_LIMIT = 100_000


class WorkingCalendar:
    """Working days in Indonesia, with a policy's own added and removed dates.

    Years are loaded on first use and cached, so a deadline running across a year end
    costs one extra load, and every later lookup is a set membership test. Instances
    are safe to share between threads.
    """

    def __init__(self, added: Iterable[date] = (), removed: Iterable[date] = ()) -> None:
        """Build a calendar.

        ``added`` are extra non-working days (a regional holiday); ``removed`` are
        holidays or cuti bersama to be worked. A date in both is ambiguous and rejected.
        """
        self._added = frozenset(added)
        self._removed = frozenset(removed)
        both = self._added & self._removed
        if both:
            listed = ", ".join(d.isoformat() for d in sorted(both))
            raise ValueError(f"dates both added and removed as holidays: {listed}")
        # Per year: the weekdays that are not working days. Weekends are handled by
        # arithmetic, so the sets stay small (about 25 dates a year).
        self._closed: dict[int, frozenset[date]] = {}
        self._names: dict[int, dict[date, str]] = {}
        self._lock = threading.Lock()
        # Answers already computed: deadlines of complaints started the same day share
        # them, so the O(n) walk runs once per (day, n) instead of once per command.
        self._added_days: BoundedMemo[tuple[date, int], date] = BoundedMemo(_MEMO_LIMIT)
        self._between: BoundedMemo[tuple[date, date], int] = BoundedMemo(_MEMO_LIMIT)

    @property
    def added(self) -> frozenset[date]:
        """The policy's extra non-working days."""
        return self._added

    @property
    def removed(self) -> frozenset[date]:
        """The policy's holidays that are worked anyway."""
        return self._removed

    def __eq__(self, other: object) -> bool:
        # Value semantics: the caches are derived from the two date sets alone.
        if not isinstance(other, WorkingCalendar):
            return NotImplemented
        return self._added == other._added and self._removed == other._removed

    def __hash__(self) -> int:
        return hash((self._added, self._removed))

    def __repr__(self) -> str:
        return f"WorkingCalendar(added={sorted(self._added)!r}, removed={sorted(self._removed)!r})"

    def _load(self, year: int) -> frozenset[date]:
        """Return the non-working weekdays of ``year``, loading the year on first use."""
        closed = self._closed.get(year)
        if closed is not None:
            return closed
        with self._lock:
            closed = self._closed.get(year)
            if closed is not None:  # another thread loaded it while we waited
                return closed
            # One holidays object per year, built once: construction costs milliseconds,
            # far too much to repeat per command.
            library = holidays.country_holidays(
                "ID", years=year, categories=HOLIDAY_CATEGORIES, language="id"
            )
            names: dict[date, str] = {
                day: str(name) for day, name in library.items() if day.year == year
            }
            for day in self._added:
                if day.year == year:
                    names.setdefault(day, POLICY_HOLIDAY_NAME)
            days = (set(names) - self._removed) | {d for d in self._added if d.year == year}
            closed = frozenset(d for d in days if d.weekday() < _SATURDAY)
            self._names[year] = names
            # Publish the set last: readers check _closed without the lock.
            self._closed[year] = closed
            return closed

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` is a working day (hari kerja)."""
        return day.weekday() < _SATURDAY and day not in self._load(day.year)

    def holiday_name(self, day: date) -> str | None:
        """The Indonesian name of the holiday on ``day``, or ``None``.

        ``None`` for an ordinary day, a plain weekend, and a holiday the policy removed
        (it is a working day there). A day the policy adds is named by the library if it
        knows it, else :data:`POLICY_HOLIDAY_NAME`. Several holidays on one day are
        joined with ``"; "``, as the library does.
        """
        if day in self._removed:
            return None
        self._load(day.year)
        return self._names[day.year].get(day)

    def add_working_days(self, day: date, n: int) -> date:
        """The ``n``-th working day strictly after ``day``; ``day`` itself when ``n == 0``.

        ``day`` need not be a working day: from a Saturday, the 1st working day is the
        following Monday (if that is not a holiday).
        """
        known = self._added_days.get((day, n))
        if known is not None:
            return known
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        one = timedelta(days=1)
        current = day
        remaining = n
        # O(n) walk over days; each step is a weekday check and a set lookup.
        while remaining:
            current += one
            if self.is_working_day(current):
                remaining -= 1
        return self._added_days.remember((day, n), current)

    def working_days_between(self, start: date, end: date) -> int:
        """Number of working days ``d`` with ``start < d <= end``; 0 if ``end <= start``."""
        if end <= start:
            return 0
        known = self._between.get((start, end))
        if known is not None:
            return known
        weekdays = _weekdays_until(end) - _weekdays_until(start)
        # Subtract the closed weekdays in range: a few dozen per year, not every day.
        years = range(start.year, end.year + 1)
        closed = sum(1 for year in years for d in self._load(year) if start < d <= end)
        return self._between.remember((start, end), weekdays - closed)


def _weekdays_until(day: date) -> int:
    """Count of Monday-Friday dates from the proleptic epoch up to and including ``day``."""
    ordinal = day.toordinal()  # date(1, 1, 1) is ordinal 1 and a Monday
    weeks, rest = divmod(ordinal, 7)
    return weeks * 5 + min(rest, 5)
