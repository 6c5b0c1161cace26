"""Broker and database restarts under the LAPOR! feed and the notifier (issue 11).

Private Kafka and PostgreSQL instances (free ports; the shared ones are never touched)
serve four real processes: ``laporflow lapor-sim`` (``LAPORFLOW_CHAOS_FEED_REPORTS``
reports, default 150, and a ``--tick`` so reports keep arriving and the national admin
keeps acting), ``laporflow feed`` polling it and pushing progress back, ``laporflow run``
and ``laporflow notify`` mailing an in-test aiosmtpd server. The test acts as the
region's admin: it verifies and dispatches to an SKPD every complaint the feed brought
in, so the engine makes dispatch notices (the back-dated submits also breach their
verification clock at once: escalation notices). Mid-run the broker is stopped and
started once, then PostgreSQL once. None of the processes is restarted.

Asserted afterwards (bounded waits): every simulator report is exactly one complaint
(one applied submit per tracking id); every ``complaint.dispatched`` of those complaints
is in the simulator's follow-ups exactly once; every expected notice (event, recipient,
channel) is stored once and ``sent``, none failed, and the SMTP server received each at
least once; a repeat of one notice (same Message-ID) is allowed only as what a database
restart may cause: at most twice per notice and at most one sender batch (100) in all;
all four processes are alive and the feed's and notifier's logs mention each outage.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
import yaml
from kafka import KafkaProducer

from engine.topics import Topics
from producers.kafka_io import ensure_topics
from tests.chaos.harness import Db, engine_env, env_int, free_port, new_database
from tests.chaos.private_services import PrivateKafka, PrivatePostgres
from tests.notices.servers import SmtpServer

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "sim-token-chaos"
OUTAGE_S = 6.0
#: The notice sender's batch: the most a database restart can make it send again.
SENDER_BATCH = 100
#: A warning or error line, in the text or the JSON log format.
_LOUD = re.compile(r'( (WARNING|ERROR) |"level": "(WARNING|ERROR)")')
#: A line of the Kafka client library's loggers (kafka.conn, kafka.coordinator, ...).
_KAFKA_LIB = re.compile(r'( kafka\.|"logger": "kafka\.)')
ROLES = ("penghubung", "kepala_skpd", "kepala_diskominfo", "sekda", "koordinator_provinsi")
NOTICE_EVENTS = ("complaint.dispatched", "complaint.escalated", "complaint.sla_warning")


@pytest.fixture(scope="module")
def private_kafka() -> Iterator[PrivateKafka]:
    kafka = PrivateKafka()
    kafka.create()
    try:
        yield kafka
    finally:
        kafka.destroy()


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres()
    pg.create()
    try:
        yield pg
    finally:
        pg.destroy()


class Child:
    """One ``python -m laporflow ...`` in a session of its own, its output in a log."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self._out: IO[bytes] = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "laporflow", *args],
            env=env,
            cwd=REPO_ROOT,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def lines(self) -> list[str]:
        self._out.flush()
        return self.log.read_text(errors="replace").splitlines()

    def tail(self, n: int = 40) -> str:
        return f"--- {self.name} (last {n} lines) ---\n" + "\n".join(self.lines()[-n:])

    def assert_running(self) -> None:
        assert self.proc.poll() is None, f"{self.name} exited with {self.proc.returncode}\n" + (
            self.tail()
        )

    def stop(self) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._out.close()


def _wait(what: str, check: Callable[[], bool], timeout_s: float, children: list[Child]) -> float:
    started = time.monotonic()
    while not check():
        for child in children:
            child.assert_running()
        tails = "\n".join(c.tail(15) for c in children)
        assert time.monotonic() - started < timeout_s, f"timed out waiting for {what}\n{tails}"
        time.sleep(0.3)
    return time.monotonic() - started


class Sim:
    """The simulator's HTTP API, read as a client would."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )

    def tracking_ids(self) -> set[str]:
        ids: set[str] = set()
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 500}
            if cursor:
                params["cursor"] = cursor
            page = self.http.get("/api/v1/reports", params=params).raise_for_status().json()
            ids.update(item["tracking_id"] for item in page["items"])
            if not page["next"] or not page["items"]:
                return ids
            cursor = page["next"]

    def followups(self, tracking_id: str) -> list[dict[str, Any]]:
        doc = self.http.get(f"/api/v1/reports/{tracking_id}").raise_for_status().json()
        return list(doc.get("followups") or [])


class Admin:
    """The region's admin: verify and dispatch each complaint the feed brought in, once."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.dispatched: set[str] = set()

    def act(self, db: Db) -> int:
        """Dispatch the submitted or verified complaints not yet dispatched by us."""
        try:
            rows = db.rows(
                "SELECT complaint_id, state FROM complaints "
                "WHERE state IN ('submitted', 'verified')"
            )
        except Exception:  # the database may be down: the next call tries again
            return 0
        todo = [(cid, state) for cid, state in rows if cid not in self.dispatched]
        if not todo:
            return 0
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        try:
            for cid, state in todo:
                steps = [("verify", {})] if state == "submitted" else []
                steps.append(("dispatch", {"skpd": "PUPR"}))
                for ctype, payload in steps:
                    doc = {
                        "command_id": f"admin-{cid}-{ctype}",
                        "type": ctype,
                        "complaint_id": cid,
                        "issued_at": now,
                        "actor": {"role": "admin", "id": "admin-hsu"},
                        "payload": payload,
                    }
                    producer.send(self.topic, key=cid.encode(), value=json.dumps(doc).encode())
            producer.flush(timeout=20)
        except Exception:  # the broker may be down: deterministic ids, resent later
            return 0
        finally:
            producer.close(timeout=5)
        self.dispatched.update(cid for cid, _ in todo)
        return len(todo)


def _expected_notices(db: Db) -> set[tuple[str, str, str]]:
    """(event_id, recipient, channel) the policy below makes of the stored events."""
    expected = set()
    kinds = ", ".join(f"'{t}'" for t in NOTICE_EVENTS)
    for event_id, etype, body in db.rows(
        f"SELECT event_id, type, body FROM events WHERE type IN ({kinds})"
    ):
        role = json.loads(body)["payload"]["target"] if etype == NOTICE_EVENTS[1] else ROLES[0]
        expected.add((event_id, f"{role}@hsu.go.id", "email"))
    return expected


def _message_id(event_id: str, recipient: str) -> str:
    return f"<{hashlib.sha256(f'{event_id}:{recipient}'.encode()).hexdigest()[:32]}@laporflow>"


def test_feed_and_notifier_ride_out_broker_and_database_restarts(
    private_kafka: PrivateKafka, private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    started = time.monotonic()
    reports = env_int("FEED_REPORTS", 150)
    tick_s = env_int("FEED_TICK_MS", 1500) / 1000
    prefix = f"chaos-feed-{uuid.uuid4().hex[:8]}."
    topics = Topics(prefix)
    bootstrap = private_kafka.bootstrap
    ensure_topics(bootstrap, topics.all(), 3)
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        yaml.safe_dump({"contacts": {"*": {r: {"email": f"{r}@hsu.go.id"} for r in ROLES}}})
    )
    smtp = SmtpServer()
    smtp.start()
    children: list[Child] = []
    outages: list[dict[str, Any]] = []
    with new_database(private_postgres.url) as url:
        base = engine_env(
            bootstrap, url, prefix, f"chaos-feed-{uuid.uuid4().hex[:8]}",
            LAPORFLOW_POLICY=str(policy), LAPORFLOW_MAX_POLL_RECORDS="100",
        )  # fmt: skip
        sim_port = free_port()
        sim_url = f"http://127.0.0.1:{sim_port}"
        db: Db | None = None
        sim: Sim | None = None
        try:
            simulator = Child(
                "lapor-sim",
                ["lapor-sim", "--port", str(sim_port), "--reports", str(reports),
                 "--seed", "31", "--tick", str(tick_s), "--token", TOKEN],
                base, tmp_path / "sim.log",
            )  # fmt: skip
            children.append(simulator)
            sim = Sim(sim_url)

            def sim_up() -> bool:
                with suppress(httpx.HTTPError):
                    return sim is not None and sim.http.get("/healthz").status_code == 200
                return False

            _wait("the simulator", sim_up, 60, children)
            engine = Child("engine", ["run"], base, tmp_path / "engine.log")
            children.append(engine)
            _wait("the engine's tables", lambda: _tables(url), 90, children)
            feed = Child(
                "feed", ["feed"],
                {**base, "LAPORFLOW_LAPOR_URL": sim_url, "LAPORFLOW_LAPOR_TOKEN": TOKEN,
                 "LAPORFLOW_FEED_PAGE_SIZE": "20", "LAPORFLOW_FEED_INTERVAL_S": "0.5",
                 "LAPORFLOW_LAPOR_TIMEOUT_S": "5", "LAPORFLOW_LAPOR_BACKOFF_S": "0.2",
                 "LAPORFLOW_FEED_METRICS_PORT": str(free_port())},
                tmp_path / "feed.log",
            )  # fmt: skip
            notify = Child(
                "notify", ["notify"],
                {**base, "LAPORFLOW_SMTP_URL": smtp.url, "LAPORFLOW_NOTIFY_LEASE_S": "5",
                 "LAPORFLOW_NOTIFY_INTERVAL_S": "0.3", "LAPORFLOW_NOTIFY_RETRY_BASE_S": "1",
                 "LAPORFLOW_NOTIFY_RETRY_CAP_S": "4", "LAPORFLOW_NOTIFY_MAX_ATTEMPTS": "30",
                 "LAPORFLOW_NOTIFY_METRICS_PORT": str(free_port())},
                tmp_path / "notify.log",
            )  # fmt: skip
            children += [feed, notify]
            db = Db(url)
            admin = Admin(bootstrap, topics.commands)

            def some_work() -> bool:
                assert db is not None
                admin.act(db)
                return (
                    db.scalar("SELECT count(*) FROM complaints") >= reports // 3
                    and db.scalar("SELECT count(*) FROM notices WHERE status = 'sent'") > 0
                    and db.scalar("SELECT count(*) FROM lapor_pushes") > 0
                )

            _wait("feed, engine, pushes and notices at work", some_work, 120, children)
            for dependency, service in (("kafka", private_kafka), ("database", private_postgres)):
                marks = {c.name: len(c.lines()) for c in children}
                if dependency == "database":
                    db.close()
                stop_s = service.stop()
                time.sleep(OUTAGE_S)
                for child in children:
                    child.assert_running()
                start_s = service.start()
                if dependency == "database":
                    db = Db(url)
                before = db.scalar("SELECT count(*) FROM processed_commands")
                sent = db.scalar("SELECT count(*) FROM notices WHERE status = 'sent'")

                def resumed(before: int = before, sent: int = sent, conn: Db = db) -> bool:
                    admin.act(conn)
                    return (
                        conn.scalar("SELECT count(*) FROM processed_commands") > before
                        and conn.scalar("SELECT count(*) FROM notices WHERE status = 'sent'") > sent
                    )

                resumed_s = _wait(f"work after the {dependency} restart", resumed, 180, children)
                loud = {
                    c.name: [ln for ln in c.lines()[marks[c.name] :] if _LOUD.search(ln)]
                    for c in children
                    if c.name != "lapor-sim"
                }
                outages.append(
                    {
                        "what": dependency,
                        "stop_s": round(stop_s, 1),
                        "start_s": round(start_s, 1),
                        "resumed_s": round(resumed_s, 1),
                        "log_lines": {name: len(lines) for name, lines in loud.items()},
                        # Lines of laporflow's own loggers (not the Kafka client library's).
                        "own_lines": {
                            name: sum(not _KAFKA_LIB.search(ln) for ln in lines)
                            for name, lines in loud.items()
                        },
                        "first": {n: ls[0][:140] for n, ls in loud.items() if ls},
                    }
                )

            # Settle: the reports listed now are all in, dispatched, pushed back and noticed.
            listed = sim.tracking_ids()

            def settled() -> bool:
                assert db is not None and sim is not None
                admin.act(db)
                have = {r[0] for r in db.rows("SELECT complaint_id FROM complaints")}
                if not listed <= have:
                    return False
                if db.scalar("SELECT count(*) FROM outbox WHERE NOT published"):
                    return False
                if db.scalar("SELECT count(*) FROM lapor_pushes WHERE outcome <> 'pushed'"):
                    return False
                dispatched = db.rows(
                    "SELECT complaint_id FROM events WHERE type = 'complaint.dispatched'"
                )
                pushed = db.scalar("SELECT count(*) FROM lapor_pushes WHERE push_type = 'dispatch'")
                if pushed < len(dispatched):
                    return False
                stored = {
                    (e, r, c)
                    for e, r, c, s in db.rows(
                        "SELECT event_id, recipient, channel, status FROM notices"
                    )
                    if s == "sent"
                }
                expected = _expected_notices(db)
                if not expected <= stored:
                    return False
                # The simulator keeps ticking after this: later events may still be on
                # their way, so the checks below hold for what had settled here.
                settled_notices.clear()
                settled_notices.update(expected)
                return True

            settled_notices: set[tuple[str, str, str]] = set()

            settle_s = _wait("everything listed to settle", settled, 180, children)
            for child in children:
                child.assert_running()  # resumed by themselves, never restarted

            # -- one complaint per report, one applied submit each
            applied = Counter(
                cid
                for (cid,) in db.rows(
                    "SELECT complaint_id FROM processed_commands "
                    "WHERE command_type = 'submit' AND outcome = 'applied'"
                )
            )
            assert listed <= set(applied), sorted(listed - set(applied))[:5]
            assert max(applied.values()) == 1, [c for c, n in applied.items() if n > 1][:5]
            # -- every dispatch pushed back to the simulator exactly once
            dispatches = db.rows(
                "SELECT event_id, complaint_id FROM events WHERE type = 'complaint.dispatched'"
            )
            assert dispatches, "nothing was dispatched"
            by_complaint: dict[str, list[str]] = {}
            for event_id, cid in dispatches:
                by_complaint.setdefault(cid, []).append(event_id)
            for cid, event_ids in by_complaint.items():
                got = [p["event_id"] for p in sim.followups(cid) if p["type"] == "dispatch"]
                assert sorted(got) == sorted(event_ids), (cid, got, event_ids)
            # -- every expected notice stored once and sent; none failed
            rows = db.rows("SELECT event_id, recipient, channel, status FROM notices")
            keys = Counter((e, r, c) for e, r, c, _ in rows)
            assert max(keys.values()) == 1
            expected = settled_notices
            assert expected <= set(keys), (len(keys), len(expected))
            assert set(keys) <= _expected_notices(db), "a notice nobody should get"
            statuses = Counter(s for e, r, c, s in rows if (e, r, c) in expected)
            assert statuses == {"sent": len(expected)}, statuses
            assert "failed" not in {s for *_, s in rows}
            # -- the SMTP server received each at least once; repeats bounded
            time.sleep(1.0)
            received = Counter(str(m.message["Message-ID"]) for m in list(smtp.mails))
            want = {_message_id(e, r) for e, r, _ in expected}
            missing = want - set(received)
            assert not missing, f"{len(missing)} notices never reached the SMTP server"
            everyone = {_message_id(e, r) for e, r, _ in keys}  # later notices may be out
            assert set(received) <= everyone, set(received) - everyone
            repeats = sum(n - 1 for n in received.values())
            assert max(received.values()) <= 2, received.most_common(3)
            assert repeats <= SENDER_BATCH, repeats
            # -- the feed's and the notifier's logs name each outage
            # (A broker outage is told by the Kafka client's own warnings: the feed's
            # flush and the notifier's poll wait it out without a line of their own.)
            for outage in outages:
                for name in ("feed", "notify"):
                    assert outage["log_lines"][name], f"{name} logged nothing: {outage}"
                    if outage["what"] == "database":
                        assert outage["own_lines"][name], f"{name} said nothing: {outage}"
            kinds = Counter(t for (t,) in db.rows(
                f"SELECT type FROM events WHERE type IN "
                f"({', '.join(repr(t) for t in NOTICE_EVENTS)})"
            ))  # fmt: skip
            print(
                f"\nCHAOS feed+notify restart figures: reports {len(listed)} (start {reports}), "
                f"complaints {len(applied)}, dispatched {len(dispatches)}, notices "
                f"{len(expected)} ({dict(kinds)}), mails {sum(received.values())} "
                f"(repeats {repeats}), outages {outages}, settle {settle_s:.1f} s, "
                f"run {time.monotonic() - started:.1f} s"
            )
        finally:
            for child in reversed(children):
                child.stop()
            if db is not None:
                db.close()
            if sim is not None:
                sim.http.close()
            smtp.stop()


def _tables(url: str) -> bool:
    try:
        db = Db(url)
    except Exception:
        return False
    try:
        return _has_table(db, "notices") and _has_table(db, "lapor_pushes")
    finally:
        db.close()


def _has_table(db: Db, name: str) -> bool:
    return bool(db.scalar(f"SELECT count(*) FROM pg_tables WHERE tablename = '{name}'"))
