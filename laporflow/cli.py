"""The ``laporflow`` command line (CONTRACT §6)."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from engine.errors import LaporFlowError
from engine.logs import configure_logging
from engine.policy_file import load_policy
from engine.report import build_report
from engine.settings import Settings
from engine.status import complaint_status
from engine.store import Store
from laporflow.tables import kpi_table

app = typer.Typer(
    name="laporflow",
    help="lapor-flow: SP4N-LAPOR! complaints as state machines over Kafka, "
    "with SLA clocks in Indonesian working days.",
    no_args_is_help=True,
    add_completion=False,
)
# Wide enough for the KPI table (11 columns and SKPD names) when output is piped
# (rich falls back to 80 columns).
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True)

DatabaseOpt = Annotated[
    str | None, typer.Option("--database-url", help="SQLAlchemy URL [env LAPORFLOW_DATABASE_URL]")
]
PolicyOpt = Annotated[
    str | None, typer.Option("--policy", help="SLA policy YAML [env LAPORFLOW_POLICY]")
]


def _settings(**flags: Any) -> Settings:
    """Environment settings, overridden by the flags that were given."""
    given = {k: v for k, v in flags.items() if v is not None}
    return Settings(**given)


def _setup_logging(level: str, fmt: str = "text", *, quiet_kafka: bool = False) -> None:
    configure_logging(level, fmt, secrets=Settings().secrets(), quiet_kafka=quiet_kafka)


@app.command()
def run(
    kafka_bootstrap: Annotated[
        str | None, typer.Option(help="[env LAPORFLOW_KAFKA_BOOTSTRAP]")
    ] = None,
    database_url: DatabaseOpt = None,
    metrics_port: Annotated[int | None, typer.Option(help="[env LAPORFLOW_METRICS_PORT]")] = None,
    policy: PolicyOpt = None,
    topic_prefix: Annotated[str | None, typer.Option(help="[env LAPORFLOW_TOPIC_PREFIX]")] = None,
    partitions: Annotated[int | None, typer.Option(help="[env LAPORFLOW_PARTITIONS]")] = None,
    log_level: Annotated[
        str | None, typer.Option(help="DEBUG, INFO, WARNING [env LAPORFLOW_LOG_LEVEL]")
    ] = None,
    log_format: Annotated[
        str | None, typer.Option(help="json (default) or text [env LAPORFLOW_LOG_FORMAT]")
    ] = None,
) -> None:
    """Run the engine: consume commands, publish events, fire SLA timers, serve /metrics."""
    from laporflow.runtime import EngineRuntime

    settings = _settings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        metrics_port=metrics_port,
        policy=policy,
        topic_prefix=topic_prefix,
        partitions=partitions,
        log_level=log_level,
        log_format=log_format,
    )
    # JSON lines by default under `run`; the relay child gets the same settings.
    settings = settings.model_copy(update={"log_format": settings.log_format or "json"})
    configure_logging(settings.log_level, settings.log_format or "json", secrets=settings.secrets())
    logging.getLogger("laporflow").info("starting with %s", settings.as_dict())
    runtime = EngineRuntime(settings)
    signal.signal(signal.SIGTERM, lambda *_: runtime.stop())
    signal.signal(signal.SIGINT, lambda *_: runtime.stop())
    runtime.run()


@app.command()
def demo(
    complaints: Annotated[int, typer.Option(help="Complaints in the simulated quarter")] = 3000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same traffic)")] = 2026,
    feed_reports: Annotated[
        int, typer.Option(help="Complaints that arrive through the simulated national LAPOR!")
    ] = 60,
    kafka_bootstrap: Annotated[
        str | None, typer.Option(help="[env LAPORFLOW_KAFKA_BOOTSTRAP]")
    ] = None,
    database_url: DatabaseOpt = None,
    policy: PolicyOpt = None,
) -> None:
    """Generate a region's quarter of complaints and run the engine on it, with a summary."""
    from laporflow.demo import demo_database_url, run_demo

    # kafka-python's routine rebalance and reconnect warnings would break the screen.
    _setup_logging("WARNING", quiet_kafka=True)
    if database_url is None and "LAPORFLOW_DATABASE_URL" not in os.environ:
        database_url = demo_database_url(Path("laporflow-demo.db"))
    settings = _settings(kafka_bootstrap=kafka_bootstrap, database_url=database_url, policy=policy)
    run_demo(settings, complaints=complaints, seed=seed, feed_reports=feed_reports, console=console)


@app.command()
def feed(
    lapor_url: Annotated[str | None, typer.Option(help="[env LAPORFLOW_LAPOR_URL]")] = None,
    lapor_mapping: Annotated[
        str | None, typer.Option(help="YAML mapping file [env LAPORFLOW_LAPOR_MAPPING]")
    ] = None,
    interval: Annotated[
        float | None, typer.Option(help="Seconds between polls [env LAPORFLOW_FEED_INTERVAL_S]")
    ] = None,
    webhook_port: Annotated[
        int | None, typer.Option(help="Serve the push webhook [env LAPORFLOW_FEED_WEBHOOK_PORT]")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="[env LAPORFLOW_FEED_METRICS_PORT]")
    ] = None,
    kafka_bootstrap: Annotated[
        str | None, typer.Option(help="[env LAPORFLOW_KAFKA_BOOTSTRAP]")
    ] = None,
    database_url: DatabaseOpt = None,
    topic_prefix: Annotated[str | None, typer.Option(help="[env LAPORFLOW_TOPIC_PREFIX]")] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO",
) -> None:
    """Poll the national LAPOR! into lapor.commands and push progress back (CONTRACT §7).

    The token comes from LAPORFLOW_LAPOR_TOKEN only (never a flag: flags show in `ps`).
    """
    from lapor.settings import FeedSettings
    from laporflow.feed import FeedProcess

    _setup_logging(log_level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    given: dict[str, Any] = {
        "lapor_url": lapor_url,
        "lapor_mapping": lapor_mapping,
        "feed_interval_s": interval,
        "feed_webhook_port": webhook_port,
        "feed_metrics_port": metrics_port,
        "kafka_bootstrap": kafka_bootstrap,
        "database_url": database_url,
        "topic_prefix": topic_prefix,
    }
    settings = FeedSettings(**{k: v for k, v in given.items() if v is not None})
    logging.getLogger("laporflow").info("feed starting with %s", settings.as_dict())
    process = FeedProcess(settings)
    signal.signal(signal.SIGTERM, lambda *_: process.stop())
    signal.signal(signal.SIGINT, lambda *_: process.stop())
    process.run()


@app.command("lapor-sim")
def lapor_sim(
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port)")] = 8090,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    reports: Annotated[int, typer.Option(help="Reports present at start")] = 50,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same reports)")] = 2026,
    fault_rate: Annotated[
        float, typer.Option(help="Share of requests answered with 500, 429 or a stall")
    ] = 0.0,
    token: Annotated[
        str | None, typer.Option(help="Bearer token to require [env LAPORFLOW_LAPOR_TOKEN]")
    ] = None,
    tick: Annotated[
        float, typer.Option(help="Seconds between upstream changes (new reports, statuses)")
    ] = 5.0,
    stall: Annotated[float, typer.Option(help="Seconds a stalled request hangs")] = 15.0,
) -> None:
    """Run a simulated national SP4N-LAPOR! API (CONTRACT §7) until interrupted."""
    import threading

    from lapor.serving import ThreadedServer
    from lapor.sim import LaporSim, create_app

    _setup_logging("INFO")
    secret = token or os.environ.get("LAPORFLOW_LAPOR_TOKEN") or "sim-token"
    sim = LaporSim(reports=reports, seed=seed, fault_rate=fault_rate, token=secret, stall_s=stall)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with ThreadedServer(create_app(sim), host=host, port=port) as server:
        # One line a script can parse (the port, when --port 0 picked one).
        console.print(
            f"lapor-sim listening on {server.url} ({len(sim.reports)} reports, "
            f"fault rate {fault_rate})",
            markup=False,
            highlight=False,
        )
        sim.run_ticker(stop, interval_s=tick)


@app.command()
def notify(
    kafka_bootstrap: Annotated[
        str | None, typer.Option(help="[env LAPORFLOW_KAFKA_BOOTSTRAP]")
    ] = None,
    database_url: DatabaseOpt = None,
    policy: PolicyOpt = None,
    topic_prefix: Annotated[str | None, typer.Option(help="[env LAPORFLOW_TOPIC_PREFIX]")] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO",
) -> None:
    """Tell the people who must act: escalations, warnings and dispatches by mail and webhook.

    Mail goes through LAPORFLOW_SMTP_URL (smtp://user:pass@host:587); links point to
    LAPORFLOW_ADMIN_URL; /metrics on LAPORFLOW_NOTIFY_METRICS_PORT (default 9110).
    """
    from laporflow.notify import Notifier

    _setup_logging(log_level)
    settings = _settings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        policy=policy,
        topic_prefix=topic_prefix,
    )
    notifier = Notifier(settings)
    signal.signal(signal.SIGTERM, lambda *_: notifier.stop())
    signal.signal(signal.SIGINT, lambda *_: notifier.stop())
    notifier.run()


@app.command()
def status(
    complaint_id: Annotated[str, typer.Argument(help="The complaint (LAPOR! tracking) id")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
    database_url: DatabaseOpt = None,
    policy: PolicyOpt = None,
) -> None:
    """Show one complaint: state, SKPD, clocks, escalation and its history."""
    settings = _settings(database_url=database_url, policy=policy)
    store = Store(settings.database_url.get_secret_value())
    found = complaint_status(store, complaint_id, load_policy(settings.policy))
    if found is None:
        err_console.print(
            f"[red]No complaint {escape(repr(complaint_id))}[/] in "
            f"{escape(settings.as_dict()['database_url'])}"
        )
        raise typer.Exit(1)
    if as_json:
        sys.stdout.write(json.dumps(found, indent=2, ensure_ascii=False) + "\n")
        return
    _print_status(found)


def _print_status(found: dict[str, Any]) -> None:
    # Complaint data is user text: escape it so "[...]" is shown, never parsed as markup.
    console.print(
        f"[bold]{escape(found['complaint_id'])}[/]  state [bold]{found['state']}[/]  "
        f"SKPD {found['skpd'] or '-'}  seq {found['seq']}  "
        f"escalation level {found['escalation_level']}  next timer {found['next_due_at'] or '-'}"
    )
    clocks = Table(title="SLA clocks")
    for col in ("clock", "started", "deadline", "state"):
        clocks.add_column(col)
    for name, clock in found["clocks"].items():
        flags = [
            flag
            for flag, on in (
                ("stopped", clock["stopped"]),
                ("paused", clock["paused"]),
                (f"breached (level {clock['escalation_level']})", clock["breached"]),
            )
            if on
        ]
        clocks.add_row(name, clock["started_at"], clock["deadline"], ", ".join(flags) or "running")
    console.print(clocks)
    pushes = found.get("lapor_sync") or []
    if pushes:
        counts = {o: sum(1 for p in pushes if p["outcome"] == o) for o in ("pushed", "failed")}
        console.print(
            f"LAPOR! sync-back: {counts['pushed']} pushed, {counts['failed']} failed  "
            + ", ".join(f"{p['type']}={p['outcome']}" for p in pushes),
            markup=False,
            highlight=False,
        )
    notices = found.get("notices") or []
    if notices:
        table = Table(title="Notices")
        for col in ("due", "kind", "role", "channel", "recipient", "status", "tries"):
            table.add_column(col)
        for n in notices:
            status = n["status"]
            if status == "failed":
                status = f"[red]failed[/]: {escape(str(n['last_error'] or ''))[:60]}"
            table.add_row(
                n["due_at"],
                n["kind"],
                escape(n["role"]),
                n["channel"],
                escape(n["recipient"]),
                status,
                str(n["attempts"]),
            )
        console.print(table)
    if found.get("parked"):
        console.print(
            "[bold red]Parked outbox records[/] (Kafka refused them; `laporflow outbox`):"
        )
        for item in found["parked"]:
            console.print(
                f"  #{item['outbox_id']} {item['topic']} {item['event_id'] or '-'} "
                f"{item['size']} bytes, {item['parked_at']}: {item['reason'][:120]}",
                markup=False,
                highlight=False,
            )
    console.print("[bold]Timeline[/]")
    for item in found["history"]:
        detail = {k: v for k, v in item["payload"].items() if k not in ("clocks_stopped",)}
        line = (
            f"  {item['occurred_at']}  #{item['seq'] if item['seq'] is not None else '-':<3} "
            f"{item['type']:<26} {item['actor']:<28} {json.dumps(detail, ensure_ascii=False)[:100]}"
        )
        console.print(line, markup=False, highlight=False)


@app.command()
def outbox(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
    retry_parked: Annotated[
        bool, typer.Option("--retry-parked", help="Put every parked record back in line")
    ] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """The outbox: records pending, records parked (Kafka refused them) and why."""
    settings = _settings(database_url=database_url)
    store = Store(settings.database_url.get_secret_value())
    if retry_parked:
        n = store.unpark_outbox()
        err_console.print(f"{n} parked records put back in line for the relay")
    parked = store.parked_outbox(limit=1000)
    found: dict[str, Any] = {
        "pending": store.outbox_pending_count(),
        "parked": store.outbox_parked_count(),
        "parked_records": [
            {
                "outbox_id": p.id,
                "topic": p.topic,
                "key": p.key.decode("utf-8", errors="replace") if p.key is not None else None,
                "event_id": p.event_id,
                "partition": p.partition,
                "size": p.size,
                "parked_at": p.parked_at.isoformat(),
                "reason": p.reason,
            }
            for p in parked
        ],
    }
    if as_json:
        sys.stdout.write(json.dumps(found, indent=2, ensure_ascii=False) + "\n")
        return
    console.print(f"pending {found['pending']}  parked {found['parked']}")
    for item in found["parked_records"]:
        console.print(
            f"  #{item['outbox_id']} {item['topic']} key={item['key']} {item['size']} bytes "
            f"{item['parked_at']}: {item['reason'][:120]}",
            markup=False,
            highlight=False,
        )


@app.command()
def report(
    region: Annotated[str | None, typer.Option(help="Only this region")] = None,
    since: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD (local)")] = None,
    until: Annotated[str | None, typer.Option(help="Last day, YYYY-MM-DD (local)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
    intake: Annotated[
        bool, typer.Option("--intake", help="Complaints received per region and month vs target")
    ] = False,
    liaisons: Annotated[
        bool, typer.Option("--liaisons", help="Per SKPD: who answered, how often that changed")
    ] = False,
    database_url: DatabaseOpt = None,
    policy: PolicyOpt = None,
) -> None:
    """Per-SKPD KPIs; --intake: intake against target; --liaisons: liaison continuity.

    The KPIs: received, returned, follow-up rate and working days, breaches, settled.
    """
    if intake and liaisons:
        raise typer.BadParameter("choose one of --intake and --liaisons", param_hint="--intake")
    settings = _settings(database_url=database_url, policy=policy)
    store = Store(settings.database_url.get_secret_value())
    period: dict[str, Any] = {
        "region": region,
        "since": _parse_day(since, "--since"),
        "until": _parse_day(until, "--until"),
    }
    loaded = load_policy(settings.policy)
    if intake or liaisons:
        from engine.intake import build_intake
        from engine.liaisons import build_liaisons
        from laporflow.tables import intake_table, liaison_table

        found: list[Any] = (
            build_intake(store, loaded, **period)
            if intake
            else build_liaisons(store, loaded, **period)
        )
        if as_json:
            sys.stdout.write(
                json.dumps([r.as_dict() for r in found], indent=2, ensure_ascii=False) + "\n"
            )
            return
        console.print(intake_table(found) if intake else liaison_table(found))
        return
    rows = build_report(store, loaded, **period)
    if as_json:
        sys.stdout.write(json.dumps([r.as_dict() for r in rows], indent=2) + "\n")
        return
    table = kpi_table(
        rows,
        "Per-SKPD KPIs (event time, working days)",
        lambda code: loaded.skpd_name(region, code),
    )
    console.print(table)


@app.command()
def serve(
    port: Annotated[int | None, typer.Option(help="[env LAPORFLOW_API_PORT, default 8080]")] = None,
    host: Annotated[
        str | None, typer.Option(help="[env LAPORFLOW_API_HOST, default 127.0.0.1]")
    ] = None,
    database_url: DatabaseOpt = None,
    policy: PolicyOpt = None,
) -> None:
    """Serve the read-only JSON API and the /admin page (token: env LAPORFLOW_API_TOKEN)."""
    from laporflow.serve import ServeSettings
    from laporflow.serve import serve as run_server

    _setup_logging("INFO")
    given: dict[str, Any] = {"port": port, "host": host}
    api = ServeSettings(**{k: v for k, v in given.items() if v is not None})
    run_server(_settings(database_url=database_url, policy=policy), api)


@app.command()
def replay(
    into: Annotated[
        str | None,
        typer.Option(
            "--into",
            help="Write the rebuilt state into this empty database (schema created), with "
            "the history, command outcomes and partition progress copied. Without it, "
            "only check: compare the rebuilt state with the live tables.",
        ),
    ] = None,
    database_url: DatabaseOpt = None,
    policy: PolicyOpt = None,
) -> None:
    """Rebuild complaint state and SLA clocks from the stored history (events)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from engine.replay import compare_with_live, copy_rebuilt, count_complaints, rebuild
    from engine.store import redact_url
    from workflows.registry import WorkflowRegistry

    settings = _settings(database_url=database_url, policy=policy)
    source = Store(settings.database_url.get_secret_value())
    registry = WorkflowRegistry.default()
    rules = load_policy(settings.policy)
    differences: list[str] = []
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console) as bar:
        task = bar.add_task("Rebuilding complaints", total=count_complaints(source))

        def advance(n: int) -> None:
            bar.advance(task, n)

        if into is not None:
            target = Store(into)
            report = copy_rebuilt(
                source, target, registry=registry, policy=rules, on_history=advance
            )
            target.close()
        else:
            report = rebuild(
                source,
                registry=registry,
                policy=rules,
                on_complaint=lambda r: differences.extend(compare_with_live(source, r)),
                on_history=advance,
            )
    source.close()
    where = f"into {redact_url(into)}" if into else "checked against the live tables"
    console.print(
        f"Rebuilt {report.complaints} complaints from {report.events} events, {where}: "
        f"{len(report.conflicts)} history conflicts, {len(differences)} differences."
    )
    if report.unfired:
        console.print(
            f"{report.unfired} timer events of {report.unfired_complaints} complaints are due "
            "before their partition's watermark and not fired yet: the engine fires them at "
            "its next sweep (from a rebuilt database too)."
        )
    for line in (report.conflicts + differences)[:20]:
        console.print(escape(line), markup=False, highlight=False)
    if report.conflicts or differences:
        raise typer.Exit(1)


def _parse_day(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date like 2026-03-31", param_hint=flag
        ) from None


def main() -> None:
    """Console entry point: LaporFlowError becomes a one-line message and exit code 2."""
    try:
        app()
    except LaporFlowError as exc:
        err_console.print(f"[red]error:[/] {escape(str(exc))}")
        sys.exit(2)
