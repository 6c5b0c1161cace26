"""Paths, versions and process helpers shared by the local services."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

KAFKA_VERSION = "4.1.1"
SCALA_VERSION = "2.13"
# Only used when the resolved jars bring log4j-api but no version can be read from them.
LOG4J_FALLBACK_VERSION = "2.24.3"
MAVEN_DEPENDENCY_PLUGIN = "3.8.1"
KAFKA_TARBALL_URLS = (
    "https://downloads.apache.org/kafka/{v}/kafka_{s}-{v}.tgz",
    "https://archive.apache.org/dist/kafka/{v}/kafka_{s}-{v}.tgz",
)

KAFKA_START_TIMEOUT = 60.0
KAFKA_STOP_TIMEOUT = 30.0
PG_STOP_TIMEOUT = 30.0
DEFAULT_KAFKA_PORT = 9092
DEFAULT_PG_PORT = 55432
PG_USER = "laporflow"
PG_DATABASE = "laporflow"

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = ROOT / ".cache"
RUN_DIR = CACHE_DIR / "run"
KAFKA_CACHE = CACHE_DIR / "kafka"

# Popen objects of brokers started by this process, so they can be reaped (no zombies,
# no "subprocess still running" ResourceWarning).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
# Held flock()s: lock path -> [fd, depth].
_locks: dict[str, list[int]] = {}


class ServiceError(RuntimeError):
    """A local service could not be obtained, started or stopped."""


def log(msg: str) -> None:
    """Progress message: always stderr, never stdout."""
    print(f"[services] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise work on one service/cache across processes (re-entrant in one process)."""
    key = str(path)
    if key not in _locks:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        _locks[key] = [fd, 0]
    _locks[key][1] += 1
    try:
        yield
    finally:
        _locks[key][1] -= 1
        if _locks[key][1] == 0:
            fd = _locks.pop(key)[0]
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ServiceError(f"{name}={raw!r} is not a port number") from exc


def kafka_port() -> int:
    """Broker port (``LAPORFLOW_KAFKA_PORT``, default 9092)."""
    return _env_int("LAPORFLOW_KAFKA_PORT", DEFAULT_KAFKA_PORT)


def kafka_controller_port() -> int:
    """KRaft controller port (``LAPORFLOW_KAFKA_CONTROLLER_PORT``, default broker port + 1)."""
    return _env_int("LAPORFLOW_KAFKA_CONTROLLER_PORT", kafka_port() + 1)


def pg_port() -> int:
    """PostgreSQL port (``LAPORFLOW_PG_PORT``, default 55432)."""
    return _env_int("LAPORFLOW_PG_PORT", DEFAULT_PG_PORT)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _pid_alive(pid: int, marker: str | None = None) -> bool:
    """True if ``pid`` runs (not a zombie) and, if given, its command line has ``marker``."""
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        del _CHILDREN[pid]
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else (e.g. the postgres user)
    proc = Path(f"/proc/{pid}")
    if not proc.exists():
        return True  # no procfs: trust kill(0)
    try:
        stat = (proc / "stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            return False
        if marker is not None:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            return marker in cmdline
    except (OSError, IndexError):
        return False
    return True


def _wait_gone(pid: int, timeout: float, marker: str | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        child = _CHILDREN.get(pid)
        if child is not None:
            try:
                child.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                continue
        if not _pid_alive(pid, marker):
            return True
        time.sleep(0.1)
    return not _pid_alive(pid, marker)


def _kill_group(pid: int, sig: signal.Signals) -> None:
    """Signal the process group led by ``pid`` (we start services in new sessions)."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
            return
    except ProcessLookupError:
        return
    except PermissionError:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _terminate(pid: int, marker: str | None, timeout: float, what: str) -> None:
    """SIGTERM, wait up to ``timeout``, then SIGKILL; reap if it is our child."""
    if not _pid_alive(pid, marker):
        _CHILDREN.pop(pid, None)
        return
    _kill_group(pid, signal.SIGTERM)
    if not _wait_gone(pid, timeout, marker):
        log(f"{what} (pid {pid}) did not stop within {timeout:.0f} s: SIGKILL")
        _kill_group(pid, signal.SIGKILL)
        if not _wait_gone(pid, 10.0, marker):
            raise ServiceError(f"{what} (pid {pid}) survived SIGKILL")
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=5)


def _port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text[-lines:])


def _rmtree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _unlink(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
