"""The LAPOR! feed on a real broker, a real PostgreSQL and the simulator over real HTTP.

* paging, and the cursor resuming after a restart: each report submitted once, upstream
  status changes become their commands, never a second submit;
* malformed reports and unknown statuses are counted and skipped, the cursor moves on;
* the push webhook: bad or missing signatures refused with nothing produced, repeated
  deliveries de-duplicated;
* the sync-back: pushes idempotent by event id, failures recorded and retried, shown by
  ``laporflow status``;
* done: reports created on the simulator reach a real engine exactly once despite 20%
  faults and a ``laporflow feed`` killed with SIGKILL, and their dispatch and follow-up
  come back to the simulator.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaConsumer, KafkaProducer
from pydantic import SecretStr
from sqlalchemy import func, select

from consumers.sync_back import SyncBack
from engine.feed_store import FeedStore, SeenReport
from engine.metrics import METRICS
from engine.schema import processed_commands_table
from engine.settings import Settings
from engine.store import Store
from engine.topics import Topics
from lapor.client import LaporClient
from lapor.mapping import load_mapping
from lapor.serving import ThreadedServer
from lapor.sim import LaporSim, SimReport, create_app
from lapor.webhook import create_webhook_app, sign
from laporflow.runtime import EngineRuntime
from producers.feed import FeedPoller
from producers.kafka_io import ensure_topics, make_producer

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "sim-token-it"


# --------------------------------------------------------------------------- helpers


def read_topic(bootstrap: str, topic: str, idle_ms: int = 1500) -> list[tuple[str, dict[str, Any]]]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=idle_ms,
    )
    try:
        return [(r.key.decode(), json.loads(r.value)) for r in consumer]
    finally:
        consumer.close()


def wait_for(what: str, check: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@dataclass
class Feed:
    sim: LaporSim
    server: ThreadedServer
    store: Store
    feed_store: FeedStore
    topics: Topics
    bootstrap: str
    client: LaporClient

    def poller(self, page_size: int = 5) -> FeedPoller:
        producer = make_producer(self.bootstrap, client_id="it-feed")
        self._producers.append(producer)
        return FeedPoller(
            self.client, load_mapping(), self.feed_store, producer, self.topics.commands,
            page_size=page_size,
        )  # fmt: skip

    def commands(self) -> list[tuple[str, dict[str, Any]]]:
        return read_topic(self.bootstrap, self.topics.commands)

    def new_commands(self, before: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, str]]:
        """(complaint, type) of the commands not in ``before`` (partitions interleave)."""
        seen = {d["command_id"] for _, d in before}
        return sorted((k, d["type"]) for k, d in self.commands() if d["command_id"] not in seen)

    _producers: list[KafkaProducer]


@pytest.fixture
def feed(kafka_bootstrap: str, pg_database_url: str) -> Iterator[Feed]:
    sim = LaporSim(reports=12, seed=11, token=TOKEN, stall_s=0.5)
    topics = Topics(f"it-{uuid.uuid4().hex[:8]}.")
    ensure_topics(kafka_bootstrap, topics.all(), 3)
    store = Store(pg_database_url)
    store.migrate()
    with ThreadedServer(create_app(sim)) as server:
        client = LaporClient(server.url, SecretStr(TOKEN), timeout_s=0.3, backoff_s=0.02)
        f = Feed(sim, server, store, FeedStore(store), topics, kafka_bootstrap, client, [])
        try:
            yield f
        finally:
            for producer in f._producers:
                producer.close()
            client.close()
            store.close()


def submits_by_complaint(commands: list[tuple[str, dict[str, Any]]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for key, doc in commands:
        assert key == doc["complaint_id"]
        if doc["type"] == "submit":
            out.setdefault(key, set()).add(doc["command_id"])
    return out


# --------------------------------------------------------------------------- polling


def test_paging_and_the_cursor_resume_after_a_restart(feed: Feed) -> None:
    first = feed.poller(page_size=5)
    assert first.poll_once().items == 5
    assert first.poll_once().items == 5
    # "Restart": a new poller with a new store object on the same database.
    other = Store(feed.store.url)
    second_store = FeedStore(other)
    second = FeedPoller(
        feed.client, load_mapping(), second_store, first.producer, feed.topics.commands,
        page_size=5,
    )  # fmt: skip
    rest = second.poll_until_caught_up()
    assert rest.items == 2  # resumed after the 10 already taken, not from the start
    commands = feed.commands()
    submits = submits_by_complaint(commands)
    assert set(submits) == set(feed.sim.reports)
    assert all(len(ids) == 1 for ids in submits.values())
    assert len(commands) == 12

    # Upstream changes come back through the cursor; nothing else is produced again.
    ids = sorted(feed.sim.reports)
    feed.sim.set_status(ids[0], "Terverifikasi")
    feed.sim.set_status(ids[1], "Arsip")
    feed.sim.set_status(ids[2], "Tunda")
    second.poll_until_caught_up()
    second.poll_until_caught_up()  # a re-poll of the same page changes nothing
    assert feed.new_commands(commands) == sorted(
        [(ids[0], "verify"), (ids[1], "archive"), (ids[2], "verify"), (ids[2], "defer")]
    )
    before = feed.commands()
    feed.sim.set_status(ids[2], "Terverifikasi")
    second.poll_until_caught_up()
    assert feed.new_commands(before) == [(ids[2], "resume")]
    assert second_store.seen([ids[2]])[ids[2]].status == "Terverifikasi"
    assert feed.feed_store.last_poll() is not None
    other.close()


def test_unknown_status_and_malformed_reports_are_counted_logged_and_skipped(
    feed: Feed, caplog: pytest.LogCaptureFixture
) -> None:
    poller = feed.poller(page_size=50)
    poller.poll_until_caught_up()
    before_unknown = METRICS.feed_skipped.labels(reason="unknown_status")._value.get()
    before_bad = METRICS.feed_skipped.labels(reason="malformed")._value.get()
    now = datetime.now(UTC)
    weird = SimReport(
        tracking_id="HSU-2026-990001", title="Judul", body="Isi", category="lainnya",
        classification="pengaduan", channel="web", region="HSU", anonymous=True,
        confidential=False, status="Dibatalkan", created_at=now, updated_at=now,
    )  # fmt: skip
    broken = SimReport(
        tracking_id="HSU-2026-990002", title="Judul", body="Isi", category="lainnya",
        classification="keluhan", channel="web", region="HSU", anonymous=True,
        confidential=False, status="Terverifikasi", created_at=now, updated_at=now,
    )  # fmt: skip
    feed.sim.put_report(weird)
    feed.sim.put_report(broken)
    fine = feed.sim.add_reports(1)[0]
    produced_before = feed.commands()
    result = poller.poll_until_caught_up()
    assert result.skipped == 2
    assert METRICS.feed_skipped.labels(reason="unknown_status")._value.get() == before_unknown + 1
    assert METRICS.feed_skipped.labels(reason="malformed")._value.get() == before_bad + 1
    assert "HSU-2026-990001" in caplog.text and "HSU-2026-990002" in caplog.text
    assert feed.new_commands(produced_before) == [(fine, "submit")]


class _Crash(BaseException):
    """The process dying between the flush and the cursor's commit."""


class _CrashingFeedStore(FeedStore):
    def save(self, *args: Any, **kwargs: Any) -> None:
        raise _Crash


def test_a_crash_after_the_flush_before_the_cursor_duplicates_nothing_in_the_engine(
    feed: Feed,
) -> None:
    crashing = FeedPoller(
        feed.client, load_mapping(), _CrashingFeedStore(feed.store), feed.poller().producer,
        feed.topics.commands, page_size=5,
    )  # fmt: skip
    with pytest.raises(_Crash):
        crashing.poll_once()  # 5 submits on the broker, nothing stored
    assert feed.feed_store.cursor() is None
    feed.poller(page_size=5).poll_until_caught_up()  # the restarted feed re-reads page 1
    commands = feed.commands()
    assert len(commands) == 12 + 5  # page 1 was produced twice ...
    submits = submits_by_complaint(commands)
    assert all(len(ids) == 1 for ids in submits.values())  # ... with the same ids

    settings = Settings(
        kafka_bootstrap=feed.bootstrap, database_url=feed.store.url,
        topic_prefix=feed.topics.prefix, group_id=f"it-{uuid.uuid4().hex[:8]}", partitions=3,
    )  # fmt: skip
    runtime = EngineRuntime(settings, serve_http=False, relay_process=False)
    try:
        wait_for("17 records applied", lambda: bool(runtime.consumer.poll_once() or True)
                 and runtime.consumer.stats.records >= 17, 60)  # fmt: skip
    finally:
        runtime.shutdown()
    assert runtime.consumer.stats.outcomes == {"applied": 12, "duplicate": 5}
    assert len(feed.store.load(sorted(feed.sim.reports))) == 12


# --------------------------------------------------------------------------- webhook


def test_the_webhook_refuses_bad_signatures_and_deduplicates_deliveries(feed: Feed) -> None:
    poller = feed.poller()
    secret = SecretStr("kunci-webhook")
    app = create_webhook_app(secret, poller.ingest, feed.feed_store.delivery_seen)
    report = next(iter(feed.sim.reports.values())).item()
    body = json.dumps({"items": [report]}).encode()
    url_path = "/api/v1/lapor/webhook"
    with ThreadedServer(app) as hook, httpx.Client(base_url=hook.url) as http:
        assert http.post(url_path, content=body).status_code == 401
        bad = {"X-Lapor-Signature": sign(SecretStr("salah"), body)}
        assert http.post(url_path, content=body, headers=bad).status_code == 401
        tampered = {"X-Lapor-Signature": sign(secret, body)}
        assert http.post(url_path, content=body + b" ", headers=tampered).status_code == 401
        assert feed.commands() == []  # nothing produced for any of those

        good = {"X-Lapor-Signature": sign(secret, body), "X-Lapor-Delivery": "d-1"}
        first = http.post(url_path, content=body, headers=good)
        assert first.status_code == 202 and first.json()["produced"] == 1
        again = http.post(url_path, content=body, headers=good)
        assert again.status_code == 200 and again.json()["duplicate"] is True
        # Another delivery of the same report version: taken, but nothing new produced.
        other = {"X-Lapor-Signature": sign(secret, body), "X-Lapor-Delivery": "d-2"}
        assert http.post(url_path, content=body, headers=other).json()["produced"] == 0
    commands = feed.commands()
    assert [(d["type"], d["command_id"]) for _, d in commands] == [
        ("submit", f"lapor:{report['tracking_id']}:submit")
    ]
    # A later poll does not submit it again either.
    poller.poll_until_caught_up()
    assert len(submits_by_complaint(feed.commands())[report["tracking_id"]]) == 1


# --------------------------------------------------------------------------- sync-back


def _event(cid: str, etype: str, seq: int, **extra: Any) -> dict[str, Any]:
    state = {"complaint.dispatched": "dispatched", "complaint.followed_up": "followed_up"}
    return {
        "event_id": f"e-{cid}-{seq}",
        "type": etype,
        "complaint_id": cid,
        "seq": seq,
        "occurred_at": "2026-03-02T09:15:00+08:00",
        "recorded_at": "2026-03-02T09:15:01+08:00",
        "state": state.get(etype, "resolved"),
        "previous_state": "verified",
        "region": "HSU",
        "skpd": "PUPR",
        "causation_id": "c-1",
        "actor": {"role": "skpd", "id": "penghubung-pupr"},
        "payload": extra,
    }


def test_sync_back_pushes_once_per_event_records_failures_and_retries(feed: Feed) -> None:
    ids = sorted(feed.sim.reports)[:2]
    now = datetime.now(UTC)
    feed.feed_store.save(
        [SeenReport(i, "Terverifikasi", now) for i in ids], cursor=None, move_cursor=False
    )
    dispatched = _event(ids[0], "complaint.dispatched", 3)
    followed = _event(ids[0], "complaint.followed_up", 4, note="Jalan sudah ditambal.")
    stranger = _event("HSU-2026-555555", "complaint.dispatched", 3)  # not from LAPOR!
    verified = _event(ids[0], "complaint.verified", 2)  # not pushed
    producer = KafkaProducer(bootstrap_servers=feed.bootstrap, acks="all")
    for event in (verified, dispatched, followed, followed, stranger):  # one repeated
        producer.send(feed.topics.events, key=event["complaint_id"].encode(),
                      value=json.dumps(event).encode())  # fmt: skip
    producer.flush()

    def sync(group: str) -> SyncBack:
        return SyncBack(
            feed.client, feed.feed_store, bootstrap=feed.bootstrap, topic=feed.topics.events,
            group_id=group, consumer_config={"max_poll_interval_ms": 10_000},
        )  # fmt: skip

    first = sync(f"it-sync-{uuid.uuid4().hex[:6]}")
    try:

        def pushed_two() -> bool:
            first.poll_once()
            return len(feed.sim.followups().get(ids[0], [])) >= 2

        wait_for("two pushes", pushed_two, 30)
        wait_for("idle", lambda: first.poll_once() == 0, 30)
    finally:
        first.close()
    pushed = feed.sim.followups()[ids[0]]
    assert [(p["event_id"], p["type"]) for p in pushed] == [
        (dispatched["event_id"], "dispatch"),
        (followed["event_id"], "follow_up"),
    ]
    assert pushed[1]["note"] == "Jalan sudah ditambal."
    assert "HSU-2026-555555" not in feed.sim.followups()

    # A new group re-reads everything: recorded pushes are not sent again.
    requests_before = feed.sim.requests
    second = sync(f"it-sync-{uuid.uuid4().hex[:6]}")
    try:
        wait_for("re-read", lambda: second.poll_once() > 0, 30)
    finally:
        second.close()
    assert feed.sim.requests == requests_before
    assert feed.sim.push_duplicates == 0

    # A push that fails on every try is recorded as failed, then delivered on retry.
    resolved = _event(ids[1], "complaint.resolved", 5, note="Terima kasih.")
    producer.send(feed.topics.events, key=ids[1].encode(), value=json.dumps(resolved).encode())
    producer.flush()
    producer.close()
    feed.sim.script_faults(*["500"] * feed.client.attempts)
    third = sync(f"it-sync-{uuid.uuid4().hex[:6]}")
    try:

        def recorded() -> bool:
            third.poll_once()
            return bool(feed.feed_store.push_outcomes([resolved["event_id"]]))

        wait_for("the failed push", recorded, 30)
        assert feed.feed_store.push_outcomes([resolved["event_id"]]) == {
            resolved["event_id"]: "failed"
        }
        assert METRICS.lapor_push_failed._value.get() == 1
        assert third.retry_failed() == 1
    finally:
        third.close()
    assert feed.feed_store.push_outcomes([resolved["event_id"]])[resolved["event_id"]] == "pushed"
    assert [p["type"] for p in feed.sim.followups()[ids[1]]] == ["resolve"]
    (record,) = feed.feed_store.pushes_for(ids[1])
    assert record.attempts == feed.client.attempts + 1

    # Upstream now shows our own progress (Ditindaklanjuti, Selesai): the feed takes it
    # as the echo it is, and issues no verify or resolve of its own.
    assert feed.sim.get(ids[1])["status"] == "Selesai"  # type: ignore[index]
    feed.poller(page_size=50).poll_until_caught_up()
    mine = [(k, d["type"]) for k, d in feed.commands() if k in ids]
    assert mine == [], mine


# --------------------------------------------------------------------------- end to end


class FeedProcess:
    """``python -m laporflow feed`` in a session of its own, killable with SIGKILL."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "laporflow", "feed"],
            env=env,
            cwd=REPO_ROOT,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def tail(self) -> str:
        self._out.flush()
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the feed's group and reap it; SIGKILL if it is not gone in 20 s.

        A child still running when its ``Popen`` is collected makes ``Popen.__del__``
        warn, and pytest fails whichever test is running then (seen once in CI, in the
        test below).
        """
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=20)
        self._out.close()


def _engine_complaints(store: Store, ids: list[str]) -> dict[str, str]:
    return {cid: c.state for cid, c in store.load(ids).items()}


def test_reports_reach_the_engine_once_despite_faults_and_a_killed_feed_and_progress_returns(
    kafka_bootstrap: str, pg_database_url: str, tmp_path: Path
) -> None:
    sim = LaporSim(reports=60, seed=21, token=TOKEN, fault_rate=0.2, stall_s=0.6)
    prefix = f"e2e-{uuid.uuid4().hex[:8]}."
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap, database_url=pg_database_url, topic_prefix=prefix,
        group_id=f"e2e-{uuid.uuid4().hex[:8]}", partitions=3,
    )  # fmt: skip
    ensure_topics(kafka_bootstrap, settings.topics.all(), settings.partitions)
    runtime = EngineRuntime(
        settings, serve_http=False, relay_process=False,
        consumer_config={"max_poll_interval_ms": 20_000},
    )  # fmt: skip
    engine = threading.Thread(target=runtime.run, name="engine", daemon=True)
    engine.start()
    store = Store(pg_database_url)
    feed_proc: FeedProcess | None = None
    try:
        with ThreadedServer(create_app(sim)) as server:
            env = {k: v for k, v in os.environ.items() if not k.startswith("LAPORFLOW_")}
            env.update(
                LAPORFLOW_KAFKA_BOOTSTRAP=kafka_bootstrap,
                LAPORFLOW_DATABASE_URL=pg_database_url,
                LAPORFLOW_TOPIC_PREFIX=prefix,
                LAPORFLOW_PARTITIONS="3",
                LAPORFLOW_LAPOR_URL=server.url,
                LAPORFLOW_LAPOR_TOKEN=TOKEN,
                LAPORFLOW_LAPOR_TIMEOUT_S="0.4",
                LAPORFLOW_LAPOR_BACKOFF_S="0.05",
                LAPORFLOW_LAPOR_ATTEMPTS="10",
                LAPORFLOW_FEED_PAGE_SIZE="3",
                LAPORFLOW_FEED_INTERVAL_S="0.3",
                LAPORFLOW_FEED_METRICS_PORT="0",
                PYTHONUNBUFFERED="1",
            )
            log = tmp_path / "feed.log"
            feed_proc = FeedProcess(env, log)
            topic = settings.topics.commands

            # Kill -9 while it is part-way through the reports.
            # Two pages committed (a quick database read), then kill at once.
            progress = FeedStore(store)
            wait_for("the feed's first pages",
                     lambda: len(progress.seen(sim.reports)) >= 6, 60)  # fmt: skip
            feed_proc.kill()
            at_kill = submits_by_complaint(read_topic(kafka_bootstrap, topic))
            assert 0 < len(at_kill) < 60, "the feed was not killed part-way"

            # Upstream keeps moving while the feed is down.
            sim.add_reports(5)
            moved = sim.advance(8)
            feed_proc = FeedProcess(env, log)
            expected = sorted(sim.reports)
            wait_for(
                "every report in the engine",
                lambda: len(_engine_complaints(store, expected)) == len(expected),
                120,
            )
            assert feed_proc.proc.poll() is None, feed_proc.tail()

            # The region's admin and an SKPD act on three of them.
            states = _engine_complaints(store, expected)
            ours = [c for c in expected if states[c] in ("submitted", "verified")][:3]
            assert len(ours) == 3
            producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
            now = datetime.now(UTC).replace(microsecond=0)
            for cid in ours:
                steps = [] if states[cid] == "verified" else [("verify", "admin", {})]
                steps += [
                    ("dispatch", "admin", {"skpd": "PUPR"}),
                    ("follow_up", "skpd", {"note": "Sudah ditinjau dan diperbaiki."}),
                ]
                for n, (ctype, role, payload) in enumerate(steps):
                    doc = {
                        "command_id": f"admin-{cid}-{ctype}",
                        "type": ctype,
                        "complaint_id": cid,
                        "issued_at": (now + timedelta(seconds=n)).isoformat(),
                        "actor": {"role": role, "id": f"{role}-hsu"},
                        "payload": payload,
                    }
                    producer.send(topic, key=cid.encode(), value=json.dumps(doc).encode())
            producer.flush()
            producer.close()

            def pushed_back() -> bool:
                got = sim.followups()
                return all(
                    {"dispatch", "follow_up"} <= {p["type"] for p in got.get(cid, [])}
                    for cid in ours
                )

            wait_for("dispatch and follow-up pushed back to the simulator", pushed_back, 120)
    finally:
        if feed_proc is not None:
            feed_proc.kill(signal.SIGTERM)
        runtime.stop()
        engine.join(timeout=60)

    # Exactly once: one submit id per report on the topic, one applied submit per report.
    commands = read_topic(kafka_bootstrap, settings.topics.commands, 500)
    submits = submits_by_complaint(commands)
    assert set(submits) == set(expected)
    assert all(len(ids) == 1 for ids in submits.values())
    table = processed_commands_table
    with store.connect("test") as conn:
        outcomes = Counter(
            (t, o)
            for t, o, _ in conn.execute(
                select(table.c.command_type, table.c.outcome, func.count()).group_by(
                    table.c.command_type, table.c.outcome
                )
            ).all()
            for _ in range(1)
        )
        applied_submits = conn.execute(
            select(func.count()).where(
                table.c.command_type == "submit", table.c.outcome == "applied"
            )
        ).scalar_one()
    assert applied_submits == len(expected), outcomes
    assert sim.faults, "the simulator injected no fault"
    # Upstream moves made while the feed was down reached the engine too.
    states = _engine_complaints(store, expected)
    for cid, _old, new in moved:
        if new in ("Arsip", "Bukan Wewenang"):
            assert states[cid] == "archived", (cid, new)
        elif new in ("Terverifikasi", "Didisposisikan", "Tunda") and cid not in ours:
            assert states[cid] == "verified", (cid, new)
    # `laporflow status` shows what was pushed for a complaint.
    shown = subprocess.run(
        [sys.executable, "-m", "laporflow", "status", ours[0], "--json"],
        env={**os.environ, "LAPORFLOW_DATABASE_URL": pg_database_url},
        cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    # Pushes carry progress only: no title, body or identity of any report.
    allowed = {"event_id", "type", "occurred_at", "state", "skpd", "note", "received_at"}
    for pushes in sim.followups().values():
        assert all(set(p) <= allowed for p in pushes)
    sync = json.loads(shown.stdout)["lapor_sync"]
    assert {(p["type"], p["outcome"]) for p in sync} >= {
        ("dispatch", "pushed"),
        ("follow_up", "pushed"),
    }
    store.close()


def test_laporflow_feed_process_takes_signed_webhook_deliveries(
    kafka_bootstrap: str, pg_database_url: str
) -> None:
    from lapor.settings import FeedSettings
    from laporflow.feed import FeedProcess

    sim = LaporSim(reports=3, seed=2, token=TOKEN)
    secret = "kunci-proses"
    with ThreadedServer(create_app(sim)) as server:
        settings = FeedSettings(
            kafka_bootstrap=kafka_bootstrap, database_url=pg_database_url,
            topic_prefix=f"hook-{uuid.uuid4().hex[:8]}.", partitions=3,
            lapor_url=server.url, lapor_token=SecretStr(TOKEN), feed_interval_s=0.5,
            feed_webhook_port=0, lapor_webhook_secret=SecretStr(secret),
        )  # fmt: skip
        process = FeedProcess(settings, serve_http=False)
        runner = threading.Thread(target=process.run, daemon=True)
        runner.start()
        try:
            assert process.webhook is not None
            wait_for("the webhook", lambda: process.webhook is not None
                     and process.webhook.server.started, 20)  # fmt: skip
            now = datetime.now(UTC).isoformat()
            report = {**next(iter(sim.reports.values())).item(), "tracking_id": "HSU-2026-880001",
                      "status": "Terverifikasi", "updated_at": now}  # fmt: skip
            body = json.dumps(report).encode()
            url = f"{process.webhook.url.replace('0.0.0.0', '127.0.0.1')}/api/v1/lapor/webhook"
            refused = httpx.post(url, content=body, headers={"X-Lapor-Signature": "sha256=00"})
            assert refused.status_code == 401
            signed = {"X-Lapor-Signature": sign(SecretStr(secret), body), "X-Lapor-Delivery": "x-1"}
            taken = httpx.post(url, content=body, headers=signed)
            assert taken.status_code == 202, taken.text

            def everything() -> bool:
                ids = submits_by_complaint(
                    read_topic(kafka_bootstrap, settings.topics.commands, 300)
                )
                return set(ids) == {*sim.reports, "HSU-2026-880001"}

            wait_for("polled and delivered reports on the topic", everything, 30)
        finally:
            process.stop()
            runner.join(timeout=30)
    types = sorted(d["type"] for k, d in read_topic(kafka_bootstrap, settings.topics.commands)
                   if k == "HSU-2026-880001")  # fmt: skip
    assert types == ["submit", "verify"]
