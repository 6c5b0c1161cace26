"""Rebuilding complaint state and SLA clocks from the stored history (``laporflow replay``).

The history is the ``events`` table. Each complaint is rebuilt by deciding its history
again with the workflow's own pure functions, in seq order:

* every event a command caused (not a timer, not a rejection) becomes that command
  again (command id = ``causation_id``, ``issued_at`` = ``occurred_at``, the actor and
  the event's payload) and goes through :func:`~workflows.apply.decide`, which first
  fires the complaint's timers due before it, exactly as the engine did;
* timer events (warnings, breaches, escalations, auto-closes) are not read but
  regenerated, as their instants pass, and after the last command up to the watermark
  of the complaint's partition (``partition_progress``), as the engine fired them;
* every regenerated event must equal the stored one (id, type, seq, occurred_at, state,
  SKPD, causation, payload): any difference is reported as a conflict.

One difference is not a conflict: timers due before the watermark that the live engine
has not fired yet (it was stopped in the middle of a flood of due timers, or has not
reached them). The stored history is then exactly the regenerated one without its last
timer events, in instant order. Those are counted as *unfired*, and the complaint is
rebuilt as stored, without them: the engine fires them at its next sweep, from the live
database or from a rebuilt one, with the same events.

Events never carry what the contract keeps out of them: the complainant's identity, the
submit fingerprint (a hash of the full submission), attachments' names, and a rahasia
complaint's text. Those come from the source ``complaints`` row when there is one; the
rebuilt ``complaints`` and ``sla_clocks`` rows are otherwise derived from events alone.

:func:`copy_rebuilt` writes the result into a fresh database, with the history
(``events``), the command outcomes (``processed_commands``) and ``partition_progress``
copied, so the new database can serve an engine at once. The outbox is not copied:
drain it (stop the engine cleanly) before rebuilding from a database.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from engine.errors import StoreError
from engine.schema import (
    complaints_table,
    events_table,
    processed_commands_table,
    progress_table,
)
from engine.store import BatchWrite, ComplaintWrite, ProcessedCommand, Progress, Store
from workflows.apply import clock_next_due, decide, fire_due
from workflows.model import Command, ComplaintState, Event
from workflows.payloads import Complainant
from workflows.policy import Policy
from workflows.registry import WorkflowRegistry
from workflows.timers import AUTO_CLOSE_CAUSE, TIMER_CAUSE

__all__ = [
    "Rebuilt",
    "ReplayReport",
    "compare_with_live",
    "complaint_write",
    "copy_rebuilt",
    "count_complaints",
    "rebuild",
    "rebuild_one",
]

#: Keys the engine adds to a command event's payload (not part of the command).
_DERIVED_KEYS = ("paused_from", "clocks_stopped")
#: Causations of the events timers make: regenerated, not read (see rebuild_one).
_TIMER_PREFIXES = (TIMER_CAUSE, AUTO_CLOSE_CAUSE)


@dataclass
class Rebuilt:
    """One complaint rebuilt from its history."""

    complaint: ComplaintState
    partition: int
    complainant: str | None
    conflicts: list[str] = field(default_factory=list)
    #: Timer events due before the partition's watermark that the history does not
    #: hold yet (see the module's docstring); ``complaint`` is the state without them.
    unfired: int = 0


@dataclass
class ReplayReport:
    """What a replay did."""

    complaints: int = 0
    events: int = 0
    conflicts: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    #: Timer events due but not fired yet, and how many complaints they belong to.
    unfired: int = 0
    unfired_complaints: int = 0


@dataclass(frozen=True)
class _Source:
    partition: int
    complainant: str | None
    fingerprint: str | None


def _sources(store: Store) -> dict[str, _Source]:
    table = complaints_table
    with store.connect("loading complaint rows") as conn:
        rows = conn.execute(
            select(table.c.complaint_id, table.c.partition, table.c.complainant, table.c.data)
        )
        return {
            cid: _Source(part, who, json.loads(data).get("submit_fingerprint"))
            for cid, part, who, data in rows
        }


def _watermarks(store: Store) -> dict[int, datetime]:
    with store.connect("loading watermarks") as conn:
        rows = conn.execute(
            select(progress_table.c.partition, func.max(progress_table.c.watermark)).group_by(
                progress_table.c.partition
            )
        )
        return {part: wm for part, wm in rows if wm is not None}


def _histories(store: Store, chunk: int = 5000) -> Iterator[list[Event]]:
    """Each complaint's applied events in seq order (rejections left out), streamed."""
    table = events_table
    current: list[Event] = []
    last_key: tuple[str, int] = ("", 0)
    while True:
        with store.connect("loading history") as conn:
            rows = conn.execute(
                select(table.c.complaint_id, table.c.seq, table.c.body)
                .where(table.c.seq.is_not(None))
                .where(
                    (table.c.complaint_id > last_key[0])
                    | ((table.c.complaint_id == last_key[0]) & (table.c.seq > last_key[1]))
                )
                .order_by(table.c.complaint_id, table.c.seq)
                .limit(chunk)
            ).all()
        if not rows:
            break
        for complaint_id, seq, body in rows:
            if current and current[0].complaint_id != complaint_id:
                yield current
                current = []
            current.append(Event.model_validate_json(body))
            last_key = (complaint_id, seq)
    if current:
        yield current


def count_complaints(store: Store) -> int:
    """How many complaints the history holds (for a progress bar's total)."""
    with store.connect("counting complaints") as conn:
        total = conn.execute(
            select(func.count(func.distinct(events_table.c.complaint_id))).where(
                events_table.c.seq.is_not(None)
            )
        ).scalar()
    return int(total or 0)


def _command_types(registry: WorkflowRegistry, complaint: ComplaintState | None) -> dict[str, str]:
    """Event type -> command type for the complaint's workflow (the submit one if new)."""
    if complaint is None:
        definition = registry.for_classification("pengaduan")
    else:
        definition = registry.get(complaint.workflow, complaint.workflow_version)
    types = {spec.event: spec.command for spec in definition.transitions}
    types.setdefault("complaint.submitted", "submit")
    return types


def _command(
    event: Event, command_type: str, registry: WorkflowRegistry, source: _Source | None
) -> Command:
    model = registry.payload_model(command_type)
    if model is None:
        raise StoreError(f"history names an unknown command type {command_type!r}")
    fields: dict[str, Any] = {k: v for k, v in event.payload.items() if k not in _DERIVED_KEYS}
    if command_type == "submit":
        fields["attachments"] = ["-"] * int(fields.get("attachments") or 0)
        if source is not None and source.complainant:
            fields["complainant"] = Complainant.model_validate_json(source.complainant)
    try:
        payload = model.model_validate(fields)
    except ValueError:
        # A rahasia complaint's events omit its text: build the payload from what is left.
        payload = model.model_construct(**fields)
    return Command.model_construct(
        command_id=event.causation_id,
        type=command_type,
        complaint_id=event.complaint_id,
        issued_at=event.occurred_at,
        actor=event.actor,
        payload=payload,
    )


def _event_key(event: Event) -> tuple[Any, ...]:
    # A pseudonymous complainant (anonymous or rahasia complaint) is stored hashed; the
    # replay can only pass the pseudonym on, so only the role is compared for them.
    actor: Any = event.actor
    if actor.role == "complainant" and actor.id.startswith("anon-"):
        actor = "complainant (pseudonym)"
    return (
        event.event_id,
        event.type,
        event.seq,
        event.occurred_at,
        event.state,
        event.previous_state,
        event.region,
        event.skpd,
        event.causation_id,
        actor,
        event.payload,
    )


def rebuild_one(
    history: list[Event],
    *,
    registry: WorkflowRegistry,
    policy: Policy,
    source: _Source | None,
    watermarks: dict[int, datetime],
) -> Rebuilt:
    """Rebuild one complaint from its applied events (seq order)."""
    complaint: ComplaintState | None = None
    regenerated: list[Event] = []
    complaint_id = history[0].complaint_id
    for event in history:
        if event.causation_id.startswith(_TIMER_PREFIXES):
            continue  # regenerated by decide()/fire_due() below
        command_type = _command_types(registry, complaint).get(event.type)
        if command_type is None:
            raise StoreError(f"{complaint_id}: no command produces {event.type!r}")
        command = _command(event, command_type, registry, source)
        outcome = decide(
            complaint, command, registry=registry, policy=policy, now=event.recorded_at
        )
        if outcome.kind != "applied" or outcome.complaint is None:
            raise StoreError(
                f"{complaint_id}: seq {event.seq} ({event.type}) does not apply again: "
                f"{outcome.kind} {outcome.reason or ''}"
            )
        complaint = outcome.complaint
        if command_type == "submit" and source is not None and source.fingerprint:
            complaint = complaint.model_copy(update={"submit_fingerprint": source.fingerprint})
        regenerated.extend(outcome.events)
    if complaint is None:
        raise StoreError(f"{complaint_id}: the history has no submit")
    partition = source.partition if source is not None else 0
    watermark = watermarks.get(partition)
    due: list[Event] = []
    after_commands = complaint
    if watermark is not None:
        fired = fire_due(complaint, watermark, registry=registry, policy=policy, now=watermark)
        assert fired.complaint is not None
        complaint = fired.complaint
        due = list(fired.events)
        regenerated.extend(due)
    rebuilt = Rebuilt(complaint, partition, source.complainant if source else None)
    stored = {e.seq: _event_key(e) for e in history}
    again = {e.seq: _event_key(e) for e in regenerated}
    unfired = _unfired(stored, again, due)
    if unfired and watermark is not None:
        # Rebuilt as stored: the timers not fired yet fire at the engine's next sweep.
        until = due[-unfired].occurred_at
        partial = fire_due(after_commands, until, registry=registry, policy=policy, now=watermark)
        if [_event_key(e) for e in partial.events] == [_event_key(e) for e in due[:-unfired]]:
            assert partial.complaint is not None
            rebuilt.complaint, rebuilt.unfired = partial.complaint, unfired
            again = {seq: key for seq, key in again.items() if seq in stored}
    for seq in sorted(set(stored) | set(again), key=lambda s: s or 0):
        if stored.get(seq) != again.get(seq):
            rebuilt.conflicts.append(
                f"{complaint_id} seq {seq}: stored {stored.get(seq)} regenerated {again.get(seq)}"
            )
    return rebuilt


def _unfired(
    stored: dict[int | None, tuple[Any, ...]],
    again: dict[int | None, tuple[Any, ...]],
    due: list[Event],
) -> int:
    """How many of ``due`` (the last events regenerated) the history lacks, if only those.

    0 unless every stored event equals its regeneration and the regenerated events
    missing from the history are exactly the last ones of ``due``.
    """
    missing = sorted(seq or 0 for seq in again.keys() - stored.keys())
    if not missing or stored.keys() - again.keys():
        return 0
    if any(again[seq] != key for seq, key in stored.items()):
        return 0
    if missing != [e.seq for e in due[len(due) - len(missing) :]]:
        return 0
    return len(missing)


def rebuild(
    store: Store,
    *,
    registry: WorkflowRegistry,
    policy: Policy,
    on_complaint: Callable[[Rebuilt], None],
    on_history: Callable[[int], None] | None = None,
) -> ReplayReport:
    """Rebuild every complaint of ``store``'s history; hand each to ``on_complaint``."""
    sources = _sources(store)
    watermarks = _watermarks(store)
    report = ReplayReport()
    for history in _histories(store):
        rebuilt = rebuild_one(
            history,
            registry=registry,
            policy=policy,
            source=sources.get(history[0].complaint_id),
            watermarks=watermarks,
        )
        report.complaints += 1
        report.events += len(history)
        report.conflicts.extend(rebuilt.conflicts)
        if rebuilt.unfired:
            report.unfired += rebuilt.unfired
            report.unfired_complaints += 1
        on_complaint(rebuilt)
        if on_history is not None:
            on_history(1)
    return report


def complaint_write(rebuilt: Rebuilt, registry: WorkflowRegistry, policy: Policy) -> ComplaintWrite:
    """The row write (state + clocks) of a rebuilt complaint, as an insert."""
    clock_due = clock_next_due(rebuilt.complaint, registry, policy)
    return ComplaintWrite(
        complaint=rebuilt.complaint,
        expected_seq=None,
        partition=rebuilt.partition,
        next_due_at=min((d for d in clock_due.values() if d), default=None),
        clock_due=clock_due,
        complainant=rebuilt.complainant,
    )


def compare_with_live(store: Store, rebuilt: Rebuilt) -> list[str]:
    """Differences between a rebuilt complaint and its live state (with its clocks)."""
    live = store.complaint(rebuilt.complaint.complaint_id)
    if live is None:
        return [f"{rebuilt.complaint.complaint_id}: not in the live complaints table"]
    if live != rebuilt.complaint:
        return [f"{live.complaint_id}: live {live!r} rebuilt {rebuilt.complaint!r}"]
    return []


def copy_rebuilt(
    source: Store,
    target: Store,
    *,
    registry: WorkflowRegistry,
    policy: Policy,
    on_history: Callable[[int], None] | None = None,
    batch: int = 500,
) -> ReplayReport:
    """Rebuild ``source`` into the empty database ``target`` (schema created)."""
    target.migrate()
    with target.connect("checking the target is empty") as conn:
        if conn.execute(select(func.count()).select_from(complaints_table)).scalar():
            raise StoreError("the target database already holds complaints; give an empty one")
    pending: list[Rebuilt] = []

    def flush() -> None:
        if not pending:
            return
        write = BatchWrite(
            complaints=[complaint_write(r, registry, policy) for r in pending],
            # Computed under this policy, as the engine stamps its own clock rows.
            policy=policy.fingerprint,
        )
        write.events.extend(_stored_events(source, [r.complaint.complaint_id for r in pending]))
        target.write(write)
        pending.clear()

    def take(rebuilt: Rebuilt) -> None:
        pending.append(rebuilt)
        if len(pending) >= batch:
            flush()

    report = rebuild(
        source, registry=registry, policy=policy, on_complaint=take, on_history=on_history
    )
    flush()
    _copy_outcomes_and_progress(source, target)
    return report


def _stored_events(store: Store, complaint_ids: list[str]) -> list[Event]:
    """Every stored event (rejections included) of ``complaint_ids``, as stored."""
    with store.connect("loading events to copy") as conn:
        rows = conn.execute(
            select(events_table.c.body).where(events_table.c.complaint_id.in_(complaint_ids))
        )
        return [Event.model_validate_json(body) for (body,) in rows]


def _copy_outcomes_and_progress(source: Store, target: Store) -> None:
    table = processed_commands_table
    with source.connect("loading command outcomes") as conn:
        processed = [
            ProcessedCommand(
                command_id=row.command_id,
                complaint_id=row.complaint_id,
                command_type=row.command_type,
                outcome=row.outcome,
                topic=row.topic,
                partition=row.partition,
                offset=row.offset,
                processed_at=row.processed_at,
            )
            for row in conn.execute(select(table))
        ]
        progress = [
            Progress(row.topic, row.partition, row.next_offset, row.watermark)
            for row in conn.execute(select(progress_table))
        ]
    # Rejections of unknown complaints have events but no complaint row: copy them too.
    with source.connect("loading orphan rejections") as conn:
        known = select(complaints_table.c.complaint_id)
        orphans = [
            Event.model_validate_json(body)
            for (body,) in conn.execute(
                select(events_table.c.body).where(events_table.c.complaint_id.not_in(known))
            )
        ]
    for start in range(0, max(len(processed), 1), 2000):
        target.write(BatchWrite(processed=processed[start : start + 2000]))
    target.write(BatchWrite(progress=progress, events=orphans))
