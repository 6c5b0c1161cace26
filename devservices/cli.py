"""The command line: up, down, run, env."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import types
from collections.abc import Sequence

from devservices.common import RUN_DIR, ServiceError, kafka_port, log, pg_port
from devservices.kafka import _kafka_running, ensure_kafka, stop_kafka
from devservices.postgres import _pg_url, _postgres_running, ensure_postgres, stop_postgres


def _recorded_ports(prefix: str) -> list[int]:
    ports = set()
    for path in RUN_DIR.glob(f"{prefix}-*"):
        match = re.fullmatch(re.escape(prefix) + r"-(\d+)\.(pid|json)", path.name)
        if match:
            ports.add(int(match.group(1)))
    return sorted(ports)


def stop_all() -> None:
    """Stop every service this script recorded, whatever port it was started on."""
    for port in _recorded_ports("pg"):
        stop_postgres(port)
    for port in _recorded_ports("kafka"):
        stop_kafka(port)


def _env_lines(bootstrap: str | None, db_url: str | None) -> list[str]:
    lines = []
    if bootstrap:
        lines.append(f"LAPORFLOW_KAFKA_BOOTSTRAP={bootstrap}")
    if db_url:
        lines.append(f"LAPORFLOW_DATABASE_URL={db_url}")
    return lines


def cmd_up(kafka_only: bool) -> int:
    """``up``: start what is not running; print the env lines."""
    started: list[str] = []
    try:
        bootstrap, kafka_started = ensure_kafka()
        if kafka_started:
            started.append("kafka")
        db_url = None
        if not kafka_only:
            db_url, _ = ensure_postgres()
    except BaseException:
        if "kafka" in started:  # do not leave half a setup behind
            stop_kafka()
        raise
    for line in _env_lines(bootstrap, db_url):
        print(line)
    return 0


def cmd_env() -> int:
    """``env``: print the env lines of what is running."""
    bootstrap = os.environ.get("LAPORFLOW_KAFKA_BOOTSTRAP", "").strip() or None
    if bootstrap is None and _kafka_running(kafka_port()) is not None:
        bootstrap = f"127.0.0.1:{kafka_port()}"
    db_url = os.environ.get("LAPORFLOW_TEST_DATABASE_URL", "").strip() or None
    if db_url is None and _postgres_running(pg_port()) is not None:
        db_url = _pg_url(pg_port())
    lines = _env_lines(bootstrap, db_url)
    if not lines:
        log("nothing running (start with: scripts/services.py up)")
    for line in lines:
        print(line)
    return 0


class _Signalled(BaseException):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_signalled(signum: int, _frame: types.FrameType | None) -> None:
    raise _Signalled(signum)


def _run_child(cmd: Sequence[str], env: dict[str, str]) -> int:
    proc = subprocess.Popen(list(cmd), env=env)
    try:
        rc = proc.wait()
    except (KeyboardInterrupt, _Signalled) as exc:
        # Ctrl-C reached the child too (same process group); a SIGTERM/SIGHUP is passed on.
        if isinstance(exc, _Signalled):
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(exc.signum)
        try:
            proc.wait(timeout=15)
        except (subprocess.TimeoutExpired, KeyboardInterrupt, _Signalled):
            proc.kill()
            proc.wait()
        raise
    return 128 - rc if rc < 0 else rc


def cmd_run(kafka_only: bool, cmd: Sequence[str]) -> int:
    """``run``: start, run ``cmd`` with the env set, stop what this started."""
    if not cmd:
        log("run: no command given (usage: services.py run [--kafka-only] -- CMD...)")
        return 2
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_signalled)
    kafka_started = pg_started = False
    try:
        bootstrap, kafka_started = ensure_kafka()
        env = {**os.environ, "LAPORFLOW_KAFKA_BOOTSTRAP": bootstrap}
        if not kafka_only:
            db_url, pg_started = ensure_postgres()
            env["LAPORFLOW_DATABASE_URL"] = db_url
            env["LAPORFLOW_TEST_DATABASE_URL"] = db_url
        return _run_child(cmd, env)
    except KeyboardInterrupt:
        return 130
    except _Signalled as exc:
        return 128 + exc.signum
    finally:
        # Finish the clean-up even if more signals arrive.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        try:
            if pg_started:
                stop_postgres()
            if kafka_started:
                stop_kafka()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.SIG_DFL)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start what is not running; print eval-able env lines")
    up.add_argument("--kafka-only", action="store_true", help="Kafka only, no PostgreSQL")
    sub.add_parser("down", help="stop what this script started")
    run = sub.add_parser("run", help="start, run CMD with the env set, stop what was started")
    run.add_argument("--kafka-only", action="store_true", help="Kafka only, no PostgreSQL")
    run.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD...")
    sub.add_parser("env", help="print the env lines of what is running")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            return cmd_up(args.kafka_only)
        if args.command == "down":
            stop_all()
            return 0
        if args.command == "env":
            return cmd_env()
        cmd = list(args.cmd)
        if cmd and cmd[0] == "--":
            cmd = cmd[1:]
        return cmd_run(args.kafka_only, cmd)
    except ServiceError as exc:
        log(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
