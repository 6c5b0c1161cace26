"""The engine is generic: a second workflow, declared here, runs through the same core.

"permintaan_informasi" (a request for public information) is a deliberately small
workflow: submit -> submitted, then a new command ``answer`` -> answered (final).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import StringConstraints

from engine.decode import decode_command
from engine.errors import InvalidCommandError
from workflows.apply import Outcome, decide, event_id_for, next_due
from workflows.complaint import COMPLAINT_WORKFLOW
from workflows.definition import NEW, TransitionSpec, WorkflowDefinition
from workflows.model import Command, ComplaintState
from workflows.payloads import PAYLOAD_MODELS, Payload, SubmitPayload
from workflows.policy import Policy
from workflows.registry import WorkflowRegistry
from workflows.wire import command_bytes

WITA = ZoneInfo("Asia/Makassar")
NOW = datetime(2026, 12, 31, 4, 0, tzinfo=UTC)
POLICY = Policy.default()
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=WITA)
INFO = "permintaan_informasi"


class AnswerPayload(Payload):
    """The PPID's answer to an information request."""

    answer: Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
    document_url: str | None = None


def info_workflow(version: int, answer_roles: frozenset[str]) -> WorkflowDefinition:
    return WorkflowDefinition(
        name=INFO,
        version=version,
        states=("submitted", "answered"),
        final_states=frozenset({"answered"}),
        transitions=(
            TransitionSpec(
                "submit", (NEW,), "submitted", frozenset({"complainant"}), "complaint.submitted"
            ),
            TransitionSpec(
                "answer", ("submitted",), "answered", answer_roles, "complaint.answered"
            ),
        ),
        # The shared command must keep the very same payload class.
        payload_models={"submit": SubmitPayload, "answer": AnswerPayload},
    )


INFO_V1 = info_workflow(1, frozenset({"admin"}))
INFO_V2 = info_workflow(2, frozenset({"skpd"}))
REGISTRY_V1 = WorkflowRegistry([COMPLAINT_WORKFLOW, INFO_V1], by_classification={INFO: INFO})
REGISTRY_V2 = WorkflowRegistry(
    [COMPLAINT_WORKFLOW, INFO_V1, INFO_V2], by_classification={INFO: INFO}
)


def command(
    registry: WorkflowRegistry,
    command_type: str,
    payload: dict[str, Any],
    *,
    complaint_id: str,
    role: str,
    at: datetime,
) -> Command:
    raw = command_bytes(
        command_type,
        complaint_id,
        at,
        role=role,
        actor_id=f"{role}-1",
        payload=payload,
        command_id=f"c-{complaint_id}-{command_type}-{role}",
    )
    return decode_command(raw, registry)


def submit(registry: WorkflowRegistry, complaint_id: str, classification: str) -> Outcome:
    payload = {
        "title": "Salinan DPA Dinas PUPR 2026",
        "body": "Mohon salinan dokumen pelaksanaan anggaran",
        "category": "anggaran",
        "classification": classification,
        "channel": "web",
        "region": "HSU",
    }
    cmd = command(registry, "submit", payload, complaint_id=complaint_id, role="complainant", at=T0)
    return decide(None, cmd, registry=registry, policy=POLICY, now=NOW)


def answer(registry: WorkflowRegistry, complaint: ComplaintState, role: str = "admin") -> Outcome:
    cmd = command(
        registry,
        "answer",
        {"answer": "Terlampir", "document_url": "https://ppid.example/dpa.pdf"},
        complaint_id=complaint.complaint_id,
        role=role,
        at=T0 + timedelta(hours=1),
    )
    return decide(complaint, cmd, registry=registry, policy=POLICY, now=NOW)


def started(outcome: Outcome) -> ComplaintState:
    assert outcome.kind == "applied", (outcome.reason, outcome.detail)
    assert outcome.complaint is not None
    return outcome.complaint


def test_the_registry_knows_both_vocabularies() -> None:
    assert REGISTRY_V1.payload_model("answer") is AnswerPayload
    assert REGISTRY_V1.payload_model("submit") is SubmitPayload
    assert REGISTRY_V1.command_types == frozenset(PAYLOAD_MODELS) | {"answer"}
    assert REGISTRY_V1.for_classification(INFO) is INFO_V1
    assert REGISTRY_V1.for_classification("pengaduan") is COMPLAINT_WORKFLOW
    assert REGISTRY_V2.for_classification(INFO) is INFO_V2
    assert REGISTRY_V2.get(INFO, 1) is INFO_V1


def test_answer_is_an_unknown_type_for_the_default_registry() -> None:
    raw = {
        "command_id": "c-1",
        "type": "answer",
        "complaint_id": "HSU-PI-1",
        "issued_at": T0.isoformat(),
        "actor": {"role": "admin", "id": "a"},
        "payload": {"answer": "x"},
    }
    with pytest.raises(InvalidCommandError) as info:
        decode_command(json.dumps(raw).encode(), WorkflowRegistry.default())
    assert info.value.code == "unknown_type"


def test_an_information_request_starts_on_its_own_workflow_and_is_answered() -> None:
    complaint = started(submit(REGISTRY_V1, "HSU-PI-1", INFO))
    assert (complaint.workflow, complaint.workflow_version) == (INFO, 1)
    assert complaint.state == "submitted"
    assert complaint.classification == INFO
    # The second workflow declares no clock rules: nothing is timed.
    assert complaint.clocks == {}
    assert next_due(complaint, REGISTRY_V1, POLICY) is None

    outcome = answer(REGISTRY_V1, complaint)

    assert outcome.kind == "applied"
    after = outcome.complaint
    assert after is not None
    assert after.state == "answered"
    assert after.seq == 2
    (event,) = outcome.events
    assert event.type == "complaint.answered"
    assert (event.previous_state, event.state) == ("submitted", "answered")
    assert event.event_id == event_id_for("HSU-PI-1", 2)
    assert event.payload == {"answer": "Terlampir", "document_url": "https://ppid.example/dpa.pdf"}


def test_a_command_of_the_complaint_workflow_is_refused_on_the_second() -> None:
    complaint = started(submit(REGISTRY_V1, "HSU-PI-2", INFO))
    cmd = command(
        REGISTRY_V1,
        "verify",
        {},
        complaint_id="HSU-PI-2",
        role="admin",
        at=T0 + timedelta(minutes=5),
    )
    outcome = decide(complaint, cmd, registry=REGISTRY_V1, policy=POLICY, now=NOW)
    assert outcome.kind == "rejected"
    assert outcome.reason == "invalid_transition"


def test_answer_on_a_pengaduan_is_an_invalid_transition() -> None:
    complaint = started(submit(REGISTRY_V1, "HSU-2026-000777", "pengaduan"))
    assert (complaint.workflow, complaint.workflow_version) == ("complaint", 1)
    assert "verification" in complaint.clocks

    outcome = answer(REGISTRY_V1, complaint)

    assert outcome.kind == "rejected"
    assert outcome.reason == "invalid_transition"
    assert outcome.complaint == complaint
    (event,) = outcome.events
    assert event.type == "command.rejected"
    assert event.payload["command_type"] == "answer"


def test_a_stored_complaint_keeps_its_workflow_version() -> None:
    # Started while only v1 was registered (v1: admin answers).
    old = started(submit(REGISTRY_V1, "HSU-PI-OLD", INFO))
    assert old.workflow_version == 1

    # v2 is deployed (v2: only the SKPD answers). The stored complaint still follows v1 ...
    assert answer(REGISTRY_V2, old, role="admin").kind == "applied"
    refused = answer(REGISTRY_V2, old, role="skpd")
    assert refused.kind == "rejected"
    assert refused.reason == "role_not_allowed"

    # ... while a new one starts on v2 and follows its rules.
    new = started(submit(REGISTRY_V2, "HSU-PI-NEW", INFO))
    assert (new.workflow, new.workflow_version) == (INFO, 2)
    assert answer(REGISTRY_V2, new, role="admin").reason == "role_not_allowed"
    assert answer(REGISTRY_V2, new, role="skpd").kind == "applied"


def test_two_payload_models_for_one_command_type_are_refused() -> None:
    class OtherSubmit(Payload):
        title: str

    clash = WorkflowDefinition(
        name="clash",
        version=1,
        states=("submitted",),
        final_states=frozenset({"submitted"}),
        transitions=(
            TransitionSpec(
                "submit", (NEW,), "submitted", frozenset({"complainant"}), "complaint.submitted"
            ),
        ),
        payload_models={"submit": OtherSubmit},
    )
    with pytest.raises(ValueError, match="'submit' has two payload models"):
        WorkflowRegistry([COMPLAINT_WORKFLOW, clash])
