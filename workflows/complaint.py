"""The SP4N-LAPOR! complaint workflow (CONTRACT §2 and §4), declared as data."""

from __future__ import annotations

from workflows.definition import NEW, ClockRule, TransitionSpec, WorkflowDefinition
from workflows.payloads import PAYLOAD_MODELS

__all__ = ["COMPLAINT_WORKFLOW"]

_ALL_OPEN = ("submitted", "verified", "dispatched", "followed_up")


def _t(command: str, sources: tuple[str, ...], dest: str | None, *roles: str) -> TransitionSpec:
    event = {
        "submit": "complaint.submitted",
        "verify": "complaint.verified",
        "archive": "complaint.archived",
        "dispatch": "complaint.dispatched",
        "return": "complaint.returned",
        "follow_up": "complaint.followed_up",
        "reply": "complaint.replied",
        "resolve": "complaint.resolved",
        "reopen": "complaint.reopened",
        "defer": "complaint.deferred",
        "resume": "complaint.resumed",
    }[command]
    return TransitionSpec(command, sources, dest, frozenset(roles), event)


COMPLAINT_WORKFLOW = WorkflowDefinition(
    name="complaint",
    version=1,
    states=(*_ALL_OPEN, "resolved", "archived"),
    final_states=frozenset({"archived"}),
    transitions=(
        _t("submit", (NEW,), "submitted", "complainant", "admin", "system"),
        _t("verify", ("submitted",), "verified", "admin"),
        _t("archive", ("submitted", "verified"), "archived", "admin"),
        _t("dispatch", ("verified",), "dispatched", "admin"),
        _t("return", ("dispatched",), "verified", "skpd", "admin"),
        _t("follow_up", ("dispatched", "followed_up"), "followed_up", "skpd"),
        _t("reply", ("followed_up",), "dispatched", "complainant"),
        _t("resolve", ("followed_up",), "resolved", "admin", "complainant", "system"),
        _t("reopen", ("resolved",), "dispatched", "complainant", "admin"),
        _t("defer", ("verified", "dispatched"), None, "admin", "skpd"),
        _t("resume", ("verified", "dispatched"), None, "admin", "skpd"),
    ),
    payload_models=PAYLOAD_MODELS,
    clock_rules={
        "submit": ClockRule(starts=("verification", "resolution")),
        "return": ClockRule(starts=("verification",), stops=("follow_up",)),
        "dispatch": ClockRule(starts=("follow_up",), stops=("verification",)),
        "archive": ClockRule(stops=("verification", "resolution")),
        "follow_up": ClockRule(starts=("auto_close",), stops=("follow_up",)),
        "reply": ClockRule(starts=("follow_up",), stops=("auto_close",)),
        "reopen": ClockRule(starts=("follow_up", "resolution")),
        "resolve": ClockRule(stops=("resolution", "auto_close")),
        "defer": ClockRule(pauses=True),
        "resume": ClockRule(resumes=True),
    },
    calendar_day_clocks=frozenset({"resolution"}),
    auto_close_clock="auto_close",
    escalating_clocks=frozenset({"verification", "follow_up", "resolution"}),
)
