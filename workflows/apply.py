"""The pure core: (complaint, command, policy, clock) -> outcome.

Nothing here touches a database, a broker or the wall clock: ``now`` (the recording
instant) is passed in, and SLA instants are derived from command time only. Storing
the new state and publishing the events happen around these functions, in ``engine``.

Two entry points:

* :func:`decide` fires the complaint's timers that fell due before the command was
  issued, then applies the command (CONTRACT §4: due ones fire before a later command);
* :func:`fire_due` fires the timers due before a watermark, for the engine's sweep.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, cast

from workflows.definition import NEW, WorkflowDefinition
from workflows.model import Actor, ClockState, Command, ComplaintState, Event
from workflows.payloads import (
    DispatchPayload,
    NotePayload,
    Payload,
    SubmitPayload,
)
from workflows.policy import Policy
from workflows.registry import WorkflowRegistry
from workflows.sla import (
    ClockName,
    compute_deadline,
    escalation_instants,
    shift_for_pause,
    warning_instant,
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

SLA_ACTOR = Actor(role="system", id="sla")
AUTO_CLOSE_ACTOR = Actor(role="system", id="auto_close")
MAX_ESCALATION_LEVEL = 3
_EVENT_NAMESPACE = uuid.UUID("6f1d7c1e-3d55-4b43-9a0b-4c6a1f0e2b7d")


@dataclass(frozen=True)
class Outcome:
    """What became of one command.

    ``events`` holds, in order, the timer events that fell due before the command and
    then the command's own events (or its ``command.rejected``). ``complaint`` is the
    state after all of them; ``None`` only for a command on an unknown complaint.
    """

    kind: Literal["applied", "rejected", "duplicate"]
    complaint: ComplaintState | None
    events: tuple[Event, ...] = ()
    reason: str | None = None
    detail: str | None = None
    transition: tuple[str, str] | None = None
    #: Timer-driven transitions (auto-close) as (from, to) pairs, for metrics.
    timer_transitions: tuple[tuple[str, str], ...] = field(default=())


def event_id_for(complaint_id: str, seq: int) -> str:
    """The deterministic id of a complaint's ``seq``-th event, stable across replays."""
    return f"e-{uuid.uuid5(_EVENT_NAMESPACE, f'{complaint_id}/{seq}')}"


def decide(
    complaint: ComplaintState | None,
    command: Command,
    *,
    registry: WorkflowRegistry,
    policy: Policy,
    now: datetime,
    source: str = "",
) -> Outcome:
    """Fire the complaint's timers due before ``command``, then apply ``command``.

    The timers are kept only when the command is applied: a rejected or duplicate
    command returns the complaint unchanged, with just its ``command.rejected`` event.

    ``source`` identifies the record the command came from (topic/partition/offset): it
    makes the id of a ``command.rejected`` event unique per record, so the same command
    id rejected twice gives two events, and a replay of one record gives the same id.
    """
    timer_events: list[Event] = []
    timer_transitions: list[tuple[str, str]] = []
    before = complaint
    if complaint is not None:
        complaint, fired, moved = _fire(complaint, command.issued_at, registry, policy, now)
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


def fire_due(
    complaint: ComplaintState,
    until: datetime,
    *,
    registry: WorkflowRegistry,
    policy: Policy,
    now: datetime,
) -> Outcome:
    """Fire every timer of ``complaint`` whose instant lies strictly before ``until``."""
    complaint, events, moved = _fire(complaint, until, registry, policy, now)
    return Outcome(
        kind="applied", complaint=complaint, events=tuple(events), timer_transitions=tuple(moved)
    )


def clock_next_due(
    complaint: ComplaintState, registry: WorkflowRegistry, policy: Policy
) -> dict[str, datetime | None]:
    """For each clock, the next instant it fires (warning, breach, escalation, auto-close)."""
    definition = registry.get(complaint.workflow, complaint.workflow_version)
    return {
        name: _clock_next_due(clock, complaint, definition, policy)
        for name, clock in complaint.clocks.items()
    }


def next_due(
    complaint: ComplaintState, registry: WorkflowRegistry, policy: Policy
) -> datetime | None:
    """The next instant any timer of ``complaint`` will fire, or ``None``."""
    instants = clock_next_due(complaint, registry, policy).values()
    return min((i for i in instants if i is not None), default=None)


# --- applying a command ---------------------------------------------------------------


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
    return _transition(complaint, command, definition, policy, now)


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
    created = ComplaintState(
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
    return _transition(created, command, definition, policy, now)


def _transition(
    complaint: ComplaintState,
    command: Command,
    definition: WorkflowDefinition,
    policy: Policy,
    now: datetime,
) -> Outcome:
    at = command.issued_at
    previous = complaint.state
    spec = definition.spec(command.type)
    assert spec is not None
    rule = definition.clock_rule(command.type)
    clocks = dict(complaint.clocks)
    deferred_at = complaint.deferred_at
    extra: dict[str, Any] = {}
    events: list[Event] = []
    if deferred_at is not None and not rule.pauses:
        # Any state-changing command (or resume) ends the pause: shift deadlines first.
        clocks = _resume_clocks(clocks, complaint, definition, policy, at)
        extra["paused_from"] = deferred_at.isoformat()
        deferred_at = None
        if not rule.resumes:
            # An implicit resume is still a resume: its own event, before the command's.
            complaint = complaint.model_copy(
                update={
                    "clocks": clocks,
                    "deferred_at": None,
                    "seq": complaint.seq + 1,
                    "updated_at": max(complaint.updated_at, at),
                }
            )
            events.append(
                _event(
                    complaint,
                    _resume_event_type(definition),
                    occurred_at=at,
                    now=now,
                    previous_state=complaint.state,
                    skpd=complaint.skpd,
                    causation_id=command.command_id,
                    actor=_public_actor(complaint, command.actor),
                    payload={**extra, "implicit": True, "command_type": command.type},
                )
            )
    event_skpd = complaint.skpd
    skpd = complaint.skpd
    if isinstance(command.payload, DispatchPayload):
        skpd = command.payload.skpd
        event_skpd = skpd
    elif command.type == "return":
        skpd = None  # back with the coordinator; the event still names the returning SKPD
    if rule.pauses:
        deferred_at = at
        clocks = {
            n: c.model_copy(update={"paused_at": at}) if c.running else c for n, c in clocks.items()
        }
    stopped = []
    for name in rule.stops:
        clock = clocks.get(name)
        if clock is not None and clock.running:
            clocks[name] = clock.model_copy(update={"stopped_at": at, "paused_at": None})
            stopped.append(_stop_summary(clocks[name]))
    updated = complaint.model_copy(
        update={
            "state": definition.destination(previous, command.type),
            "skpd": skpd,
            "deferred_at": deferred_at,
            "updated_at": max(complaint.updated_at, at),
        }
    )
    for name in rule.starts:
        clocks[name] = _start_clock(name, at, updated, definition, policy)
    updated = updated.model_copy(update={"clocks": clocks, "seq": complaint.seq + 1})
    payload = {**_event_payload(command, updated), **extra}
    if stopped:
        payload["clocks_stopped"] = stopped
    event = _event(
        updated,
        spec.event,
        occurred_at=at,
        now=now,
        previous_state=None if previous == NEW else previous,
        skpd=event_skpd,
        causation_id=command.command_id,
        actor=_public_actor(updated, command.actor),
        payload=payload,
    )
    return Outcome(
        kind="applied",
        complaint=updated,
        events=(*events, event),
        # defer and resume change no state: they are not transitions (nor counted as such).
        transition=None if spec.dest is None else (previous, updated.state),
    )


def _resume_event_type(definition: WorkflowDefinition) -> str:
    """The event type of the workflow's resuming command (``complaint.resumed``)."""
    for spec in definition.transitions:
        if definition.clock_rule(spec.command).resumes:
            return spec.event
    return "complaint.resumed"


def _public_actor(complaint: ComplaintState, actor: Actor) -> Actor:
    """The actor as an event may name it.

    The complainant of an anonymous or confidential (rahasia) complaint is named by a
    pseudonym: stable within the complaint (its events stay linkable to each other),
    different for every complaint (so no one is traceable across complaints).
    """
    if actor.role != "complainant" or not (complaint.anonymous or complaint.confidential):
        return actor
    digest = hashlib.sha256(f"{complaint.complaint_id}/{actor.id}".encode()).hexdigest()
    return Actor(role=actor.role, id=f"anon-{digest[:16]}")


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
        event_id=f"e-{uuid.uuid5(_EVENT_NAMESPACE, salt)}",
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
        actor=command.actor if complaint is None else _public_actor(complaint, command.actor),
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
    canonical = json.dumps(payload.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _event_payload(command: Command, complaint: ComplaintState) -> dict[str, Any]:
    """The command's payload as it may appear in an event: never identity, never rahasia text."""
    payload = command.payload
    if isinstance(payload, SubmitPayload):
        data = payload.model_dump(mode="json", exclude={"complainant", "attachments"})
        data["attachments"] = len(payload.attachments)
        if payload.confidential:
            for key in ("title", "body", "location"):
                data.pop(key, None)
        return data
    data = payload.model_dump(mode="json", exclude_none=True)
    if complaint.confidential:
        # Free text of a rahasia report may describe it; keep only structured fields.
        data = {k: v for k, v in data.items() if k not in ("note", "reason")}
    return data


# --- clocks -----------------------------------------------------------------------------


def _start_clock(
    name: str,
    at: datetime,
    complaint: ComplaintState,
    definition: WorkflowDefinition,
    policy: Policy,
) -> ClockState:
    limit = policy.limit(
        cast(ClockName, name),
        region=complaint.region,
        skpd=complaint.skpd,
        category=complaint.category,
    )
    tz = policy.timezone(complaint.region)
    working = name not in definition.calendar_day_clocks
    deadline = compute_deadline(at, limit, tz, policy.calendar, working_days=working)
    escalates = name in definition.escalating_clocks
    warning_at = warning_instant(at, deadline, policy.warning_fraction) if escalates else deadline
    # A clock that never breaches (auto-close) has no warning to give.
    return ClockState(
        name=name,
        started_at=at,
        limit=limit,
        deadline=deadline,
        warning_at=warning_at,
        warned=not escalates,
    )


def _resume_clocks(
    clocks: dict[str, ClockState],
    complaint: ComplaintState,
    definition: WorkflowDefinition,
    policy: Policy,
    at: datetime,
) -> dict[str, ClockState]:
    tz = policy.timezone(complaint.region)
    resumed = {}
    for name, clock in clocks.items():
        if clock.paused_at is None or not clock.running:
            resumed[name] = clock
            continue
        working = name not in definition.calendar_day_clocks
        deadline = shift_for_pause(
            clock.deadline, clock.paused_at, at, tz, policy.calendar, working_days=working
        )
        warning_at = clock.warning_at
        if not clock.warned:
            warning_at = warning_instant(clock.started_at, deadline, policy.warning_fraction)
        resumed[name] = clock.model_copy(
            update={"deadline": deadline, "warning_at": warning_at, "paused_at": None}
        )
    return resumed


def _stop_summary(clock: ClockState) -> dict[str, Any]:
    assert clock.stopped_at is not None
    return {
        "clock": clock.name,
        "started_at": clock.started_at.isoformat(),
        "stopped_at": clock.stopped_at.isoformat(),
        "seconds": (clock.stopped_at - clock.started_at).total_seconds(),
        "breached": clock.breached_at is not None,
    }


def _clock_next_due(
    clock: ClockState,
    complaint: ComplaintState,
    definition: WorkflowDefinition,
    policy: Policy,
) -> datetime | None:
    if not clock.running or clock.paused_at is not None:
        return None
    if not clock.warned:
        return clock.warning_at
    if clock.breached_at is None:
        return clock.deadline
    if clock.name not in definition.escalating_clocks:
        return None
    if clock.escalation_level >= MAX_ESCALATION_LEVEL:
        return None
    tz = policy.timezone(complaint.region)
    return escalation_instants(clock.deadline, tz, policy.calendar)[clock.escalation_level]


def _fire(
    complaint: ComplaintState,
    until: datetime,
    registry: WorkflowRegistry,
    policy: Policy,
    now: datetime,
) -> tuple[ComplaintState, list[Event], list[tuple[str, str]]]:
    """Fire, in instant order, every timer due strictly before ``until``."""
    definition = registry.get(complaint.workflow, complaint.workflow_version)
    events: list[Event] = []
    moved: list[tuple[str, str]] = []
    while True:
        due = [
            (instant, name)
            for name, clock in complaint.clocks.items()
            if (instant := _clock_next_due(clock, complaint, definition, policy)) is not None
            and instant < until
        ]
        if not due:
            return complaint, events, moved
        instant, name = min(due)
        complaint, fired, transition = _fire_one(complaint, name, instant, definition, policy, now)
        events.extend(fired)
        if transition is not None:
            moved.append(transition)


def _fire_one(
    complaint: ComplaintState,
    name: str,
    instant: datetime,
    definition: WorkflowDefinition,
    policy: Policy,
    now: datetime,
) -> tuple[ComplaintState, list[Event], tuple[str, str] | None]:
    clock = complaint.clocks[name]
    causation = f"timer:{complaint.complaint_id}:{name}:{instant.isoformat()}"
    if not clock.warned:
        complaint = _with_clock(complaint, clock.model_copy(update={"warned": True}))
        complaint, event = _timer_event(
            complaint, "complaint.sla_warning", clock, instant, now, causation
        )
        return complaint, [event], None
    if clock.breached_at is None and name == definition.auto_close_clock:
        return _auto_close(complaint, clock, instant, definition, policy, now)
    level = clock.escalation_level + 1
    events = []
    if clock.breached_at is None:
        complaint = _with_clock(complaint, clock.model_copy(update={"breached_at": instant}))
        complaint, event = _timer_event(
            complaint, "complaint.sla_breached", clock, instant, now, causation
        )
        events.append(event)
    complaint = _with_clock(
        complaint, complaint.clocks[name].model_copy(update={"escalation_level": level})
    )
    extra = {"level": level, "target": policy.escalation_target(cast(ClockName, name), level)}
    complaint, event = _timer_event(
        complaint, "complaint.escalated", clock, instant, now, causation, extra=extra
    )
    events.append(event)
    return complaint, events, None


def _auto_close(
    complaint: ComplaintState,
    clock: ClockState,
    instant: datetime,
    definition: WorkflowDefinition,
    policy: Policy,
    now: datetime,
) -> tuple[ComplaintState, list[Event], tuple[str, str] | None]:
    if not definition.allows(complaint.state, "resolve"):
        # Nothing to close any more: end the clock quietly.
        stopped = clock.model_copy(update={"stopped_at": instant})
        return _with_clock(complaint, stopped), [], None
    command = Command(
        command_id=f"auto_close:{complaint.complaint_id}:{instant.isoformat()}",
        type="resolve",
        complaint_id=complaint.complaint_id,
        issued_at=instant,
        actor=AUTO_CLOSE_ACTOR,
        payload=NotePayload(note="Selesai otomatis: tidak ada tanggapan pelapor"),
    )
    outcome = _transition(complaint, command, definition, policy, now)
    assert outcome.complaint is not None
    return outcome.complaint, list(outcome.events), outcome.transition


def _with_clock(complaint: ComplaintState, clock: ClockState) -> ComplaintState:
    return complaint.model_copy(update={"clocks": {**complaint.clocks, clock.name: clock}})


def _timer_event(
    complaint: ComplaintState,
    event_type: str,
    clock: ClockState,
    instant: datetime,
    now: datetime,
    causation: str,
    extra: dict[str, Any] | None = None,
) -> tuple[ComplaintState, Event]:
    """A timer's event; returns the complaint with its seq advanced past it."""
    complaint = complaint.model_copy(update={"seq": complaint.seq + 1})
    payload = {
        "clock": clock.name,
        "started_at": clock.started_at.isoformat(),
        "deadline": clock.deadline.isoformat(),
        **(extra or {}),
    }
    event = _event(
        complaint,
        event_type,
        occurred_at=instant,
        now=now,
        previous_state=complaint.state,
        skpd=complaint.skpd,
        causation_id=causation,
        actor=SLA_ACTOR,
        payload=payload,
    )
    return complaint, event


def _event(
    complaint: ComplaintState,
    event_type: str,
    *,
    occurred_at: datetime,
    now: datetime,
    previous_state: str | None,
    skpd: str | None,
    causation_id: str,
    actor: Actor,
    payload: dict[str, Any],
) -> Event:
    return Event(
        event_id=event_id_for(complaint.complaint_id, complaint.seq),
        type=event_type,
        complaint_id=complaint.complaint_id,
        seq=complaint.seq,
        occurred_at=occurred_at,
        recorded_at=now,
        state=complaint.state,
        previous_state=previous_state,
        region=complaint.region,
        skpd=skpd,
        causation_id=causation_id,
        actor=actor,
        payload=payload,
    )
