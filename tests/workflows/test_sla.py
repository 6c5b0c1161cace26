"""SLA clock arithmetic (CONTRACT §4), dates hand-checked against holidays 0.109."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.calendar import WorkingCalendar
from workflows.sla import (
    CALENDAR_DAY_CLOCKS,
    CLOCK_NAMES,
    compute_deadline,
    end_of_local_day,
    escalation_instants,
    is_breached,
    shift_for_pause,
    warning_instant,
    working_days_elapsed,
)

CAL = WorkingCalendar()
WIB = ZoneInfo("Asia/Jakarta")
WITA = ZoneInfo("Asia/Makassar")
WIT = ZoneInfo("Asia/Jayapura")
ZONES = (WIB, WITA, WIT)


def wita(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=WITA)


def test_clock_names_and_kinds() -> None:
    assert CLOCK_NAMES == ("verification", "follow_up", "resolution", "auto_close")
    assert frozenset({"resolution"}) == CALENDAR_DAY_CLOCKS


def test_end_of_local_day() -> None:
    end = end_of_local_day(date(2026, 3, 5), WIT)
    assert end.isoformat() == "2026-03-05T23:59:59+09:00"


def test_contract_example_monday_three_working_days() -> None:
    deadline = compute_deadline(wita(2026, 3, 2, 9, 15), 3, WITA, CAL, working_days=True)
    assert deadline.isoformat() == "2026-03-05T23:59:59+08:00"


def test_clock_started_on_saturday_counts_from_monday() -> None:
    deadline = compute_deadline(wita(2026, 3, 7, 10, 0), 3, WITA, CAL, working_days=True)
    assert deadline == wita(2026, 3, 11, 23, 59, 59)  # Wednesday


def test_deadline_skips_nyepi_and_idul_fitri_2026() -> None:
    # Mon 16 March + 5 WD: 17, then the closed 18..24 block, then 25, 26, 27, 30.
    deadline = compute_deadline(wita(2026, 3, 16, 9, 0), 5, WITA, CAL, working_days=True)
    assert deadline == wita(2026, 3, 30, 23, 59, 59)


def test_deadline_across_year_end() -> None:
    deadline = compute_deadline(wita(2026, 12, 23, 14, 0), 5, WITA, CAL, working_days=True)
    assert deadline == wita(2027, 1, 4, 23, 59, 59)


def test_resolution_is_sixty_calendar_days_even_onto_a_holiday() -> None:
    # 2026-05-01 is Hari Buruh; calendar-day clocks do not care.
    deadline = compute_deadline(wita(2026, 3, 2, 9, 15), 60, WITA, CAL, working_days=False)
    assert deadline == wita(2026, 5, 1, 23, 59, 59)


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        # 16:30Z is 23:30 WIB on 2 March, but already 3 March in WITA and WIT.
        (WIB, "2026-03-05T23:59:59+07:00"),
        (WITA, "2026-03-06T23:59:59+08:00"),
        (WIT, "2026-03-06T23:59:59+09:00"),
    ],
)
def test_command_stamped_in_utc_uses_the_regions_local_date(zone: ZoneInfo, expected: str) -> None:
    started = datetime(2026, 3, 2, 16, 30, tzinfo=UTC)
    assert compute_deadline(started, 3, zone, CAL, working_days=True).isoformat() == expected


def test_late_utc_evening_is_next_day_in_makassar() -> None:
    started = datetime.fromisoformat("2026-03-02T23:30:00Z")  # 07:30 WITA on 3 March
    deadline = compute_deadline(started, 3, WITA, CAL, working_days=True)
    assert deadline.isoformat() == "2026-03-06T23:59:59+08:00"
    # The same instant stamped with a +08:00 offset gives the same deadline.
    same = datetime.fromisoformat("2026-03-03T07:30:00+08:00")
    assert compute_deadline(same, 3, WITA, CAL, working_days=True) == deadline


def test_naive_and_nonpositive_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        compute_deadline(datetime(2026, 3, 2, 9, 15), 3, WITA, CAL, working_days=True)
    with pytest.raises(ValueError, match="limit"):
        compute_deadline(wita(2026, 3, 2, 9, 15), 0, WITA, CAL, working_days=True)


class _NoOffset(tzinfo):
    """A time zone that gives no offset: a datetime carrying it is still naive."""

    def utcoffset(self, dt: datetime | None) -> None:
        return None


def test_a_tzinfo_without_an_offset_counts_as_naive() -> None:
    # The check skips utcoffset() only for the standard library's zones.
    naive = datetime(2026, 3, 2, 9, 15, tzinfo=_NoOffset())
    with pytest.raises(ValueError, match="timezone-aware"):
        compute_deadline(naive, 3, WITA, CAL, working_days=True)
    with pytest.raises(ValueError, match="timezone-aware"):
        warning_instant(naive, wita(2026, 3, 5, 23, 59, 59), 0.8)


def test_breach_is_strict() -> None:
    deadline = wita(2026, 3, 5, 23, 59, 59)
    assert not is_breached(deadline, deadline)
    assert is_breached(deadline + timedelta(microseconds=1), deadline)
    # Same instant in another zone: still on time.
    assert not is_breached(deadline.astimezone(UTC), deadline)


def test_warning_at_eighty_percent() -> None:
    start = wita(2026, 3, 2, 9, 15)
    deadline = wita(2026, 3, 5, 23, 59, 59)
    # span 3 d 14:44:59 = 312299 s; 0.8 of it = 249839.2 s = 2 d 21:23:59.2
    expected = datetime(2026, 3, 5, 6, 38, 59, 200000, tzinfo=WITA)
    assert warning_instant(start, deadline, 0.8) == expected
    assert warning_instant(start.astimezone(UTC), deadline, 0.8).utcoffset() == timedelta(hours=8)
    with pytest.raises(ValueError, match="fraction"):
        warning_instant(start, deadline, 1.0)


def test_escalation_instants_skip_the_holiday_block() -> None:
    deadline = wita(2026, 3, 17, 23, 59, 59)
    level1, level2, level3 = escalation_instants(deadline, WITA, CAL)
    assert level1 == deadline
    assert level2 == wita(2026, 3, 26, 23, 59, 59)  # 25, 26
    assert level3 == wita(2026, 3, 31, 23, 59, 59)  # 25, 26, 27, 30, 31


def test_escalation_from_a_calendar_deadline_on_a_holiday() -> None:
    # Resolution due on Hari Buruh, Friday 2026-05-01: levels count working days after it.
    _, level2, level3 = escalation_instants(wita(2026, 5, 1, 23, 59, 59), WITA, CAL)
    assert level2 == wita(2026, 5, 5, 23, 59, 59)  # Mon 4, Tue 5
    assert level3 == wita(2026, 5, 8, 23, 59, 59)  # 4, 5, 6, 7, 8


def test_pause_moves_deadline_by_working_days_of_the_pause() -> None:
    deadline = wita(2026, 3, 5, 23, 59, 59)
    # Deferred Tue 3 March, resumed Thu 5 March: Wed 4 and Thu 5 count.
    new = shift_for_pause(
        deadline, wita(2026, 3, 3, 10, 0), wita(2026, 3, 5, 9, 0), WITA, CAL, working_days=True
    )
    assert new == wita(2026, 3, 9, 23, 59, 59)  # Thu 5 + 2 WD = Mon 9


def test_pause_over_the_holiday_block_counts_only_working_days() -> None:
    # Deferred Fri 13 March, resumed Wed 25: 16, 17, 25 count (18..24 are closed).
    deadline = wita(2026, 3, 17, 23, 59, 59)
    new = shift_for_pause(
        deadline, wita(2026, 3, 13, 8, 0), wita(2026, 3, 25, 8, 0), WITA, CAL, working_days=True
    )
    assert new == wita(2026, 3, 27, 23, 59, 59)  # 17 + 3 WD: 25, 26, 27


def test_pause_on_a_calendar_clock_counts_calendar_days() -> None:
    deadline = wita(2026, 5, 1, 23, 59, 59)
    new = shift_for_pause(
        deadline, wita(2026, 3, 13, 8, 0), wita(2026, 3, 25, 8, 0), WITA, CAL, working_days=False
    )
    assert new == wita(2026, 5, 13, 23, 59, 59)


def test_pause_within_one_day_or_over_a_weekend_changes_nothing() -> None:
    deadline = wita(2026, 3, 10, 23, 59, 59)
    same_day = shift_for_pause(
        deadline, wita(2026, 3, 3, 8, 0), wita(2026, 3, 3, 16, 0), WITA, CAL, working_days=True
    )
    weekend = shift_for_pause(
        deadline, wita(2026, 3, 6, 17, 0), wita(2026, 3, 8, 12, 0), WITA, CAL, working_days=True
    )
    backwards = shift_for_pause(
        deadline, wita(2026, 3, 5, 8, 0), wita(2026, 3, 3, 8, 0), WITA, CAL, working_days=False
    )
    assert same_day is deadline
    assert weekend is deadline
    assert backwards is deadline


def test_pause_dates_are_local_dates() -> None:
    # Deferred 23:30 WIB 2 March = 00:30 WITA 3 March; resumed in UTC on WITA 4 March.
    deadline = wita(2026, 3, 10, 23, 59, 59)
    deferred = datetime(2026, 3, 2, 23, 30, tzinfo=WIB)
    resumed = datetime(2026, 3, 4, 1, 0, tzinfo=UTC)  # 09:00 WITA 4 March
    new = shift_for_pause(deadline, deferred, resumed, WITA, CAL, working_days=True)
    assert new == wita(2026, 3, 11, 23, 59, 59)  # only Wed 4 counts


def test_working_days_elapsed() -> None:
    assert working_days_elapsed(wita(2026, 3, 16, 9), wita(2026, 3, 26, 8), WITA, CAL) == 3
    assert working_days_elapsed(wita(2026, 3, 2, 9), wita(2026, 3, 2, 17), WITA, CAL) == 0
    assert working_days_elapsed(wita(2026, 3, 6, 9), wita(2026, 3, 9, 9), WITA, CAL) == 1


# Properties ---------------------------------------------------------------------------

instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)
zones = st.sampled_from(ZONES)
limits = st.integers(min_value=1, max_value=70)


@given(instants, limits, zones, st.booleans())
def test_deadline_is_after_start(started: datetime, limit: int, tz: ZoneInfo, wd: bool) -> None:
    deadline = compute_deadline(started, limit, tz, CAL, working_days=wd)
    assert deadline > started
    assert deadline.astimezone(tz).time().isoformat() == "23:59:59"


@given(instants, limits, zones)
def test_exactly_n_working_days_up_to_the_deadline(
    started: datetime, limit: int, tz: ZoneInfo
) -> None:
    deadline = compute_deadline(started, limit, tz, CAL, working_days=True)
    start_day = started.astimezone(tz).date()
    due_day = deadline.astimezone(tz).date()
    assert CAL.working_days_between(start_day, due_day) == limit
    assert CAL.is_working_day(due_day)


@given(instants, limits, zones)
def test_calendar_clock_is_start_date_plus_n(started: datetime, limit: int, tz: ZoneInfo) -> None:
    deadline = compute_deadline(started, limit, tz, CAL, working_days=False)
    assert deadline == end_of_local_day(started.astimezone(tz).date() + timedelta(limit), tz)


@settings(deadline=None)
@given(instants, limits, zones, st.dates(min_value=date(2020, 1, 1), max_value=date(2031, 6, 30)))
def test_adding_a_holiday_never_makes_a_deadline_earlier(
    started: datetime, limit: int, tz: ZoneInfo, extra: date
) -> None:
    with_extra = WorkingCalendar(added=[extra])
    before = compute_deadline(started, limit, tz, CAL, working_days=True)
    after = compute_deadline(started, limit, tz, with_extra, working_days=True)
    assert after >= before
    start_day = started.astimezone(tz).date()
    due_day = before.astimezone(tz).date()
    if CAL.is_working_day(extra) and start_day < extra <= due_day:
        # A new closed day inside the window costs exactly one working day.
        assert after.astimezone(tz).date() == CAL.add_working_days(due_day, 1)
    else:
        assert after == before


@given(instants, limits, zones, st.integers(0, 20), st.integers(0, 20), st.booleans())
def test_pause_never_moves_a_deadline_earlier(
    started: datetime, limit: int, tz: ZoneInfo, after_days: int, pause_days: int, wd: bool
) -> None:
    deadline = compute_deadline(started, limit, tz, CAL, working_days=wd)
    deferred = started + timedelta(days=after_days)
    resumed = deferred + timedelta(days=pause_days, hours=3)
    assert shift_for_pause(deadline, deferred, resumed, tz, CAL, working_days=wd) >= deadline
