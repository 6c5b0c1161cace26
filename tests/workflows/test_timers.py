"""workflows.timers: rescheduling running clocks when the policy changed (CONTRACT §4).

April 2026 (Asia/Makassar): Monday 6 to Friday 10 and Monday 13 are working days, so a
follow_up clock dispatched Monday 04-06 with 5 working days is due 04-13 23:59:59.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from workflows.apply import decide
from workflows.model import Actor, Command, ComplaintState
from workflows.payloads import PAYLOAD_MODELS
from workflows.policy import Policy
from workflows.registry import WorkflowRegistry
from workflows.timers import RESCHEDULED, fire_due, reschedule

REGISTRY = WorkflowRegistry.default()
POLICY = Policy.default()
HOLIDAY = Policy.model_validate({"holidays": {"add": ["2026-04-08"]}})
WITA = ZoneInfo("Asia/Makassar")
NOW = datetime(2026, 4, 7, 12, tzinfo=WITA)
T0 = datetime(2026, 4, 6, 9, 0, tzinfo=WITA)
ROLES = {"submit": "complainant", "follow_up": "skpd"}
PAYLOADS: dict[str, dict[str, Any]] = {
    "submit": {
        "title": "Jalan rusak",
        "body": "Berlubang",
        "category": "infrastruktur",
        "classification": "pengaduan",
        "channel": "web",
        "region": "HSU",
    },
    "dispatch": {"skpd": "DINKES"},
    "defer": {"reason": "anggaran"},
    "follow_up": {"note": "ditangani"},
}


def eod(day: int) -> datetime:
    return datetime(2026, 4, day, 23, 59, 59, tzinfo=WITA)


def apply(complaint: ComplaintState | None, kind: str, at: datetime) -> ComplaintState:
    command = Command(
        command_id=f"c-{kind}-{at.isoformat()}",
        type=kind,
        complaint_id="HSU-1",
        issued_at=at,
        actor=Actor(role=ROLES.get(kind, "admin"), id="x"),  # type: ignore[arg-type]
        payload=PAYLOAD_MODELS[kind].model_validate(PAYLOADS.get(kind, {})),
    )
    outcome = decide(complaint, command, registry=REGISTRY, policy=POLICY, now=NOW)
    assert outcome.kind == "applied", outcome.detail
    assert outcome.complaint is not None
    return outcome.complaint


def dispatched() -> ComplaintState:
    complaint = apply(None, "submit", T0 - timedelta(hours=1))
    complaint = apply(complaint, "verify", T0 - timedelta(minutes=30))
    return apply(complaint, "dispatch", T0)


def test_a_new_holiday_moves_the_running_deadline_once() -> None:
    complaint = dispatched()
    assert complaint.clocks["follow_up"].deadline == eod(13)
    outcome = reschedule(complaint, registry=REGISTRY, policy=HOLIDAY, now=NOW)
    after = outcome.complaint
    assert after is not None
    clock = after.clocks["follow_up"]
    assert clock.deadline == eod(14)
    # The warning is recomputed from the start too: 0.8 of the new span.
    assert clock.warning_at == (T0 + (eod(14) - T0) * 0.8).astimezone(WITA)
    (event,) = outcome.events
    assert event.type == RESCHEDULED
    assert (event.seq, after.seq) == (complaint.seq + 1, complaint.seq + 1)
    assert event.payload["clock"] == "follow_up"
    assert event.payload["old_deadline"] == eod(13).isoformat()
    assert event.payload["deadline"] == eod(14).isoformat()
    assert event.occurred_at == NOW
    assert event.state == "dispatched"
    # The resolution clock counts calendar days: a holiday does not move it.
    assert after.clocks["resolution"] == complaint.clocks["resolution"]
    # Idempotent: the same policy again changes nothing.
    again = reschedule(after, registry=REGISTRY, policy=HOLIDAY, now=NOW)
    assert again.events == ()
    assert again.complaint == after


def test_an_unchanged_policy_changes_nothing_even_after_pauses() -> None:
    complaint = dispatched()
    complaint = apply(complaint, "defer", datetime(2026, 4, 7, 9, tzinfo=WITA))
    complaint = apply(complaint, "resume", datetime(2026, 4, 9, 9, tzinfo=WITA))
    assert complaint.clocks["follow_up"].deadline == eod(15)  # two paused working days
    assert complaint.clocks["follow_up"].pauses is not None
    outcome = reschedule(complaint, registry=REGISTRY, policy=POLICY, now=NOW)
    assert outcome.events == ()
    assert outcome.complaint == complaint


def test_pauses_are_re_applied_under_the_new_policy() -> None:
    complaint = dispatched()
    complaint = apply(complaint, "defer", datetime(2026, 4, 7, 9, tzinfo=WITA))
    complaint = apply(complaint, "resume", datetime(2026, 4, 9, 9, tzinfo=WITA))
    # 04-08 becomes a holiday: it was inside the pause (costing nothing now) and counted
    # as a working day of the limit. Recomputed from the start: due 04-14 + 1 paused
    # working day (04-09) = 04-15.
    outcome = reschedule(complaint, registry=REGISTRY, policy=HOLIDAY, now=NOW)
    after = outcome.complaint
    assert after is not None
    assert after.clocks["follow_up"].deadline == eod(15)
    assert outcome.events == ()  # the deadline did not move


def test_a_breached_clock_keeps_its_breach() -> None:
    complaint = dispatched()
    breached = fire_due(complaint, eod(14), registry=REGISTRY, policy=POLICY, now=NOW).complaint
    assert breached is not None
    assert breached.clocks["follow_up"].breached_at == eod(13)
    outcome = reschedule(breached, registry=REGISTRY, policy=HOLIDAY, now=NOW)
    assert outcome.events == ()
    assert outcome.complaint == breached


def test_stopped_and_legacy_clocks_are_left_alone() -> None:
    complaint = apply(dispatched(), "follow_up", datetime(2026, 4, 7, 10, tzinfo=WITA))
    assert complaint.clocks["follow_up"].stopped_at is not None
    # A clock stored before pauses were recorded: its pause history is unknown.
    legacy = complaint.clocks["auto_close"].model_copy(update={"pauses": None})
    complaint = complaint.model_copy(update={"clocks": {**complaint.clocks, "auto_close": legacy}})
    outcome = reschedule(complaint, registry=REGISTRY, policy=HOLIDAY, now=NOW)
    assert outcome.events == ()
    assert outcome.complaint == complaint


def test_a_shorter_limit_for_the_skpd_reaches_its_clock() -> None:
    complaint = dispatched()
    policy = Policy.model_validate({"skpd": {"HSU/DINKES": {"clocks": {"follow_up": 3}}}})
    outcome = reschedule(complaint, registry=REGISTRY, policy=policy, now=NOW)
    after = outcome.complaint
    assert after is not None
    assert (after.clocks["follow_up"].limit, after.clocks["follow_up"].deadline) == (3, eod(9))
    assert [e.payload["clock"] for e in outcome.events] == ["follow_up"]
    # Other SKPDs' overrides do not apply; the verification limit was set before dispatch.
    other = Policy.model_validate({"skpd": {"HSU/PUPR": {"clocks": {"follow_up": 3}}}})
    assert reschedule(complaint, registry=REGISTRY, policy=other, now=NOW).events == ()
