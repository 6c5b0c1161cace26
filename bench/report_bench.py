"""Time ``laporflow report`` on a large synthetic history (docs/report.md).

Builds (or reuses) a PostgreSQL database holding a year of generated complaints in
several regions, applied by the real :class:`~engine.processor.Processor` (no broker),
then times :func:`engine.report.build_report` for one month and for the whole year,
next to the implementation of an older commit (``--old-commit``, loaded with ``git
show``), checks that both agree where their definitions do, and prints the query plans
(``EXPLAIN ANALYZE``) of the report's SQL.

    PYTHONPATH=$PWD python bench/report_bench.py \\
        --server-url postgresql+psycopg://laporflow@127.0.0.1:55432/laporflow

Prints the database URL it filled; pass it back with ``--database-url`` to time again
without rebuilding.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from engine.processor import Processor
from engine.report import build_report
from engine.report_query import period_windows, report_queries
from engine.schema import events_table
from engine.store import Store
from laporflow.demo_data import generate
from workflows.policy import Policy

ROOT = Path(__file__).resolve().parents[1]
REGIONS = ("HSU", "TAPIN")


@dataclass
class _Rec:
    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes


def _fresh_database(server_url: str) -> str:
    import psycopg

    url = make_url(server_url)
    name = f"bench_report_{uuid.uuid4().hex[:8]}"
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


def fill(database_url: str, complaints_per_region: int, start: date, days: int) -> None:
    """Apply a generated history of every region, in issued_at order, in batches."""
    store = Store(database_url)
    store.migrate()
    policy = Policy.default()
    records = []
    for i, region in enumerate(REGIONS):
        _, generated = generate(
            seed=100 + i, complaints=complaints_per_region, start=start, days=days, region=region
        )
        records.extend(generated)
    records.sort(key=lambda r: r.issued_at)
    as_of = datetime.combine(start + timedelta(days=days + 1), datetime.min.time(), ZoneInfo("UTC"))
    started = time.perf_counter()
    batch = 2000
    for offset in range(0, len(records), batch):
        chunk = records[offset : offset + batch]
        last = chunk[-1].issued_at
        processor = Processor(store, policy=policy, clock=lambda last=last: last)
        processor.process(
            [_Rec("lapor.commands", 0, offset + j, r.key, r.value) for j, r in enumerate(chunk)]
        )
    # Caught up: let the last timers fire up to the end of the period.
    Processor(store, policy=policy, clock=lambda: as_of).process([], caught_up=[0])
    with store.connect("counting") as conn:
        events = conn.execute(select(func.count()).select_from(events_table)).scalar_one()
        conn.execute(text("ANALYZE"))
    print(
        f"filled {len(records)} records -> {events} events in {time.perf_counter() - started:.1f} s"
    )
    store.close()


def _old_module(commit: str) -> ModuleType:
    source = subprocess.run(
        ["git", "show", f"{commit}:engine/report.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "old_report.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("old_report", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_report"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _time(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    result = None
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - started)
    return seconds, result


def _explain(store: Store, policy: Policy, since: date, until: date) -> None:
    windows = period_windows(policy, since=since, until=until)
    with store.connect("explain") as conn:
        queries = report_queries(windows)
        for label in ("received", "escalations", "settled", "open_breaches"):
            query = getattr(queries, label)
            sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
            plan = conn.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")).scalars().all()
            print(f"\n--- {label}\n" + "\n".join(plan))


def main() -> None:
    """Fill (unless given a database) and time the report, new and old."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-url", help="PostgreSQL server URL; a fresh database is made")
    parser.add_argument("--database-url", help="an already filled database")
    parser.add_argument("--complaints", type=int, default=14_000, help="per region")
    parser.add_argument("--old-commit", default="8395ee8")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    start, days = date(2025, 7, 1), 365
    database_url = args.database_url
    if database_url is None:
        if args.server_url is None:
            sys.exit("give --server-url or --database-url")
        database_url = _fresh_database(args.server_url)
        fill(database_url, args.complaints, start, days)
    print(f"database: {database_url}")
    store = Store(database_url)
    policy = Policy.default()
    old = _old_module(args.old_commit)
    month = {"since": date(2026, 3, 1), "until": date(2026, 3, 31)}
    cases: dict[str, dict[str, Any]] = {
        "one month, all regions": month,
        "one month, one region": {**month, "region": "HSU"},
        "whole history": {},
    }
    for label, kw in cases.items():
        new_s, new_rows = _time(lambda kw=kw: build_report(store, policy, **kw), args.repeat)
        old_s, old_rows = _time(lambda kw=kw: old.build_report(store, policy, **kw), args.repeat)
        # Where the definitions did not change, both must agree.
        same = ("received", "followed_up", "median_follow_up_working_days", "escalations")
        new_view = [(r.skpd, *(getattr(r, f) for f in same)) for r in new_rows]
        old_view = [(r.skpd, *(getattr(r, f) for f in same)) for r in old_rows]
        agree = "agree" if new_view == old_view else "DIFFER"
        print(
            f"{label:<24} new median {statistics.median(new_s) * 1000:8.1f} ms "
            f"(min {min(new_s) * 1000:.1f})   old median {statistics.median(old_s) * 1000:8.1f} ms "
            f"(min {min(old_s) * 1000:.1f})   received/followed/median/escalations {agree}"
        )
    _explain(store, policy, month["since"], month["until"])
    store.close()


if __name__ == "__main__":
    main()
