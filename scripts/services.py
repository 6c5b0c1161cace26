#!/usr/bin/env python3
"""Project-started local services: a single-node Apache Kafka (KRaft) and a PostgreSQL.

Standard library only: this runs before (and outside) the virtualenv.

    python scripts/services.py up [--kafka-only]      start what is not running, print env lines
    python scripts/services.py down                   stop what this script recorded
    python scripts/services.py run [--kafka-only] -- CMD...
                                                      start, run CMD with LAPORFLOW_* set, stop
                                                      what this invocation started, exit with
                                                      CMD's exit code
    python scripts/services.py env                    print the env lines of what is running

Only the ``KEY=value`` lines go to stdout (so ``eval "$(... up)"`` works); progress and
errors go to stderr.

Kafka comes from ``$KAFKA_HOME/libs`` when ``KAFKA_HOME`` is set, otherwise from Maven
Central (``org.apache.kafka:kafka_2.13`` plus a Log4j2 SLF4J binding, resolved once into
``.cache/kafka/<version>/libs``). Each start gets a fresh data folder and log under
``.cache/run/kafka-<port>/``. PostgreSQL uses the newest Debian server binaries in
``/usr/lib/postgresql/<ver>/bin`` (or ``pg_ctl`` on PATH) with a throwaway cluster.

Python callers (the pytest fixtures) use ``ensure_kafka()``, ``ensure_postgres()``,
``stop_kafka()`` and ``stop_postgres()``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tarfile
import time
import types
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
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


# --------------------------------------------------------------------------- Kafka wire


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    buf = bytearray()
    while len(buf) < size:
        chunk = sock.recv(size - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        buf.extend(chunk)
    return bytes(buf)


def _kafka_call(sock: socket.socket, api_key: int, version: int, corr: int, body: bytes) -> bytes:
    """One request with a v1 (non-flexible) header; returns the response after correlation."""
    client_id = b"laporflow-services"
    msg = struct.pack(">hhih", api_key, version, corr, len(client_id)) + client_id + body
    sock.sendall(struct.pack(">i", len(msg)) + msg)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    payload = _recv_exact(sock, size)
    (got,) = struct.unpack_from(">i", payload)
    if got != corr:
        raise ConnectionError(f"correlation id {got} != {corr}")
    return payload[4:]


def kafka_ready(port: int, host: str = "127.0.0.1", timeout: float = 2.0) -> bool:
    """True if a broker answers ApiVersions and lists itself in a Metadata response."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            body = _kafka_call(sock, 18, 0, 1, b"")  # ApiVersions v0
            (error,) = struct.unpack_from(">h", body)
            if error != 0:
                return False
            (count,) = struct.unpack_from(">i", body, 2)
            ranges = {
                key: (lo, hi)
                for key, lo, hi in (
                    struct.unpack_from(">hhh", body, 6 + 6 * i) for i in range(count)
                )
            }
            if 3 not in ranges:
                return False
            version = max(ranges[3][0], 1)
            if version > min(ranges[3][1], 8):
                return True  # only flexible Metadata versions: ApiVersions has to do
            req = struct.pack(">i", -1)  # all topics
            if version >= 4:
                req += b"\x00"  # allow_auto_topic_creation
            if version >= 8:
                req += b"\x00\x00"  # include cluster/topic authorized operations
            meta = _kafka_call(sock, 3, version, 2, req)
            offset = 4 if version >= 3 else 0  # throttle_time_ms
            brokers: int = struct.unpack_from(">i", meta, offset)[0]
            return brokers > 0
    except (OSError, struct.error, ConnectionError):
        return False


# --------------------------------------------------------------------------- Kafka jars


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not Path(java).exists():
        raise ServiceError(
            "no java found (set JAVA_HOME or put Java 17+ on PATH; Debian: "
            "apt-get install -y openjdk-17-jre-headless)"
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if match:
        major = int(match.group(1))
        if major == 1 and match.group(2):
            major = int(match.group(2))
        if major < 17:
            raise ServiceError(f"{java} is Java {major}; Kafka {KAFKA_VERSION} needs Java 17+")
    return java


def _jar_version(libs: Path, artifact: str) -> str | None:
    for jar in libs.glob(f"{artifact}-*.jar"):
        match = re.fullmatch(re.escape(artifact) + r"-(\d[\w.\-]*)\.jar", jar.name)
        if match:
            return match.group(1)
    return None


def _pom(extra: Sequence[tuple[str, str, str]]) -> str:
    deps = [("org.apache.kafka", f"kafka_{SCALA_VERSION}", KAFKA_VERSION), *extra]
    dep_xml = "\n".join(
        f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId>"
        f"<version>{v}</version></dependency>"
        for g, a, v in deps
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by scripts/services.py: the runtime classpath of a local Kafka broker. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.laporflow</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>{KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
{dep_xml}
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-dependency-plugin</artifactId>
        <version>{MAVEN_DEPENDENCY_PLUGIN}</version>
      </plugin>
    </plugins>
  </build>
</project>
"""


def _run_maven(base: Path, libs: Path) -> None:
    _rmtree(libs)
    cmd = [
        "mvn",
        "-q",
        "-B",
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={libs.name}",
    ]
    out_path = base / "maven.log"
    start = time.monotonic()
    with out_path.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=base, stdout=out, stderr=subprocess.STDOUT)
        try:
            next_note = 15.0
            while True:
                try:
                    rc = proc.wait(timeout=1.0)
                    break
                except subprocess.TimeoutExpired:
                    elapsed = time.monotonic() - start
                    if elapsed >= next_note:
                        log(f"  ... Maven still resolving ({elapsed:.0f} s)")
                        next_note += 15.0
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    if rc != 0:
        raise ServiceError(f"mvn exited {rc} in {base}:\n{_tail(out_path)}")


def _resolve_with_maven(base: Path, libs: Path) -> None:
    if not shutil.which("mvn"):
        raise ServiceError("mvn not on PATH (Debian: apt-get install -y maven)")
    started = time.monotonic()
    log(
        f"resolving org.apache.kafka:kafka_{SCALA_VERSION}:{KAFKA_VERSION} with Maven into "
        f"{libs} (first time only; ~45 MB)"
    )
    pom = base / "pom.xml"
    pom.write_text(_pom([]))
    _run_maven(base, libs)
    # Kafka logs through SLF4J; the binding must match the slf4j-api that was resolved
    # (4.1.x brings slf4j-api 1.7.x, so log4j-slf4j-impl; 2.x would need log4j-slf4j2-impl).
    slf4j = _jar_version(libs, "slf4j-api") or "2"
    binding = "log4j-slf4j-impl" if slf4j.startswith("1.") else "log4j-slf4j2-impl"
    log4j = _jar_version(libs, "log4j-api") or LOG4J_FALLBACK_VERSION
    if _jar_version(libs, binding) is None or _jar_version(libs, "log4j-core") is None:
        log(f"  slf4j-api {slf4j}: adding {binding} {log4j} + log4j-core {log4j}")
        pom.write_text(
            _pom(
                [
                    ("org.apache.logging.log4j", binding, log4j),
                    ("org.apache.logging.log4j", "log4j-core", log4j),
                ]
            )
        )
        _run_maven(base, libs)
    if _jar_version(libs, binding) is None:
        raise ServiceError(f"Maven resolved no {binding} jar into {libs}")
    log(f"  resolved {len(list(libs.glob('*.jar')))} jars in {time.monotonic() - started:.1f} s")


def _download_tarball(base: Path, libs: Path) -> None:
    """Fallback: the Apache release tarball, only if its host answers quickly."""
    name = f"kafka_{SCALA_VERSION}-{KAFKA_VERSION}"
    errors = []
    for template in KAFKA_TARBALL_URLS:
        url = template.format(v=KAFKA_VERSION, s=SCALA_VERSION)
        archive = base / f"{name}.tgz"
        try:
            log(f"trying {url}")
            with urllib.request.urlopen(url, timeout=5) as resp, archive.open("wb") as out:
                shutil.copyfileobj(resp, out)
            dist = base / "dist"
            _rmtree(dist)
            with tarfile.open(archive) as tar:
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(dist, filter="data")
                else:  # Python < 3.11.4
                    tar.extractall(dist)
            _rmtree(libs)
            shutil.move(str(dist / name / "libs"), libs)
            _rmtree(dist)
            _unlink(archive)
            return
        except Exception as exc:
            errors.append(f"{url}: {exc}")
            _unlink(archive)
    raise ServiceError("tarball download failed: " + "; ".join(errors))


def kafka_libs() -> Path:
    """The folder whose ``*`` is the broker classpath (``$KAFKA_HOME/libs`` or the cache)."""
    kafka_home = os.environ.get("KAFKA_HOME")
    if kafka_home:
        libs = Path(kafka_home) / "libs"
        if not any(libs.glob("kafka_*.jar")):
            raise ServiceError(f"KAFKA_HOME={kafka_home} has no libs/kafka_*.jar")
        return libs
    base = KAFKA_CACHE / KAFKA_VERSION
    libs = base / "libs"
    stamp = base / "libs.complete"
    main_jar = libs / f"kafka_{SCALA_VERSION}-{KAFKA_VERSION}.jar"
    if stamp.exists() and main_jar.exists():
        return libs
    with _locked(base / ".lock"):
        if stamp.exists() and main_jar.exists():  # another process just finished
            return libs
        _obtain_kafka_libs(base, libs, stamp, main_jar)
    return libs


def _obtain_kafka_libs(base: Path, libs: Path, stamp: Path, main_jar: Path) -> None:
    _unlink(stamp)
    try:
        _resolve_with_maven(base, libs)
    except ServiceError as maven_error:
        log(f"Maven failed: {maven_error}")
        log("falling back to the Apache release tarball")
        try:
            _download_tarball(base, libs)
        except ServiceError as tar_error:
            raise ServiceError(
                f"cannot obtain Kafka {KAFKA_VERSION}: Maven: {maven_error}\n{tar_error}\n"
                "Set KAFKA_HOME to an unpacked Kafka release, or LAPORFLOW_KAFKA_BOOTSTRAP "
                "to an existing broker."
            ) from None
    if not main_jar.exists():
        raise ServiceError(f"{main_jar} missing after resolution")
    jars = sorted(p.name for p in libs.glob("*.jar"))
    stamp.write_text(json.dumps({"kafka": KAFKA_VERSION, "jars": jars}, indent=1) + "\n")


LOG4J2_CONFIG = """\
# Written by scripts/services.py: console (the broker's stdout goes to kafka.log).
status = warn
name = laporflow-local-kafka
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
"""


def _log4j_config() -> Path:
    path = KAFKA_CACHE / "log4j2.properties"
    if not path.exists() or path.read_text() != LOG4J2_CONFIG:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(LOG4J2_CONFIG)
    return path


def _server_properties(port: int, cport: int, data: Path) -> str:
    return f"""\
# Written by scripts/services.py: throwaway single-node KRaft broker+controller.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:{cport}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data}
num.partitions=6
default.replication.factor=1
auto.create.topics.enable=true
group.initial.rebalance.delay.ms=0
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=6
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=6
min.insync.replicas=1
"""


def _kafka_random_uuid() -> str:
    """Same as ``kafka.tools.StorageTool random-uuid`` (``Uuid.randomUuid()``), minus a JVM.

    Base64url without padding of a random v4 UUID, never starting with '-'.
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _kafka_paths(port: int) -> tuple[Path, Path]:
    return RUN_DIR / f"kafka-{port}", RUN_DIR / f"kafka-{port}.pid"


def _kafka_lock(port: int) -> Path:
    return RUN_DIR / f"kafka-{port}.lock"


def _start_kafka(port: int, cport: int) -> None:
    java = _java()
    libs = kafka_libs()
    classpath = f"{libs}/*"
    log_config = f"-Dlog4j2.configurationFile={_log4j_config()}"
    run_dir, pid_file = _kafka_paths(port)
    _rmtree(run_dir)
    data = run_dir / "data"
    data.mkdir(parents=True)
    props = run_dir / "server.properties"
    props.write_text(_server_properties(port, cport, data))
    log_file = run_dir / "kafka.log"
    started = time.monotonic()

    cluster_id = _kafka_random_uuid()
    fmt = subprocess.run(
        [
            java,
            "-Xshare:auto",
            "-XX:TieredStopAtLevel=1",
            "-XX:+UseSerialGC",
            "-cp",
            classpath,
            log_config,
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "-t",
            cluster_id,
            "-c",
            str(props),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if fmt.returncode != 0:
        raise ServiceError(
            f"kafka storage format failed ({fmt.returncode}):\n{fmt.stdout}{fmt.stderr}"
        )

    cmd = [
        java,
        "-Xmx512m",
        "-Xms256m",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        "-cp",
        classpath,
        log_config,
        "kafka.Kafka",
        str(props),
    ]
    with log_file.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=run_dir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    pid_file.write_text(f"{proc.pid}\n")
    try:
        deadline = started + KAFKA_START_TIMEOUT
        while not kafka_ready(port, timeout=1.0):
            if proc.poll() is not None:
                raise ServiceError(
                    f"Kafka exited with {proc.returncode} during start; log {log_file}, "
                    f"last 30 lines:\n{_tail(log_file)}"
                )
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"Kafka not answering on 127.0.0.1:{port} after {KAFKA_START_TIMEOUT:.0f} s;"
                    f" log {log_file}, last 30 lines:\n{_tail(log_file)}"
                )
            time.sleep(0.2)
    except BaseException:
        _terminate(proc.pid, None, 5.0, "kafka")
        _unlink(pid_file)
        raise
    if log_file.stat().st_size == 0:
        log(f"warning: the broker wrote nothing to {log_file} (logging binding missing?)")
    what = f"from {libs}" if os.environ.get("KAFKA_HOME") else KAFKA_VERSION
    log(
        f"kafka {what} started on 127.0.0.1:{port} (pid {proc.pid}) in "
        f"{time.monotonic() - started:.1f} s; log {log_file}"
    )


def _kafka_running(port: int) -> int | None:
    """Pid of our broker on ``port`` if its pid file is alive and the port answers."""
    _, pid_file = _kafka_paths(port)
    pid = _read_pid(pid_file)
    if pid is None or not _pid_alive(pid, "kafka.Kafka"):
        return None
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        if kafka_ready(port):
            return pid
        if not _pid_alive(pid, "kafka.Kafka"):
            return None
        time.sleep(0.5)
    return None


def ensure_kafka() -> tuple[str, bool]:
    """Start the local broker unless it runs; returns ``(bootstrap, started_by_us)``.

    Nothing is started when ``LAPORFLOW_KAFKA_BOOTSTRAP`` is set (externally managed).
    """
    external = os.environ.get("LAPORFLOW_KAFKA_BOOTSTRAP", "").strip()
    if external:
        return external, False
    port = kafka_port()
    cport = kafka_controller_port()
    bootstrap = f"127.0.0.1:{port}"
    with _locked(_kafka_lock(port)):
        if _kafka_running(port) is not None:
            log(f"kafka already running on {bootstrap}")
            return bootstrap, False
        _stop_kafka_locked(port)  # stale pid file / hung broker of ours
        for p in (port, cport):
            if _port_open(p):
                raise ServiceError(
                    f"port {p} is in use by a process this script did not start; set "
                    "LAPORFLOW_KAFKA_PORT (and LAPORFLOW_KAFKA_CONTROLLER_PORT) to free ports, "
                    "or LAPORFLOW_KAFKA_BOOTSTRAP to use that broker"
                )
        _start_kafka(port, cport)
    return bootstrap, True


def _stop_kafka_locked(port: int) -> None:
    run_dir, pid_file = _kafka_paths(port)
    pid = _read_pid(pid_file)
    if pid is not None and _pid_alive(pid, "kafka.Kafka"):
        started = time.monotonic()
        _terminate(pid, "kafka.Kafka", KAFKA_STOP_TIMEOUT, "kafka")
        log(f"kafka on port {port} (pid {pid}) stopped in {time.monotonic() - started:.1f} s")
    _unlink(pid_file)
    _rmtree(run_dir / "data")  # keep kafka.log for post-mortems


def stop_kafka(port: int | None = None) -> None:
    """Stop the broker recorded for ``port`` (default: the configured port)."""
    port = kafka_port() if port is None else port
    with _locked(_kafka_lock(port)):
        _stop_kafka_locked(port)


# --------------------------------------------------------------------------- PostgreSQL


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


# --------------------------------------------------------------------------- commands


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
