"""Starting and stopping a throwaway PostgreSQL cluster (Debian's server binaries)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

from devservices.common import (
    PG_DATABASE,
    PG_STOP_TIMEOUT,
    PG_USER,
    RUN_DIR,
    ServiceError,
    _kill_group,
    _locked,
    _pid_alive,
    _port_open,
    _read_pid,
    _rmtree,
    _tail,
    _unlink,
    _wait_gone,
    log,
    pg_port,
)


def _pg_version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", path.name)) or (0,)


def _pg_bindir(install: bool = True) -> Path:
    versions = sorted(
        (d for d in Path("/usr/lib/postgresql").glob("*") if (d / "bin" / "pg_ctl").exists()),
        key=_pg_version_key,
    )
    if versions:
        return versions[-1] / "bin"
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).resolve().parent
    if install and os.geteuid() == 0 and shutil.which("apt-get"):
        log("no PostgreSQL found: apt-get install postgresql (no default cluster)")
        conf = Path("/etc/postgresql-common/createcluster.conf")
        if not conf.exists():
            # Keep the package from creating and starting its own 'main' cluster.
            conf.parent.mkdir(parents=True, exist_ok=True)
            conf.write_text("create_main_cluster = false\n")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "postgresql"],
        ):
            subprocess.run(cmd, env=env, check=True, stdout=sys.stderr, stdin=subprocess.DEVNULL)
        return _pg_bindir(install=False)
    raise ServiceError(
        "no PostgreSQL server binaries (looked in /usr/lib/postgresql/*/bin and PATH); "
        "install postgresql or set LAPORFLOW_TEST_DATABASE_URL"
    )


def _pg_paths(port: int) -> tuple[Path, Path]:
    return RUN_DIR / f"pg-{port}.pid", RUN_DIR / f"pg-{port}.json"


def _pg_lock(port: int) -> Path:
    return RUN_DIR / f"pg-{port}.lock"


def _as_postgres(cmd: list[str]) -> list[str]:
    """As root, initdb/pg_ctl must run as the ``postgres`` system user."""
    if os.geteuid() != 0:
        return cmd
    if not shutil.which("runuser"):
        raise ServiceError("running as root needs runuser (util-linux) to drop to 'postgres'")
    return ["runuser", "-u", "postgres", "--", *cmd]


def _pg_run(cmd: list[str], cwd: Path, what: str) -> None:
    res = subprocess.run(
        _as_postgres(cmd),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        start_new_session=True,
    )
    if res.returncode != 0:
        raise ServiceError(f"{what} failed ({res.returncode}):\n{res.stdout}{res.stderr}")


def _pg_prepare_base(port: int) -> Path:
    """A fresh folder the server user can write and whose socket path is short enough."""
    candidates = [RUN_DIR / f"pg-{port}", Path(f"/tmp/laporflow-pg-{port}")]
    for base in candidates:
        if len(str(base / f".s.PGSQL.{port}")) > 100:
            continue
        _rmtree(base)
        base.mkdir(parents=True)
        if os.geteuid() != 0:
            base.chmod(0o700)
            return base
        shutil.chown(base, "postgres", "postgres")
        base.chmod(0o700)
        ok = subprocess.run(
            ["runuser", "-u", "postgres", "--", "test", "-w", str(base), "-a", "-x", str(base)],
            check=False,
        )
        if ok.returncode == 0:
            return base
        log(f"user postgres cannot reach {base}; trying the next location")
        _rmtree(base)
    raise ServiceError(f"no usable data folder for PostgreSQL among {candidates}")


def pg_ready(port: int, host: str = "127.0.0.1", timeout: float = 2.0) -> bool:
    """True if a PostgreSQL server answers an SSLRequest on ``port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(struct.pack(">ii", 8, 80877103))
            return sock.recv(1) in (b"N", b"S")
    except OSError:
        return False


def _pg_url(port: int) -> str:
    return f"postgresql+psycopg://{PG_USER}@127.0.0.1:{port}/{PG_DATABASE}"


def _start_postgres(port: int) -> None:
    bindir = _pg_bindir()
    pid_file, state_file = _pg_paths(port)
    started = time.monotonic()
    base = _pg_prepare_base(port)
    data = base / "data"
    log_file = base / "postgres.log"
    state = {"base": str(base), "data": str(data), "bindir": str(bindir), "log": str(log_file)}
    state_file.write_text(json.dumps(state, indent=1) + "\n")
    _pg_run(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            PG_USER,
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ],
        base,
        "initdb",
    )
    options = (
        f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
    )
    try:
        _pg_run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(log_file),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            base,
            f"pg_ctl start (log {log_file}:\n{_tail(log_file)}\n)",
        )
        pid = _read_pid(data / "postmaster.pid")
        if pid is None:
            raise ServiceError(f"no postmaster.pid in {data}; log {log_file}:\n{_tail(log_file)}")
        pid_file.write_text(f"{pid}\n")
        res = subprocess.run(
            [
                str(bindir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                PG_USER,
                PG_DATABASE,
            ],
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if res.returncode != 0:
            raise ServiceError(f"createdb {PG_DATABASE} failed:\n{res.stdout}{res.stderr}")
    except BaseException:
        _stop_postgres_locked(port)
        raise
    log(
        f"postgresql ({bindir.parent.name}) started on 127.0.0.1:{port} (pid {pid}) in "
        f"{time.monotonic() - started:.1f} s; log {log_file}"
    )


def _postgres_running(port: int) -> int | None:
    pid_file, _ = _pg_paths(port)
    pid = _read_pid(pid_file)
    if pid is not None and _pid_alive(pid, "postgres") and pg_ready(port):
        return pid
    return None


def ensure_postgres() -> tuple[str, bool]:
    """Start the local PostgreSQL unless it runs; returns ``(sqlalchemy_url, started_by_us)``.

    Nothing is started when ``LAPORFLOW_TEST_DATABASE_URL`` is set (externally provided).
    """
    external = os.environ.get("LAPORFLOW_TEST_DATABASE_URL", "").strip()
    if external:
        return external, False
    port = pg_port()
    url = _pg_url(port)
    with _locked(_pg_lock(port)):
        if _postgres_running(port) is not None:
            log(f"postgresql already running on 127.0.0.1:{port}")
            return url, False
        _stop_postgres_locked(port)
        if _port_open(port):
            raise ServiceError(
                f"port {port} is in use by a process this script did not start; set "
                "LAPORFLOW_PG_PORT to a free port, or LAPORFLOW_TEST_DATABASE_URL to use that "
                "server"
            )
        _start_postgres(port)
    return url, True


def _stop_postgres_locked(port: int) -> None:
    pid_file, state_file = _pg_paths(port)
    pid = _read_pid(pid_file)
    try:
        state: dict[str, str] = json.loads(state_file.read_text())
    except (OSError, ValueError):
        state = {}
    data = Path(state["data"]) if "data" in state else None
    if pid is None and data is not None:
        pid = _read_pid(data / "postmaster.pid")  # start interrupted before the pid file
    if pid is not None and _pid_alive(pid, "postgres"):
        started = time.monotonic()
        if data is not None and "bindir" in state and data.exists():
            cmd = [str(Path(state["bindir"]) / "pg_ctl"), "-D", str(data), "-m", "fast"]
            cmd += ["-w", "-t", str(int(PG_STOP_TIMEOUT)), "stop"]
            try:
                _pg_run(cmd, data.parent, "pg_ctl stop")
            except (ServiceError, subprocess.TimeoutExpired) as exc:
                log(f"{exc}; signalling pid {pid}")
        if _pid_alive(pid, "postgres"):
            _kill_group(pid, signal.SIGINT)  # the postmaster's "fast shutdown"
            if not _wait_gone(pid, PG_STOP_TIMEOUT, "postgres"):
                _kill_group(pid, signal.SIGKILL)
                if not _wait_gone(pid, 10.0, "postgres"):
                    raise ServiceError(f"postgres (pid {pid}) survived SIGKILL")
        log(f"postgresql on port {port} (pid {pid}) stopped in {time.monotonic() - started:.1f} s")
    _unlink(pid_file, state_file)
    if data is not None:
        _rmtree(data)  # keep postgres.log next to it


def stop_postgres(port: int | None = None) -> None:
    """Stop the PostgreSQL recorded for ``port`` (default: the configured port)."""
    port = pg_port() if port is None else port
    with _locked(_pg_lock(port)):
        _stop_postgres_locked(port)
