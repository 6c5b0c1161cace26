"""Micro-benchmark of the engine's batch path: decode, decide, load and write, no Kafka.

    PYTHONPATH=$PWD python bench/engine_micro.py [--sqlite] [--complaints N] [--repeat R]

Applies fresh full lifecycles in batches of 1,000 records to a fresh database (the
PostgreSQL of LAPORFLOW_TEST_DATABASE_URL, or a temporary SQLite file) and prints the
median over ``R`` runs of microseconds per applied transition: wall time, and the
engine process's own CPU time (what the engine costs, apart from the database).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.e2e import apply_in_batches, drop_databases, fresh_database, lifecycle_records
from engine.processor import Processor
from engine.store import Store
from workflows.policy import Policy


def once(url: str, complaints: int) -> tuple[float, float]:
    """(wall µs, CPU µs) per applied transition over ``complaints`` lifecycles."""
    store = Store(url)
    store.migrate()
    processor = Processor(store, policy=Policy.default())
    records = lifecycle_records("bench.micro", f"m{uuid.uuid4().hex[:6]}", complaints)
    wall, cpu = time.perf_counter(), time.process_time()
    applied = apply_in_batches(processor, records)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    store.close()
    return wall / applied * 1e6, cpu / applied * 1e6


def main() -> None:
    """Run and print medians."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--complaints", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sqlite", action="store_true")
    args = parser.parse_args()
    runs = []
    for n in range(args.repeat):
        if args.sqlite:
            url = f"sqlite:///{tempfile.mkdtemp()}/micro.db"
        else:
            base = os.environ["LAPORFLOW_TEST_DATABASE_URL"]
            url = fresh_database(base, f"micro_{os.getpid()}_{n}")
        runs.append(once(url, args.complaints))
    wall = statistics.median(r[0] for r in runs)
    cpu = statistics.median(r[1] for r in runs)
    print(f"us_per_transition wall={wall:.1f} cpu={cpu:.1f} (median of {args.repeat})")


if __name__ == "__main__":
    try:
        main()
    finally:
        drop_databases()
