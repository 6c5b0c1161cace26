"""Micro-benchmark of the 5-second gauge refresh against a large stored table.

    LAPORFLOW_TEST_DATABASE_URL=... PYTHONPATH=$PWD python bench/gauge_micro.py [--stored N]

Seeds ``N`` dispatched complaints (as bench/e2e.py does, with PostgreSQL COPY) into a
fresh database, then prints the median of 5 timed ``refresh_gauges`` calls.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.e2e import fresh_database, seed
from engine.store import Store
from laporflow.runtime import refresh_gauges


def main() -> None:
    """Seed, then time the refresh."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--stored", type=int, default=200_000)
    parser.add_argument("--database", default=f"gauge_{os.getpid()}")
    args = parser.parse_args()
    url = fresh_database(os.environ["LAPORFLOW_TEST_DATABASE_URL"], args.database)
    seed(url, args.stored, args.stored // 100, datetime.now(UTC), "G")
    store = Store(url)
    times = []
    for _ in range(5):
        started = time.perf_counter()
        refresh_gauges(store, datetime.now(UTC))
        times.append((time.perf_counter() - started) * 1000)
    store.close()
    print(f"gauge_refresh_ms={statistics.median(times):.1f} stored={args.stored} (median of 5)")


if __name__ == "__main__":
    main()
