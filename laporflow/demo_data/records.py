"""The records of the demo traffic and their shares: what :func:`generate` returns.

Also the time helpers every part of the generator shares (office hours in WITA,
Monday-Friday working days) and the command encoding.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Final

__all__ = [
    "DEFAULT_MIX",
    "KINDS",
    "WITA",
    "WORK_SECONDS",
    "WORK_START",
    "DemoMix",
    "DemoRecord",
    "DemoRegion",
    "add_workdays",
    "encode",
    "in_work_hours",
    "iso",
]

WITA: Final = timezone(timedelta(hours=8), "WITA")
"""Waktu Indonesia Tengah (Asia/Makassar, UTC+8): the offset of every ``issued_at``."""

KINDS: Final[tuple[str, ...]] = (
    "lifecycle",
    "duplicate",
    "forbidden",
    "unknown_complaint",
    "invalid",
)
"""Every :attr:`DemoRecord.kind`, in report order."""


WORK_START: Final = time(7, 30)
WORK_SECONDS: Final = (16 * 60 - (7 * 60 + 30)) * 60  # 07:30-16:00


@dataclass(frozen=True)
class DemoRecord:
    """One Kafka record for ``lapor.commands`` and what the generator meant by it.

    ``issued_at`` is the command's own ``issued_at`` for lifecycle, forbidden and
    unknown-complaint records; for a duplicate it is the moment of the re-send (the bytes
    keep the original time); for an invalid record, the moment it was injected.
    """

    key: bytes
    value: bytes
    kind: str
    issued_at: datetime


@dataclass(frozen=True)
class DemoRegion:
    """The region the traffic belongs to: its code, time zone and SKPDs (code, name)."""

    region: str
    timezone: str
    skpds: tuple[tuple[str, str], ...]
    admin_id: str = ""
    slow_skpds: tuple[str, ...] = ()
    categories: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def skpd_name(self, code: str) -> str:
        """Return the full name of the SKPD ``code`` (the code itself when unknown)."""
        return dict(self.skpds).get(code, code)


@dataclass(frozen=True)
class DemoMix:
    """Shares of the generated traffic.

    Complaint paths (``archived`` ... ``extra_follow_up``) are shares of all complaints;
    ``auto_close`` is the share of complaints ending ``followed_up`` that the complainant
    never resolves. ``duplicate``, ``forbidden`` and ``invalid`` are shares of the
    lifecycle commands (invalid: at least one record of each variant);
    ``unknown_complaint`` is a share of complaints (at least 3).
    """

    archived: float = 0.06
    left_open: float = 0.015
    returned: float = 0.07
    replied: float = 0.06
    reopened: float = 0.03
    deferred: float = 0.03
    extra_follow_up: float = 0.04
    auto_close: float = 0.30
    admin_submit: float = 0.08
    anonymous: float = 0.15
    confidential: float = 0.05
    duplicate: float = 0.02
    forbidden: float = 0.01
    unknown_complaint: float = 0.003
    invalid: float = 0.005

    def __post_init__(self) -> None:
        for name, share in vars(self).items():
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"DemoMix.{name} must be within 0..1, got {share!r}")
        handled = 1.0 - self.archived - self.left_open
        if handled <= 0.0:
            raise ValueError("DemoMix.archived + DemoMix.left_open must stay below 1")
        for name in ("returned", "replied", "reopened", "deferred", "extra_follow_up"):
            if getattr(self, name) > handled:
                raise ValueError(f"DemoMix.{name} exceeds the share of dispatched complaints")


DEFAULT_MIX: Final = DemoMix()
"""The proportions :func:`generate` uses unless told otherwise."""


def add_workdays(day: date, n: int) -> date:
    """The ``n``-th Monday-Friday after ``day``; for ``n == 0`` ``day`` or the next weekday."""
    if n == 0:
        while day.weekday() >= 5:
            day += timedelta(days=1)
        return day
    for _ in range(n):
        day += timedelta(days=1)
        while day.weekday() >= 5:
            day += timedelta(days=1)
    return day


def in_work_hours(at: datetime) -> bool:
    """True between 07:30 and 16:00 WITA on a weekday."""
    start = datetime.combine(at.date(), WORK_START, WITA)
    return at.weekday() < 5 and start <= at < start + timedelta(seconds=WORK_SECONDS)


def iso(at: datetime) -> str:
    """RFC 3339 with seconds and the offset, as commands carry it."""
    return at.isoformat(timespec="seconds")


def encode(doc: Any) -> bytes:
    """Compact UTF-8 JSON, as the demo produces it."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
