"""Settings read from ``LAPORFLOW_*`` variables."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from engine.settings import Settings


def test_max_future_skew_defaults_to_five_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAPORFLOW_MAX_FUTURE_SKEW", raising=False)
    assert Settings().max_future_skew == timedelta(minutes=5)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("300", timedelta(seconds=300)),
        ("300s", timedelta(seconds=300)),
        ("5m", timedelta(minutes=5)),
        ("1.5h", timedelta(minutes=90)),
        ("1d", timedelta(days=1)),
        ("0", timedelta(0)),
        ("PT10M", timedelta(minutes=10)),
    ],
)
def test_max_future_skew_reads_seconds_or_a_duration(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: timedelta
) -> None:
    monkeypatch.setenv("LAPORFLOW_MAX_FUTURE_SKEW", value)
    assert Settings().max_future_skew == expected


@pytest.mark.parametrize("value", ["soon", "5 minutes", "-5m"])
def test_a_bad_max_future_skew_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("LAPORFLOW_MAX_FUTURE_SKEW", value)
    with pytest.raises(ValidationError, match="max_future_skew"):
        Settings()
