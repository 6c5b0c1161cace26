"""Dispatch against the policy's SKPD directory (CONTRACT §4 ``skpds``, §5 ``unknown_skpd``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from engine.decode import decode_command
from workflows.apply import decide
from workflows.model import Command, ComplaintState
from workflows.policy import Policy
from workflows.registry import WorkflowRegistry
from workflows.wire import command_bytes

REGISTRY = WorkflowRegistry.default()
WITA = timezone(timedelta(hours=8))
AT = datetime(2026, 3, 2, 9, 0, tzinfo=WITA)
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
DIRECTORY = Policy.model_validate(
    {"skpds": {"HSU": {"PUPR": "Dinas Pekerjaan Umum dan Penataan Ruang", "DINKES": None}}}
)


def command(kind: str, payload: dict[str, Any], minutes: int, cid: str) -> Command:
    role = {"submit": "complainant", "verify": "admin", "dispatch": "admin"}[kind]
    raw = command_bytes(
        kind,
        cid,
        AT + timedelta(minutes=minutes),
        role=role,
        actor_id="x",
        payload=payload,
        command_id=f"c-{kind}-{cid}-{minutes}",
    )
    return decode_command(raw, REGISTRY)


def verified(policy: Policy, region: str, cid: str = "C-1") -> ComplaintState:
    submit = {
        "title": "Jalan rusak",
        "body": "Berlubang",
        "category": "infrastruktur",
        "classification": "pengaduan",
        "channel": "web",
        "region": region,
    }
    complaint = None
    for i, (kind, payload) in enumerate((("submit", submit), ("verify", {}))):
        outcome = decide(
            complaint, command(kind, payload, i, cid), registry=REGISTRY, policy=policy, now=NOW
        )
        assert outcome.kind == "applied"
        complaint = outcome.complaint
    assert complaint is not None
    return complaint


def dispatch(policy: Policy, complaint: ComplaintState, skpd: str) -> Any:
    cmd = command("dispatch", {"skpd": skpd}, 10, complaint.complaint_id)
    return decide(complaint, cmd, registry=REGISTRY, policy=policy, now=NOW, source="t/0/7")


@pytest.mark.parametrize("skpd", ["PUPR", "DINKES"])
def test_a_listed_skpd_is_dispatched_to(skpd: str) -> None:
    outcome = dispatch(DIRECTORY, verified(DIRECTORY, "HSU"), skpd)
    assert outcome.kind == "applied"
    assert outcome.complaint.state == "dispatched"
    assert outcome.complaint.skpd == skpd
    assert [e.type for e in outcome.events] == ["complaint.dispatched"]


def test_an_unlisted_skpd_of_a_listed_region_is_rejected_with_unknown_skpd() -> None:
    complaint = verified(DIRECTORY, "HSU")
    outcome = dispatch(DIRECTORY, complaint, "DINAS-FIKTIF")
    assert outcome.kind == "rejected"
    assert outcome.reason == "unknown_skpd"
    assert outcome.complaint == complaint  # nothing changed: still verified, no SKPD
    (event,) = outcome.events
    assert event.type == "command.rejected"
    assert event.seq is None
    assert event.region == "HSU"
    assert event.skpd is None
    assert event.payload == {
        "command_id": "c-dispatch-C-1-10",
        "command_type": "dispatch",
        "reason": "unknown_skpd",
        "detail": "SKPD 'DINAS-FIKTIF' is not in the SKPD directory of region 'HSU' "
        "(2 SKPDs listed in the policy's skpds.HSU)",
    }


def test_the_detail_suggests_a_listed_code_that_differs_only_in_case() -> None:
    outcome = dispatch(DIRECTORY, verified(DIRECTORY, "HSU"), "pupr")
    assert outcome.reason == "unknown_skpd"
    assert outcome.detail is not None and outcome.detail.endswith("did you mean 'PUPR'?")


def test_a_region_without_a_directory_accepts_any_skpd() -> None:
    outcome = dispatch(DIRECTORY, verified(DIRECTORY, "BJM"), "DINAS-FIKTIF")
    assert outcome.kind == "applied"
    assert outcome.complaint.skpd == "DINAS-FIKTIF"


def test_without_any_directory_every_skpd_is_accepted() -> None:
    policy = Policy.default()
    outcome = dispatch(policy, verified(policy, "HSU"), "DINAS-FIKTIF")
    assert outcome.kind == "applied"


def test_the_check_comes_after_state_and_role_checks() -> None:
    # A dispatch in the wrong state stays invalid_transition, whatever its SKPD.
    complaint = verified(DIRECTORY, "HSU")
    applied = dispatch(DIRECTORY, complaint, "PUPR").complaint
    again = dispatch(DIRECTORY, applied, "DINAS-FIKTIF")
    assert again.reason == "invalid_transition"
