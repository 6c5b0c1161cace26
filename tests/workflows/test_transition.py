"""Event ids and the outcome of a transition (workflows/transition.py)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from tests.workflows.test_apply import NOW, POLICY, REGISTRY, build
from workflows.model import Actor, ClockState, ComplaintState, Event, trusted
from workflows.transition import (
    EVENT_NAMESPACE,
    Outcome,
    build_event,
    event_id_for,
    event_uuid,
    start_clock,
)


@given(st.text())
def test_event_uuid_is_uuid5_of_the_namespace(name: str) -> None:
    # Formatted by hand for speed: it must stay exactly the standard uuid5, whose
    # version and variant bits it sets on the hex text.
    assert event_uuid(name) == str(uuid.uuid5(EVENT_NAMESPACE, name))


def test_event_ids_never_change() -> None:
    # Stored and published ids must survive every release: pinned literals.
    assert event_id_for("LAPOR-2026-000001", 1) == "e-a1b31803-588b-5487-a9d3-732a4b556d7e"
    assert event_uuid("rejected/c1//0/unknown_complaint") == (
        "78b8a87b-91dc-5350-9868-7d2a0380d535"
    )


def test_an_outcome_is_immutable_and_defaults_to_no_events() -> None:
    outcome = Outcome(kind="duplicate", complaint=None)
    assert outcome.events == ()
    assert outcome.timer_transitions == ()
    assert outcome.transition is None
    with pytest.raises(AttributeError):
        outcome.kind = "applied"  # type: ignore[misc]


def submitted() -> ComplaintState:
    """A complaint just submitted, through the decoder and decide()."""
    complaint, _ = build("submitted")
    assert complaint is not None
    return complaint


def assert_as_validated(built: BaseModel, trusted_twin: BaseModel) -> None:
    """``built`` equals a validated instance and a trusted() one, key order and fields set too."""
    validated = type(built).model_validate(built.model_dump())
    assert built == validated
    assert list(built.__dict__) == list(validated.__dict__) == list(type(built).model_fields)
    assert built.model_dump_json() == validated.model_dump_json()
    assert built.__dict__ == trusted_twin.__dict__
    assert built.model_fields_set == trusted_twin.model_fields_set


def test_build_event_lays_out_a_valid_event() -> None:
    complaint = submitted()
    actor = Actor(role="admin", id="admin-1")
    fields: dict[str, Any] = {
        "occurred_at": NOW,
        "now": NOW,
        "previous_state": "submitted",
        "skpd": None,
        "causation_id": "cmd-2",
        "actor": actor,
        "payload": {"note": "ok"},
    }
    event = build_event(complaint, "complaint.verified", **fields)
    twin = trusted(
        Event,
        event_id=event_id_for(complaint.complaint_id, complaint.seq),
        type="complaint.verified",
        complaint_id=complaint.complaint_id,
        seq=complaint.seq,
        occurred_at=NOW,
        recorded_at=NOW,
        state=complaint.state,
        previous_state="submitted",
        region=complaint.region,
        skpd=None,
        causation_id="cmd-2",
        actor=actor,
        payload={"note": "ok"},
    )
    assert_as_validated(event, twin)


def test_start_clock_lays_out_a_valid_clock() -> None:
    complaint = submitted()
    definition = REGISTRY.get(complaint.workflow, complaint.workflow_version)
    clock = start_clock("verification", NOW, complaint, definition, POLICY)
    twin = trusted(
        ClockState,
        name="verification",
        started_at=NOW,
        limit=clock.limit,
        deadline=clock.deadline,
        warning_at=clock.warning_at,
        warned=False,
        pauses=(),
        limit_skpd=complaint.skpd,
    )
    assert_as_validated(clock, twin)
    assert clock.deadline > clock.warning_at > NOW
