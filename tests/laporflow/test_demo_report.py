"""The demo's KPI table is consistent (issue 7): its quarter of traffic, applied by the
real processor on SQLite (no broker), then reported.

Before the §6 definitions, ``settled`` counted resolution events: in the default demo
(3,000 complaints) DINKES settled 233 complaints of the 231 it received, because
complaints reopened and resolved again were counted twice. A smaller run here keeps the
test short; it has such complaints too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine.processor import Processor
from engine.report import SkpdRow, build_report
from engine.store import Store
from laporflow.demo_data import generate
from workflows.policy import Policy


@dataclass(frozen=True)
class Rec:
    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The demo's traffic (seed 2026, 600 complaints), as ``laporflow demo`` runs it."""
    region, records = generate(seed=2026, complaints=600, start=date(2026, 1, 5), days=91)
    tz = ZoneInfo(region.timezone)
    as_of = datetime.combine(
        max(r.issued_at for r in records).date() + timedelta(days=1), datetime.min.time(), tz
    )
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}")
    store.migrate()
    processor = Processor(store, policy=Policy.default(), clock=lambda: as_of)
    for start in range(0, len(records), 2000):
        chunk = records[start : start + 2000]
        processor.process(
            [Rec("lapor.commands", 0, start + i, r.key, r.value) for i, r in enumerate(chunk)]
        )
    processor.process([], caught_up=[0])
    return store


def resolved_by_skpd(store: Store) -> Counter[str]:
    """Complaints resolved now, by the SKPD named on their latest resolution (Python)."""
    counts: Counter[str] = Counter()
    with store.connect("test") as conn:
        ids = [
            cid
            for (cid,) in conn.exec_driver_sql(
                "SELECT complaint_id FROM complaints WHERE state = 'resolved'"
            )
        ]
    for cid in ids:
        last = [e for e in store.history(cid) if e.type == "complaint.resolved"][-1]
        assert last.skpd is not None
        counts[last.skpd] += 1
    return counts


def test_demo_table_is_consistent(demo_store: Store) -> None:
    rows = build_report(demo_store, Policy.default(), region="HSU")
    # Complaints resolved, reopened and resolved again: each is settled once.
    with demo_store.connect("test") as conn:
        twice = conn.exec_driver_sql(
            "SELECT count(*) FROM (SELECT complaint_id FROM events"
            " WHERE type = 'complaint.resolved' GROUP BY complaint_id HAVING count(*) > 1) AS t"
        ).scalar_one()
    assert twice > 0
    assert sum(r.settled for r in rows) == sum(resolved_by_skpd(demo_store).values())
    for r in rows:
        # Over the whole history, every settled complaint was received and answered.
        assert r.settled <= r.followed_up <= r.received - r.returned, r
        assert r.auto_closed <= r.settled, r
        assert r.follow_up_rate is None or 0 <= r.follow_up_rate <= 1, r
    assert {r.skpd: r.settled for r in rows if r.settled} == dict(resolved_by_skpd(demo_store))
    assert sum(r.returned for r in rows) > 0
    assert 0 < sum(r.auto_closed for r in rows) < sum(r.settled for r in rows)


def test_demo_months_add_up(demo_store: Store) -> None:
    """Each complaint is settled in one month at most: the months sum to the quarter."""
    policy = Policy.default()
    whole: dict[str, SkpdRow] = {r.skpd: r for r in build_report(demo_store, policy)}
    # The quarter's commands, then its timers (auto-closes) until the engine's clock.
    months = [(date(2026, m, 1), date(2026, m + 1, 1) - timedelta(days=1)) for m in range(1, 8)]
    total: Counter[str] = Counter()
    for since, until in months:
        for r in build_report(demo_store, policy, since=since, until=until):
            for name in ("received", "followed_up", "returned", "settled", "auto_closed"):
                total[f"{r.skpd}.{name}"] += getattr(r, name)
    for skpd, r in whole.items():
        for name in ("received", "followed_up", "returned", "settled", "auto_closed"):
            assert total[f"{skpd}.{name}"] == getattr(r, name), (skpd, name)
