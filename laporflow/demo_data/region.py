"""The demo's region: Hulu Sungai Utara's data from ``lapor/data/hsu.yaml``, plus tempo.

The places, names, SKPDs and topic templates are data shared with the simulated national
LAPOR! (:mod:`lapor.regions`); what stays here is how fast the region works (delays in
working days) and when a topic is in season.
"""

from __future__ import annotations

from datetime import date
from typing import Final

from lapor.regions import RegionData, Topic, load_region

__all__ = [
    "ARCHIVE_DELAY",
    "CITIZEN_HOURS",
    "DATA",
    "DISPATCH_DELAY",
    "FOLLOW_UP_FAST",
    "FOLLOW_UP_NORMAL",
    "FOLLOW_UP_SLOW",
    "REDISPATCH_DELAY",
    "VERIFY_DELAY",
    "category_skpds",
    "season_factor",
]

DATA: Final[RegionData] = load_region("hsu")
"""Hulu Sungai Utara: SKPDs, villages, names, channels, text pools and topics."""

# Working days from one step to the next: (days, weight).
FOLLOW_UP_SLOW: Final = ((3, 5), (4, 10), (5, 15), (6, 25), (7, 25), (8, 20))
FOLLOW_UP_NORMAL: Final = ((1, 15), (2, 25), (3, 25), (4, 15), (5, 10), (6, 5), (7, 3), (8, 2))
FOLLOW_UP_FAST: Final = ((1, 45), (2, 35), (3, 15), (4, 5))
VERIFY_DELAY: Final = ((0, 30), (1, 30), (2, 20), (3, 12), (4, 8))
DISPATCH_DELAY: Final = ((0, 70), (1, 25), (2, 5))
REDISPATCH_DELAY: Final = ((0, 50), (1, 35), (2, 15))
ARCHIVE_DELAY: Final = ((0, 40), (1, 35), (2, 15), (3, 10))

#: Relative weight of each hour of the day (0-23) when complainants act.
CITIZEN_HOURS: Final[tuple[float, ...]] = (
    1, 0.5, 0.3, 0.3, 0.5, 1, 3, 5, 8, 9, 9, 8, 6, 7, 7, 7, 6, 5, 5, 7, 8, 7, 4, 2,
)  # fmt: skip


def season_factor(topic: Topic, day: date) -> float:
    """How much more (or less) often ``topic`` comes up on ``day``."""
    if topic.season == "hujan":
        return 2.0 if day.month in (11, 12, 1, 2) else 0.7
    if topic.season == "ramadan":
        return 1.0 if any(a <= day <= b for a, b in DATA.ramadan) else 0.0
    return 1.0


def category_skpds() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each category with the SKPDs that hold authority over it, in topic order."""
    by_category: dict[str, list[str]] = {}
    for topic in DATA.topics:
        codes = by_category.setdefault(topic.category, [])
        codes.extend(s for s in topic.skpds if s not in codes)
    return tuple((category, tuple(codes)) for category, codes in by_category.items())
