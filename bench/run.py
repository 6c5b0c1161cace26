"""lapor-flow benchmarks: ``make bench`` (services started by scripts/services.py).

Measures, on this machine, with the real broker and database:

1. ``e2e``: applied transitions per second through Kafka -> engine -> database, with the
   outbox relay publishing concurrently (as ``laporflow run`` does), on PostgreSQL and
   on SQLite; plus the time until every event is on ``lapor.events``.
2. ``core``: the pure ``decide`` function alone (no I/O), commands per second.
3. ``sweep``: tens of thousands of timers falling due at once: time to fire them all.

Prints a table and writes ``bench/results.json``. Numbers are what was measured; nothing
is rounded up or filtered.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from engine.decode import decode_command
from engine.errors import InvalidCommandError
from engine.processor import Processor
from engine.settings import Settings
from engine.store import Store
from laporflow.demo_data import generate
from laporflow.runtime import EngineRuntime
from producers.kafka_io import ensure_topics
from workflows.apply import decide
from workflows.policy import Policy
from workflows.registry import WorkflowRegistry

HERE = Path(__file__).resolve().parent


@dataclass
class _Rec:
    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _fresh_pg_database(base_url: str) -> str:
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(base_url)
    name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(
        host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


def bench_e2e(bootstrap: str, database_url: str, complaints: int, label: str) -> dict[str, Any]:
    """Produce a generated quarter, then time the engine applying it."""
    _, records = generate(seed=99, complaints=complaints, start=date(2026, 1, 5), days=91)
    as_of = max(r.issued_at for r in records) + timedelta(days=1)
    settings = Settings(
        kafka_bootstrap=bootstrap,
        database_url=database_url,
        topic_prefix=f"bench-{uuid.uuid4().hex[:8]}.",
        group_id=f"bench-{uuid.uuid4().hex[:8]}",
        partitions=6,
    )
    ensure_topics(bootstrap, settings.topics.all(), settings.partitions)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    for r in records:
        producer.send(settings.topics.commands, key=r.key, value=r.value)
    producer.flush()
    producer.close()

    runtime = EngineRuntime(settings, clock=lambda: as_of, serve_http=False)
    consumer = runtime.consumer
    # Join the group and fetch before the clock starts: group join is not throughput.
    while not consumer.owned_partitions:
        consumer.poll_once()
    # As `laporflow run` does: relay process and gauge refresher running alongside.
    runtime.start_background()
    started = time.perf_counter()
    while consumer.stats.records < len(records):
        consumer.poll_once()
        elapsed = time.perf_counter() - started
        if elapsed > 600:
            raise SystemExit(f"{label}: only {consumer.stats.records}/{len(records)} after 600 s")
    applied_s = time.perf_counter() - started
    while runtime.store.outbox_pending_count() > 0:
        time.sleep(0.05)
    published_s = time.perf_counter() - started
    outcomes = dict(consumer.stats.outcomes)
    runtime.shutdown()
    applied = outcomes.get("applied", 0)
    return {
        "label": label,
        "records": len(records),
        "complaints": complaints,
        "outcomes": outcomes,
        "apply_seconds": round(applied_s, 3),
        "applied_per_second": round(applied / applied_s, 1),
        "records_per_second": round(len(records) / applied_s, 1),
        "all_published_seconds": round(published_s, 3),
        "batches": consumer.stats.batches,
    }


def bench_core(n_complaints: int) -> dict[str, Any]:
    """The pure decide() over a generated quarter, in memory."""
    registry, policy = WorkflowRegistry.default(), Policy.default()
    _, records = generate(seed=5, complaints=n_complaints, start=date(2026, 1, 5), days=91)
    commands = []
    for r in records:
        try:
            commands.append(decode_command(r.value, registry))
        except InvalidCommandError:  # the invalid ones are not part of this benchmark
            continue
    now = datetime(2026, 6, 1, tzinfo=UTC)
    state: dict[str, Any] = {}
    started = time.perf_counter()
    for c in commands:
        outcome = decide(state.get(c.complaint_id), c, registry=registry, policy=policy, now=now)
        if outcome.complaint is not None:
            state[c.complaint_id] = outcome.complaint
    elapsed = time.perf_counter() - started
    decode_started = time.perf_counter()
    for r in records[:5000]:
        try:
            decode_command(r.value, registry)
        except InvalidCommandError:
            continue
    decode_elapsed = time.perf_counter() - decode_started
    return {
        "commands": len(commands),
        "decide_per_second": round(len(commands) / elapsed, 1),
        "decide_microseconds": round(elapsed / len(commands) * 1e6, 1),
        "decode_microseconds": round(decode_elapsed / min(5000, len(records)) * 1e6, 1),
    }


def bench_sweep(database_url: str, complaints: int, label: str) -> dict[str, Any]:
    """``complaints`` dispatched complaints whose clocks all fall due at once."""
    store = Store(database_url)
    store.migrate()
    registry, policy = WorkflowRegistry.default(), Policy.default()
    processor = Processor(store, policy=policy, registry=registry)
    base = datetime(2026, 4, 6, 9, 0, tzinfo=UTC)
    offset = 0
    batch: list[_Rec] = []

    def cmd(kind: str, cid: str, at: datetime, role: str, payload: dict[str, Any]) -> bytes:
        return json.dumps(
            {
                "command_id": f"{kind}-{cid}",
                "type": kind,
                "complaint_id": cid,
                "issued_at": at.isoformat(),
                "actor": {"role": role, "id": "bench"},
                "payload": payload,
            }
        ).encode()

    submit = {
        "title": "t",
        "body": "b",
        "category": "infrastruktur",
        "classification": "pengaduan",
        "channel": "web",
        "region": "HSU",
    }
    for i in range(complaints):
        cid = f"SW-{i:07d}"
        at = base + timedelta(seconds=i)
        for kind, role, payload in (
            ("submit", "complainant", submit),
            ("verify", "admin", {}),
            ("dispatch", "admin", {"skpd": f"SKPD{i % 30}"}),
        ):
            batch.append(
                _Rec("bench.sweep", 0, offset, cid.encode(), cmd(kind, cid, at, role, payload))
            )
            offset += 1
        if len(batch) >= 1500:
            processor.process(batch)
            batch = []
    if batch:
        processor.process(batch)
    # Every follow_up clock (and verification, resolution) is now long overdue.
    processor.clock = lambda: datetime(2026, 9, 1, tzinfo=UTC)
    started = time.perf_counter()
    fired = 0
    sweeps = 0
    while store.timer_backlog(processor.clock()) > 0:
        result = processor.sweep([0], topic="bench.sweep")
        fired += len(result.events)
        sweeps += 1
    elapsed = time.perf_counter() - started
    store.close()
    return {
        "label": label,
        "complaints_due": complaints,
        "events_fired": fired,
        "sweeps": sweeps,
        "seconds": round(elapsed, 3),
        "events_per_second": round(fired / elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--complaints", type=int, default=4000)
    parser.add_argument("--sweep-complaints", type=int, default=20000)
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    bootstrap = os.environ.get("LAPORFLOW_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    pg = os.environ.get("LAPORFLOW_TEST_DATABASE_URL") or os.environ.get("LAPORFLOW_DATABASE_URL")
    if not pg or not pg.startswith("postgresql"):
        raise SystemExit("run through `make bench` (needs PostgreSQL from scripts/services.py)")
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
        },
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    print("core: pure decide() ...", flush=True)
    results["core"] = bench_core(3000)
    print(json.dumps(results["core"]), flush=True)
    print("e2e: Kafka -> engine -> PostgreSQL ...", flush=True)
    results["e2e_postgresql"] = bench_e2e(
        bootstrap, _fresh_pg_database(pg), args.complaints, "postgresql"
    )
    print(json.dumps(results["e2e_postgresql"]), flush=True)
    if not args.skip_sqlite:
        print("e2e: Kafka -> engine -> SQLite ...", flush=True)
        path = Path(f"/tmp/laporflow-bench-{uuid.uuid4().hex[:6]}.db")
        results["e2e_sqlite"] = bench_e2e(bootstrap, f"sqlite:///{path}", args.complaints, "sqlite")
        print(json.dumps(results["e2e_sqlite"]), flush=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    print(f"sweep: {args.sweep_complaints} complaints due at once (PostgreSQL) ...", flush=True)
    results["sweep_postgresql"] = bench_sweep(
        _fresh_pg_database(pg), args.sweep_complaints, "postgresql"
    )
    print(json.dumps(results["sweep_postgresql"]), flush=True)
    results["peak_rss_mib"] = round(_peak_rss_mib(), 1)
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {HERE / 'results.json'} (peak RSS {results['peak_rss_mib']} MiB)")


if __name__ == "__main__":
    main()
