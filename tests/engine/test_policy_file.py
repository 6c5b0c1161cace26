"""Loading the policy YAML: defaults, the contract example, and errors that name keys."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import ValidationError

from engine.errors import ConfigError, PolicyError
from engine.policy_file import load_policy
from workflows.policy import Policy

CONTRACT_EXAMPLE = """\
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


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_none_means_defaults() -> None:
    assert load_policy(None) == Policy.default()


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "---\n"])
def test_empty_file_means_defaults(tmp_path: Path, text: str) -> None:
    assert load_policy(write(tmp_path, text)) == Policy.default()


def test_contract_example_loads(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, CONTRACT_EXAMPLE))
    assert policy.limit("follow_up", region="HSU", skpd="DINKES", category="bencana") == 3
    assert policy.limit("follow_up", region="ACEH", skpd=None, category=None) == 7
    assert policy.timezone("ACEH") == ZoneInfo("Asia/Jakarta")
    assert not policy.calendar.is_working_day(date(2026, 6, 2))
    assert policy.fingerprint != Policy.default().fingerprint


def test_str_path_and_unquoted_dates(tmp_path: Path) -> None:
    path = write(tmp_path, "holidays:\n  add: [2026-06-02]\n  remove: [2026-12-24]\n")
    policy = load_policy(str(path))
    assert policy.holidays.add == (date(2026, 6, 2),)
    assert policy.calendar.is_working_day(date(2026, 12, 24))


def test_unknown_key_is_named_with_its_path_and_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "regions:\n  HSU: {clokcs: {follow_up: 3}}\n")
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    message = str(info.value)
    assert "unknown key 'regions.HSU.clokcs'" in message
    assert str(path) in message
    assert info.value.context == {"path": str(path)}
    assert isinstance(info.value.__cause__, ValidationError)
    assert isinstance(info.value, ConfigError)


def test_every_problem_is_listed(tmp_path: Path) -> None:
    text = """\
defaults:
  timezone: Asia/Makasar
  warning_fraction: 1.5
holidays: {add: ["2026-06-02", "bogus"]}
escalation: {resolutoin: [a]}
"""
    with pytest.raises(PolicyError) as info:
        load_policy(write(tmp_path, text))
    message = str(info.value)
    assert "bad value at 'defaults.timezone': unknown time zone 'Asia/Makasar'" in message
    assert "bad value at 'defaults.warning_fraction'" in message
    assert "bad value at 'holidays.add[1]'" in message
    assert "'bogus'" in message
    assert "unknown key 'escalation.resolutoin'" in message


def test_bad_mapping_key_is_named(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"bad key 1 in 'regions'"):
        load_policy(write(tmp_path, "regions:\n  1: {}\n"))


def test_yaml_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, "defaults: {timezone: Asia/Makassar\n")
    with pytest.raises(PolicyError, match="not valid YAML") as info:
        load_policy(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value.__cause__, yaml.YAMLError)


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "regions:\n  HSU: {}\n  HSU: {timezone: Asia/Jakarta}\n")
    with pytest.raises(PolicyError, match="duplicate key 'HSU'"):
        load_policy(path)


def test_merge_keys_may_be_overridden(tmp_path: Path) -> None:
    text = """\
regions:
  HSU: &kalsel {timezone: Asia/Makassar, clocks: {follow_up: 3}}
  TABALONG: {<<: *kalsel, timezone: Asia/Makassar}
"""
    policy = load_policy(write(tmp_path, text))
    assert policy.limit("follow_up", region="TABALONG", skpd=None, category=None) == 3


@pytest.mark.parametrize(("text", "kind"), [("- a\n- b\n", "list"), ("42\n", "int")])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str, kind: str) -> None:
    with pytest.raises(PolicyError, match=f"must be a mapping.*got a {kind}"):
        load_policy(write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(PolicyError, match="cannot read") as info:
        load_policy(path)
    assert isinstance(info.value.__cause__, FileNotFoundError)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_bytes(b"defaults: {timezone: \xff}\n")
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(path)


def test_unknown_key_inside_the_directory_section_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "skpds:\n  HSU: {PUPR: {nama: Dinas PUPR}}\n")
    with pytest.raises(PolicyError, match=r"skpds\.HSU\.PUPR"):
        load_policy(path)
