"""Starting and stopping a single-node KRaft Apache Kafka."""

from __future__ import annotations

import base64
import os
import subprocess
import time
import uuid
from pathlib import Path

from devservices.common import (
    _CHILDREN,
    KAFKA_CACHE,
    KAFKA_START_TIMEOUT,
    KAFKA_STOP_TIMEOUT,
    KAFKA_VERSION,
    RUN_DIR,
    ServiceError,
    _locked,
    _pid_alive,
    _port_open,
    _read_pid,
    _rmtree,
    _tail,
    _terminate,
    _unlink,
    kafka_controller_port,
    kafka_port,
    log,
)
from devservices.kafka_jars import LOG4J2_CONFIG, _java, kafka_libs
from devservices.kafka_probe import kafka_ready


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
