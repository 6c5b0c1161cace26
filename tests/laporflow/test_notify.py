"""`laporflow status` shows a complaint's notices; `laporflow notify` is wired."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.notices import NoticeStore
from engine.store import Store
from laporflow.cli import app
from laporflow.notify import NotifyConfig
from tests.engine.test_report import apply, history
from workflows.model import Actor, Event
from workflows.notices import MissingContact, PlannedNotice

NOW = datetime(2026, 3, 6, 7, 30, tzinfo=UTC)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    store = Store(url)
    store.migrate()
    apply(store, history())
    event = Event(
        event_id="e-x",
        type="complaint.escalated",
        complaint_id="HSU-D4",
        seq=99,
        occurred_at=NOW,
        recorded_at=NOW,
        state="dispatched",
        previous_state="dispatched",
        region="HSU",
        skpd="DINKES",
        causation_id="t",
        actor=Actor(role="system", id="sla"),
        payload={"clock": "follow_up", "level": 2, "target": "sekda"},
    )
    notices = NoticeStore(store)
    notices.add(
        [
            PlannedNotice(
                "e-x", "HSU-D4", "escalation", "sekda", "email", "sekda@hsu.go.id", NOW, False
            )
        ],
        [MissingContact("e-x", "HSU-D4", "escalation", "kepala_skpd", "HSU", "DINKES")],
        {"e-x": event},
        NOW,
    )
    (claimed,) = notices.claim_due(NOW, NotifyConfig().retry().backoff(1))
    notices.mark_failed([claimed.id], "cannot send mail: [Errno 111] Connection refused")
    store.close()
    return url


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("LAPORFLOW_DATABASE_URL", "LAPORFLOW_POLICY"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def test_status_lists_notices_with_their_failures(runner: CliRunner, db_url: str) -> None:
    result = runner.invoke(app, ["status", "HSU-D4", "--json", "--database-url", db_url])
    assert result.exit_code == 0, result.output
    notices = json.loads(result.stdout)["notices"]
    assert [(n["role"], n["channel"], n["status"]) for n in notices] == [
        ("sekda", "email", "failed"),
        ("kepala_skpd", "none", "no_contact"),
    ]
    assert "Connection refused" in notices[0]["last_error"]
    result = runner.invoke(app, ["status", "HSU-D4", "--database-url", db_url])
    assert result.exit_code == 0, result.output
    assert "Notices" in result.stdout and "sekda@hsu.go.id" in result.stdout
    assert "failed" in result.stdout and "no_contact" in result.stdout


def test_notify_is_a_command(runner: CliRunner) -> None:
    result = runner.invoke(app, ["notify", "--help"])
    assert result.exit_code == 0
    assert "LAPORFLOW_SMTP_URL" in result.stdout
