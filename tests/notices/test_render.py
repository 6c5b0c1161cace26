"""The content of each message kind, in Indonesian, and what it must never contain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from notices.render import DigestItem, Renderer
from workflows.model import Actor, Event
from workflows.notices import notice_facts
from workflows.policy import Policy

ADMIN = "https://lapor.hsu.go.id/admin"
DEADLINE = "2026-03-05T23:59:59+08:00"


def event(event_type: str, occurred_at: str = DEADLINE, **payload: Any) -> Event:
    return Event(
        event_id=f"e-{event_type}",
        type=event_type,
        complaint_id="HSU-2026-000123",
        seq=5,
        occurred_at=datetime.fromisoformat(occurred_at),
        recorded_at=datetime.fromisoformat(occurred_at),
        state="dispatched",
        previous_state="dispatched",
        region="HSU",
        skpd="PUPR",
        causation_id="timer:x",
        actor=Actor(role="system", id="sla"),
        payload=payload,
    )


ESCALATED = event(
    "complaint.escalated",
    "2026-03-09T23:59:59+08:00",  # 2nd working day after Thu 03-05
    clock="follow_up",
    started_at="2026-02-26T09:00:00+08:00",
    deadline=DEADLINE,
    level=2,
    target="sekda",
)
WARNING = event(
    "complaint.sla_warning",
    "2026-03-04T10:00:00+08:00",
    clock="follow_up",
    started_at="2026-02-26T09:00:00+08:00",
    deadline=DEADLINE,
)
DISPATCHED = event("complaint.dispatched", "2026-02-26T09:00:00+08:00", skpd="PUPR")

COMMON = [
    "HSU-2026-000123",
    "PUPR",
    f"{ADMIN}/complaints/HSU-2026-000123",
    "Identitas pelapor tidak pernah dicantumkan",
]


@pytest.fixture
def renderer() -> Renderer:
    return Renderer(ADMIN + "/")


def test_escalation_mail(renderer: Renderer) -> None:
    facts = notice_facts(ESCALATED, Policy.default(), title="Jalan berlubang di Amuntai")
    message = renderer.notice(facts, "sekda")
    assert message.subject == (
        "[LAPOR! HSU] Eskalasi tingkat 2: pengaduan HSU-2026-000123 melewati tenggat (PUPR)"
    )
    for body in (message.text, message.html):
        for needle in [
            *COMMON,
            "Sekretaris Daerah",
            "Jalan berlubang di Amuntai",
            "tindak lanjut SKPD",  # the clock
            "Kamis, 5 Maret 2026 23:59:59 WITA",  # the deadline, local time
            "2 hari kerja",  # how late
            "tingkat 2 dari 3",
        ]:
            assert needle in body, (needle, body)
    assert "<table" in message.html and "<table" not in message.text


def test_escalation_at_the_breach_is_zero_working_days_late(renderer: Renderer) -> None:
    level1 = ESCALATED.model_copy(
        update={
            "occurred_at": datetime.fromisoformat(DEADLINE),
            "payload": {**ESCALATED.payload, "level": 1, "target": "kepala_skpd"},
        }
    )
    message = renderer.notice(notice_facts(level1, Policy.default()), "kepala_skpd")
    assert "Yth. Kepala SKPD" in message.text
    assert "tenggat baru saja terlewati (0 hari kerja)" in message.text


def test_warning_mail(renderer: Renderer) -> None:
    message = renderer.notice(notice_facts(WARNING, Policy.default()), "penghubung")
    assert (
        message.subject
        == "[LAPOR! HSU] Peringatan: tenggat pengaduan HSU-2026-000123 sudah dekat (PUPR)"
    )
    for needle in [
        *COMMON,
        "Pejabat Penghubung",
        "sudah dekat",
        "Kamis, 5 Maret 2026 23:59:59 WITA",
    ]:
        assert needle in message.text and needle in message.html


def test_dispatch_mail_names_the_follow_up_deadline(renderer: Renderer) -> None:
    facts = notice_facts(
        DISPATCHED, Policy.default(), follow_up_deadline=datetime.fromisoformat(DEADLINE)
    )
    message = renderer.notice(facts, "penghubung")
    assert message.subject == "[LAPOR! HSU] Disposisi baru: pengaduan HSU-2026-000123 untuk PUPR"
    for needle in [
        *COMMON,
        "didisposisikan",
        "Kamis, 26 Februari 2026 09:00:00 WITA",
        "Kamis, 5 Maret 2026 23:59:59 WITA",
        "tindak lanjut SKPD",
    ]:
        assert needle in message.text and needle in message.html


def test_digest_lists_every_notice(renderer: Renderer) -> None:
    items = [
        DigestItem(notice_facts(ESCALATED, Policy.default(), title="Jalan berlubang")),
        DigestItem(notice_facts(WARNING, Policy.default())),
    ]
    message = renderer.digest(items, "sekda")
    assert message.subject == "[LAPOR! HSU] Ringkasan harian: 2 pemberitahuan, 1 eskalasi"
    assert '1. HSU-2026-000123 "Jalan berlubang"' in message.text
    assert "Eskalasi tingkat 2" in message.text and "Peringatan tenggat" in message.text
    assert message.html.count("<tr>") == 3  # header + 2 rows


def test_html_escapes_complaint_text(renderer: Renderer) -> None:
    facts = notice_facts(ESCALATED, Policy.default(), title='<script>alert("x")</script>')
    message = renderer.notice(facts, "sekda")
    assert "<script>" not in message.html
    assert "&lt;script&gt;" in message.html
    assert '<script>alert("x")</script>' in message.text  # plain text is not HTML


def test_confidential_complaints_carry_no_title_anywhere(renderer: Renderer) -> None:
    facts = notice_facts(ESCALATED, Policy.default(), title="Rahasia: pungli", confidential=True)
    message = renderer.notice(facts, "sekda")
    digest = renderer.digest([DigestItem(facts)], "sekda")
    hook = renderer.webhook_body(facts, "sekda", "wa")
    for text in (message.subject, message.text, message.html, digest.text, digest.html, repr(hook)):
        assert "pungli" not in text
        assert "(rahasia)" in text or text == message.subject


def test_webhook_body(renderer: Renderer) -> None:
    body = renderer.webhook_body(notice_facts(ESCALATED, Policy.default()), "sekda", "wa-pupr")
    assert body["kind"] == "escalation" and body["level"] == 2
    assert body["deadline_local"] == "Kamis, 5 Maret 2026 23:59:59 WITA"
    assert body["late_working_days"] == 2
    assert body["link"] == f"{ADMIN}/complaints/HSU-2026-000123"
    assert body["text"].startswith("*LAPOR! Eskalasi tingkat 2*: pengaduan HSU-2026-000123")
