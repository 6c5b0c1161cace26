"""The Grafana dashboards, the alert rules and the docker-compose stack against the engine.

Two dashboards: the SRE view (``laporflow-sre.json``: throughput, latency, lag, outbox,
dead letters, timer sweep) and the admin view (``laporflow-admin.json``: complaints,
breaches, escalations and follow-up durations per SKPD, with region and SKPD variables).

Static: every metric a dashboard panel, a template variable, an alert rule or an alert
unit test names is one the engine exports (engine.metrics.REGISTRY), and the compose
file's references (bind mounts, build context, ports, provisioning paths) hold.

Live (``integration``): a real Prometheus server (Debian's ``/usr/bin/prometheus``)
scrapes a real engine that consumed real commands from Kafka into PostgreSQL, a real
``laporflow feed`` process polling a real ``laporflow lapor-sim`` process (and pushing
the engine's dispatches of its reports back), and a real ``laporflow notify`` process
sending to an SMTP server (aiosmtpd) with a policy that lacks one role's contact; every
panel expression of both dashboards must return data through the Prometheus HTTP API;
the alert rules must evaluate without errors on that data.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from datetime import time as dtime
from pathlib import Path
from typing import Any

import pytest
import yaml
from kafka import KafkaProducer

from engine.metrics import REGISTRY
from engine.policy_file import load_policy
from workflows.wire import command_bytes

REPO = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = REPO / "ops" / "grafana" / "dashboards"
SRE_DASHBOARD = DASHBOARD_DIR / "laporflow-sre.json"
ADMIN_DASHBOARD = DASHBOARD_DIR / "laporflow-admin.json"
DASHBOARDS = (SRE_DASHBOARD, ADMIN_DASHBOARD)
ALERTS = REPO / "ops" / "prometheus" / "alerts.yml"
ALERTS_TEST = REPO / "ops" / "prometheus" / "alerts_test.yml"
PROMETHEUS_CONFIG = REPO / "ops" / "prometheus" / "prometheus.yml"
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
GRAFANA_DATASOURCES = REPO / "ops" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
GRAFANA_DASHBOARDS = REPO / "ops" / "grafana" / "provisioning" / "dashboards" / "dashboards.yml"

METRIC_NAME = re.compile(r"\blaporflow_[a-z0-9_]+")
ENGINE_JOB = "laporflow-engine"
FEED_JOB = "laporflow-feed"
NOTIFY_JOB = "laporflow-notify"
# What Grafana puts in place of the dashboard's variables, for querying Prometheus
# directly: a short window (data exists after a few scrapes), "All" SKPDs and regions.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__range": "1h",
    "${skpd}": ".*",
    "$skpd": ".*",
    "${region}": ".*",
    "$region": ".*",
}
#: The scrape target label the admin view's region variable reads.
TARGET_REGION = "kalsel"
WITA = timezone(timedelta(hours=8))


# --------------------------------------------------------------------------- helpers


def exported_metric_names() -> set[str]:
    """Series names the engine exports, from the metric families in its registry."""
    suffixes = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_sum", "_count"),
        "gauge": ("",),
    }
    names: set[str] = set()
    for family in REGISTRY.collect():
        for suffix in suffixes[family.type]:
            names.add(family.name + suffix)
    return names


def dashboard(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _all_panels(panel.get("panels", []))


@dataclass(frozen=True)
class PanelQuery:
    panel: str
    ref_id: str
    expr: str

    @property
    def promql(self) -> str:
        """The expression as Grafana would send it, variables substituted."""
        expr = self.expr
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        return expr


def panel_queries(path: Path) -> list[PanelQuery]:
    queries = []
    for panel in _all_panels(dashboard(path)["panels"]):
        for target in panel.get("targets", []):
            queries.append(PanelQuery(panel["title"], target["refId"], target["expr"]))
    return queries


def variable_queries(path: Path) -> list[str]:
    out = []
    for variable in dashboard(path)["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            out.append(query["query"] if isinstance(query, dict) else query)
    return out


def alert_exprs() -> list[tuple[str, str]]:
    doc = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [(rule["alert"], rule["expr"]) for group in doc["groups"] for rule in group["rules"]]


def alert_test_series() -> list[str]:
    doc = yaml.safe_load(ALERTS_TEST.read_text(encoding="utf-8"))
    return [s["series"] for test in doc["tests"] for s in test["input_series"]]


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data


def _bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host path, container path) of the service's bind mounts (short or long syntax)."""
    out = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, _, rest = volume.partition(":")
            target = rest.split(":")[0]
            if source.startswith((".", "/")):
                out.append((source, target))
        elif volume.get("type") == "bind":
            out.append((volume["source"], volume["target"]))
    return out


# --------------------------------------------------------------------------- static


def test_registry_exports_the_contract_metrics() -> None:
    # Guards the helper itself: the CONTRACT §5 names, as Prometheus sees them.
    names = exported_metric_names()
    assert {
        "laporflow_commands_total",
        "laporflow_transitions_total",
        "laporflow_complaints",
        "laporflow_sla_breaches_total",
        "laporflow_sla_breached",
        "laporflow_escalations_total",
        "laporflow_stage_duration_seconds_bucket",
        "laporflow_outbox_pending",
        "laporflow_consumer_lag",
    } <= names
    assert "laporflow_commands" not in names  # a counter is only queryable with _total


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_uses_only_exported_metrics(path: Path) -> None:
    names = exported_metric_names()
    exprs = [q.expr for q in panel_queries(path)] + variable_queries(path)
    assert exprs
    for expr in exprs:
        used = set(METRIC_NAME.findall(expr))
        assert used or expr.startswith("sum(up{"), f"no lapor-flow metric in {expr!r}"
        assert used <= names, f"unknown metric(s) {sorted(used - names)} in {expr!r}"


def test_alert_rules_use_only_exported_metrics() -> None:
    names = exported_metric_names()
    for alert, expr in alert_exprs():
        used = set(METRIC_NAME.findall(expr))
        assert used <= names, f"{alert}: unknown metric(s) {sorted(used - names)}"
    for series in alert_test_series():
        metric = series.split("{", 1)[0].strip()
        assert metric == "up" or metric in names, f"alerts_test.yml feeds unknown {metric}"


WANTED_PANELS = {
    SRE_DASHBOARD: (
        "Engines up",
        "Commands/s by outcome",
        "Transitions/s",
        "Published/s by topic and conflicts/s",
        "Dead letters per minute",
        "Batch duration p50 / p99",
        "Timer sweep duration p50 / p99",
        "Failed batches/s",
        "Consumer lag per partition",
        "Outbox pending",
        "Timer backlog",
        "Feed and notifier up",
        "Feed: time since last successful poll",
        "Feed: reports fetched/s by source",
        "Feed: skipped/s by reason",
        "Feed: LAPOR! pushes/s, failed pushes and failed polls",
        "Notices/s by channel and outcome",
        "Notices with no contact, by role (per hour)",
        "Notices pending",
        "Notices failed",
    ),
    ADMIN_DASHBOARD: (
        "Open complaints by state",
        "Complaints by state & SKPD",
        "Open breaches per SKPD",
        "SLA breaches per SKPD (per hour)",
        "Escalations per SKPD (in the time range)",
        "Escalations by level (per hour)",
        "Follow-up duration p50 / p90 per SKPD",
        "Stage duration p50 / p90 per clock",
    ),
}


def test_dashboards_are_distinct_and_link_each_other() -> None:
    sre, admin = dashboard(SRE_DASHBOARD), dashboard(ADMIN_DASHBOARD)
    assert sre["uid"] != admin["uid"]
    assert [link["url"] for link in sre["links"]] == [f"/d/{admin['uid']}"]
    assert [link["url"] for link in admin["links"]] == [f"/d/{sre['uid']}"]
    # The admin view filters every panel by region and SKPD.
    variables = [v["name"] for v in admin["templating"]["list"]]
    assert variables == ["datasource", "region", "skpd"]
    for query in panel_queries(ADMIN_DASHBOARD):
        assert 'region=~"$region"' in query.expr and 'skpd=~"$skpd"' in query.expr, query
    # SKPDs offered are those of the chosen region(s).
    skpd = next(v for v in admin["templating"]["list"] if v["name"] == "skpd")
    assert "$region" in skpd["query"]["query"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_structure(path: Path) -> None:
    data = dashboard(path)
    assert 36 <= data["schemaVersion"] <= 41
    assert data["uid"] and data["title"]
    panels = list(_all_panels(data["panels"]))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    titles = {p["title"] for p in panels}
    for wanted in WANTED_PANELS[path]:
        assert wanted in titles
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] in ("row", "text"):
            continue
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    for query in panel_queries(path):
        assert "$" not in query.promql, f"unsubstituted variable in {query.promql!r}"
        assert query.promql.count("(") == query.promql.count(")"), query.expr


def test_grafana_provisioning_matches_compose() -> None:
    services = compose()["services"]
    mounts = dict(_bind_mounts(services["grafana"]))
    assert mounts["./ops/grafana/provisioning"] == "/etc/grafana/provisioning"
    providers = yaml.safe_load(GRAFANA_DASHBOARDS.read_text(encoding="utf-8"))["providers"]
    assert [p["options"]["path"] for p in providers] == [mounts["./ops/grafana/dashboards"]]
    datasources = yaml.safe_load(GRAFANA_DATASOURCES.read_text(encoding="utf-8"))["datasources"]
    (prometheus,) = datasources
    assert prometheus["type"] == "prometheus"
    assert prometheus["url"] == "http://prometheus:9090"
    # Each dashboard's default data source is the provisioned one.
    for path in DASHBOARDS:
        variable = next(
            v for v in dashboard(path)["templating"]["list"] if v["name"] == "datasource"
        )
        assert variable["current"]["value"] == prometheus["uid"]
    assert {p.name for p in DASHBOARD_DIR.glob("*.json")} == {p.name for p in DASHBOARDS}
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == mounts["./ops/grafana/dashboards"] + "/" + ADMIN_DASHBOARD.name
    # The admin view's region variable reads the engine target's region label.
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    job = next(j for j in config["scrape_configs"] if j["job_name"] == ENGINE_JOB)
    assert job["static_configs"][0]["labels"]["region"]


def test_compose_file_parses_and_its_references_exist() -> None:
    data = compose()
    services = data["services"]
    assert set(services) >= {"kafka", "postgres", "engine", "prometheus", "grafana"}
    assert services["kafka"]["image"] == "apache/kafka:4.1.1"
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["prometheus"]["image"].startswith("prom/prometheus")
    assert services["grafana"]["image"].startswith("grafana/grafana")
    # Every bind-mounted host path exists in the repository.
    for name, service in services.items():
        for source, target in _bind_mounts(service):
            assert (REPO / source).exists(), f"{name}: {source} (-> {target}) is missing"
            assert target.startswith("/"), f"{name}: {target}"
    # Named volumes are declared.
    declared = set(data.get("volumes") or {})
    for name, service in services.items():
        for volume in service.get("volumes", []):
            if isinstance(volume, str) and not volume.startswith((".", "/")):
                assert volume.split(":")[0] in declared, f"{name}: undeclared volume {volume}"


def test_compose_engine_service() -> None:
    services = compose()["services"]
    engine = services["engine"]
    build = engine["build"]
    assert (REPO / build["context"] / build["dockerfile"]).is_file()
    env = engine["environment"]
    assert env["LAPORFLOW_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert env["LAPORFLOW_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in env["LAPORFLOW_DATABASE_URL"]
    port = int(env["LAPORFLOW_METRICS_PORT"])
    assert any(str(p).endswith(f":{port}") for p in engine["ports"])
    # The scrape target is the engine's service name and metrics port.
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    job = next(j for j in config["scrape_configs"] if j["job_name"] == ENGINE_JOB)
    assert job["static_configs"][0]["targets"] == [f"engine:{port}"]
    # The optional policy file is mounted where LAPORFLOW_POLICY points, and is valid.
    mounts = {target: source for source, target in _bind_mounts(engine)}
    policy_source = mounts[env["LAPORFLOW_POLICY"]]
    assert load_policy(REPO / policy_source).fingerprint
    # Start only when Kafka and PostgreSQL answer their health checks.
    for dependency, condition in engine["depends_on"].items():
        assert condition == {"condition": "service_healthy"}
        assert services[dependency]["healthcheck"]["test"], dependency


def test_compose_kafka_is_single_node_kraft() -> None:
    env = compose()["services"]["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    listeners = dict(
        item.split("://", 1) for item in env["KAFKA_LISTENERS"].split(",")
    )  # name -> host:port
    advertised = dict(item.split("://", 1) for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    protocol_map = dict(
        item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    assert set(listeners) <= set(protocol_map)
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in listeners
    assert advertised["PLAINTEXT"] == "kafka:9092"
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 1


def test_dockerfile() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    lines = [
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    ]
    assert "FROM python:3.11-slim AS build" in lines
    assert lines.count("FROM python:3.11-slim") == 1  # the runtime stage
    assert "EXPOSE 9108" in lines
    user = next(line for line in reversed(lines) if line.startswith("USER "))
    assert user.split()[1].split(":")[0] not in {"root", "0"}
    assert 'ENTRYPOINT ["laporflow"]' in lines
    assert 'CMD ["run"]' in lines
    # Every source folder it copies exists (and is a package pyproject installs).
    for line in lines:
        if line.startswith("COPY ") and "--from" not in line:
            for source in line.split()[1:-1]:
                if not source.endswith("*"):
                    assert (REPO / source).exists(), source
    # ... and it copies every package pyproject installs (else `laporflow notify` or
    # `laporflow feed` in the image dies with ModuleNotFoundError).
    copied = {
        source.rstrip("/")
        for line in lines
        if line.startswith("COPY ") and "--from" not in line
        for source in line.split()[1:-1]
    }
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in include}
    assert packages - copied == set()


# --------------------------------------------------------------------------- live


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _prometheus_binary() -> str:
    path = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None
    )
    if path is None:
        pytest.fail(
            "the prometheus server binary is not installed: run scripts/ensure_prometheus.sh "
            "(Debian's prometheus package)",
            pytrace=False,
        )
    return path


def _get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def _wait_for(what: str, check: Callable[[], bool], timeout: float, interval: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (OSError, ValueError, KeyError):  # not up / not answering yet
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}", pytrace=False)
        time.sleep(interval)


def _registry_sum(sample_name: str, **labels: str) -> float:
    total = 0.0
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name == sample_name and all(
                sample.labels.get(k) == v for k, v in labels.items()
            ):
                total += sample.value
    return total


@dataclass
class Prometheus:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def query(self, promql: str) -> list[dict[str, Any]]:
        params = urllib.parse.urlencode({"query": promql})
        body = _get_json(f"{self.url}/api/v1/query?{params}")
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture
def prometheus_factory(tmp_path: Path) -> Iterator[Callable[[dict[str, int]], Prometheus]]:
    """Start a real Prometheus scraping 127.0.0.1:<port> of each job every second."""
    started: list[Prometheus] = []

    def start(jobs: dict[str, int]) -> Prometheus:
        binary = _prometheus_binary()
        port = _free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(ALERTS)],
            "scrape_configs": [
                {
                    "job_name": job,
                    "static_configs": [
                        {
                            "targets": [f"127.0.0.1:{job_port}"],
                            "labels": {"region": TARGET_REGION},
                        }
                    ],
                }
                for job, job_port in jobs.items()
            ],
        }
        config_path = tmp_path / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        log = tmp_path / "prometheus.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config_path}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--log.level=warn",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
            )
        prometheus = Prometheus(process, f"http://127.0.0.1:{port}", log)
        started.append(prometheus)

        def ready() -> bool:
            assert process.poll() is None, log.read_text(errors="replace")
            with urllib.request.urlopen(f"{prometheus.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)

        _wait_for("Prometheus to be ready", ready, timeout=60)
        return prometheus

    yield start
    for prometheus in started:
        prometheus.stop()


@dataclass
class Traffic:
    """Commands for a few complaints, issued weeks ago so their SLA timers are overdue."""

    topic: str
    run: str
    base: datetime
    records: int = 0
    sent: list[tuple[bytes, bytes]] = field(default_factory=list)

    def command(
        self, ctype: str, complaint_id: str, at: datetime, actor: tuple[str, str], payload: Any
    ) -> None:
        value = command_bytes(
            ctype,
            complaint_id,
            at,
            role=actor[0],
            actor_id=actor[1],
            payload=payload,
            command_id=f"ops-{uuid.uuid4().hex}",
        )
        self.sent.append((complaint_id.encode(), value))

    def wave(self, n: int) -> None:
        """submit/verify/dispatch/follow_up of 3 complaints, one garbage and one forbidden."""
        t = self.base
        admin = ("admin", "diskominfo-hsu")
        submit = {
            "title": "Jalan berlubang",
            "body": "Jalan desa berlubang besar dan membahayakan pengendara.",
            "category": "jalan",
            "classification": "pengaduan",
            "channel": "web",
            "region": "HSU",
        }
        waiting, dispatched, followed = (f"OPS-{self.run}-{n}-{k}" for k in ("W", "D", "F"))
        for cid in (waiting, dispatched, followed):
            self.command("submit", cid, t, ("complainant", f"warga-{cid}"), submit)
        for cid, skpd in ((dispatched, "DINKES"), (followed, "DISPUPR")):
            self.command("verify", cid, t + timedelta(hours=1), admin, {})
            self.command("dispatch", cid, t + timedelta(hours=2), admin, {"skpd": skpd})
        self.command(
            "follow_up",
            followed,
            t + timedelta(days=1),
            ("skpd", "penghubung-dispupr"),
            {"note": "Sudah dijadwalkan perbaikan."},
        )
        # Forbidden: a complainant may not dispatch (rejected).
        self.command(
            "dispatch", waiting, t + timedelta(hours=3), ("complainant", "x"), {"skpd": "DINKES"}
        )
        self.sent.append((waiting.encode(), b"not json {"))  # invalid: to the DLQ

    def flush(self, bootstrap: str) -> int:
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
        try:
            for key, value in self.sent:
                producer.send(self.topic, key=key, value=value)
            producer.flush(timeout=30)
        finally:
            producer.close(timeout=10)
        count = len(self.sent)
        self.records += count
        self.sent.clear()
        return count


def _weeks_ago_monday(weeks: int) -> datetime:
    day = date.today() - timedelta(weeks=weeks)
    day -= timedelta(days=day.weekday())
    return datetime.combine(day, dtime(9, 0), tzinfo=WITA)


#: The notifier's contacts: everyone but the sekda (level-2 escalations), so that the
#: missing-contacts panel has a role to show.
SIDE_POLICY = {
    "contacts": {
        "*": {
            role: {"email": f"{role}@ops.test"}
            for role in ("penghubung", "kepala_skpd", "kepala_diskominfo", "koordinator_provinsi")
        }
    }
}


class SideProcesses:
    """A real ``laporflow lapor-sim``, ``laporflow feed`` and ``laporflow notify`` (SMTP:
    an aiosmtpd server in this process), on the engine's topics and database."""

    def __init__(self, tmp_path: Path, settings: Any) -> None:
        self.tmp_path = tmp_path
        self.settings = settings
        self.sim_port, self.feed_port, self.notify_port = (_free_port() for _ in range(3))
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.smtp_messages: list[bytes] = []
        self.controller: Any = None
        self.last_metrics: dict[int, str] = {}

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        messages = self.smtp_messages

        class Sink:
            async def handle_DATA(  # noqa: N802 (aiosmtpd hook name)
                self, server: Any, session: Any, envelope: Any
            ) -> str:
                messages.append(bytes(envelope.content))
                return "250 OK"

        smtp_port = _free_port()
        self.controller = Controller(Sink(), hostname="127.0.0.1", port=smtp_port)
        self.controller.start()
        policy = self.tmp_path / "notify-policy.yaml"
        policy.write_text(yaml.safe_dump(SIDE_POLICY), encoding="utf-8")
        common = {
            **os.environ,
            "LAPORFLOW_KAFKA_BOOTSTRAP": self.settings.kafka_bootstrap,
            "LAPORFLOW_DATABASE_URL": self.settings.database_url.get_secret_value(),
            "LAPORFLOW_TOPIC_PREFIX": self.settings.topic_prefix,
            "LAPORFLOW_LAPOR_TOKEN": "ops-token",
        }
        self._spawn(
            "lapor-sim",
            ["lapor-sim", "--port", str(self.sim_port), "--reports", "8", "--tick", "2"],
            common,
        )
        _wait_for(
            "lapor-sim to listen",
            lambda: _get_json(f"http://127.0.0.1:{self.sim_port}/healthz")["status"] == "ok",
            timeout=30,
        )
        self._spawn(
            "feed",
            ["feed", "--log-level", "WARNING"],
            {
                **common,
                "LAPORFLOW_LAPOR_URL": f"http://127.0.0.1:{self.sim_port}",
                "LAPORFLOW_FEED_INTERVAL_S": "1",
                "LAPORFLOW_FEED_METRICS_PORT": str(self.feed_port),
            },
        )
        self._spawn(
            "notify",
            ["notify"],
            {
                **common,
                "LAPORFLOW_POLICY": str(policy),
                "LAPORFLOW_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
                "LAPORFLOW_NOTIFY_METRICS_PORT": str(self.notify_port),
                "LAPORFLOW_NOTIFY_INTERVAL_S": "0.5",
            },
        )

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        with (self.tmp_path / f"{name}.log").open("wb") as log:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "laporflow", *args],
                env=env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def _metrics(self, port: int) -> str:
        for name, process in self.processes.items():
            assert process.poll() is None, f"{name} exited: {self.log(name)}"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as response:
            text = str(response.read().decode())
        self.last_metrics[port] = text
        return text

    def log(self, name: str) -> str:
        return (self.tmp_path / f"{name}.log").read_text(errors="replace")[-3000:]

    def feed_did_everything(self) -> bool:
        text = self._metrics(self.feed_port)
        return all(
            re.search(rf"^{series} [1-9]", text, re.MULTILINE)
            for series in (
                r'laporflow_feed_reports_fetched_total\{source="poll"\}',
                r"laporflow_feed_skipped_total\{[^}]*\}",
                r'laporflow_lapor_pushes_total\{outcome="pushed"\}',
            )
        )

    def notifier_did_everything(self) -> bool:
        text = self._metrics(self.notify_port)
        return bool(
            re.search(r'^laporflow_notices_total\{[^}]*outcome="sent"\} [1-9]', text, re.M)
            and re.search(
                r'^laporflow_notice_missing_contacts_total\{[^}]*role="sekda"[^}]*\} [1-9]',
                text,
                re.M,
            )
        )

    def dispatch_verified_reports(self, traffic: Traffic) -> bool:
        """Dispatch (as the region's admin) LAPOR! reports the feed brought in verified: the
        sync-back pushes our dispatches upstream. False while there is none yet."""
        from sqlalchemy import select

        from engine.schema import complaints_table as t
        from engine.store import Store

        store = Store(self.settings.database_url.get_secret_value())
        try:
            with store.connect("test") as conn:
                ids = conn.execute(
                    select(t.c.complaint_id)
                    .where(t.c.state == "verified", t.c.complaint_id.not_like("OPS-%"))
                    .limit(3)
                ).scalars()
                verified = list(ids)
        finally:
            store.close()
        now = datetime.now(WITA)
        for cid in verified:
            traffic.command("dispatch", cid, now, ("admin", "diskominfo"), {"skpd": "DINKES"})
        return bool(verified)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in self.processes.items():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            print(f"--- {name} (exit {process.returncode}):\n{self.log(name)}")
        for text in self.last_metrics.values():
            print(
                "\n".join(
                    x
                    for x in text.splitlines()
                    if x.startswith(("laporflow_feed", "laporflow_lapor", "laporflow_notice"))
                )
            )
        if self.controller is not None:
            self.controller.stop()


@pytest.mark.integration
def test_every_dashboard_panel_returns_data_from_a_live_engine(
    kafka_bootstrap: str,
    pg_database_url: str,
    prometheus_factory: Callable[[dict[str, int]], Prometheus],
    tmp_path: Path,
) -> None:
    from engine.settings import Settings
    from laporflow.runtime import EngineRuntime

    _prometheus_binary()  # fail early, before starting anything
    run = uuid.uuid4().hex[:8]
    engine_port = _free_port()
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=pg_database_url,
        topic_prefix=f"ops-{run}.",
        group_id=f"ops-{run}",
        metrics_port=engine_port,
        partitions=2,
    )
    runtime = EngineRuntime(settings, serve_http=True, gauge_interval_s=0.5)
    errors: list[BaseException] = []

    def run_engine() -> None:
        try:
            runtime.run()
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    thread = threading.Thread(target=run_engine, name="ops-engine", daemon=True)
    thread.start()
    side = SideProcesses(tmp_path, settings)
    try:
        _wait_for(
            "the engine to own every partition",
            lambda: runtime.consumer.owned_partitions == set(range(settings.partitions)),
            timeout=90,
        )
        # The schema and topics exist: the notifier and the feed (polling a simulated
        # national LAPOR!) start as their own processes, like in docker compose.
        side.start()
        prometheus = prometheus_factory(
            {ENGINE_JOB: engine_port, FEED_JOB: side.feed_port, NOTIFY_JOB: side.notify_port}
        )
        for job in (ENGINE_JOB, FEED_JOB, NOTIFY_JOB):
            _wait_for(
                f"Prometheus to scrape {job}",
                lambda job=job: (
                    [r["value"][1] for r in prometheus.query(f'up{{job="{job}"}}')] == ["1"]
                ),
                timeout=60,
            )
        traffic = Traffic(settings.topics.commands, run, _weeks_ago_monday(6))
        level3 = "laporflow_escalations_total"
        auto_closed = "laporflow_transitions_total"
        before_l3 = _registry_sum(level3, level="3")
        before_closed = _registry_sum(auto_closed, from_state="followed_up", to_state="resolved")
        # Two waves a few scrapes apart: the counters born in the first one grow in the
        # second, so rate() and histogram_quantile() have something to work on.
        for wave in (1, 2):
            traffic.wave(wave)
            traffic.flush(kafka_bootstrap)
            _wait_for(
                f"wave {wave}: every command consumed, overdue timers fired",
                lambda wave=wave: (
                    runtime.consumer.stats.records >= traffic.records
                    # per wave: 2 complaints reach level 3, 1 is auto-closed
                    and _registry_sum(level3, level="3") - before_l3 >= 2 * wave
                    and _registry_sum(auto_closed, from_state="followed_up", to_state="resolved")
                    - before_closed
                    >= wave
                ),
                timeout=90,
            )
            time.sleep(3)  # a few 1s scrapes (and 0.5s gauge refreshes) see it
        # The feed fetched, skipped and pushed; the notifier sent and met a missing contact.
        _wait_for(
            "the feed to bring in verified reports",
            lambda: side.dispatch_verified_reports(traffic),
            timeout=60,
        )
        traffic.flush(kafka_bootstrap)
        _wait_for("the feed to fetch, skip and push", side.feed_did_everything, timeout=90)
        _wait_for("the notifier to send and miss", side.notifier_did_everything, timeout=90)
        time.sleep(3)

        results: dict[PanelQuery, list[dict[str, Any]]] = {}
        queries = [q for path in DASHBOARDS for q in panel_queries(path)]

        def every_panel_has_data() -> bool:
            for query in queries:
                results[query] = prometheus.query(query.promql)
            return all(_has_number(r) for r in results.values())

        try:
            _wait_for("every panel query to return data", every_panel_has_data, timeout=30)
        finally:
            for query in queries:
                print(f"{query.panel} [{query.ref_id}]: {query.promql}")
                for series in results.get(query, []):
                    print(f"    {series['metric']} = {series['value'][1]}")
        # The admin view's region variable has the target's region to offer.
        regions = prometheus.query("count by (region) (laporflow_complaints)")
        assert [r["metric"].get("region") for r in regions] == [TARGET_REGION]
        empty = [f"{q.panel} [{q.ref_id}]" for q in queries if not results[q]]
        assert not empty, f"panels without data: {empty}"
        nan = [f"{q.panel} [{q.ref_id}]" for q in queries if not _has_number(results[q])]
        assert not nan, f"panels with only NaN: {nan}"

        # The alert rules load and evaluate cleanly on real series (no matching errors).
        def rules_evaluated() -> bool:
            groups = _get_json(f"{prometheus.url}/api/v1/rules")["data"]["groups"]
            rules = [rule for group in groups for rule in group["rules"]]
            return bool(rules) and all(rule["health"] == "ok" for rule in rules)

        _wait_for("every alert rule to evaluate with health ok", rules_evaluated, timeout=30)
        groups = _get_json(f"{prometheus.url}/api/v1/rules")["data"]["groups"]
        assert {rule["name"] for g in groups for rule in g["rules"]} == {
            name for name, _ in alert_exprs()
        }
        alerts = _get_json(f"{prometheus.url}/api/v1/alerts")["data"]["alerts"]
        firing = {
            (a["labels"]["alertname"], a["labels"].get("skpd"))
            for a in alerts
            if a["state"] == "firing"
        }
        print("alerts:", sorted(firing, key=str))
        # Both waves escalated a DINKES complaint to level 3 (a brand-new counter series).
        assert ("LaporflowLevel3Escalation", "DINKES") in firing
        assert not any(name.startswith("LaporflowEngine") for name, _ in firing)
    finally:
        side.stop()
        runtime.stop()
        thread.join(timeout=90)
        assert not thread.is_alive(), "the engine did not stop"
    assert not errors, errors
    assert side.smtp_messages, "the notifier sent no mail to the SMTP server"


def _has_number(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(series["value"][1])) for series in result)


def test_compose_serve_service() -> None:
    services = compose()["services"]
    serve = services["serve"]
    engine = services["engine"]
    # The engine's image, running `laporflow serve`.
    assert serve["image"] == engine["image"]
    assert serve["command"] == ["serve"]
    env = serve["environment"]
    assert env["LAPORFLOW_DATABASE_URL"] == engine["environment"]["LAPORFLOW_DATABASE_URL"]
    assert env["LAPORFLOW_API_HOST"] == "0.0.0.0"
    port = int(env["LAPORFLOW_API_PORT"])
    assert any(
        str(p).startswith("127.0.0.1:") and str(p).endswith(f":{port}") for p in serve["ports"]
    )
    # No default token: compose refuses to start without one.
    assert env["LAPORFLOW_API_TOKEN"].startswith("${LAPORFLOW_API_TOKEN:?")
    # The same policy file as the engine (time zones, intake targets).
    mounts = {target: source for source, target in _bind_mounts(serve)}
    engine_mounts = {target: source for source, target in _bind_mounts(engine)}
    assert (
        mounts[env["LAPORFLOW_POLICY"]] == engine_mounts[engine["environment"]["LAPORFLOW_POLICY"]]
    )
    assert serve["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert f"127.0.0.1:{port}/healthz" in " ".join(serve["healthcheck"]["test"])
    # The image holds the web app (templates and static files are package data).
    assert "COPY webapp ./webapp" in DOCKERFILE.read_text(encoding="utf-8")


def test_compose_feed_and_simulator_services() -> None:
    services = compose()["services"]
    engine, feed, sim = services["engine"], services["feed"], services["lapor-sim"]
    assert {"engine", "notifier", "mailpit", "serve", "prometheus", "grafana"} <= set(services)
    # Both run the engine's image: `laporflow feed` and `laporflow lapor-sim`.
    assert feed["image"] == sim["image"] == engine["image"]
    assert feed["command"] == ["feed"]
    assert sim["command"][0] == "lapor-sim"
    sim_port = int(sim["command"][sim["command"].index("--port") + 1])
    assert sim["command"][sim["command"].index("--host") + 1] == "0.0.0.0"
    env = feed["environment"]
    # The feed polls the simulator with the simulator's token, into the engine's topics.
    assert env["LAPORFLOW_LAPOR_URL"].endswith(f"http://lapor-sim:{sim_port}}}")
    assert env["LAPORFLOW_LAPOR_TOKEN"] == sim["environment"]["LAPORFLOW_LAPOR_TOKEN"]
    for name in ("LAPORFLOW_KAFKA_BOOTSTRAP", "LAPORFLOW_DATABASE_URL", "LAPORFLOW_TOPIC_PREFIX"):
        assert env[name] == engine["environment"][name], name
    assert feed["depends_on"]["engine"] == {"condition": "service_healthy"}
    assert feed["depends_on"]["lapor-sim"] == {"condition": "service_healthy"}
    assert f"127.0.0.1:{sim_port}/healthz" in " ".join(sim["healthcheck"]["test"])
    # Prometheus scrapes the feed and the notifier where they serve /metrics.
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    jobs = {j["job_name"]: j["static_configs"][0]["targets"] for j in config["scrape_configs"]}
    port = int(env["LAPORFLOW_FEED_METRICS_PORT"])
    assert jobs[FEED_JOB] == [f"feed:{port}"]
    assert f"127.0.0.1:{port}/healthz" in " ".join(feed["healthcheck"]["test"])
    notify_port = int(services["notifier"]["environment"]["LAPORFLOW_NOTIFY_METRICS_PORT"])
    assert jobs[NOTIFY_JOB] == [f"notifier:{notify_port}"]
    assert {"feed", "notifier", "engine"} <= set(services["prometheus"]["depends_on"])


def test_feed_and_notice_panels_read_their_own_process() -> None:
    # Every process shares the metric registry (an engine exports the feed's gauges at 0):
    # feed and notice panels must select their job.
    feed_metrics = re.compile(r"laporflow_(feed_|lapor_push)")
    notice_metrics = re.compile(r"laporflow_notice")
    for query in panel_queries(SRE_DASHBOARD):
        for metric in METRIC_NAME.findall(query.expr):
            if feed_metrics.match(metric):
                assert f'{metric}{{job="{FEED_JOB}"}}' in query.expr, query
            if notice_metrics.match(metric):
                assert f'{metric}{{job="{NOTIFY_JOB}"}}' in query.expr, query
