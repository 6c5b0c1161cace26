"""``laporflow demo``: a simulated quarter of a regency's complaints through the real engine.

Generates the region's traffic, produces it to a fresh set of topics on the local Kafka,
runs the engine on it (SQLite by default) with a progress bar, drains the outbox, and
prints the per-SKPD KPI table. The engine's clock is set to the end of the simulated
period, so SLA breaches, escalations and auto-closes are what they would have been on
that day, not on today's date.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from kafka.errors import KafkaError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from engine.errors import BrokerError
from engine.policy_file import load_policy
from engine.report import SkpdRow, build_report
from engine.settings import Settings
from laporflow.demo_data import DemoRecord, describe, expected_kinds, generate
from laporflow.runtime import EngineRuntime
from laporflow.tables import kpi_table
from producers.kafka_io import ensure_topics, make_producer

__all__ = ["DemoResult", "run_demo"]


@dataclass(frozen=True)
class DemoResult:
    """What the demo did, for the summary and for tests."""

    records: int
    outcomes: dict[str, int]
    expected: dict[str, int]
    rows: list[SkpdRow]
    seconds: float
    database_url: str
    topic_prefix: str
    #: SKPD code -> name, from the policy's directory (None: no name).
    names: Callable[[str], str | None] | None = None


def run_demo(
    settings: Settings,
    *,
    complaints: int = 3000,
    seed: int = 2026,
    start: date = date(2026, 1, 5),
    days: int = 91,
    console: Console | None = None,
) -> DemoResult:
    """Run the demo end to end and return its numbers."""
    console = console or Console()
    region, records = generate(seed=seed, complaints=complaints, start=start, days=days)
    console.print(f"[bold]lapor-flow demo[/]: {describe(region, records)}")
    tz = ZoneInfo(region.timezone)
    # "Now" for the engine: the end of the last day any command was issued.
    as_of = datetime.combine(
        max(r.issued_at for r in records).date() + timedelta(days=1), datetime.min.time(), tzinfo=tz
    )
    settings = settings.model_copy(
        update={
            "topic_prefix": settings.topic_prefix or f"demo-{uuid.uuid4().hex[:8]}.",
            "group_id": f"laporflow-demo-{uuid.uuid4().hex[:8]}",
        }
    )
    topics = settings.topics
    console.print(
        f"Kafka {settings.kafka_bootstrap}, topics {topics.commands} / {topics.events} / "
        f"{topics.dlq}; database {settings.as_dict()['database_url']}; clock at {as_of.isoformat()}"
    )
    ensure_topics(settings.kafka_bootstrap, topics.all(), settings.partitions)
    started = time.monotonic()
    _produce(settings, records, console)
    policy = load_policy(settings.policy)
    if not policy.lists_skpds(region.region):
        # The demo region's 30 SKPDs: dispatches elsewhere are refused, names are shown.
        policy = policy.with_skpds(region.region, dict(region.skpds))
    runtime = EngineRuntime(settings, policy=policy, clock=lambda: as_of, serve_http=False)
    try:
        _consume(runtime, len(records), console)
        published = runtime.relay.drain()
        console.print(f"Published {published} events and dead letters from the outbox.")
        rows = build_report(runtime.store, runtime.policy, region=region.region)
    finally:
        runtime.shutdown()
    elapsed = time.monotonic() - started
    result = DemoResult(
        records=len(records),
        outcomes=dict(runtime.consumer.stats.outcomes),
        expected=expected_kinds(records),
        rows=rows,
        seconds=elapsed,
        database_url=settings.as_dict()["database_url"],
        topic_prefix=settings.topic_prefix,
        names=lambda code: policy.skpd_name(region.region, code),
    )
    _print_summary(result, console)
    return result


def _produce(settings: Settings, records: list[DemoRecord], console: Console) -> None:
    producer = make_producer(settings.kafka_bootstrap, client_id="laporflow-demo")
    try:
        with _bar(console) as bar:
            task = bar.add_task("Producing commands", total=len(records))
            for i, record in enumerate(records, 1):
                producer.send(settings.topics.commands, key=record.key, value=record.value)
                if i % 500 == 0:
                    bar.update(task, completed=i)
            producer.flush(timeout=120)
            bar.update(task, completed=len(records))
    except KafkaError as exc:
        raise BrokerError(f"producing demo commands failed: {exc}") from exc
    finally:
        producer.close()


def _consume(runtime: EngineRuntime, total: int, console: Console) -> None:
    consumer = runtime.consumer
    with _bar(console) as bar:
        task = bar.add_task("Applying commands", total=total)
        idle_since: float | None = None
        while consumer.stats.records < total:
            result = consumer.poll_once()
            bar.update(task, completed=consumer.stats.records)
            if result is None:
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > 60:
                    raise BrokerError("no records arrived for 60 s; is Kafka still running?")
            else:
                idle_since = None
        # Caught up: the watermark moves to the demo's clock and the last timers fire.
        for _ in range(5):
            if consumer.poll_once() is None and runtime.store.timer_backlog(runtime.clock()) == 0:
                break


def _bar(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _print_summary(result: DemoResult, console: Console) -> None:
    table = kpi_table(result.rows, "Per-SKPD KPIs (event time, working days)", result.names)
    console.print(table)
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(result.outcomes.items()))
    console.print(f"Outcomes: {outcomes} ({result.records} records in {result.seconds:.1f} s)")
    console.print(
        "Look closer: [bold]laporflow status HSU-2026-000001[/] or [bold]laporflow report[/] "
        f"with LAPORFLOW_DATABASE_URL={result.database_url}"
    )


def demo_database_url(path: Path) -> str:
    """A fresh SQLite database file for the demo (any previous demo database is replaced)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"
