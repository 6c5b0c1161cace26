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
# Wide enough for the KPI table when output is piped (rich falls back to 80 columns).
console = Console(width=None if sys.stdout.isatty() else 140)
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


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)


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
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO",
) -> None:
    """Run the engine: consume commands, publish events, fire SLA timers, serve /metrics."""
    from laporflow.runtime import EngineRuntime

    _setup_logging(log_level)
    settings = _settings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        metrics_port=metrics_port,
        policy=policy,
        topic_prefix=topic_prefix,
        partitions=partitions,
    )
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

    _setup_logging("WARNING")
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
    console.print("[bold]Timeline[/]")
    for item in found["history"]:
        detail = {k: v for k, v in item["payload"].items() if k not in ("clocks_stopped",)}
        line = (
            f"  {item['occurred_at']}  #{item['seq'] if item['seq'] is not None else '-':<3} "
            f"{item['type']:<26} {item['actor']:<28} {json.dumps(detail, ensure_ascii=False)[:100]}"
        )
        console.print(line, markup=False, highlight=False)


@app.command()
def report(
    region: Annotated[str | None, typer.Option(help="Only this region")] = None,
    since: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD (local)")] = None,
    until: Annotated[str | None, typer.Option(help="Last day, YYYY-MM-DD (local)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
    database_url: DatabaseOpt = None,
    policy: PolicyOpt = None,
) -> None:
    """Per-SKPD KPIs: received, follow-up rate, working days to follow-up, breaches."""
    settings = _settings(database_url=database_url, policy=policy)
    store = Store(settings.database_url.get_secret_value())
    rows = build_report(
        store,
        load_policy(settings.policy),
        region=region,
        since=_parse_day(since, "--since"),
        until=_parse_day(until, "--until"),
    )
    if as_json:
        sys.stdout.write(json.dumps([r.as_dict() for r in rows], indent=2) + "\n")
        return
    table = kpi_table(rows, "Per-SKPD KPIs (event time, working days)")
    console.print(table)


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
