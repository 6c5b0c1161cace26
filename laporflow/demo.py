"""``laporflow demo``: a simulated quarter of a regency's complaints through the real engine.

Generates the region's traffic, produces it to a fresh set of topics on the local Kafka
(some complaints arrive through the national LAPOR! feed from a simulator instead, and
their progress is pushed back to it at the end: :mod:`laporflow.demo_feed`),
runs the engine on it (SQLite by default) with a progress bar, drains the outbox, runs
the notifier over the demo's events with its mail captured (:mod:`laporflow.demo_notify`),
and prints the per-SKPD KPI table, who was told how often, and where the admin page is.
The engine's clock is set to the end of the simulated period, so SLA breaches,
escalations and auto-closes are what they would have been on that day, not on today's
date.
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
from laporflow.demo_feed import DemoFeed
from laporflow.demo_notify import DemoNotices, demo_policy, print_notices, run_notices
from laporflow.runtime import EngineRuntime
from laporflow.tables import kpi_table
from producers.kafka_io import ensure_topics, kafka_client_config, make_producer

__all__ = ["ADMIN_LINE", "DemoResult", "run_demo"]

#: The summary's last line: where the demo's database can be browsed.
ADMIN_LINE = (
    "Admin page: make admin (serves laporflow-demo.db; open http://127.0.0.1:8080/admin "
    "and sign in with the token it prints)"
)


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
    #: Reports that came in through the national LAPOR! feed (submits it produced).
    feed_reports: int = 0
    #: Pushes the sync-back made to the simulated national LAPOR!, by type.
    pushed: dict[str, int] | None = None
    #: The notices ``laporflow notify`` stored and sent (None: not run).
    notices: DemoNotices | None = None


def run_demo(
    settings: Settings,
    *,
    complaints: int = 3000,
    seed: int = 2026,
    start: date = date(2026, 1, 5),
    days: int = 91,
    feed_reports: int = 60,
    console: Console | None = None,
    notify: bool = True,
) -> DemoResult:
    """Run the demo end to end and return its numbers.

    With ``notify``, the notifier then runs over the demo's events until idle (mail
    captured in-process, :mod:`laporflow.demo_notify`) and the summary says who was told.
    """
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
    ensure_topics(
        settings.kafka_bootstrap,
        topics.all(),
        settings.partitions,
        client_config=kafka_client_config(settings),
    )
    started = time.monotonic()
    policy = load_policy(settings.policy)
    if not policy.lists_skpds(region.region):
        # The demo region's 30 SKPDs: dispatches elsewhere are refused, names are shown.
        policy = policy.with_skpds(region.region, dict(region.skpds))
    # Contacts for the region's SKPDs (unless the policy names its own): see demo_notify.
    policy = demo_policy(policy, region.region, dict(region.skpds))
    via_feed = _feed_submits(records, feed_reports)
    # A verbatim re-send of a submit the feed now makes is not the demo's to send.
    records = [r for r in records if not (r.kind == "duplicate" and via_feed.get(r.key) == r.value)]
    feed = DemoFeed(settings, seed=seed) if via_feed else None
    pushed: dict[str, int] = {}
    try:
        if feed is not None:
            console.print(f"Simulated national LAPOR! at {feed.url}: {len(via_feed)} reports")
        _produce(settings, records, console, feed, via_feed)
        runtime = EngineRuntime(settings, policy=policy, clock=lambda: as_of, serve_http=False)
        try:
            _consume(runtime, len(records), console)
            published = runtime.relay.drain()
            console.print(f"Published {published} events and dead letters from the outbox.")
            rows = build_report(runtime.store, runtime.policy, region=region.region)
        finally:
            runtime.shutdown()
        if feed is not None:
            pushed = dict(feed.sync_back())
    finally:
        if feed is not None:
            feed.close()
    notices = run_notices(settings, policy, console) if notify else None
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
        feed_reports=feed.reports if feed is not None else 0,
        pushed=pushed,
        notices=notices,
    )
    _print_summary(result, console)
    return result


def _feed_submits(records: list[DemoRecord], count: int) -> dict[bytes, bytes]:
    """Every k-th complaint's submit (key -> bytes): those come in through the feed."""
    submits = [r for r in records if r.kind == "lifecycle" and b'"type":"submit"' in r.value]
    if count <= 0 or not submits:
        return {}
    step = max(1, len(submits) // count)
    return {r.key: r.value for r in submits[::step][:count]}


def _produce(
    settings: Settings,
    records: list[DemoRecord],
    console: Console,
    feed: DemoFeed | None = None,
    via_feed: dict[bytes, bytes] | None = None,
) -> None:
    producer = make_producer(
        settings.kafka_bootstrap, client_id="laporflow-demo", **kafka_client_config(settings)
    )
    via_feed = via_feed or {}
    try:
        with _bar(console) as bar:
            task = bar.add_task("Producing commands", total=len(records))
            for i, record in enumerate(records, 1):
                if (
                    feed is not None
                    and record.kind == "lifecycle"
                    and (via_feed.get(record.key) == record.value)
                ):
                    # Everything before it is on the broker first: per-partition order
                    # stays the order of issued_at, as if the demo had sent it.
                    producer.flush(timeout=120)
                    feed.file(record)
                    continue
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
    # The demo publishes the outbox after the commands (runtime.relay.drain), so no relay
    # drains it meanwhile: waiting for one before each share of due timers would never
    # end, and timers due on complaints without a later command would stay unfired.
    consumer.outbox_backlog = None
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
        # Caught up: the watermark moves to the demo's clock and the last timers fire, a
        # share per sweep with rests between shares, until none is left due.
        deadline = time.monotonic() + 120
        consumer.poll_once()
        while runtime.store.timer_backlog(runtime.clock()):
            if time.monotonic() > deadline:
                raise BrokerError("timers still due 120 s after the last command; see the log")
            consumer.poll_once()


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
    if result.feed_reports:
        pushed = result.pushed or {}
        console.print(
            f"National LAPOR! feed: {result.feed_reports} reports came in through the feed; "
            f"the sync-back pushed back {pushed.get('dispatch', 0)} dispatches, "
            f"{pushed.get('follow_up', 0)} follow-ups and {pushed.get('resolve', 0)} "
            "resolutions to the simulated national LAPOR!"
        )
    if result.notices is not None:
        print_notices(result.notices, console)
    console.print(
        "Look closer: [bold]laporflow status HSU-2026-000001[/] or [bold]laporflow report[/] "
        f"with LAPORFLOW_DATABASE_URL={result.database_url}"
    )
    console.print(ADMIN_LINE, markup=False, highlight=False, soft_wrap=True)


def demo_database_url(path: Path) -> str:
    """A fresh SQLite database file for the demo (any previous demo database is replaced)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"
