"""Micro-benchmark of the outbox relay's publish path: claim, send, flush, mark.

    PYTHONPATH=$PWD python bench/relay_micro.py [--complaints N] [--repeat R]

Fills a fresh PostgreSQL database's outbox by applying ``N`` full lifecycles in-process
(no relay running), then drains it to a fresh topic on the local Kafka with the relay
the engine uses, and prints the median over ``R`` runs of microseconds per published
record: wall time, and the relay's own CPU time (its process, sender thread included).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.e2e import PARTITIONS, drop_databases, fresh_database
from bench.engine_micro import once as fill
from engine.store import Store
from producers.kafka_io import ensure_topics, make_producer
from producers.relay import OutboxRelay


def _overrides() -> dict[str, int]:
    import json

    return json.loads(os.environ.get("RELAY_PRODUCER", "{}"))


def drain(url: str, bootstrap: str) -> tuple[float, float, int]:
    """(wall µs, CPU µs, records) to publish everything pending in ``url``'s outbox."""
    topic = f"bench-relay-{uuid.uuid4().hex[:6]}.lapor.events"
    ensure_topics(bootstrap, [topic], PARTITIONS)
    store = Store(url)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE outbox SET topic = %(t)s", {"t": topic})
    relay = OutboxRelay(store, make_producer(bootstrap, **_overrides()))
    wall, cpu = time.perf_counter(), time.process_time()
    published = relay.drain()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    relay.close()
    store.close()
    return wall / published * 1e6, cpu / published * 1e6, published


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--complaints", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    base = os.environ.get("LAPORFLOW_TEST_DATABASE_URL", "")
    if not base.startswith("postgresql"):
        raise SystemExit("set LAPORFLOW_TEST_DATABASE_URL to the local PostgreSQL")
    bootstrap = os.environ.get("LAPORFLOW_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    walls, cpus = [], []
    for _ in range(args.repeat):
        url = fresh_database(base, f"bench_relay_{uuid.uuid4().hex[:6]}")
        fill(url, args.complaints)
        wall, cpu, n = drain(url, bootstrap)
        walls.append(wall)
        cpus.append(cpu)
        print(f"published {n:,}: {wall:.1f} us wall, {cpu:.1f} us CPU per record", flush=True)
    print(f"median: {statistics.median(walls):.1f} us wall, {statistics.median(cpus):.1f} us CPU")


if __name__ == "__main__":
    try:
        main()
    finally:
        drop_databases()
