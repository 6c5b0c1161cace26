"""The sender loop: stored notices go out over real SMTP and HTTP, retried, never lost."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.metrics import METRICS
from engine.notices import NoticeStore
from engine.store import BatchWrite, Store
from notices.mail import MailChannel, SmtpSettings
from notices.render import Renderer
from notices.sender import NoticeSender, RetryPolicy
from notices.webhook import WebhookChannel
from tests.notices.servers import SmtpServer, WebhookReceiver
from workflows.model import Actor, Event
from workflows.notices import plan_notices
from workflows.policy import Policy

BREACH = datetime.fromisoformat("2026-03-05T23:59:59+08:00")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_policy(receiver_url: str = "http://127.0.0.1:9/x", **notify: Any) -> Policy:
    data: dict[str, Any] = {
        "contacts": {
            "HSU/PUPR": {
                "kepala_skpd": {"email": "kadis.pupr@hsu.go.id", "webhook": "wa-pupr"},
                "penghubung": {"webhook": "wa-pupr"},
            },
            "HSU": {"sekda": {"email": "sekda@hsu.go.id"}},
        },
        "webhooks": {"wa-pupr": {"url": receiver_url, "secret_env": "WA_SECRET"}},
    }
    if notify:
        data["notify"] = notify
    return Policy.model_validate(data)


def escalated(
    cid: str, level: int = 1, target: str = "kepala_skpd", at: datetime = BREACH
) -> Event:
    return Event(
        event_id=f"e-{cid}-{level}",
        type="complaint.escalated",
        complaint_id=cid,
        seq=10 + level,
        occurred_at=at,
        recorded_at=at,
        state="dispatched",
        previous_state="dispatched",
        region="HSU",
        skpd="PUPR",
        causation_id="timer:x",
        actor=Actor(role="system", id="sla"),
        payload={
            "clock": "follow_up",
            "started_at": "2026-02-26T09:00:00+08:00",
            "deadline": BREACH.isoformat(),
            "level": level,
            "target": target,
        },
    )


@pytest.fixture
def notices(tmp_path: Path) -> Iterator[NoticeStore]:
    store = Store(f"sqlite:///{tmp_path / 'n.db'}")
    store.migrate()
    yield NoticeStore(store)
    store.close()


def sender(
    notices: NoticeStore, policy: Policy, smtp: SmtpServer, clock: Clock, **retry: Any
) -> NoticeSender:
    return NoticeSender(
        notices,
        policy,
        Renderer("https://admin.example"),
        mail=MailChannel(SmtpSettings.from_url(smtp.url), "noreply@hsu.go.id"),
        webhooks=WebhookChannel(policy.webhooks, environ={"WA_SECRET": "s3cret-for-tests"}),
        retry=RetryPolicy(**{"base_s": 10.0, "max_attempts": 3, "lease_s": 60.0, **retry}),
        clock=clock,
    )


def store_events(notices: NoticeStore, policy: Policy, events: list[Event], now: datetime) -> None:
    plans = [plan_notices(e, policy) for e in events]
    notices.add(
        [n for p in plans for n in p.notices],
        [m for p in plans for m in p.missing],
        {e.event_id: e for e in events},
        now,
    )


def sample(outcome: str, channel: str = "email") -> float:
    value = METRICS.registry.get_sample_value(
        "laporflow_notices_total", {"channel": channel, "kind": "escalation", "outcome": outcome}
    )
    return value or 0.0


def test_email_and_webhook_go_out_once_and_are_marked(
    notices: NoticeStore, smtp: SmtpServer, receiver: WebhookReceiver
) -> None:
    policy = make_policy(receiver.url)
    clock = Clock(BREACH)
    store_events(notices, policy, [escalated("HSU-1")], BREACH)
    s = sender(notices, policy, smtp, clock)
    assert s.send_due() == 2
    assert s.send_due() == 0
    (mail,) = smtp.wait_for(1)
    assert mail.rcpt == ["kadis.pupr@hsu.go.id"] and "HSU-1" in mail.text
    (delivery,) = receiver.deliveries
    assert delivery.signature_ok and delivery.json["complaint_id"] == "HSU-1"
    assert {r["status"] for r in notices.for_complaint("HSU-1")} == {"sent"}


def test_smtp_down_then_back_loses_nothing(notices: NoticeStore, smtp: SmtpServer) -> None:
    policy = make_policy()
    clock = Clock(BREACH)
    events = [escalated(f"HSU-{i}", 2, "sekda") for i in range(5)]
    store_events(notices, policy, events, BREACH)
    s = sender(notices, policy, smtp, clock)
    retries = sample("retry")
    smtp.stop()
    assert s.send_due() == 5
    assert sample("retry") - retries == 5
    assert s.send_due() == 0  # backing off
    assert notices.pending_count() == 5
    smtp.start()  # back, on the same port
    clock.now += timedelta(seconds=10)
    assert s.send_due() == 5
    mails = smtp.wait_for(5)
    assert sorted(m.text.split("Nomor pengaduan : ")[1].split()[0] for m in mails) == [
        f"HSU-{i}" for i in range(5)
    ]
    assert notices.pending_count() == 0
    assert all(r["attempts"] == 2 for i in range(5) for r in notices.for_complaint(f"HSU-{i}"))


def test_after_the_last_attempt_a_notice_is_recorded_failed(
    notices: NoticeStore, smtp: SmtpServer
) -> None:
    policy = make_policy()
    clock = Clock(BREACH)
    store_events(notices, policy, [escalated("HSU-9", 2, "sekda")], BREACH)
    s = sender(notices, policy, smtp, clock, max_attempts=2)
    failed = sample("failed")
    smtp.stop()
    s.send_due()
    clock.now += timedelta(seconds=10)
    s.send_due()
    (row,) = notices.for_complaint("HSU-9")
    assert row["status"] == "failed" and row["attempts"] == 2
    assert "cannot send mail" in row["last_error"]
    assert sample("failed") - failed == 1
    s.refresh_gauges()
    assert METRICS.registry.get_sample_value("laporflow_notice_failed") == 1
    clock.now += timedelta(days=1)
    assert s.send_due() == 0


def test_a_permanent_failure_is_not_retried(
    notices: NoticeStore, smtp: SmtpServer, receiver: WebhookReceiver
) -> None:
    policy = make_policy(receiver.url)
    receiver.status = lambda: 410
    store_events(notices, policy, [escalated("HSU-7")], BREACH)
    sender(notices, policy, smtp, Clock(BREACH)).send_due()
    hook = [r for r in notices.for_complaint("HSU-7") if r["channel"] == "webhook"]
    assert hook[0]["status"] == "failed" and hook[0]["attempts"] == 1


def test_the_daily_digest_is_one_mail_per_recipient(notices: NoticeStore, smtp: SmtpServer) -> None:
    policy = make_policy(quiet_hours={"from": "17:00", "to": "07:30"}, digest="daily")
    day = datetime.fromisoformat("2026-03-05T09:00:00+08:00")
    events = [escalated(f"HSU-{i}", 2, "sekda", at=day + timedelta(hours=i)) for i in range(4)]
    clock = Clock(day + timedelta(hours=5))
    store_events(notices, policy, events, clock.now)
    s = sender(notices, policy, smtp, clock)
    assert s.send_due() == 0  # the digest goes out at 07:30 the next working day
    clock.now = datetime.fromisoformat("2026-03-06T07:29:59+08:00")
    assert s.send_due() == 0
    clock.now = datetime.fromisoformat("2026-03-06T07:30:00+08:00")
    assert s.send_due() == 4
    (mail,) = smtp.wait_for(1)
    assert mail.rcpt == ["sekda@hsu.go.id"]
    assert mail.message["Subject"] == "[LAPOR! HSU] Ringkasan harian: 4 pemberitahuan, 4 eskalasi"
    for i in range(4):
        assert f"HSU-{i}" in mail.text
    assert s.stats.messages == 1
    assert s.stats.notices == {("email", "sekda@hsu.go.id", "sent"): 4}


def test_no_complainant_identity_and_no_confidential_text(
    notices: NoticeStore, smtp: SmtpServer, receiver: WebhookReceiver
) -> None:
    policy = make_policy(receiver.url)
    submitted = {
        "event_id": "e-sub",
        "type": "complaint.submitted",
        "complaint_id": "HSU-S",
        "seq": 1,
        "occurred_at": BREACH - timedelta(days=10),
        "recorded_at": BREACH - timedelta(days=10),
        "state": "submitted",
        "previous_state": None,
        "region": "HSU",
        "skpd": None,
        "causation_id": "c-1",
        "actor": Actor(role="complainant", id="warga-42"),
        "payload": {"category": "pungli", "confidential": True, "anonymous": False},
    }
    public = {
        **submitted,
        "event_id": "e-pub",
        "complaint_id": "HSU-P",
        "payload": {"title": "Lampu jalan mati", "confidential": False},
    }
    notices.store.write(BatchWrite(events=[Event(**submitted), Event(**public)]))
    store_events(notices, policy, [escalated("HSU-S"), escalated("HSU-P")], BREACH)
    sender(notices, policy, smtp, Clock(BREACH)).send_due()
    mails = smtp.wait_for(2)
    by_id = {("HSU-S" if "HSU-S" in m.raw else "HSU-P"): m for m in mails}
    assert "(rahasia)" in by_id["HSU-S"].text and "Lampu" not in by_id["HSU-S"].raw
    assert "Lampu jalan mati" in by_id["HSU-P"].text
    for m in mails:
        assert "warga-42" not in m.raw
    for d in receiver.deliveries:
        assert "warga-42" not in d.body.decode()
        assert d.json["title"] in (None, "Lampu jalan mati")


def test_without_smtp_configured_mail_waits_and_is_retried(notices: NoticeStore) -> None:
    policy = make_policy()
    store_events(notices, policy, [escalated("HSU-3", 2, "sekda")], BREACH)
    s = NoticeSender(
        notices,
        policy,
        Renderer("https://a"),
        mail=None,
        webhooks=WebhookChannel({}, environ={}),
        retry=RetryPolicy(base_s=1),
        clock=Clock(BREACH),
    )
    s.send_due()
    (row,) = notices.for_complaint("HSU-3")
    assert row["status"] == "pending" and "LAPORFLOW_SMTP_URL" in row["last_error"]


def test_a_held_notice_whose_clock_stopped_meanwhile_is_recorded_not_sent(
    notices: NoticeStore, smtp: SmtpServer
) -> None:
    from engine.schema import clocks_table

    policy = make_policy(quiet_hours={"from": "17:00", "to": "07:30"}, digest="daily")
    events = [escalated(cid, 2, "sekda") for cid in ("HSU-OPEN", "HSU-DONE", "HSU-LATER")]
    store_events(notices, policy, events, BREACH)
    started = datetime.fromisoformat("2026-02-26T09:00:00+08:00")
    answered = datetime.fromisoformat("2026-03-06T07:00:00+08:00")  # before the 07:30 digest
    after = datetime.fromisoformat("2026-03-06T08:00:00+08:00")  # after it was due
    with notices.store.engine.begin() as conn:
        conn.execute(
            clocks_table.insert(),
            [
                {
                    "complaint_id": cid,
                    "clock": "follow_up",
                    "region": "HSU",
                    "skpd": "PUPR",
                    "started_at": started,
                    "deadline": BREACH,
                    "escalation_level": 2,
                    "stopped_at": stopped,
                }
                for cid, stopped in (
                    ("HSU-OPEN", None),
                    ("HSU-DONE", answered),
                    ("HSU-LATER", after),
                )
            ],
        )
    # The sender runs late (an outage): what stopped after the due time is still told,
    # exactly as a live sender at 07:30 would have told it.
    s = sender(notices, policy, smtp, Clock(datetime.fromisoformat("2026-03-06T09:00:00+08:00")))
    assert s.send_due() == 3
    (mail,) = smtp.wait_for(1)
    assert "HSU-OPEN" in mail.text and "HSU-LATER" in mail.text and "HSU-DONE" not in mail.text
    assert mail.message["Subject"] == "[LAPOR! HSU] Ringkasan harian: 2 pemberitahuan, 2 eskalasi"
    (done,) = notices.for_complaint("HSU-DONE")
    assert done["status"] == "obsolete" and "stopped" in done["last_error"]
    assert s.stats.notices == {
        ("email", "sekda@hsu.go.id", "sent"): 2,
        ("email", "sekda@hsu.go.id", "obsolete"): 1,
    }


def test_a_rendering_bug_is_recorded_not_lost(
    notices: NoticeStore, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = make_policy()
    store_events(notices, policy, [escalated("HSU-B", 2, "sekda")], BREACH)
    s = sender(notices, policy, smtp, Clock(BREACH), max_attempts=1)

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("level")

    monkeypatch.setattr(s.renderer, "notice", broken)
    assert s.send_due() == 1
    (row,) = notices.for_complaint("HSU-B")
    assert row["status"] == "failed" and "KeyError" in row["last_error"]
