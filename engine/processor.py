"""Applying a batch of Kafka records in one database transaction.

The processor knows records only through the :class:`Record` protocol, so it is driven
the same way by the Kafka consumer, the demo and the unit tests. Per batch:

1. skip records below the partition's stored ``next_offset`` (applied before a crash);
2. decode each record; an invalid one becomes a dead-letter outbox record;
3. load the complaints and processed command ids the batch touches, in two queries;
4. for each command, in partition order: duplicate check, then :func:`decide` (which
   first fires the complaint's timers due before the command), advancing the
   partition's watermark to the command's ``issued_at``;
5. fire every other timer of the touched partitions due before their watermark;
6. write state, history, clocks, processed ids, outbox and progress in one transaction;
7. only then count the batch in the metrics.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from engine.decode import decode_command
from engine.errors import ConcurrencyError, InvalidCommandError
from engine.metrics import METRICS, BatchReport, record_batch
from engine.store import (
    BatchWrite,
    ComplaintWrite,
    OutboxRecord,
    ProcessedCommand,
    Progress,
    Store,
)
from engine.topics import Topics
from workflows.apply import Outcome, clock_next_due, decide, fire_due
from workflows.model import Command, ComplaintState, Event
from workflows.payloads import SubmitPayload
from workflows.policy import Policy
from workflows.registry import WorkflowRegistry

__all__ = ["BatchResult", "Processor", "Record"]

log = logging.getLogger(__name__)

#: How many due complaints one sweep query fetches per partition.
SWEEP_LIMIT = 2000
_CONFLICT_RETRIES = 3


class Record(Protocol):
    """The part of a Kafka consumer record the processor uses."""

    @property
    def topic(self) -> str:
        """The topic the record came from."""
        ...

    @property
    def partition(self) -> int:
        """Its partition."""
        ...

    @property
    def offset(self) -> int:
        """Its offset in the partition."""
        ...

    @property
    def key(self) -> bytes | None:
        """The record key (the complaint id)."""
        ...

    @property
    def value(self) -> bytes | None:
        """The raw value bytes."""
        ...


@dataclass
class BatchResult:
    """What a batch did: outcome counts by (command type, outcome) and the events written."""

    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    events: list[Event] = field(default_factory=list)
    skipped: int = 0

    def count(self, outcome: str) -> int:
        """How many records ended with ``outcome``."""
        return sum(n for (_, o), n in self.outcomes.items() if o == outcome)


@dataclass
class _Work:
    """Mutable scratch state of one batch attempt."""

    loaded: dict[str, ComplaintState]
    applied_ids: set[str]
    current: dict[str, ComplaintState] = field(default_factory=dict)
    partition_of: dict[str, int] = field(default_factory=dict)
    complainant: dict[str, str] = field(default_factory=dict)
    write: BatchWrite = field(default_factory=BatchWrite)
    result: BatchResult = field(default_factory=BatchResult)
    transitions: list[tuple[str, str]] = field(default_factory=list)


def _wall_clock() -> datetime:
    return datetime.now(UTC)


class Processor:
    """Applies batches of command records; one instance per consumer, reused across batches."""

    def __init__(
        self,
        store: Store,
        *,
        policy: Policy,
        registry: WorkflowRegistry | None = None,
        topics: Topics | None = None,
        clock: Callable[[], datetime] = _wall_clock,
    ) -> None:
        self.store = store
        self.policy = policy
        self.registry = registry or WorkflowRegistry.default()
        self.topics = topics or Topics()
        self.clock = clock

    # --- commands -----------------------------------------------------------------

    def process(self, records: Sequence[Record], *, caught_up: Iterable[int] = ()) -> BatchResult:
        """Apply ``records`` (from one topic) and fire due timers, in one transaction.

        ``caught_up`` names partitions with nothing more waiting: their watermark may
        advance to the wall clock. Retries on a concurrency conflict with fresh state.
        """
        topic = records[0].topic if records else self.topics.commands
        return self._retrying(records, set(caught_up), topic)

    def _retrying(self, records: Sequence[Record], caught_up: set[int], topic: str) -> BatchResult:
        """Run one batch; on a seq conflict, again from freshly read state."""
        for attempt in range(1, _CONFLICT_RETRIES + 1):
            try:
                return self._process_once(records, caught_up, topic)
            except ConcurrencyError as exc:
                METRICS.concurrency_conflicts.inc()
                log.warning("batch conflict (attempt %d): %s", attempt, exc)
                if attempt == _CONFLICT_RETRIES:
                    raise
        raise AssertionError("unreachable")

    def _process_once(
        self, records: Sequence[Record], caught_up: set[int], topic: str
    ) -> BatchResult:
        now = self.clock()
        partitions = {r.partition for r in records} | caught_up
        progress = self.store.progress(topic, partitions)
        watermarks = {p: progress[p].watermark if p in progress else None for p in partitions}
        next_offsets = {p: progress[p].next_offset if p in progress else 0 for p in partitions}

        fresh: list[tuple[Record, Command | InvalidCommandError]] = []
        skipped = 0
        for record in records:
            if record.offset < next_offsets[record.partition]:
                skipped += 1  # applied before a crash: its effects are already stored
                continue
            fresh.append((record, self._decode(record)))
            next_offsets[record.partition] = record.offset + 1

        commands = [c for _, c in fresh if isinstance(c, Command)]
        work = _Work(
            loaded=self.store.load(c.complaint_id for c in commands),
            applied_ids={
                cid
                for cid, outcome in self.store.processed(c.command_id for c in commands).items()
                if outcome == "applied"
            },
        )
        work.result.skipped = skipped
        for record, decoded in fresh:
            if isinstance(decoded, InvalidCommandError):
                self._dead_letter(work, record, decoded)
                continue
            self._apply(work, record, decoded, now)
            current = watermarks[record.partition]
            if current is None or decoded.issued_at > current:
                watermarks[record.partition] = decoded.issued_at
        for partition in caught_up:
            current = watermarks[partition]
            watermarks[partition] = now if current is None else max(current, now)
        for partition, watermark in watermarks.items():
            if watermark is not None:
                self._sweep_partition(work, partition, watermark, now)

        self._collect_complaints(work)
        work.write.progress.extend(
            Progress(
                topic,
                p,
                next_offsets[p],
                watermarks[p],
                expected_next_offset=progress[p].next_offset if p in progress else None,
            )
            for p in partitions
            if p in progress or next_offsets[p] > 0 or watermarks[p] is not None
        )
        self.store.write(work.write)
        record_batch(
            BatchReport(
                outcomes=work.result.outcomes,
                transitions=work.transitions,
                events=work.result.events,
            )
        )
        return work.result

    def _decode(self, record: Record) -> Command | InvalidCommandError:
        try:
            return decode_command(record.value, self.registry)
        except InvalidCommandError as exc:
            return exc

    def _dead_letter(self, work: _Work, record: Record, error: InvalidCommandError) -> None:
        headers = (
            ("error", error.code.encode()),
            ("error_detail", str(error)[:1000].encode()),
            ("source_topic", record.topic.encode()),
            ("source_partition", str(record.partition).encode()),
            ("source_offset", str(record.offset).encode()),
        )
        work.write.outbox.append(
            OutboxRecord(
                topic=self.topics.dlq,
                key=record.key,
                value=record.value,
                headers=headers,
                partition=record.partition,
            )
        )
        work.result.outcomes[
            (_type_label(record.value, self.registry.command_types), "invalid")
        ] += 1
        log.info(
            "invalid command to %s: %s (partition=%d, offset=%d)",
            self.topics.dlq,
            error,
            record.partition,
            record.offset,
            extra={
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "complaint_id": error.context.get("complaint_id"),
                "command_id": error.context.get("command_id"),
            },
        )

    def _apply(self, work: _Work, record: Record, command: Command, now: datetime) -> None:
        if command.command_id in work.applied_ids:
            work.result.outcomes[(command.type, "duplicate")] += 1
            return
        complaint = work.current.get(command.complaint_id) or work.loaded.get(command.complaint_id)
        try:
            outcome = decide(
                complaint,
                command,
                registry=self.registry,
                policy=self.policy,
                now=now,
                source=f"{record.topic}/{record.partition}/{record.offset}",
            )
        except Exception as exc:
            # decide() is pure, so a failure is deterministic: retrying would loop forever.
            log.exception("applying command failed; dead-lettered (offset=%d)", record.offset)
            failure = InvalidCommandError(
                "processing_failed",
                f"{type(exc).__name__}: {exc}",
                command_id=command.command_id,
                complaint_id=command.complaint_id,
            )
            self._dead_letter(work, record, failure)
            return
        self._absorb(work, outcome, record.partition)
        work.result.outcomes[(command.type, outcome.kind)] += 1
        if outcome.kind == "duplicate":
            return
        if outcome.kind == "applied":
            work.applied_ids.add(command.command_id)
            if isinstance(command.payload, SubmitPayload) and command.payload.complainant:
                work.complainant[command.complaint_id] = (
                    command.payload.complainant.model_dump_json()
                )
        if outcome.transition is not None:
            work.transitions.append(outcome.transition)
        work.write.processed.append(
            ProcessedCommand(
                command_id=command.command_id,
                complaint_id=command.complaint_id,
                command_type=command.type,
                outcome=outcome.kind,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                processed_at=now,
            )
        )

    def _absorb(self, work: _Work, outcome: Outcome, partition: int) -> None:
        """Take an outcome's new state and events into the batch."""
        if outcome.complaint is not None:
            work.current[outcome.complaint.complaint_id] = outcome.complaint
            work.partition_of[outcome.complaint.complaint_id] = partition
        work.transitions.extend(outcome.timer_transitions)
        for event in outcome.events:
            work.result.events.append(event)
            work.write.events.append(event)
            work.write.outbox.append(
                OutboxRecord(
                    topic=self.topics.events,
                    key=event.complaint_id.encode(),
                    value=None,  # published from the stored event body
                    event_id=event.event_id,
                    partition=partition,
                )
            )

    # --- timers -------------------------------------------------------------------

    def sweep(self, partitions: Iterable[int], *, topic: str | None = None) -> BatchResult:
        """Advance caught-up ``partitions`` to the wall clock and fire what fell due.

        The same transaction as a batch, with no records: timers and progress only.
        """
        parts = set(partitions)
        if not parts:
            return BatchResult()
        return self._retrying([], parts, topic or self.topics.commands)

    def _sweep_partition(
        self, work: _Work, partition: int, watermark: datetime, now: datetime
    ) -> None:
        """Fire the timers of ``partition`` due before ``watermark`` (batch state wins).

        At most ``SWEEP_LIMIT`` stored complaints per batch, earliest first, so a flood
        of due timers is spread over several short transactions instead of one long one.
        """
        candidates = {c.complaint_id: c for c in self.store.due(partition, watermark, SWEEP_LIMIT)}
        for complaint_id, complaint in candidates.items():
            work.loaded.setdefault(complaint_id, complaint)
        for complaint_id, current in work.current.items():
            if work.partition_of.get(complaint_id) == partition:
                candidates[complaint_id] = current
        for complaint_id, stored in candidates.items():
            complaint = work.current.get(complaint_id, stored)
            outcome = fire_due(
                complaint, watermark, registry=self.registry, policy=self.policy, now=now
            )
            if outcome.events:
                self._absorb(work, outcome, partition)

    # --- writing --------------------------------------------------------------------

    def _collect_complaints(self, work: _Work) -> None:
        for complaint_id, complaint in work.current.items():
            before = work.loaded.get(complaint_id)
            if before is not None and before.seq == complaint.seq:
                continue  # nothing changed (e.g. an idempotent resubmit)
            clock_due = clock_next_due(complaint, self.registry, self.policy)
            work.write.complaints.append(
                ComplaintWrite(
                    complaint=complaint,
                    expected_seq=None if before is None else before.seq,
                    partition=work.partition_of[complaint_id],
                    next_due_at=min((d for d in clock_due.values() if d), default=None),
                    clock_due=clock_due,
                    complainant=work.complainant.get(complaint_id),
                    clocks_before={} if before is None else before.clocks,
                    skpd_before=None if before is None else before.skpd,
                )
            )


def _type_label(value: bytes | None, known: frozenset[str]) -> str:
    """The command type of an invalid record if it can be read, for the metric label."""
    try:
        data = json.loads(value or b"")
    except (ValueError, UnicodeDecodeError):
        return "unknown"
    kind = data.get("type") if isinstance(data, dict) else None
    # Only known types: a label value must never be free text from outside.
    return kind if isinstance(kind, str) and kind in known else "unknown"
