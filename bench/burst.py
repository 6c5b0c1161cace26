"""The timer burst of ``make bench`` alone: due timers firing while commands flow.

    PYTHONPATH=$PWD python bench/burst.py [--stored N] [--due D] [--spy DIR] [--template NAME]

Seeds a fresh PostgreSQL database with ``N`` open complaints, ``D`` of them overdue
(five timer events each: warning, breach, escalation levels 1 to 3), starts a real
``laporflow run`` on it and sends 500 commands/s for 10 s. Prints how long the timer
events took to reach ``lapor.events`` and the commands' p99 meanwhile: the
``timer_burst_s`` and ``latency_ms_p99_during_burst`` of ``bench/e2e.py``, in about a
minute at the default sizes (``make bench`` seeds 1,000,000). ``--spy DIR`` records
py-spy profiles of the engine and its relay into ``DIR`` (see ``bench/backlog.py``).

``--template NAME`` seeds the database ``NAME`` once (kept, then vacuumed and
checkpointed) and runs each burst on a copy of it (``CREATE DATABASE ... TEMPLATE``):
at 1,000,000 stored a run takes about 75 s instead of about 4 minutes, which makes
interleaved A/B pairs at the issue's size affordable. Drop ``NAME`` by hand when done.
"""

from __future__ import annotations

import argparse
import sys
import time
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
    parser.add_argument("--template", help="seed this database once; burst on copies of it")
    args = parser.parse_args()
    bootstrap, pg = e2e.services()
    if args.template:
        label = "MTPL"
        database = copy_of_template(pg, args.template, args.stored, args.due, label)
    else:
        label = f"M{uuid.uuid4().hex[:6]}"
        database = e2e.fresh_database(pg, f"bench_burst_{label.lower()}")
        e2e.seed(database, args.stored, args.due, datetime.now(UTC), label)
    results, _ = e2e.timer_burst(bootstrap, database, label, args.due, 500, 10, args.spy)
    print(
        f"burst {results['timer_burst_s']} s for {results['timer_burst_events']:,} timer "
        f"events, command p99 during it {results['latency_ms_p99_during_burst']} ms "
        f"over {results['commands_during_burst']:,} commands; the watcher read them "
        f"{results['watcher_behind_ms_p99_during_burst']} ms (p99) after their send, the "
        f"timer events {results['watcher_behind_ms_p99_timer_events']} ms"
    )


def copy_of_template(pg: str, template: str, stored: int, due: int, label: str) -> str:
    """A fresh copy of ``template``, seeded first if it does not exist; its URL.

    The template's overdue complaints stay overdue, so every copy has the same burst;
    its other deadlines lie days ahead. A template seeded with other sizes is reused
    as it is: name templates by their sizes.
    """
    import psycopg

    with psycopg.connect(e2e.conninfo(pg), autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (template,)
        ).fetchone()
    if exists is None:
        # Seeded under another name and renamed when complete: an interrupted seed
        # never passes for a template.
        seeding = e2e.fresh_database(pg, f"{template}_seeding")
        e2e.seed(seeding, stored, due, datetime.now(UTC), label)
        with psycopg.connect(e2e.conninfo(seeding), autocommit=True) as conn:
            # As a store that has lived for years is: vacuumed, so no autovacuum of
            # the bulk load runs in a copy while it is measured.
            conn.execute("VACUUM (ANALYZE)")
        with psycopg.connect(e2e.conninfo(pg), autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{template}_seeding" RENAME TO "{template}"')
        e2e.log(f"seeded {template}: kept for the next runs (drop it by hand when done)")
    started = time.perf_counter()
    database = e2e.fresh_database(pg, f"bench_burst_{uuid.uuid4().hex[:6]}", template)
    e2e.log(f"copied {template} in {time.perf_counter() - started:.1f} s")
    # The copy went through the WAL: write it out now, not during the burst.
    e2e.checkpoint(pg)
    return database


if __name__ == "__main__":
    try:
        main()
    finally:
        e2e.drop_databases()
