"""Policy model: defaults, precedence, time zones, escalation chains, validation."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import ValidationError

from workflows.calendar import WorkingCalendar
from workflows.policy import ClockLimits, Policy
from workflows.sla import CLOCK_NAMES

# The example policy of CONTRACT §4, verbatim.
CONTRACT_EXAMPLE = """
defaults:
  timezone: Asia/Makassar          # for regions not listed below
  clocks: {verification: 3, follow_up: 5, resolution: 60, auto_close: 10}
  warning_fraction: 0.8
regions:
  HSU: {timezone: Asia/Makassar}
  ACEH: {timezone: Asia/Jakarta, clocks: {follow_up: 7}}
skpd: {"HSU/DINKES": {clocks: {follow_up: 3}}}      # region/SKPD overrides
categories: {"bencana": {clocks: {follow_up: 1}}}   # category overrides
holidays: {add: ["2026-06-02"], remove: []}
escalation:
  follow_up: [kepala_skpd, sekda, koordinator_provinsi]
  verification: [kepala_diskominfo, sekda, koordinator_provinsi]
"""


@pytest.fixture
def example() -> Policy:
    return Policy.model_validate(yaml.safe_load(CONTRACT_EXAMPLE))


def errors_of(data: dict[str, Any]) -> list[tuple[tuple[int | str, ...], str, str]]:
    with pytest.raises(ValidationError) as info:
        Policy.model_validate(data)
    return [(e["loc"], e["type"], e["msg"]) for e in info.value.errors()]


def test_defaults_are_the_contracts() -> None:
    policy = Policy.default()
    limits = {
        clock: policy.limit(clock, region=None, skpd=None, category=None) for clock in CLOCK_NAMES
    }
    assert limits == {"verification": 3, "follow_up": 5, "resolution": 60, "auto_close": 10}
    assert policy.timezone(None) == ZoneInfo("Asia/Makassar")
    assert policy.warning_fraction == 0.8
    assert policy.escalation_target("follow_up", 1) == "kepala_skpd"
    assert policy.escalation_target("resolution", 2) == "sekda"
    assert policy.escalation_target("auto_close", 3) == "koordinator_provinsi"
    assert policy.escalation_target("verification", 1) == "kepala_diskominfo"
    assert policy.calendar == WorkingCalendar()


def test_precedence_skpd_over_category_over_region_over_defaults(example: Policy) -> None:
    def follow_up(region: str | None, skpd: str | None, category: str | None) -> int:
        return example.limit("follow_up", region=region, skpd=skpd, category=category)

    assert follow_up("HSU", "DINKES", "bencana") == 3  # skpd wins over category
    assert follow_up("HSU", "PUPR", "bencana") == 1  # category over defaults
    assert follow_up("ACEH", "DINKES", "bencana") == 1  # category over region
    assert follow_up("ACEH", "DINKES", "jalan") == 7  # region (no ACEH/DINKES entry)
    assert follow_up("HSU", "PUPR", None) == 5  # defaults
    assert follow_up("TABALONG", None, None) == 5  # unknown region inherits
    assert follow_up(None, "DINKES", None) == 5  # SKPD keys need their region
    # Overrides are per clock: the others inherit from less specific layers.
    assert example.limit("verification", region="HSU", skpd="DINKES", category="bencana") == 3


def test_partial_layers_fall_through_per_clock() -> None:
    policy = Policy.model_validate(
        {
            "defaults": {"clocks": {"resolution": 30}},
            "regions": {"KALTIM": {"clocks": {"follow_up": 15}}},
            "skpd": {"KALTIM/PUPR": {"clocks": {"verification": 2}}},
        }
    )
    assert policy.limit("follow_up", region="KALTIM", skpd="PUPR", category=None) == 15
    assert policy.limit("verification", region="KALTIM", skpd="PUPR", category=None) == 2
    assert policy.limit("resolution", region="KALTIM", skpd="PUPR", category=None) == 30
    assert policy.limit("auto_close", region="KALTIM", skpd="PUPR", category=None) == 10


def test_timezones(example: Policy) -> None:
    assert example.timezone("ACEH") == ZoneInfo("Asia/Jakarta")
    assert example.timezone("HSU") == ZoneInfo("Asia/Makassar")
    assert example.timezone("UNLISTED") == ZoneInfo("Asia/Makassar")
    papua = Policy.model_validate(
        {"defaults": {"timezone": "Asia/Jayapura"}, "regions": {"X": {"clocks": {}}}}
    )
    assert papua.timezone("X") == ZoneInfo("Asia/Jayapura")


def test_calendar_carries_the_policy_dates(example: Policy) -> None:
    assert not example.calendar.is_working_day(date(2026, 6, 2))
    assert Policy.default().calendar.is_working_day(date(2026, 6, 2))
    assert example.calendar is example.calendar  # built once


def test_removed_cuti_bersama_is_worked() -> None:
    policy = Policy.model_validate({"holidays": {"remove": ["2026-12-24"]}})
    assert policy.calendar.is_working_day(date(2026, 12, 24))


def test_short_escalation_chain_repeats_its_last_target() -> None:
    policy = Policy.model_validate({"escalation": {"follow_up": ["kepala_skpd", "bupati"]}})
    targets = [policy.escalation_target("follow_up", level) for level in (1, 2, 3)]
    assert targets == ["kepala_skpd", "bupati", "bupati"]
    # Other clocks keep their defaults.
    assert policy.escalation_target("verification", 1) == "kepala_diskominfo"
    with pytest.raises(ValueError, match="level"):
        policy.escalation_target("follow_up", 4)


def test_policy_is_frozen_and_hashable(example: Policy) -> None:
    with pytest.raises(ValidationError, match="frozen"):
        example.defaults = Policy.default().defaults
    again = Policy.model_validate(yaml.safe_load(CONTRACT_EXAMPLE))
    assert again == example
    assert len({example, again, Policy.default()}) == 2


def test_fingerprint_is_short_stable_and_normalized(example: Policy) -> None:
    explicit_defaults = Policy.model_validate(
        {
            "defaults": {
                "timezone": "Asia/Makassar",
                "clocks": {"verification": 3, "follow_up": 5, "resolution": 60, "auto_close": 10},
                "warning_fraction": 0.8,
            },
            "holidays": {"add": [], "remove": []},
        }
    )
    assert explicit_defaults.fingerprint == Policy.default().fingerprint
    assert len(example.fingerprint) == 12
    assert int(example.fingerprint, 16) >= 0
    assert example.fingerprint != Policy.default().fingerprint
    a = Policy.model_validate({"holidays": {"add": ["2026-06-02", "2026-01-02"]}})
    b = Policy.model_validate({"holidays": {"add": ["2026-01-02", "2026-06-02", "2026-01-02"]}})
    assert a.fingerprint == b.fingerprint
    assert a.holidays.add == (date(2026, 1, 2), date(2026, 6, 2))


def test_unknown_keys_are_named() -> None:
    found = errors_of(
        {"regions": {"HSU": {"clokcs": {"follow_up": 3}}}, "escalation": {"resolutoin": ["a"]}}
    )
    locs = {loc for loc, kind, _ in found if kind == "extra_forbidden"}
    assert locs == {("regions", "HSU", "clokcs"), ("escalation", "resolutoin")}
    assert errors_of({"sla": {}})[0][:2] == (("sla",), "extra_forbidden")
    assert errors_of({"defaults": {"clocks": {"folow_up": 3}}})[0][0] == (
        "defaults",
        "clocks",
        "folow_up",
    )


@pytest.mark.parametrize(
    ("data", "loc", "needle"),
    [
        ({"defaults": {"timezone": "Asia/Makasar"}}, ("defaults", "timezone"), "Asia/Makasar"),
        ({"regions": {"X": {"timezone": "WITA"}}}, ("regions", "X", "timezone"), "'WITA'"),
        ({"defaults": {"clocks": {"follow_up": 0}}}, ("defaults", "clocks", "follow_up"), "0"),
        ({"categories": {"c": {"clocks": {"resolution": -1}}}}, None, "greater than 0"),
        ({"defaults": {"clocks": {"verification": True}}}, None, "integer"),
        ({"defaults": {"clocks": {"verification": 2.5}}}, None, "integer"),
        ({"defaults": {"warning_fraction": 1.0}}, ("defaults", "warning_fraction"), "less"),
        ({"defaults": {"warning_fraction": 0}}, ("defaults", "warning_fraction"), "greater"),
        ({"holidays": {"add": ["2026-02-30"]}}, ("holidays", "add", 0), "date"),
        ({"holidays": {"add": ["2026-06-02"], "remove": ["2026-06-02"]}}, None, "2026-06-02"),
        ({"skpd": {"DINKES": {}}}, ("skpd",), "'DINKES'"),
        ({"escalation": {"follow_up": []}}, ("escalation", "follow_up"), "at least 1"),
        ({"escalation": {"follow_up": ["a", "b", "c", "d"]}}, None, "at most 3"),
        ({"escalation": {"follow_up": ["a", ""]}}, ("escalation", "follow_up", 1), "at least"),
    ],
)
def test_bad_values_are_named(
    data: dict[str, Any], loc: tuple[Any, ...] | None, needle: str
) -> None:
    found = errors_of(data)
    assert len(found) == 1
    got_loc, _, msg = found[0]
    assert got_loc[0] == next(iter(data))
    if loc is not None:
        assert got_loc == loc
    assert needle in msg


def test_clock_limits_lookup() -> None:
    limits = ClockLimits(follow_up=7)
    assert [limits.get(clock) for clock in CLOCK_NAMES] == [3, 7, 60, 10]


# --- the SKPD directory (skpds) ---------------------------------------------------------


def test_the_contract_skpds_line_lists_codes_without_names(example: Policy) -> None:
    policy = Policy.model_validate(
        {**yaml.safe_load(CONTRACT_EXAMPLE), "skpds": {"HSU": ["PUPR", "DINKES", "DISDIK", "DLH"]}}
    )
    assert policy.lists_skpds("HSU")
    assert not policy.lists_skpds("ACEH")
    assert not policy.lists_skpds(None)
    assert [policy.skpd_known("HSU", c) for c in ("PUPR", "DLH", "DINSOS", "pupr")] == [
        True,
        True,
        False,
        False,
    ]
    assert policy.skpd_known("ACEH", "ANYTHING")
    assert policy.skpd_known(None, "ANYTHING")
    assert policy.skpd_name("HSU", "PUPR") is None
    assert policy.listed_skpds() == {"PUPR", "DINKES", "DISDIK", "DLH"}
    assert policy.listed_regions() == {"HSU", "ACEH"}
    assert policy.fingerprint != example.fingerprint


def test_a_directory_may_carry_names() -> None:
    policy = Policy.model_validate(
        {
            "skpds": {
                "HSU": {"PUPR": "Dinas Pekerjaan Umum dan Penataan Ruang", "DLH": None},
                "BJM": {"PUPR": "Dinas PUPR Kota Banjarmasin", "DLH": "Dinas Lingkungan Hidup"},
            }
        }
    )
    assert policy.skpd_name("HSU", "PUPR") == "Dinas Pekerjaan Umum dan Penataan Ruang"
    assert policy.skpd_name("HSU", "DLH") is None
    assert policy.skpd_name("HSU", "NOPE") is None
    assert policy.skpd_name("ACEH", "PUPR") is None
    # Across regions: a name only where the regions listing it agree.
    assert policy.skpd_name(None, "DLH") == "Dinas Lingkungan Hidup"
    assert policy.skpd_name(None, "PUPR") is None
    assert policy.listed_regions() == {"HSU", "BJM"}


def test_both_directory_forms_give_the_same_policy() -> None:
    codes = Policy.model_validate({"skpds": {"HSU": ["PUPR", "DINKES"]}})
    mapping = Policy.model_validate({"skpds": {"HSU": {"PUPR": None, "DINKES": None}}})
    assert codes == mapping
    assert codes.fingerprint == mapping.fingerprint


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"skpds": {"HSU": ["PUPR", "DLH", "PUPR"]}}, "listed twice for region 'HSU': 'PUPR'"),
        ({"skpds": {"HSU": []}}, "directory of region 'HSU' is empty"),
        ({"skpds": {"HSU": {}}}, "directory of region 'HSU' is empty"),
        ({"skpds": {"HSU": ["DINAS PU"]}}, "pattern"),
        ({"skpds": {"HSU": ["X" * 65]}}, "at most 64"),
        ({"skpds": {"HSU": [7]}}, "string"),
        ({"skpds": {"HSU": {"PUPR": ""}}}, "at least 1"),
        ({"skpds": ["PUPR"]}, "dictionary"),
        ({"skpds": {"HSU": ["PUPR"]}, "skpd": {"HSU/DINKES": {}}}, "'HSU/DINKES'"),
    ],
)
def test_bad_directories_are_named(data: dict[str, Any], needle: str) -> None:
    found = errors_of(data)
    assert len(found) == 1
    assert needle in found[0][2]


def test_an_override_of_an_skpd_in_a_region_without_directory_is_fine() -> None:
    policy = Policy.model_validate(
        {"skpds": {"HSU": ["PUPR"]}, "skpd": {"HSU/PUPR": {}, "BJM/ANY": {}}}
    )
    assert policy.skpd_known("BJM", "ANY")


def test_with_skpds_adds_a_validated_directory(example: Policy) -> None:
    policy = example.with_skpds("HSU", {"DINKES": "Dinas Kesehatan", "PUPR": None})
    assert policy.skpd_name("HSU", "DINKES") == "Dinas Kesehatan"
    assert not policy.skpd_known("HSU", "DLH")
    assert policy.limit("follow_up", region="HSU", skpd="DINKES", category=None) == 3
    assert policy.fingerprint != example.fingerprint
    with pytest.raises(ValidationError, match="HSU/DINKES"):
        example.with_skpds("HSU", {"PUPR": None})  # the DINKES override needs DINKES listed


def test_targets_are_per_region_and_unknown_keys_are_errors() -> None:
    policy = Policy.model_validate({"targets": {"HSU": {"complaints_per_month": 40}}})
    assert policy.monthly_intake_target("HSU") == 40
    assert policy.monthly_intake_target("BJM") is None
    assert policy.fingerprint != Policy.default().fingerprint
    with pytest.raises(ValidationError, match="complaints_per_mont"):
        Policy.model_validate({"targets": {"HSU": {"complaints_per_mont": 40}}})
    with pytest.raises(ValidationError):
        Policy.model_validate({"targets": {"HSU": {"complaints_per_month": "40"}}})
