"""One allowed transition applied: new state, clocks started, stopped or resumed, events.

Shared by :mod:`workflows.apply` (a command) and :mod:`workflows.timers` (the auto-close,
which resolves on the system's behalf). Also what every event is built from, so event
ids and the privacy rules (no identity, pseudonymous complainants) live in one place.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any, Literal, NamedTuple, cast

from workflows.definition import NEW, WorkflowDefinition
from workflows.model import (
    EVENT_SCHEMA_VERSION,
    Actor,
    ClockState,
    Command,
    ComplaintState,
    Event,
    assemble,
    evolve,
)
from workflows.payloads import DispatchPayload, SubmitPayload
from workflows.policy import Policy, lookups
from workflows.sla import (
    ClockName,
    compute_deadline,
    local_date,
    shift_for_pause,
    warning_instant,
)

__all__ = [
    "EVENT_NAMESPACE",
    "Outcome",
    "apply_transition",
    "build_event",
    "clock_deadline",
    "clock_limit",
    "event_id_for",
    "event_uuid",
    "public_actor",
    "resume_clocks",
    "start_clock",
]

#: Namespace of the uuid5 event ids (never change it: ids must survive replays).
EVENT_NAMESPACE = uuid.UUID("6f1d7c1e-3d55-4b43-9a0b-4c6a1f0e2b7d")
#: SHA-1 state after the namespace bytes: uuid5 hashes namespace + name.
_NAMESPACE_SHA1 = hashlib.sha1(EVENT_NAMESPACE.bytes, usedforsecurity=False)


class Outcome(NamedTuple):
    """What became of one command.

    ``events`` holds, in order, the timer events that fell due before the command and
    then the command's own events (or its ``command.rejected``). ``complaint`` is the
    state after all of them; ``None`` only for a command on an unknown complaint.

    A named tuple rather than a frozen dataclass: as immutable, and built once per
    command, where a frozen dataclass's ``__init__`` (one ``object.__setattr__`` per
    field) cost twice as much.
    """

    kind: Literal["applied", "rejected", "duplicate"]
    complaint: ComplaintState | None
    events: tuple[Event, ...] = ()
    reason: str | None = None
    detail: str | None = None
    transition: tuple[str, str] | None = None
    #: Timer-driven transitions (auto-close) as (from, to) pairs, for metrics.
    timer_transitions: tuple[tuple[str, str], ...] = ()


def event_uuid(name: str) -> str:
    """``str(uuid.uuid5(EVENT_NAMESPACE, name))``, without building a ``UUID`` object.

    The same digest with the same version and variant bits, set on its hex text: the
    ``UUID`` class, or an integer round trip, costs more than the hash itself, once per
    event.
    """
    digest = _NAMESPACE_SHA1.copy()
    digest.update(name.encode())
    h = digest.hexdigest()
    # Hex digit 12 holds the version (5); digit 16's top two bits the RFC 4122 variant.
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


#: A hex digit with its top two bits set to the RFC 4122 variant (binary 10).
_VARIANT = {f"{v:x}": f"{(v & 0x3) | 0x8:x}" for v in range(16)}


def event_id_for(complaint_id: str, seq: int) -> str:
    """The deterministic id of a complaint's ``seq``-th event, stable across replays."""
    return f"e-{event_uuid(f'{complaint_id}/{seq}')}"


def apply_transition(
    complaint: ComplaintState,
    command: Command,
    definition: WorkflowDefinition,
    policy: Policy,
    now: datetime,
) -> Outcome:
    """Apply ``command``'s (already allowed) transition to ``complaint``: state, clocks, events."""
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
        clocks = resume_clocks(clocks, complaint, definition, policy, at)
        extra["paused_from"] = deferred_at.isoformat()
        deferred_at = None
        if not rule.resumes:
            # An implicit resume is still a resume: its own event, before the command's.
            complaint = evolve(
                complaint,
                clocks=dict(clocks),
                deferred_at=None,
                seq=complaint.seq + 1,
                updated_at=max(complaint.updated_at, at),
            )
            events.append(
                build_event(
                    complaint,
                    _resume_event_type(definition),
                    occurred_at=at,
                    now=now,
                    previous_state=complaint.state,
                    skpd=complaint.skpd,
                    causation_id=command.command_id,
                    actor=public_actor(complaint, command.actor),
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
        clocks = {n: evolve(c, paused_at=at) if c.running else c for n, c in clocks.items()}
    stopped = []
    for name in rule.stops:
        clock = clocks.get(name)
        if clock is not None and clock.running:
            clocks[name] = evolve(clock, stopped_at=at, paused_at=None)
            stopped.append(_stop_summary(clocks[name]))
    # The new state, built once. ``clocks`` is this command's own new dict: the clocks
    # it starts (whose limits depend on the new SKPD) complete it below.
    updated = evolve(
        complaint,
        state=definition.destination(previous, command.type),
        skpd=skpd,
        deferred_at=deferred_at,
        updated_at=max(complaint.updated_at, at),
        seq=complaint.seq + 1,
        clocks=clocks,
    )
    for name in rule.starts:
        clocks[name] = start_clock(name, at, updated, definition, policy)
    payload = _event_payload(command, updated)  # a new dict, this event's own
    if extra:
        payload.update(extra)
    if stopped:
        payload["clocks_stopped"] = stopped
    event = build_event(
        updated,
        spec.event,
        occurred_at=at,
        now=now,
        previous_state=None if previous == NEW else previous,
        skpd=event_skpd,
        causation_id=command.command_id,
        actor=public_actor(updated, command.actor),
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


def public_actor(complaint: ComplaintState, actor: Actor) -> Actor:
    """The actor as an event may name it.

    The complainant of an anonymous or confidential (rahasia) complaint is named by a
    pseudonym: stable within the complaint (its events stay linkable to each other),
    different for every complaint (so no one is traceable across complaints).
    """
    if actor.role != "complainant" or not (complaint.anonymous or complaint.confidential):
        return actor
    digest = hashlib.sha256(f"{complaint.complaint_id}/{actor.id}".encode()).hexdigest()
    return Actor(role=actor.role, id=f"anon-{digest[:16]}")


def _event_payload(command: Command, complaint: ComplaintState) -> dict[str, Any]:
    """The command's payload as it may appear in an event: never identity, never rahasia text."""
    payload = command.payload
    if isinstance(payload, SubmitPayload):
        data = payload.json_data(exclude={"complainant", "attachments"})
        data["attachments"] = len(payload.attachments)
        if payload.confidential:
            for key in ("title", "body", "location"):
                data.pop(key, None)
        return data
    data = payload.json_data(exclude_none=True)
    if complaint.confidential:
        # Free text of a rahasia report may describe it; keep only structured fields.
        data = {k: v for k, v in data.items() if k not in ("note", "reason")}
    return data


def start_clock(
    name: str,
    at: datetime,
    complaint: ComplaintState,
    definition: WorkflowDefinition,
    policy: Policy,
) -> ClockState:
    """Clock ``name`` started at ``at``: its deadline and warning under ``policy``."""
    memo = lookups(policy)
    region, skpd = complaint.region, complaint.skpd
    # The limit and the deadline depend on ``at`` only through its local date (a
    # deadline falls at the end of a local day): one computation per day, clock and
    # holder, not one per command, the largest part of a start's cost.
    day = local_date(at, memo.timezone(region))
    key = (definition.name, definition.version, name, region, skpd, complaint.category, day)
    schedule = memo.schedules.get(key)
    if schedule is None:
        limit = clock_limit(name, complaint, skpd, policy)
        deadline = clock_deadline(name, at, limit, (), complaint, definition, policy)
        schedule = memo.schedules.remember(key, (limit, deadline))
    limit, deadline = schedule
    escalates = name in definition.escalating_clocks
    warning_at = warning_instant(at, deadline, memo.warning_fraction) if escalates else deadline
    # A clock that never breaches (auto-close) has no warning to give.
    return assemble(
        ClockState,
        {
            "name": name,
            "started_at": at,
            "limit": limit,
            "deadline": deadline,
            "warning_at": warning_at,
            "warned": not escalates,
            "breached_at": None,
            "escalation_level": 0,
            "paused_at": None,
            "stopped_at": None,
            "pauses": (),
            "limit_skpd": skpd,
        },
        set(_STARTED_CLOCK_FIELDS),
    )


#: The fields :func:`start_clock` sets (the rest keep their defaults).
_STARTED_CLOCK_FIELDS = frozenset(
    {"name", "started_at", "limit", "deadline", "warning_at", "warned", "pauses", "limit_skpd"}
)


def clock_limit(name: str, complaint: ComplaintState, skpd: str | None, policy: Policy) -> int:
    """The limit in days of clock ``name`` for ``complaint`` held by ``skpd``."""
    return lookups(policy).limit(
        cast(ClockName, name),
        region=complaint.region,
        skpd=skpd,
        category=complaint.category,
    )


def clock_deadline(
    name: str,
    started_at: datetime,
    limit: int,
    pauses: tuple[tuple[datetime, datetime], ...],
    complaint: ComplaintState,
    definition: WorkflowDefinition,
    policy: Policy,
) -> datetime:
    """The deadline of a clock started at ``started_at`` and paused ``pauses``, under ``policy``.

    Exactly what starting the clock and resuming it after each pause computes, in one go.
    """
    memo = lookups(policy)
    tz = memo.timezone(complaint.region)
    working = name not in definition.calendar_day_clocks
    deadline = compute_deadline(started_at, limit, tz, memo.calendar, working_days=working)
    for deferred_at, resumed_at in pauses:
        deadline = shift_for_pause(
            deadline, deferred_at, resumed_at, tz, memo.calendar, working_days=working
        )
    return deadline


def resume_clocks(
    clocks: dict[str, ClockState],
    complaint: ComplaintState,
    definition: WorkflowDefinition,
    policy: Policy,
    at: datetime,
) -> dict[str, ClockState]:
    """The clocks after a pause ending at ``at``: each deadline shifted by the paused days."""
    memo = lookups(policy)
    tz = memo.timezone(complaint.region)
    resumed = {}
    for name, clock in clocks.items():
        if clock.paused_at is None or not clock.running:
            resumed[name] = clock
            continue
        working = name not in definition.calendar_day_clocks
        deadline = shift_for_pause(
            clock.deadline, clock.paused_at, at, tz, memo.calendar, working_days=working
        )
        warning_at = clock.warning_at
        if not clock.warned:
            warning_at = warning_instant(clock.started_at, deadline, memo.warning_fraction)
        pauses = None if clock.pauses is None else (*clock.pauses, (clock.paused_at, at))
        resumed[name] = evolve(
            clock, deadline=deadline, warning_at=warning_at, paused_at=None, pauses=pauses
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


def build_event(
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
    """An event of ``complaint`` at its current seq (its id derives from complaint and seq)."""
    return assemble(
        Event,
        {
            "schema_version": EVENT_SCHEMA_VERSION,
            "event_id": event_id_for(complaint.complaint_id, complaint.seq),
            "type": event_type,
            "complaint_id": complaint.complaint_id,
            "seq": complaint.seq,
            "occurred_at": occurred_at,
            "recorded_at": now,
            "state": complaint.state,
            "previous_state": previous_state,
            "region": complaint.region,
            "skpd": skpd,
            "causation_id": causation_id,
            "actor": actor,
            "payload": payload,
        },
        set(_BUILT_EVENT_FIELDS),
    )


#: The fields :func:`build_event` sets: all but ``schema_version``, left to its default.
_BUILT_EVENT_FIELDS = frozenset(Event.model_fields) - {"schema_version"}
