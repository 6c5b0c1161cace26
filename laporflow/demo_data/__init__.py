"""Deterministic demo traffic for the ``lapor.commands`` topic.

:func:`generate` plays a regency's season of SP4N-LAPOR! complaints (by default Hulu
Sungai Utara, a quarter of 2026) and returns it as Kafka records, ready to produce: key
the complaint id, value the command JSON of CONTRACT §2. Everything comes from one seeded
:class:`random.Random`, so the same arguments always give the same bytes.

The traffic is meant to exercise the whole engine, not just the happy path:

* **lifecycle** records: each complaint's commands in a valid order. Admins and SKPD
  liaison officers work 07:30-16:00 WITA on weekdays; complainants act at any hour,
  weekends included. Some verifications are late (verification SLA breaches), a few SKPDs
  are chronically slow to follow up (follow-up breaches per SKPD), about 30% of
  followed-up complaints are never resolved by the complainant (left for the engine's
  ``auto_close``), and a resolve or reply always comes within 9 calendar days of the last
  follow-up, so before ``auto_close`` (10 working days) could fire.
* **duplicate** records: a lifecycle record re-sent verbatim (same key and bytes)
  seconds to minutes later.
* **forbidden** records: well-formed commands the engine must reject (follow-up of a
  complaint that is only submitted, dispatch by a complainant, resolve of an archived
  complaint, a second submit with other content).
* **unknown_complaint** records: verifies of ids never submitted (``HSU-2026-9xxxxx``).
* **invalid** records: bytes that are not a valid command at all (not JSON, truncated,
  invalid UTF-8, wrong schema); they belong in ``lapor.dlq``.

Records come sorted by :attr:`DemoRecord.issued_at` (stable, so a complaint's commands
keep their order). Complaints are submitted within ``[start, start + days)``; their later
commands may run a few weeks past that window. Working days here are Monday to Friday;
holidays are the engine's business (they only make its deadlines later).

The package, one job per module: :mod:`.records` (what is returned), :mod:`.region`
(the region's data from ``lapor/data/hsu.yaml`` and its tempo), :mod:`.lifecycle` (the
lifecycle simulator), :mod:`.faults` (duplicates, forbidden, unknown and invalid records),
and this module (the API).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Final

from laporflow.demo_data.faults import duplicates, forbidden, invalid, unknown
from laporflow.demo_data.lifecycle import Generator
from laporflow.demo_data.records import (
    DEFAULT_MIX,
    KINDS,
    WITA,
    DemoMix,
    DemoRecord,
    DemoRegion,
)
from laporflow.demo_data.region import DATA, category_skpds

__all__ = [
    "DEFAULT_MIX",
    "KINDS",
    "WITA",
    "DemoMix",
    "DemoRecord",
    "DemoRegion",
    "describe",
    "expected_kinds",
    "generate",
]

_REGION_RE: Final = re.compile(r"^[A-Za-z0-9._-]{1,40}$")
_MAX_COMPLAINTS: Final = 899_999  # ids from 900000 up are reserved for unknown complaints


def generate(
    *,
    seed: int = 2026,
    complaints: int = 3000,
    start: date = date(2026, 1, 5),
    days: int = 91,
    region: str = "HSU",
    mix: DemoMix = DEFAULT_MIX,
) -> tuple[DemoRegion, list[DemoRecord]]:
    """Generate ``complaints`` complaints submitted over ``days`` days from ``start``.

    Returns the region and its ``lapor.commands`` records sorted by ``issued_at``
    (stable). The same arguments always give the same records, byte for byte.
    """
    if not _REGION_RE.match(region):
        raise ValueError(f"region must be 1..40 chars of [A-Za-z0-9._-], got {region!r}")
    if not 1 <= complaints <= _MAX_COMPLAINTS:
        raise ValueError(f"complaints must be within 1..{_MAX_COMPLAINTS}, got {complaints}")
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    demo_region = DemoRegion(
        region=region,
        timezone="Asia/Makassar",
        skpds=DATA.skpds,
        admin_id=f"diskominfo-{region.lower()}",
        slow_skpds=DATA.slow_skpds,
        categories=category_skpds(),
    )
    gen = Generator(random.Random(seed), demo_region, mix, start, days)
    gen.make_complaints(complaints)
    duplicates(gen)
    forbidden(gen)
    unknown(gen)
    invalid(gen)
    records = gen.lifecycle + gen.extras
    records.sort(key=lambda r: r.issued_at)
    return demo_region, records


def expected_kinds(records: Iterable[DemoRecord]) -> dict[str, int]:
    """Count records per kind: every kind of :data:`KINDS`, in that order, zeros included."""
    counts = Counter(r.kind for r in records)
    return {kind: counts.get(kind, 0) for kind in KINDS}


def describe(region: DemoRegion, records: Sequence[DemoRecord]) -> str:
    """One line summing up a generated traffic: region, size, time span and kinds."""
    kinds = expected_kinds(records)
    complaints = len({r.key for r in records if r.kind == "lifecycle"})
    span = f"{records[0].issued_at.date()}..{records[-1].issued_at.date()}" if records else "empty"
    mix = ", ".join(f"{kind} {count}" for kind, count in kinds.items())
    return (
        f"{region.region} ({region.timezone}): {complaints} complaints, "
        f"{len(region.skpds)} SKPDs, {len(records)} records {span}: {mix}"
    )
