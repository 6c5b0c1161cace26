"""Timers: warnings, breaches, escalations and auto-closes that fall due.

A clock's next instant is derived from its state (:func:`clock_next_due`); firing is
idempotent, in instant order, and each event's ``occurred_at`` is the instant it fell
due, never when it was noticed. The engine fires a partition's timers as its watermark
passes them (:func:`fire_due`); :func:`workflows.apply.decide` fires a complaint's own
before one of its commands.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from workflows.definition import WorkflowDefinition
from workflows.model import Actor, ClockState, Command, ComplaintState, Event, evolve
from workflows.payloads import NotePayload
from workflows.policy import Policy, lookups
from workflows.registry import WorkflowRegistry
from workflows.sla import ClockName, escalation_instants, warning_instant
from workflows.transition import (
    Outcome,
    apply_transition,
    build_event,
    clock_deadline,
    clock_limit,
)

__all__ = [
    "AUTO_CLOSE_ACTOR",
    "AUTO_CLOSE_CAUSE",
    "MAX_ESCALATION_LEVEL",
    "POLICY_ACTOR",
    "RESCHEDULED",
    "SLA_ACTOR",
    "TIMER_CAUSE",
    "clock_next_due",
    "fire_due",
    "fire_timers",
    "next_due",
    "reschedule",
]

SLA_ACTOR = Actor(role="system", id="sla")
AUTO_CLOSE_ACTOR = Actor(role="system", id="auto_close")
#: The prefix of the command id an auto-close timer gives its resolution.
AUTO_CLOSE_CAUSE = "auto_close:"
#: The prefix of the causation id of a warning, breach or escalation event.
TIMER_CAUSE = "timer:"
MAX_ESCALATION_LEVEL = 3
#: Who reschedules clocks when the policy changed.
POLICY_ACTOR = Actor(role="system", id="policy")
#: The event of a deadline moved by a policy change (CONTRACT §4).
RESCHEDULED = "complaint.sla_rescheduled"


def fire_due(
    complaint: ComplaintState,
    until: datetime,
    *,
    registry: WorkflowRegistry,
    policy: Policy,
    now: datetime,
) -> Outcome:
    """Fire every timer of ``complaint`` whose instant lies strictly before ``until``."""
    complaint, events, moved = fire_timers(complaint, until, registry, policy, now)
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
    memo = lookups(policy)
    tz = memo.timezone(complaint.region)
    return escalation_instants(clock.deadline, tz, memo.calendar)[clock.escalation_level]


def fire_timers(
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
        # The earliest timer first, then one comparison with ``until``: a complaint's
        # instants share its region's time zone and compare cheaply among themselves,
        # while each comparison across zones (``until`` is the command's) costs about
        # 20 times as much (docs/perf.md section 33).
        first: tuple[datetime, str] | None = None
        for name, clock in complaint.clocks.items():
            if clock.stopped_at is not None or clock.paused_at is not None:
                continue  # fires nothing; most clocks of a busy complaint, so checked inline
            due = _clock_next_due(clock, complaint, definition, policy)
            if due is not None and (first is None or (due, name) < first):
                first = (due, name)
        if first is None or not first[0] < until:
            return complaint, events, moved
        instant, name = first
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
    causation = f"{TIMER_CAUSE}{complaint.complaint_id}:{name}:{instant.isoformat()}"
    if not clock.warned:
        complaint = _with_clock(complaint, evolve(clock, warned=True))
        complaint, event = _timer_event(
            complaint, "complaint.sla_warning", clock, instant, now, causation
        )
        return complaint, [event], None
    if clock.breached_at is None and name == definition.auto_close_clock:
        return _auto_close(complaint, clock, instant, definition, policy, now)
    level = clock.escalation_level + 1
    events = []
    if clock.breached_at is None:
        complaint = _with_clock(complaint, evolve(clock, breached_at=instant))
        complaint, event = _timer_event(
            complaint, "complaint.sla_breached", clock, instant, now, causation
        )
        events.append(event)
    complaint = _with_clock(complaint, evolve(complaint.clocks[name], escalation_level=level))
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
        stopped = evolve(clock, stopped_at=instant)
        return _with_clock(complaint, stopped), [], None
    command = Command(
        command_id=f"{AUTO_CLOSE_CAUSE}{complaint.complaint_id}:{instant.isoformat()}",
        type="resolve",
        complaint_id=complaint.complaint_id,
        issued_at=instant,
        actor=AUTO_CLOSE_ACTOR,
        payload=NotePayload(note="Selesai otomatis: tidak ada tanggapan pelapor"),
    )
    outcome = apply_transition(complaint, command, definition, policy, now)
    assert outcome.complaint is not None
    return outcome.complaint, list(outcome.events), outcome.transition


def _with_clock(complaint: ComplaintState, clock: ClockState) -> ComplaintState:
    return evolve(complaint, clocks={**complaint.clocks, clock.name: clock})


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
    complaint = evolve(complaint, seq=complaint.seq + 1)
    payload = {
        "clock": clock.name,
        "started_at": clock.started_at.isoformat(),
        "deadline": clock.deadline.isoformat(),
        **(extra or {}),
    }
    event = build_event(
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


def reschedule(
    complaint: ComplaintState,
    *,
    registry: WorkflowRegistry,
    policy: Policy,
    now: datetime,
) -> Outcome:
    """Recompute the running, unbreached clocks of ``complaint`` under ``policy``.

    Each such clock's deadline is computed again from its start, its limit under
    ``policy`` and its ended pauses, exactly as starting and resuming it would have;
    its warning too, unless the warning already fired. A clock whose deadline moved
    gets one ``complaint.sla_rescheduled`` event (``clock``, ``old_deadline``,
    ``deadline``) at ``now``; a second run under the same policy changes nothing.
    Breached clocks keep their breach, stopped clocks are history, and clocks stored
    before pauses were recorded (``pauses`` is ``None``) are left as they are.
    """
    definition = registry.get(complaint.workflow, complaint.workflow_version)
    events: list[Event] = []
    for name in sorted(complaint.clocks):
        clock = complaint.clocks[name]
        if not clock.running or clock.breached_at is not None or clock.pauses is None:
            continue
        limit = clock_limit(name, complaint, clock.limit_skpd, policy)
        deadline = clock_deadline(
            name, clock.started_at, limit, clock.pauses, complaint, definition, policy
        )
        warning_at = clock.warning_at
        if name not in definition.escalating_clocks:
            warning_at = deadline
        elif not clock.warned:
            warning_at = warning_instant(clock.started_at, deadline, policy.warning_fraction)
        if (limit, deadline, warning_at) == (clock.limit, clock.deadline, clock.warning_at):
            continue
        complaint = _with_clock(
            complaint,
            clock.model_copy(
                update={"limit": limit, "deadline": deadline, "warning_at": warning_at}
            ),
        )
        if deadline == clock.deadline:
            continue  # only the warning moved (a new warning_fraction): no deadline news
        complaint = complaint.model_copy(update={"seq": complaint.seq + 1})
        events.append(
            build_event(
                complaint,
                RESCHEDULED,
                occurred_at=now,
                now=now,
                previous_state=complaint.state,
                skpd=complaint.skpd,
                causation_id=f"policy:{policy.fingerprint}:{name}",
                actor=POLICY_ACTOR,
                payload={
                    "clock": name,
                    "old_deadline": clock.deadline.isoformat(),
                    "deadline": deadline.isoformat(),
                    "started_at": clock.started_at.isoformat(),
                    "limit": limit,
                    "policy": policy.fingerprint,
                },
            )
        )
    return Outcome(kind="applied", complaint=complaint, events=tuple(events))
