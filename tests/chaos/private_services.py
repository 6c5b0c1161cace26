"""A private Kafka broker and PostgreSQL server that a test may stop and start.

The shared services (9092 / 55432) serve other test runs and must never be touched, so
the restart tests start their own on free ports with ``devservices`` and stop
them at the end. ``devservices`` stops a broker by wiping its data; a *restart*
must keep it, so :meth:`PrivateKafka.stop` only ends the process (controlled shutdown,
SIGTERM) and :meth:`PrivateKafka.start` launches it again on the same data folder.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tests.chaos.harness import free_port

__all__ = ["PrivateKafka", "PrivatePostgres"]


def _services() -> Any:
    """The devservices modules' names (private helpers included) in one namespace."""
    from devservices import common, kafka, kafka_jars, kafka_probe, postgres

    names: dict[str, Any] = {}
    for module in (common, kafka_jars, kafka_probe, kafka, postgres):
        names.update(vars(module))
    return SimpleNamespace(**names)


class PrivateKafka:
    """A single-node KRaft broker on free ports, restartable with its data."""

    def __init__(self) -> None:
        self.svc = _services()
        self.port = free_port()
        self.cport = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def create(self) -> None:
        """Format and start a fresh broker (devservices)."""
        with self.svc._locked(self.svc._kafka_lock(self.port)):
            self.svc._start_kafka(self.port, self.cport)

    @property
    def _run_dir(self) -> Path:
        run_dir: Path = self.svc._kafka_paths(self.port)[0]
        return run_dir

    def pid(self) -> int | None:
        """The broker's pid from its pid file."""
        pid: int | None = self.svc._read_pid(self.svc._kafka_paths(self.port)[1])
        return pid

    def stop(self) -> float:
        """Stop the broker, keeping its data; return the seconds it took."""
        started = time.monotonic()
        pid = self.pid()
        assert pid is not None
        self.svc._terminate(pid, "kafka.Kafka", 60.0, "kafka")
        return time.monotonic() - started

    def start(self) -> float:
        """Start the broker again on its kept data; return seconds until it answers."""
        svc = self.svc
        started = time.monotonic()
        cmd = [
            svc._java(),
            "-Xmx512m",
            "-Xms256m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            "-cp",
            f"{svc.kafka_libs()}/*",
            f"-Dlog4j2.configurationFile={svc._log4j_config()}",
            "kafka.Kafka",
            str(self._run_dir / "server.properties"),
        ]
        with (self._run_dir / "kafka.log").open("ab") as out:
            proc = subprocess.Popen(
                cmd,
                cwd=self._run_dir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        svc._CHILDREN[proc.pid] = proc
        svc._kafka_paths(self.port)[1].write_text(f"{proc.pid}\n")
        deadline = time.monotonic() + 90
        while not svc.kafka_ready(self.port, timeout=1.0):
            assert proc.poll() is None, svc._tail(self._run_dir / "kafka.log")
            assert time.monotonic() < deadline, "private Kafka did not come back"
            time.sleep(0.2)
        return time.monotonic() - started

    def destroy(self) -> None:
        """Stop it for good and remove its data."""
        self.svc.stop_kafka(self.port)


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a free port, restartable."""

    def __init__(self) -> None:
        self.svc = _services()
        self.port = free_port()
        self.url = f"postgresql+psycopg://laporflow@127.0.0.1:{self.port}/laporflow"

    def create(self) -> None:
        """initdb and start (devservices)."""
        with self.svc._locked(self.svc._pg_lock(self.port)):
            self.svc._start_postgres(self.port)

    def _state(self) -> dict[str, str]:
        state: dict[str, str] = json.loads(self.svc._pg_paths(self.port)[1].read_text())
        return state

    def _pg_ctl(self, *args: str) -> None:
        state = self._state()
        cmd = [str(Path(state["bindir"]) / "pg_ctl"), "-D", state["data"], *args]
        self.svc._pg_run(cmd, Path(state["base"]), f"pg_ctl {args[-1]}")

    def stop(self) -> float:
        """Fast shutdown (connections are cut); return the seconds it took."""
        started = time.monotonic()
        self._pg_ctl("-m", "fast", "-w", "stop")
        return time.monotonic() - started

    def start(self) -> float:
        """Start again on the same data; return the seconds until it answers."""
        started = time.monotonic()
        state = self._state()
        options = (
            f"-p {self.port} -k {state['base']} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        )
        self._pg_ctl("-l", state["log"], "-o", options, "-w", "-t", "60", "start")
        pid = self.svc._read_pid(Path(state["data"]) / "postmaster.pid")
        self.svc._pg_paths(self.port)[0].write_text(f"{pid}\n")
        return time.monotonic() - started

    def destroy(self) -> None:
        """Stop it and remove its data."""
        self.svc.stop_postgres(self.port)
