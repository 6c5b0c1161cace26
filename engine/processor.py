"""Applying a batch of Kafka records in one database transaction.

The processor knows records only through the :class:`Record` protocol, so it is driven
the same way by the Kafka consumer, the demo and the unit tests. Per batch:

1. skip records below the partition's stored ``next_offset`` (applied before a crash;
   counted and logged; a command id never processed there means the topic was
   recreated: :class:`TopicRecreatedError`, nothing is dropped);
2. decode each record; an invalid one becomes a dead-letter outbox record;
3. load the complaints and processed command ids the batch touches, in two queries;
4. for each command, in partition order: duplicate check, fire the complaint's timers
   due before the partition's watermark *at this record*, then :func:`decide` (which
   fires those due before the command, if it applies); an *applied* command advances
   the partition's watermark to its ``issued_at`` (nothing else does), so a timer due
   between two commands of a partition fires between them, in one poll or in many;
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
from datetime import UTC, datetime, timedelta
from typing import Protocol

from engine.decode import decode_command
from engine.errors import ConcurrencyError, InvalidCommandError, TopicRecreatedError
from engine.metrics import METRICS, BatchReport, Metrics, record_batch
from engine.store import (
    BatchWrite,
    ComplaintWrite,
    OutboxRecord,
    ProcessedCommand,
    Progress,
    Store,
)
from engine.topics import Topics
from workflows.apply import decide
from workflows.model import Command, ComplaintState, Event
from workflows.payloads import SubmitPayload
from workflows.policy import Policy
from workflows.registry import WorkflowRegistry
from workflows.timers import clock_next_due, fire_due, reschedule
from workflows.transition import Outcome

__all__ = ["BatchResult", "Processor", "Record"]

log = logging.getLogger(__name__)

#: How many due stored complaints one batch fires at most, shared among the partitions
#: it sweeps. Each fires up to five timer events (warning, breach, three escalations):
#: about 100 ms of work, so commands arriving during a flood of due timers wait for one
#: short batch, not for the whole flood (``make bench``: p99 during a 10,000-timer burst;
#: the consumer also rests between shares, see ``consumers/commands.py``).
SWEEP_LIMIT = 64
#: CONTRACT §4 default of ``LAPORFLOW_MAX_FUTURE_SKEW``.
DEFAULT_MAX_FUTURE_SKEW = timedelta(minutes=5)
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
    #: Partitions whose sweep stopped at its limit: more timers may be due there now.
    more_due: set[int] = field(default_factory=set)

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
        max_future_skew: timedelta = DEFAULT_MAX_FUTURE_SKEW,
        sweep_limit: int = SWEEP_LIMIT,
        metrics: Metrics = METRICS,
    ) -> None:
        self.metrics = metrics
        self.store = store
        #: How far ahead of ``clock`` an ``issued_at`` may be before it is invalid.
        self.max_future_skew = max_future_skew
        #: How many due stored complaints one batch fires per partition at most.
        self.sweep_limit = sweep_limit
        self.policy = policy
        self.registry = registry or WorkflowRegistry.default()
        self.topics = topics or Topics()
        self.clock = clock

    # --- commands -----------------------------------------------------------------

    def process(
        self,
        records: Sequence[Record],
        *,
        caught_up: Iterable[int] = (),
        pending: Iterable[int] = (),
        sweep: bool = True,
    ) -> BatchResult:
        """Apply ``records`` (from one topic) and fire due timers, in one transaction.

        ``caught_up`` names partitions with nothing more waiting: their watermark may
        advance to the wall clock. ``pending`` names partitions an earlier batch left
        timers due in (:attr:`BatchResult.more_due`): they are swept too, at their
        stored watermark. ``sweep=False`` fires only what the commands need first (a
        complaint's timers due before its command); the rest stays due for a later
        batch, which changes no event (see :meth:`_sweep_partition`). Retries on a
        concurrency conflict with fresh state.
        """
        topic = records[0].topic if records else self.topics.commands
        return self._retrying(records, set(caught_up), topic, set(pending), sweep)

    def _retrying(
        self,
        records: Sequence[Record],
        caught_up: set[int],
        topic: str,
        pending: set[int],
        sweep: bool = True,
    ) -> BatchResult:
        """Run one batch; on a seq conflict, again from freshly read state."""
        for attempt in range(1, _CONFLICT_RETRIES + 1):
            try:
                # The batch's reads and its write share one connection and one
                # transaction, which the write commits.
                with self.store.one_connection():
                    work = self._decide(records, caught_up, topic, pending, sweep)
                    self._store(work, topic)
                return work.result
            except ConcurrencyError as exc:
                self.metrics.concurrency_conflicts.inc()
                log.warning("batch conflict (attempt %d): %s", attempt, exc)
                if attempt == _CONFLICT_RETRIES:
                    raise
        raise AssertionError("unreachable")

    def _store(self, work: _Work, topic: str) -> None:
        """Steps 6 and 7: write the batch in one transaction, then count it."""
        self.store.write(work.write)
        record_batch(
            BatchReport(
                outcomes=work.result.outcomes,
                transitions=work.transitions,
                events=work.result.events,
                skipped={topic: work.result.skipped} if work.result.skipped else {},
            ),
            self.metrics,
        )

    def _decide(
        self,
        records: Sequence[Record],
        caught_up: set[int],
        topic: str,
        pending: set[int],
        sweep: bool,
    ) -> _Work:
        """Steps 1 to 5 of the module's docstring: everything but the write."""
        now = self.clock()
        partitions = {r.partition for r in records} | caught_up | pending
        progress = self.store.progress(topic, partitions)
        watermarks = {p: progress[p].watermark if p in progress else None for p in partitions}
        next_offsets = {p: progress[p].next_offset if p in progress else 0 for p in partitions}

        fresh: list[tuple[Record, Command | InvalidCommandError]] = []
        below: list[Record] = []
        for record in records:
            if record.offset < next_offsets[record.partition]:
                below.append(record)  # applied before a crash: its effects are stored
                continue
            fresh.append((record, self._decode(record, now)))
            next_offsets[record.partition] = record.offset + 1
        if below:
            self._check_skipped(topic, below, next_offsets)

        commands = [c for _, c in fresh if isinstance(c, Command)]
        # Invalid records that name a command id get a processed row too (see
        # _dead_letter): never over an applied one, so those ids are looked up as well.
        invalid_ids = [
            str(c.context["command_id"])
            for _, c in fresh
            if isinstance(c, InvalidCommandError) and "command_id" in c.context
        ]
        stored = self.store.processed([*(c.command_id for c in commands), *invalid_ids])
        work = _Work(
            loaded=self.store.load(c.complaint_id for c in commands),
            applied_ids={cid for cid, outcome in stored.items() if outcome == "applied"},
        )
        work.result.skipped = len(below)
        for record, decoded in fresh:
            if isinstance(decoded, InvalidCommandError):
                self._dead_letter(work, record, decoded, now)
                continue
            applied = self._apply(work, record, decoded, now, watermarks[record.partition])
            current = watermarks[record.partition]
            # Only an applied command moves the partition's clock (CONTRACT §4 "Time
            # integrity"): a rejected or duplicate one may carry any bogus time.
            if applied and (current is None or decoded.issued_at > current):
                watermarks[record.partition] = decoded.issued_at
        for partition in caught_up:
            current = watermarks[partition]
            watermarks[partition] = now if current is None else max(current, now)
        swept = [(p, w) for p, w in sorted(watermarks.items()) if w is not None and sweep]
        share = max(1, -(-self.sweep_limit // len(swept))) if swept else 0
        due = self.store.due(dict(swept), share) if swept else {}
        for partition, watermark in swept:
            if self._sweep_partition(work, partition, watermark, now, due[partition], share):
                work.result.more_due.add(partition)

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
        work.write.policy = self.policy.fingerprint  # the clocks it writes are current
        return work

    def _decode(self, record: Record, now: datetime | None) -> Command | InvalidCommandError:
        """The record's command (``issued_at`` checked against ``now`` if given), or why not."""
        latest = None if now is None else now + self.max_future_skew
        try:
            return decode_command(record.value, self.registry, latest=latest)
        except InvalidCommandError as exc:
            return exc

    def _check_skipped(self, topic: str, below: list[Record], next_offsets: dict[int, int]) -> None:
        """Count and log records below the stored ``next_offset``; refuse a recreated topic.

        After a crash between the database commit and the Kafka offset commit, the
        records come back and are skipped: every command among them has a processed row
        (each decodable command gets one, whatever its outcome). A command id that was
        never processed means these offsets now hold other records: the topic was
        deleted and recreated, and skipping them would drop commands silently.
        """
        by_partition = Counter(r.partition for r in below)
        for partition, n in sorted(by_partition.items()):
            offsets = [r.offset for r in below if r.partition == partition]
            log.warning(
                "skipped %d records of %s partition %d at offsets %d..%d, below the stored "
                "next offset %d (already applied, e.g. before a crash)",
                n,
                topic,
                partition,
                min(offsets),
                max(offsets),
                next_offsets[partition],
            )
        decoded = [(r, self._decode(r, None)) for r in below]
        commands = [(r, c) for r, c in decoded if isinstance(c, Command)]
        known = self.store.processed(c.command_id for _, c in commands)
        unknown = [(r, c) for r, c in commands if c.command_id not in known]
        if unknown:
            record, cmd = unknown[0]
            raise TopicRecreatedError(
                f"{len(unknown)} records below the stored next offset of {topic} carry "
                "command ids this engine never processed: the topic was probably deleted "
                "and recreated, and its offsets start again. Nothing was applied. Stop "
                "every engine, delete the topic's stored progress (DELETE FROM "
                f"partition_progress WHERE topic = '{topic}'), then start again: commands "
                "applied before are recognised by their ids and not applied twice",
                topic=topic,
                partition=record.partition,
                offset=record.offset,
                stored_next_offset=next_offsets[record.partition],
                command_id=cmd.command_id,
            )

    def _dead_letter(
        self, work: _Work, record: Record, error: InvalidCommandError, now: datetime
    ) -> None:
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
        type_label = _type_label(record.value, self.registry.command_types)
        work.result.outcomes[(type_label, "invalid")] += 1
        command_id = error.context.get("command_id")
        complaint_id = error.context.get("complaint_id")
        if command_id and complaint_id and command_id not in work.applied_ids:
            # So a replay of this record is recognised (see _check_skipped).
            work.write.processed.append(
                ProcessedCommand(
                    command_id=str(command_id),
                    complaint_id=str(complaint_id),
                    command_type=type_label,
                    outcome="invalid",
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    processed_at=now,
                )
            )
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

    def _apply(
        self,
        work: _Work,
        record: Record,
        command: Command,
        now: datetime,
        watermark: datetime | None,
    ) -> bool:
        """Decide one command into the batch; True when its outcome is *applied*.

        First the complaint's timers due before the partition's ``watermark`` fire: the
        watermark passed them before this record was read, however the records were
        split into polls (CONTRACT §4).
        """
        if command.command_id in work.applied_ids:
            work.result.outcomes[(command.type, "duplicate")] += 1
            return False
        complaint = work.current.get(command.complaint_id) or work.loaded.get(command.complaint_id)
        fired_until = None
        if complaint is not None and watermark is not None and watermark > command.issued_at:
            # Only needed for a command stamped before the watermark: otherwise decide()
            # fires everything due before the command itself, and if the command is not
            # applied, the sweep at the end of this batch fires the same timers.
            complaint = self._fire_until(work, complaint, watermark, record.partition, now)
            fired_until = watermark
        try:
            outcome = decide(
                complaint,
                command,
                registry=self.registry,
                policy=self.policy,
                now=now,
                source=f"{record.topic}/{record.partition}/{record.offset}",
                timers_fired_until=fired_until,
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
            self._dead_letter(work, record, failure, now)
            return False
        self._absorb(work, outcome, record.partition)
        work.result.outcomes[(command.type, outcome.kind)] += 1
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
        return outcome.kind == "applied"

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

    def sweep(
        self,
        partitions: Iterable[int],
        *,
        topic: str | None = None,
        pending: Iterable[int] = (),
    ) -> BatchResult:
        """Advance caught-up ``partitions`` to the wall clock and fire what fell due.

        The same transaction as a batch, with no records: timers and progress only.
        ``pending`` partitions (left with due timers by an earlier batch) are swept at
        their stored watermark.
        """
        parts, more = set(partitions), set(pending)
        if not parts and not more:
            return BatchResult()
        return self._retrying([], parts, topic or self.topics.commands, more)

    def _sweep_partition(
        self,
        work: _Work,
        partition: int,
        watermark: datetime,
        now: datetime,
        due: list[ComplaintState],
        limit: int,
    ) -> bool:
        """Fire the timers of ``partition`` due before ``watermark`` (batch state wins).

        ``due`` are the stored complaints due there (:meth:`Store.due`, at most
        ``limit``). True when ``limit`` were: there may be more.

        At most ``limit`` stored complaints per batch (its share of ``sweep_limit``),
        earliest first, so a flood of due timers is spread over several short
        transactions instead of one long one, with commands applied in between.
        The rest stay due in the store (``next_due_at`` below the stored watermark) and
        fire in a later sweep, or at the latest just before their complaint's next
        command (:meth:`_apply`). That keeps events independent of the limit and of the
        split into polls: a complaint's events are fixed by which of its timers fired
        before each of its commands, which is everything due before the partition's
        watermark at that record (or the command's own time, when it applies), whenever
        the firing physically happens. No extra query per command is needed for it.
        """
        candidates = {c.complaint_id: c for c in due}
        for complaint_id, complaint in candidates.items():
            work.loaded.setdefault(complaint_id, complaint)
        for complaint_id, current in work.current.items():
            if work.partition_of.get(complaint_id) == partition:
                candidates[complaint_id] = current
        for complaint_id, stored in candidates.items():
            self._fire_until(
                work, work.current.get(complaint_id, stored), watermark, partition, now
            )
        return len(due) >= limit

    def _fire_until(
        self,
        work: _Work,
        complaint: ComplaintState,
        watermark: datetime,
        partition: int,
        now: datetime,
    ) -> ComplaintState:
        """Fire ``complaint``'s timers due before ``watermark`` into the batch."""
        outcome = fire_due(
            complaint, watermark, registry=self.registry, policy=self.policy, now=now
        )
        if not outcome.events:
            return complaint
        self._absorb(work, outcome, partition)
        assert outcome.complaint is not None
        return outcome.complaint

    # --- policy changes -------------------------------------------------------------

    def reschedule_running_clocks(self, *, page_size: int = 500) -> int:
        """Bring every running, unbreached clock to the current policy; the events written.

        Called once at the engine's start (CONTRACT §4 "Policy changes reach running
        clocks"). Pages through the complaints by id, one transaction per page, each
        written like a batch (seq check, events, outbox), so a page that another
        instance changed meanwhile is read again. Idempotent: under an unchanged
        policy nothing changes and nothing is written.
        """
        written = 0
        after: str | None = None
        while True:
            page = self.store.running_clocks(after, page_size, stale_for=self.policy.fingerprint)
            if not page:
                break
            after = page[-1][0]
            for attempt in range(1, _CONFLICT_RETRIES + 1):
                try:
                    written += self._reschedule_page(dict(page))
                    break
                except ConcurrencyError as exc:
                    METRICS.concurrency_conflicts.inc()
                    log.warning("reschedule conflict (attempt %d): %s", attempt, exc)
                    if attempt == _CONFLICT_RETRIES:
                        raise
        if written:
            log.info("policy %s moved %d running deadlines", self.policy.fingerprint, written)
        return written

    def _reschedule_page(self, partitions: dict[str, int]) -> int:
        now = self.clock()
        work = _Work(loaded=self.store.load(partitions), applied_ids=set())
        for complaint_id, complaint in work.loaded.items():
            outcome = reschedule(complaint, registry=self.registry, policy=self.policy, now=now)
            if outcome.complaint != complaint:
                self._absorb(work, outcome, partitions[complaint_id])
        self._collect_complaints(work, force=True)
        work.write.policy = self.policy.fingerprint
        # Checked and current: stamped, so the next start under this policy skips them.
        work.write.checked = {
            cid: work.current.get(cid, complaint).seq for cid, complaint in work.loaded.items()
        }
        self.store.write(work.write)
        record_batch(BatchReport(events=work.result.events))
        return len(work.result.events)

    # --- writing --------------------------------------------------------------------

    def _collect_complaints(self, work: _Work, *, force: bool = False) -> None:
        """A write per changed complaint (``force``: also those whose seq did not move)."""
        for complaint_id, complaint in work.current.items():
            before = work.loaded.get(complaint_id)
            if before is not None and before.seq == complaint.seq and not force:
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
                    state_before=None if before is None else before.state,
                )
            )


def _type_label(value: bytes | None, known: frozenset[str]) -> str:
    """The command type of an invalid record if it can be read, for the metric label."""
    try:
        data = json.loads(value or b"")
    except (ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: deeply nested JSON ("[[[[..."), which must not kill the engine.
        return "unknown"
    kind = data.get("type") if isinstance(data, dict) else None
    # Only known types: a label value must never be free text from outside.
    return kind if isinstance(kind, str) and kind in known else "unknown"
