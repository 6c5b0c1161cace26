"""Applying one command: (complaint, command, policy, clock) -> outcome.

Nothing here touches a database, a broker or the wall clock: ``now`` (the recording
instant) is passed in, and SLA instants are derived from command time only. Storing
the new state and publishing the events happen around these functions, in ``engine``.

:func:`decide` fires the complaint's timers that fell due before the command was issued
(:mod:`workflows.timers`), then validates the command and applies its transition
(:mod:`workflows.transition`). The timers' own entry points (``fire_due``, ``next_due``)
live in :mod:`workflows.timers`; they are re-exported here for existing callers.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from workflows.definition import NEW
from workflows.model import Command, ComplaintState, Event, trusted
from workflows.payloads import DispatchPayload, Payload, SubmitPayload
from workflows.policy import Policy
from workflows.registry import WorkflowRegistry
from workflows.timers import (
    AUTO_CLOSE_ACTOR,
    SLA_ACTOR,
    clock_next_due,
    fire_due,
    fire_timers,
    next_due,
)
from workflows.transition import (
    Outcome,
    apply_transition,
    event_id_for,
    event_uuid,
    public_actor,
)

__all__ = [
    "AUTO_CLOSE_ACTOR",
    "SLA_ACTOR",
    "Outcome",
    "clock_next_due",
    "decide",
    "event_id_for",
    "fire_due",
    "next_due",
]


def decide(
    complaint: ComplaintState | None,
    command: Command,
    *,
    registry: WorkflowRegistry,
    policy: Policy,
    now: datetime,
    source: str = "",
    timers_fired_until: datetime | None = None,
) -> Outcome:
    """Fire the complaint's timers due before ``command``, then apply ``command``.

    The timers are kept only when the command is applied: a rejected or duplicate
    command returns the complaint unchanged, with just its ``command.rejected`` event.

    ``source`` identifies the record the command came from (topic/partition/offset): it
    makes the id of a ``command.rejected`` event unique per record, so the same command
    id rejected twice gives two events, and a replay of one record gives the same id.

    ``timers_fired_until``: the caller has already fired every timer of ``complaint`` due
    before this instant (the engine fires up to its partition's watermark first). When
    it is not before the command's ``issued_at``, nothing can be due before the command,
    so the timers are not looked at again: the same outcome, one scan of the clocks less.
    """
    timer_events: list[Event] = []
    timer_transitions: list[tuple[str, str]] = []
    before = complaint
    if complaint is not None and (
        timers_fired_until is None or timers_fired_until < command.issued_at
    ):
        complaint, fired, moved = fire_timers(complaint, command.issued_at, registry, policy, now)
        timer_events.extend(fired)
        timer_transitions.extend(moved)
    outcome = _apply(complaint, command, registry, policy, now, source)
    if outcome.kind != "applied":
        # A rejected or duplicate command is judged at its own time, but its time moves
        # no clock: a bogus ``issued_at`` must not breach the complaint early. The
        # timers it passed fire when the watermark passes them, or before the
        # complaint's next applied command.
        return Outcome(
            kind=outcome.kind,
            complaint=before,
            events=outcome.events,
            reason=outcome.reason,
            detail=outcome.detail,
        )
    if not timer_events:
        return outcome
    return Outcome(
        kind=outcome.kind,
        complaint=outcome.complaint,
        events=(*timer_events, *outcome.events),
        reason=outcome.reason,
        detail=outcome.detail,
        transition=outcome.transition,
        timer_transitions=tuple(timer_transitions),
    )


def _apply(
    complaint: ComplaintState | None,
    command: Command,
    registry: WorkflowRegistry,
    policy: Policy,
    now: datetime,
    source: str,
) -> Outcome:
    if command.type == "submit":
        return _submit(complaint, command, registry, policy, now, source)
    if complaint is None:
        return _reject(None, command, "unknown_complaint", "no complaint with this id", now, source)
    definition = registry.get(complaint.workflow, complaint.workflow_version)
    spec = definition.spec(command.type)
    if spec is None or not definition.allows(complaint.state, command.type):
        detail = f"'{command.type}' is not allowed in state '{complaint.state}'"
        return _reject(complaint, command, "invalid_transition", detail, now, source)
    if command.actor.role not in spec.roles:
        allowed = ", ".join(sorted(spec.roles))
        detail = f"role '{command.actor.role}' may not {command.type} (allowed: {allowed})"
        return _reject(complaint, command, "role_not_allowed", detail, now, source)
    rule = definition.clock_rule(command.type)
    if rule.pauses and complaint.deferred_at is not None:
        return _reject(
            complaint, command, "already_deferred", "the clocks are already paused", now, source
        )
    if rule.resumes and complaint.deferred_at is None:
        return _reject(complaint, command, "not_deferred", "the clocks are not paused", now, source)
    unknown = _unknown_skpd(complaint, command, policy)
    if unknown is not None:
        return _reject(complaint, command, "unknown_skpd", unknown, now, source)
    return apply_transition(complaint, command, definition, policy, now)


def _unknown_skpd(complaint: ComplaintState, command: Command, policy: Policy) -> str | None:
    """Why a dispatch names an SKPD missing from its region's directory, or ``None``.

    Regions without a directory in the policy (``skpds``) accept any SKPD code.
    """
    payload = command.payload
    if not isinstance(payload, DispatchPayload):
        return None
    region, code = complaint.region, payload.skpd
    if policy.skpd_known(region, code):
        return None
    listed = sorted(policy.skpds[region or ""])
    similar = [c for c in listed if c.casefold() == code.casefold()]
    hint = f"; did you mean '{similar[0]}'?" if similar else ""
    return (
        f"SKPD '{code}' is not in the SKPD directory of region '{region}' "
        f"({len(listed)} SKPDs listed in the policy's skpds.{region}){hint}"
    )


def _submit(
    complaint: ComplaintState | None,
    command: Command,
    registry: WorkflowRegistry,
    policy: Policy,
    now: datetime,
    source: str,
) -> Outcome:
    payload = command.payload
    assert isinstance(payload, SubmitPayload)  # the decoder chose the model by type
    fingerprint = _fingerprint(payload)
    if complaint is not None:
        if complaint.submit_fingerprint == fingerprint:
            # The same report submitted again (a feed re-poll): idempotent, nothing changes.
            return Outcome(kind="duplicate", complaint=complaint, detail="same submission")
        detail = "a complaint with this id exists with other content"
        return _reject(complaint, command, "conflicting_resubmit", detail, now, source)
    definition = registry.for_classification(payload.classification)
    spec = definition.spec("submit")
    assert spec is not None
    if command.actor.role not in spec.roles:
        detail = f"role '{command.actor.role}' may not submit"
        return _reject(None, command, "role_not_allowed", detail, now, source)
    created = trusted(
        ComplaintState,
        complaint_id=command.complaint_id,
        workflow=definition.name,
        workflow_version=definition.version,
        state=NEW,
        seq=0,
        region=payload.region,
        category=payload.category,
        classification=payload.classification,
        confidential=payload.confidential,
        anonymous=payload.anonymous,
        submit_fingerprint=fingerprint,
        created_at=command.issued_at,
        updated_at=command.issued_at,
    )
    return apply_transition(created, command, definition, policy, now)


def _reject(
    complaint: ComplaintState | None,
    command: Command,
    reason: str,
    detail: str,
    now: datetime,
    source: str,
) -> Outcome:
    salt = f"rejected/{command.command_id}/{source}/{complaint.seq if complaint else 0}/{reason}"
    event = Event(
        event_id=f"e-{event_uuid(salt)}",
        type="command.rejected",
        complaint_id=command.complaint_id,
        seq=None,
        occurred_at=command.issued_at,
        recorded_at=now,
        state=complaint.state if complaint else None,
        previous_state=None,
        region=complaint.region if complaint else None,
        skpd=complaint.skpd if complaint else None,
        causation_id=command.command_id,
        actor=command.actor if complaint is None else public_actor(complaint, command.actor),
        payload={
            "command_id": command.command_id,
            "command_type": command.type,
            "reason": reason,
            "detail": detail,
        },
    )
    return Outcome(
        kind="rejected", complaint=complaint, events=(event,), reason=reason, detail=detail
    )


def _fingerprint(payload: Payload) -> str:
    canonical = _CANONICAL_JSON.encode(payload.json_data())
    return hashlib.sha256(canonical.encode()).hexdigest()


#: ``json.dumps(..., sort_keys=True, separators=(",", ":"))``, built once: with such
#: arguments ``dumps`` builds a new encoder on every call. Stored fingerprints depend on
#: this exact text.
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
