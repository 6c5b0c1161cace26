"""WorkingCalendar against the real ``holidays`` data (dates checked by hand, 2026-2027).

Reference, printed from holidays 0.109 (public + government, language "id"):
2026-03-18 Wed Cuti Bersama Hari Suci Nyepi, 03-19 Thu Hari Suci Nyepi,
03-20 Fri Cuti Bersama Idul Fitri, 03-21 Sat Idul Fitri, 03-22 Sun hari kedua,
03-23 Mon and 03-24 Tue Cuti Bersama Idul Fitri; 2026-05-31 Sun Waisak,
06-01 Mon Pancasila; 2026-12-24 Thu Cuti Bersama Natal, 12-25 Fri Natal;
2027-01-01 Fri Tahun Baru, 2027-01-05 Tue Isra Mikraj.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.calendar import POLICY_HOLIDAY_NAME, WorkingCalendar

CAL = WorkingCalendar()

days_2020s = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))


def test_library_still_has_the_2026_data_these_tests_rely_on() -> None:
    # If a holidays upgrade moves a date, fail here first, with the reason spelled out.
    lib = holidays.country_holidays(
        "ID", years=2026, categories=("public", "government"), language="id"
    )
    public = holidays.country_holidays("ID", years=2026, categories=("public",))
    assert len(public) == 17
    assert len(lib) - len(public) == 8  # cuti bersama
    assert lib[date(2026, 3, 19)] == "Hari Suci Nyepi"
    assert lib[date(2026, 3, 21)] == "Hari Raya Idul Fitri"
    assert lib[date(2026, 12, 24)] == "Cuti Bersama Hari Raya Natal"


def test_ordinary_weekdays_and_weekends() -> None:
    assert CAL.is_working_day(date(2026, 3, 2))  # Monday
    assert CAL.is_working_day(date(2026, 3, 6))  # Friday
    assert not CAL.is_working_day(date(2026, 3, 7))  # Saturday
    assert not CAL.is_working_day(date(2026, 3, 8))  # Sunday


def test_nyepi_and_idul_fitri_2026_block_is_closed_for_a_week() -> None:
    closed = [date(2026, 3, 18) + timedelta(days=i) for i in range(7)]  # Wed 18 .. Tue 24
    assert [CAL.is_working_day(d) for d in closed] == [False] * 7
    assert CAL.is_working_day(date(2026, 3, 17))
    assert CAL.is_working_day(date(2026, 3, 25))
    # The first working day after Tuesday 17 March is Wednesday 25 March.
    assert CAL.add_working_days(date(2026, 3, 17), 1) == date(2026, 3, 25)
    assert CAL.add_working_days(date(2026, 3, 16), 5) == date(2026, 3, 30)
    assert CAL.working_days_between(date(2026, 3, 13), date(2026, 3, 31)) == 7


def test_cuti_bersama_alone_closes_a_weekday() -> None:
    # 2026-03-18 is only cuti bersama (government category), not a public holiday.
    public_only = holidays.country_holidays("ID", years=2026, categories=("public",))
    assert date(2026, 3, 18) not in public_only
    assert not CAL.is_working_day(date(2026, 3, 18))


def test_holiday_on_a_weekend_has_no_substitute_day() -> None:
    # Waisak on Sunday 2026-05-31; Monday 06-01 is closed for Pancasila, not in lieu.
    assert CAL.holiday_name(date(2026, 5, 31)) == "Hari Raya Waisak"
    assert CAL.holiday_name(date(2026, 6, 1)) == "Hari Lahir Pancasila"
    assert CAL.is_working_day(date(2026, 6, 2))
    # Idul Fitri on Saturday 2026-03-21: the weekend is closed anyway, nothing moves.
    assert CAL.working_days_between(date(2026, 3, 20), date(2026, 3, 22)) == 0


def test_christmas_and_new_year_across_the_2026_2027_year_end() -> None:
    assert not CAL.is_working_day(date(2026, 12, 24))
    assert not CAL.is_working_day(date(2026, 12, 25))
    assert CAL.is_working_day(date(2026, 12, 31))
    assert not CAL.is_working_day(date(2027, 1, 1))
    assert not CAL.is_working_day(date(2027, 1, 5))
    # From Wed 23 Dec: 28, 29, 30, 31 Dec, then Mon 4 Jan; 5 Jan is Isra Mikraj.
    assert CAL.add_working_days(date(2026, 12, 23), 5) == date(2027, 1, 4)
    assert CAL.add_working_days(date(2026, 12, 23), 6) == date(2027, 1, 6)
    assert CAL.working_days_between(date(2026, 12, 23), date(2027, 1, 8)) == 8


def test_policy_removed_cuti_bersama_becomes_a_working_day() -> None:
    cal = WorkingCalendar(removed=[date(2026, 12, 24)])
    assert cal.is_working_day(date(2026, 12, 24))
    assert cal.holiday_name(date(2026, 12, 24)) is None
    assert cal.add_working_days(date(2026, 12, 23), 1) == date(2026, 12, 24)
    # Natal itself stays closed.
    assert not cal.is_working_day(date(2026, 12, 25))


def test_removing_a_weekend_holiday_does_not_open_the_weekend() -> None:
    cal = WorkingCalendar(removed=[date(2026, 3, 21)])
    assert not cal.is_working_day(date(2026, 3, 21))


def test_policy_added_regional_day_closes_it() -> None:
    cal = WorkingCalendar(added=[date(2026, 6, 2)])
    assert not cal.is_working_day(date(2026, 6, 2))
    assert cal.holiday_name(date(2026, 6, 2)) == POLICY_HOLIDAY_NAME
    # Fri 29 May: weekend, Pancasila (Mon 1 June), the regional day (Tue 2 June).
    assert cal.add_working_days(date(2026, 5, 29), 1) == date(2026, 6, 3)
    assert CAL.add_working_days(date(2026, 5, 29), 1) == date(2026, 6, 2)


def test_adding_a_known_holiday_keeps_its_name() -> None:
    cal = WorkingCalendar(added=[date(2026, 3, 19)])
    assert cal.holiday_name(date(2026, 3, 19)) == "Hari Suci Nyepi"


def test_holiday_names_are_indonesian() -> None:
    assert CAL.holiday_name(date(2026, 3, 18)) == "Cuti Bersama Hari Suci Nyepi"
    assert CAL.holiday_name(date(2027, 1, 1)) == "Tahun Baru Masehi"
    assert CAL.holiday_name(date(2026, 3, 7)) is None  # plain Saturday
    assert CAL.holiday_name(date(2026, 3, 2)) is None


def test_date_both_added_and_removed_is_rejected() -> None:
    with pytest.raises(ValueError, match="2026-06-02"):
        WorkingCalendar(added=[date(2026, 6, 2)], removed=[date(2026, 6, 2)])


def test_add_working_days_zero_and_negative() -> None:
    assert CAL.add_working_days(date(2026, 3, 7), 0) == date(2026, 3, 7)
    with pytest.raises(ValueError, match="-1"):
        CAL.add_working_days(date(2026, 3, 7), -1)


def test_working_days_between_empty_when_end_not_after_start() -> None:
    assert CAL.working_days_between(date(2026, 3, 5), date(2026, 3, 5)) == 0
    assert CAL.working_days_between(date(2026, 3, 5), date(2026, 3, 2)) == 0
    assert CAL.working_days_between(date(2026, 3, 4), date(2026, 3, 5)) == 1


def test_each_year_is_loaded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    real = holidays.country_holidays

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("years"))
        return real(*args, **kwargs)

    monkeypatch.setattr(holidays, "country_holidays", counting)
    cal = WorkingCalendar()
    for _ in range(100):
        cal.add_working_days(date(2026, 12, 20), 10)
    assert sorted(calls) == [2026, 2027]


def test_equal_adjustments_make_equal_calendars() -> None:
    a = WorkingCalendar(added=[date(2026, 6, 2)])
    assert a == WorkingCalendar(added=(date(2026, 6, 2),))
    assert hash(a) == hash(WorkingCalendar(added=[date(2026, 6, 2)]))
    assert a != CAL


@given(days_2020s, st.integers(min_value=0, max_value=40))
def test_add_working_days_lands_on_a_working_day_n_later(start: date, n: int) -> None:
    end = CAL.add_working_days(start, n)
    assert CAL.working_days_between(start, end) == n
    if n:
        assert CAL.is_working_day(end)
        # Nothing earlier would do: the day before has one working day fewer.
        assert CAL.working_days_between(start, end - timedelta(days=1)) == n - 1


@given(days_2020s, st.integers(min_value=0, max_value=400))
def test_working_days_between_matches_a_day_by_day_count(start: date, span: int) -> None:
    end = start + timedelta(days=span)
    brute = sum(CAL.is_working_day(start + timedelta(days=i)) for i in range(1, span + 1))
    assert CAL.working_days_between(start, end) == brute


@settings(deadline=None)
@given(days_2020s, st.integers(min_value=1, max_value=30), st.lists(days_2020s, max_size=5))
def test_adding_holidays_never_moves_a_day_earlier(start: date, n: int, extra: list[date]) -> None:
    cal = WorkingCalendar(added=extra)
    assert cal.add_working_days(start, n) >= CAL.add_working_days(start, n)
