"""The timer burst of ``make bench`` alone: due timers firing while commands flow.

    PYTHONPATH=$PWD python bench/burst.py [--stored N] [--due D] [--spy DIR]

Seeds a fresh PostgreSQL database with ``N`` open complaints, ``D`` of them overdue
(five timer events each: warning, breach, escalation levels 1 to 3), starts a real
``laporflow run`` on it and sends 500 commands/s for 10 s. Prints how long the timer
events took to reach ``lapor.events`` and the commands' p99 meanwhile: the
``timer_burst_s`` and ``latency_ms_p99_during_burst`` of ``bench/e2e.py``, in about a
minute at the default sizes (``make bench`` seeds 1,000,000). ``--spy DIR`` records
py-spy profiles of the engine and its relay into ``DIR`` (see ``bench/backlog.py``).
"""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import e2e


def main() -> None:
    """Seed, run the burst, print its measures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stored", type=int, default=50_000)
    parser.add_argument("--due", type=int, default=2_000)
    parser.add_argument("--spy", type=Path, help="record py-spy profiles into this folder")
    args = parser.parse_args()
    bootstrap, pg = e2e.services()
    label = f"M{uuid.uuid4().hex[:6]}"
    database = e2e.fresh_database(pg, f"bench_burst_{label.lower()}")
    e2e.seed(database, args.stored, args.due, datetime.now(UTC), label)
    results, _ = e2e.timer_burst(bootstrap, database, label, args.due, 500, 10, args.spy)
    print(
        f"burst {results['timer_burst_s']} s for {results['timer_burst_events']:,} timer "
        f"events, command p99 during it {results['latency_ms_p99_during_burst']} ms "
        f"over {results['commands_during_burst']:,} commands"
    )


if __name__ == "__main__":
    try:
        main()
    finally:
        e2e.drop_databases()
