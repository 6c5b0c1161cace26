"""Event ids and the outcome of a transition (workflows/transition.py)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from tests.workflows.test_apply import NOW, POLICY, REGISTRY, build
from tests.workflows.test_policy import CONTRACT_EXAMPLE
from workflows.model import Actor, ClockState, ComplaintState, Event, evolve, trusted
from workflows.policy import SCHEDULES_LIMIT, Policy, lookups
from workflows.sla import CLOCK_NAMES, warning_instant
from workflows.transition import (
    EVENT_NAMESPACE,
    Outcome,
    build_event,
    clock_deadline,
    clock_limit,
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


#: The contract's example policy: its limits differ by region, by SKPD and by category.
EXAMPLE = Policy.model_validate(yaml.safe_load(CONTRACT_EXAMPLE))
#: The default workflow, and one counting every clock in working days under another name.
PENGADUAN = REGISTRY.get(submitted().workflow, submitted().workflow_version)
ALL_WORKING = dataclasses.replace(PENGADUAN, name="kerja", calendar_day_clocks=frozenset())


@given(
    instant=st.datetimes(
        min_value=datetime(2025, 12, 20),
        max_value=datetime(2027, 1, 10),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=7)), timezone(-timedelta(hours=5))]
        ),
    ),
    minutes_later=st.integers(min_value=0, max_value=3 * 24 * 60),
    name=st.sampled_from(CLOCK_NAMES),
    region=st.sampled_from(["HSU", "ACEH"]),
    skpd=st.sampled_from([None, "DINKES", "PUPR"]),
    category=st.sampled_from(["bencana", "infrastruktur"]),
    definition=st.sampled_from([PENGADUAN, ALL_WORKING]),
)
def test_a_started_clock_is_scheduled_as_if_computed_afresh(
    instant: datetime,
    minutes_later: int,
    name: str,
    region: str,
    skpd: str | None,
    category: str,
    definition: Any,
) -> None:
    # start_clock keeps each (limit, deadline) per local start day: a second start on
    # the same or another day, for another holder, zone or workflow, must schedule
    # exactly what computing it afresh gives.
    complaint = evolve(submitted(), region=region, skpd=skpd, category=category)
    for at in (instant, instant + timedelta(minutes=minutes_later)):
        clock = start_clock(name, at, complaint, definition, EXAMPLE)
        limit = clock_limit(name, complaint, skpd, EXAMPLE)
        deadline = clock_deadline(name, at, limit, (), complaint, definition, EXAMPLE)
        warning = deadline
        if name in definition.escalating_clocks:
            warning = warning_instant(at, deadline, EXAMPLE.warning_fraction)
        assert (clock.limit, clock.deadline, clock.warning_at) == (limit, deadline, warning)
        assert clock.deadline.tzinfo is deadline.tzinfo
        assert clock.limit_skpd == skpd


def test_a_clock_started_either_side_of_local_midnight_gets_each_days_deadline() -> None:
    complaint = evolve(submitted(), region="HSU")  # Asia/Makassar, UTC+8
    before = start_clock(
        "verification", datetime(2026, 3, 2, 15, 59, 59, tzinfo=UTC), complaint, PENGADUAN, EXAMPLE
    )
    after = start_clock(
        "verification", datetime(2026, 3, 2, 16, 0, tzinfo=UTC), complaint, PENGADUAN, EXAMPLE
    )
    # Monday 23:59:59 WITA counts from Monday; Tuesday 00:00 WITA from Tuesday.
    assert before.deadline.isoformat() == "2026-03-05T23:59:59+08:00"
    assert after.deadline.isoformat() == "2026-03-06T23:59:59+08:00"


def test_the_schedules_memo_is_bounded() -> None:
    assert lookups(EXAMPLE).schedules.limit == SCHEDULES_LIMIT


def test_a_schedule_is_kept_per_holder_category_region_and_workflow() -> None:
    # The same instant for every start: only what the key tells apart may differ.
    at = datetime(2026, 3, 2, 1, tzinfo=UTC)
    base = evolve(submitted(), region="HSU", category="infrastruktur")
    holders = [
        evolve(base, skpd="DINKES"),
        evolve(base, skpd="PUPR"),
        evolve(base, skpd="PUPR", category="bencana"),
        evolve(base, region="ACEH", skpd="PUPR"),
    ]
    started = [start_clock("follow_up", at, c, PENGADUAN, EXAMPLE) for c in holders]
    assert [(c.limit, c.deadline.isoformat()) for c in started] == [
        (3, "2026-03-05T23:59:59+08:00"),
        (5, "2026-03-09T23:59:59+08:00"),
        (1, "2026-03-03T23:59:59+08:00"),
        (7, "2026-03-11T23:59:59+07:00"),
    ]
    calendar_days = start_clock("resolution", at, base, PENGADUAN, EXAMPLE)
    working_days = start_clock("resolution", at, base, ALL_WORKING, EXAMPLE)
    next_version = dataclasses.replace(
        PENGADUAN, version=PENGADUAN.version + 1, calendar_day_clocks=frozenset()
    )
    next_versions = start_clock("resolution", at, base, next_version, EXAMPLE)
    assert calendar_days.deadline.isoformat() == "2026-05-01T23:59:59+08:00"
    assert working_days.deadline.isoformat() == "2026-06-11T23:59:59+08:00"
    assert next_versions.deadline == working_days.deadline
