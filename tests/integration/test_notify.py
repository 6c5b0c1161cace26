"""CONTRACT §8 end to end: the real engine, Kafka, PostgreSQL, an SMTP server and a receiver.

The engine runs on commands (in-process, fake wall clock) and publishes its events on
``lapor.events``; the notifier consumes them with its own group and sends over real
SMTP (aiosmtpd) and HTTP (a receiver that checks the signature). The kill -9 test runs a
real ``laporflow notify`` process.

April 2026 (Asia/Makassar, WITA):  Mo 6 .. Fr 10, Mo 13, Tu 14, We 15 (all working days).
A complaint dispatched Mon 04-06 10:00 has its follow-up deadline on the 5th working day
after: Mon 04-13 23:59:59; the warning at 0.8 of the span falls on Sunday 04-12; the
breach (escalation level 1) at the deadline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from kafka import KafkaProducer

from engine.metrics import REGISTRY
from engine.notices import NoticeStore
from engine.settings import Settings
from engine.status import complaint_status
from engine.store import Store
from laporflow.notify import Notifier, NotifyConfig, run_until_idle
from laporflow.runtime import EngineRuntime
from producers.kafka_io import ensure_topics
from tests.notices.servers import SmtpServer, WebhookReceiver
from workflows.policy import Policy
from workflows.wire import command_doc

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

WITA = timezone(timedelta(hours=8))
SECRET = "wa-secret-for-tests"
TIMEOUT_S = 30.0


def wita(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=WITA)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def policy_data(receiver_url: str, **notify: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "regions": {"HSU": {"timezone": "Asia/Makassar"}},
        "contacts": {
            "HSU/PUPR": {
                "kepala_skpd": {"email": "kadis.pupr@hsu.go.id", "webhook": "wa-pupr"},
                "penghubung": {"webhook": "wa-pupr", "email": "penghubung.pupr@hsu.go.id"},
            },
            "HSU": {
                "sekda": {"email": "sekda@hsu.go.id"},
                "kepala_diskominfo": {"email": "kominfo@hsu.go.id"},
            },
            "*": {"koordinator_provinsi": {"email": "lapor@kalselprov.go.id"}},
        },
        "webhooks": {"wa-pupr": {"url": receiver_url, "secret_env": "LAPORFLOW_TEST_WA_SECRET"}},
    }
    if notify:
        data["notify"] = notify
    return data


def command(
    ctype: str, cid: str, at: str, actor: tuple[str, str], payload: dict[str, Any]
) -> dict[str, Any]:
    return command_doc(
        ctype,
        cid,
        wita(at),
        role=actor[0],
        actor_id=actor[1],
        payload=payload,
        command_id=f"c-{uuid.uuid4().hex}",
    )


def lifecycle(cid: str, skpd: str, *, confidential: bool = False) -> list[dict[str, Any]]:
    admin = ("admin", "diskominfo-hsu")
    return [
        command(
            "submit",
            cid,
            "2026-04-06 09:00:00",
            ("complainant", "pelapor-1"),
            {
                "title": "Jalan desa berlubang" if not confidential else "Pungli di kantor desa",
                "body": "Badan jalan rusak sepanjang 200 meter.",
                "category": "infrastruktur",
                "classification": "pengaduan",
                "channel": "web",
                "region": "HSU",
                "anonymous": False,
                "confidential": confidential,
                "complainant": {
                    "name": "Siti Rahmah",
                    "phone": "+6281234567890",
                    "email": "siti@example.id",
                },
            },
        ),
        command("verify", cid, "2026-04-06 10:00:00", admin, {"note": "lengkap"}),
        command("dispatch", cid, "2026-04-06 10:00:00", admin, {"skpd": skpd}),
    ]


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver(secret=SECRET.encode())
    yield r
    r.close()


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAPORFLOW_TEST_WA_SECRET", SECRET)


def settings_for(
    kafka_bootstrap: str, database_url: str, policy_path: Path | None = None
) -> Settings:
    tag = uuid.uuid4().hex[:10]
    return Settings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        topic_prefix=f"nt-{tag}.",
        group_id=f"nt-{tag}",
        partitions=2,
        policy=str(policy_path) if policy_path else None,
    )


def run_engine(
    settings: Settings, policy: Policy, commands: list[dict[str, Any]], now: datetime
) -> None:
    """Apply ``commands`` with the real engine, let its timers fire at ``now``, publish."""
    runtime = EngineRuntime(
        settings, policy=policy, clock=FakeClock(now), serve_http=False, relay_process=False
    )
    runtime.consumer.sweep_interval_s = 0.0
    runtime.consumer.poll_timeout_ms = 200
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    try:
        for doc in commands:
            producer.send(
                settings.topics.commands,
                key=doc["complaint_id"].encode(),
                value=json.dumps(doc).encode(),
            )
        producer.flush()
        give_up = time.monotonic() + TIMEOUT_S
        sweeps = 0
        while runtime.consumer.stats.records < len(commands) or sweeps < 2:
            assert time.monotonic() < give_up, "the engine did not settle"
            result = runtime.consumer.poll_once()
            if result is not None and runtime.consumer.stats.records >= len(commands):
                sweeps += 1
        runtime.relay.drain()
    finally:
        producer.close()
        runtime.shutdown()


def notifier_for(
    settings: Settings,
    policy: Policy,
    smtp: SmtpServer,
    clock: FakeClock,
    group_id: str | None = None,
) -> Notifier:
    cfg = NotifyConfig(smtp_url=smtp.url, admin_url="https://lapor.hsu.go.id/admin")
    return Notifier(
        settings,
        cfg,
        policy=policy,
        clock=clock,
        serve_http=False,
        group_id=group_id,
        consumer_config={"max_poll_interval_ms": 10000, "session_timeout_ms": 6000},
    )


def drain(notifier: Notifier) -> None:
    """Consume every event, then send whatever is due now."""
    give_up = time.monotonic() + TIMEOUT_S
    while True:
        assert time.monotonic() < give_up, "the notifier never caught up"
        read = notifier.consumer.poll_once()
        if not read and notifier.consumer.caught_up():
            break
    while notifier.sender.send_due():
        pass


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_breached_complaint_tells_each_recipient_once_at_the_right_local_time(
    kafka_bootstrap: str,
    pg_database_url: str,
    smtp: SmtpServer,
    receiver: WebhookReceiver,
    secret_env: None,
) -> None:
    policy = Policy.model_validate(
        policy_data(receiver.url, quiet_hours={"from": "17:00", "to": "07:30"})
    )
    settings = settings_for(kafka_bootstrap, pg_database_url)
    # The engine runs until Tuesday 04-14 08:00: dispatch, warning, breach, level 1.
    commands = lifecycle("HSU-2026-N1", "PUPR") + lifecycle("HSU-2026-N2", "DINKES")
    run_engine(settings, policy, commands, wita("2026-04-14 08:00:00"))
    missing_before = sample(
        "laporflow_notice_missing_contacts_total", role="penghubung", kind="dispatch"
    )

    clock = FakeClock(wita("2026-04-14 07:00:00"))  # the notifier's wall clock
    notifier = notifier_for(settings, policy, smtp, clock)
    try:
        drain(notifier)
        # Dispatch (Mon 10:00) and warning (held from Sunday to Monday 07:30) went out;
        # the breach of Monday 23:59:59 waits for Tuesday 07:30.
        kinds = sorted(d.json["kind"] for d in receiver.deliveries)
        assert kinds == ["dispatch", "warning"]
        assert all(d.signature_ok for d in receiver.deliveries)
        held = [
            n for n in notifier.notices.for_complaint("HSU-2026-N1") if n["kind"] == "escalation"
        ]
        assert {n["status"] for n in held} == {"pending"}
        assert {datetime.fromisoformat(n["due_at"]) for n in held} == {wita("2026-04-14 07:30:00")}
        clock.now = wita("2026-04-14 07:29:59")
        assert notifier.sender.send_due() == 0
        clock.now = wita("2026-04-14 07:30:00")
        while notifier.sender.send_due():
            pass
    finally:
        notifier.close()

    mails = smtp.wait_for(3)
    by_rcpt: dict[str, list[str]] = {}
    for m in mails:
        (rcpt,) = m.rcpt
        by_rcpt.setdefault(rcpt, []).append(m.message["Subject"])
    assert by_rcpt == {
        "penghubung.pupr@hsu.go.id": [
            "[LAPOR! HSU] Disposisi baru: pengaduan HSU-2026-N1 untuk PUPR",
            "[LAPOR! HSU] Peringatan: tenggat pengaduan HSU-2026-N1 sudah dekat (PUPR)",
        ],
        "kadis.pupr@hsu.go.id": [
            "[LAPOR! HSU] Eskalasi tingkat 1: pengaduan HSU-2026-N1 melewati tenggat (PUPR)"
        ],
    }
    escalation = next(m for m in mails if m.rcpt == ["kadis.pupr@hsu.go.id"])
    assert "Senin, 13 April 2026 23:59:59 WITA" in escalation.text
    assert "Jalan desa berlubang" in escalation.text
    assert "https://lapor.hsu.go.id/admin/complaints/HSU-2026-N1" in escalation.html
    assert "Siti" not in escalation.raw and "6281234567890" not in escalation.raw
    hooks = sorted((d.json["kind"], d.json["role"]) for d in receiver.deliveries)
    assert hooks == [
        ("dispatch", "penghubung"),
        ("escalation", "kepala_skpd"),
        ("warning", "penghubung"),
    ]

    # DINKES has no liaison contact: counted and shown, never a crash.
    assert (
        sample("laporflow_notice_missing_contacts_total", role="penghubung", kind="dispatch")
        - missing_before
        == 1
    )
    store = Store(pg_database_url)
    try:
        status = complaint_status(store, "HSU-2026-N2", policy)
        assert status is not None
        assert [(n["kind"], n["role"], n["status"]) for n in status["notices"]] == [
            ("dispatch", "penghubung", "no_contact"),
            ("warning", "penghubung", "no_contact"),
            ("escalation", "kepala_skpd", "no_contact"),
        ]
        status = complaint_status(store, "HSU-2026-N1", policy)
        assert status is not None
        assert sorted((n["channel"], n["recipient"], n["status"]) for n in status["notices"]) == [
            ("email", "kadis.pupr@hsu.go.id", "sent"),
            ("email", "penghubung.pupr@hsu.go.id", "sent"),
            ("email", "penghubung.pupr@hsu.go.id", "sent"),
            ("webhook", "wa-pupr", "sent"),
            ("webhook", "wa-pupr", "sent"),
            ("webhook", "wa-pupr", "sent"),
        ]
    finally:
        store.close()

    # A second notifier re-reading the whole topic (a new group) tells nobody again.
    again = notifier_for(settings, policy, smtp, clock, group_id=f"other-{uuid.uuid4().hex[:6]}")
    try:
        drain(again)
        assert again.consumer.stats.records > 0 and again.consumer.stats.stored == 0
    finally:
        again.close()
    time.sleep(0.3)
    assert len(smtp.mails) == 3 and len(receiver.deliveries) == 3


def test_run_until_idle_reports_who_was_told(
    kafka_bootstrap: str, pg_database_url: str, receiver: WebhookReceiver
) -> None:
    policy = Policy.model_validate(policy_data(receiver.url, digest="daily"))
    settings = settings_for(kafka_bootstrap, pg_database_url)
    commands = lifecycle("HSU-2026-D1", "PUPR") + lifecycle(
        "HSU-2026-D2", "PUPR", confidential=True
    )
    run_engine(settings, policy, commands, wita("2026-04-20 08:00:00"))  # levels 1 and 2 fired
    summary = run_until_idle(settings, policy, clock=lambda: wita("2026-04-21 08:00:00"))
    # Digest: kadis gets one mail for both complaints' level 1; sekda one for level 2.
    assert summary.sent[("email", "kadis.pupr@hsu.go.id")] == 2
    assert summary.sent[("email", "sekda@hsu.go.id")] == 2
    assert summary.sent[("webhook", "wa-pupr")] == 6  # 2 x (dispatch, warning, level 1)
    assert summary.captured_webhooks == 6  # signatures checked by the capture receiver
    assert summary.failed == {} and summary.held == 0
    assert summary.captured_mails == summary.messages - 6
    assert any("kadis.pupr@hsu.go.id" in line for line in summary.lines())


def test_kill_9_mid_batch_loses_nothing_and_repeats_at_most_the_one_in_flight(
    kafka_bootstrap: str, pg_database_url: str, tmp_path: Path
) -> None:
    n = 20
    smtp = SmtpServer()
    smtp.delay_s = 0.1
    smtp.start()
    policy_path = tmp_path / "policy.yaml"
    contacts = {
        f"HSU/S{i:02d}": {"kepala_skpd": {"email": f"kadis{i:02d}@hsu.go.id"}} for i in range(n)
    }
    policy_path.write_text(yaml.safe_dump({"contacts": contacts}))
    settings = settings_for(kafka_bootstrap, pg_database_url, policy_path)
    ensure_topics(kafka_bootstrap, settings.topics.all(), settings.partitions)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    now = datetime.now(WITA) - timedelta(minutes=5)
    for i in range(n):
        cid = f"HSU-K{i:02d}"
        event = {
            "event_id": f"e-{cid}-7",
            "type": "complaint.escalated",
            "complaint_id": cid,
            "seq": 7,
            "occurred_at": now.isoformat(),
            "recorded_at": now.isoformat(),
            "state": "dispatched",
            "previous_state": "dispatched",
            "region": "HSU",
            "skpd": f"S{i:02d}",
            "causation_id": "timer:x",
            "actor": {"role": "system", "id": "sla"},
            "payload": {
                "clock": "follow_up",
                "started_at": now.isoformat(),
                "deadline": now.isoformat(),
                "level": 1,
                "target": "kepala_skpd",
            },
        }
        producer.send(settings.topics.events, key=cid.encode(), value=json.dumps(event).encode())
    producer.flush()
    producer.close()
    env = {
        **os.environ,
        "LAPORFLOW_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "LAPORFLOW_DATABASE_URL": pg_database_url,
        "LAPORFLOW_TOPIC_PREFIX": settings.topic_prefix,
        "LAPORFLOW_POLICY": str(policy_path),
        "LAPORFLOW_SMTP_URL": smtp.url,
        "LAPORFLOW_NOTIFY_METRICS_PORT": "0",
        "LAPORFLOW_NOTIFY_LEASE_S": "2",
        "LAPORFLOW_NOTIFY_INTERVAL_S": "0.2",
        "PYTHONFAULTHANDLER": "1",
    }
    cmd = [sys.executable, "-m", "laporflow", "notify", "--log-level", "WARNING"]
    log1, log2 = tmp_path / "first.log", tmp_path / "second.log"
    try:
        with log1.open("wb") as err:
            first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        give_up = time.monotonic() + TIMEOUT_S
        while len(smtp.mails) < n // 3:
            assert time.monotonic() < give_up, "no mail arrived from the first process"
            assert first.poll() is None, log1.read_text()
            time.sleep(0.02)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        at_kill = len(smtp.mails)
        assert at_kill < n, "the kill came too late to be mid-batch"
        with log2.open("wb") as err:
            second = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        try:
            store = Store(pg_database_url)
            notices = NoticeStore(store)
            give_up = time.monotonic() + TIMEOUT_S
            while notices.pending_count() or len(smtp.mails) < n:
                assert time.monotonic() < give_up, (
                    f"{notices.pending_count()} notices still pending"
                )
                time.sleep(0.1)
            time.sleep(0.5)
            counts = notices.counts()
            store.close()
        finally:
            second.send_signal(signal.SIGTERM)
            try:
                second.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(second.pid, signal.SIGABRT)
                second.wait()
                raise AssertionError(log2.read_text()[-6000:]) from None
    finally:
        smtp.stop()
    assert counts == {("sent", "email"): n}
    recipients = [m.rcpt[0] for m in smtp.mails]
    assert set(recipients) == {f"kadis{i:02d}@hsu.go.id" for i in range(n)}  # nothing lost
    assert len(recipients) - n <= 1, sorted(recipients)  # at most the one in flight repeated
