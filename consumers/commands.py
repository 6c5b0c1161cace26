"""The consumer group on ``lapor.commands``: one poll, one batch, one transaction.

Offsets are committed manually after the batch's database transaction committed, in the
poll loop itself, without waiting for the answer (the last one is awaited at close):
kafka-python 3 runs rebalance callbacks on its IO thread, where a blocking commit fails
(TECH-NOTES), so the listener only records ownership. If the
process dies between the database commit and the offset commit, the records come back
and the processor skips them by the partition's stored ``next_offset``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kafka import TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import KafkaError

from consumers.group import (
    CLOSE_TIMEOUT_MS,
    close_group_consumer,
    next_offsets,
    open_group_consumer,
)
from engine.errors import BrokerError, StoreError
from engine.gc_tuning import collector_paused
from engine.metrics import METRICS
from engine.processor import BatchResult, Processor
from engine.retry import run_with_backoff

__all__ = ["CommandConsumer", "ConsumerStats"]

log = logging.getLogger(__name__)

#: After a batch fired a full share of due timers, how long the next share waits, as a
#: fraction of that batch's time. Measured with 10,000 timers due and 500 commands/s
#: (docs/perf.md section 8): no rest and no bound on the relay's backlog, 1.7 s and a
#: command p99 of 1.5 s; with the bound (below), no rest 3.4 s and 503 ms, 0.25 4.4 s
#: and 356 ms (5.35 s and 478 ms in a full ``make bench``).
_REST_PER_SHARE = 0.1
#: No new share of due timers while more outbox records than this wait for the relay:
#: a share's events would queue in front of the commands' (about 150 ms of publishing).
MAX_OUTBOX_BACKLOG_FOR_SHARES = 1000


@dataclass
class ConsumerStats:
    """Running totals, for progress display and tests."""

    records: int = 0
    batches: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def add(self, result: BatchResult, records: int) -> None:
        """Fold one batch into the totals."""
        self.records += records
        self.batches += 1
        for (_, outcome), n in result.outcomes.items():
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + n


class _Ownership(ConsumerRebalanceListener):  # type: ignore[misc]
    """Tracks which partitions this instance owns; no blocking calls (IO thread).

    ``on_change`` hears the new set after every change (the outbox relay publishes the
    rows of these partitions only); it must not block either.
    """

    def __init__(self, on_change: Callable[[set[int]], None] | None = None) -> None:
        self.owned: set[int] = set()
        self.lock = threading.Lock()
        self.on_change = on_change

    def on_partitions_revoked(self, revoked: Any) -> None:
        with self.lock:
            self.owned -= {tp.partition for tp in revoked}
            owned = set(self.owned)
        self._changed(owned)
        for tp in revoked:
            # The new owner reports this partition's lag; a stale series would mislead.
            with contextlib.suppress(KeyError):
                METRICS.consumer_lag.remove(tp.topic, str(tp.partition))
        parts = sorted(tp.partition for tp in revoked)
        log.info("partitions revoked: %s", parts, extra={"partitions": parts})

    def on_partitions_assigned(self, assigned: Any) -> None:
        with self.lock:
            self.owned |= {tp.partition for tp in assigned}
            owned = set(self.owned)
        self._changed(owned)
        parts = sorted(tp.partition for tp in assigned)
        log.info("partitions assigned: %s", parts, extra={"partitions": parts})

    def _changed(self, owned: set[int]) -> None:
        if self.on_change is not None:
            try:
                self.on_change(owned)
            except Exception:
                log.exception("ownership listener failed")

    def snapshot(self) -> set[int]:
        with self.lock:
            return set(self.owned)


class CommandConsumer:
    """Consumes commands with a group and hands each poll to the :class:`Processor`."""

    def __init__(
        self,
        processor: Processor,
        *,
        bootstrap: str,
        group_id: str,
        topic: str,
        max_poll_records: int = 500,
        poll_timeout_ms: int = 500,
        sweep_interval_s: float = 1.0,
        consumer_config: dict[str, Any] | None = None,
        on_ownership: Callable[[set[int]], None] | None = None,
        on_stored: Callable[[], None] | None = None,
        outbox_backlog: Callable[[], int] | None = None,
    ) -> None:
        self.processor = processor
        #: Called after each batch or sweep is stored, before the offset commit.
        self.on_stored = on_stored
        #: How many outbox records wait for the relay (asked only while timers are due).
        self.outbox_backlog = outbox_backlog
        self.topic = topic
        self.poll_timeout_ms = poll_timeout_ms
        self.max_poll_records = max_poll_records
        self.sweep_interval_s = sweep_interval_s
        self.stats = ConsumerStats()
        self._ownership = _Ownership(on_ownership)
        self._consumer = open_group_consumer(
            bootstrap,
            group_id,
            max_poll_records=max_poll_records,
            consumer_config=consumer_config,
            fetch_max_wait_ms=50,
        )
        self._consumer.subscribe([topic], listener=self._ownership)
        self._last_sweep = 0.0
        self._last_confirmed = float("-inf")
        #: The latest offsets committed without waiting, per partition (see _commit).
        self._uncommitted: dict[TopicPartition, Any] = {}
        #: Partitions the last batch left with due timers (its sweep hit its limit).
        self._more_due: set[int] = set()
        #: Until when (monotonic) the next share of due timers waits (see poll_once).
        self._rest_until = 0.0

    @property
    def owned_partitions(self) -> set[int]:
        """Partitions of ``lapor.commands`` this instance owns now."""
        return self._ownership.snapshot()

    def run(
        self,
        stop: threading.Event,
        *,
        on_batch: Callable[[ConsumerStats], None] | None = None,
    ) -> None:
        """Poll, apply, commit until ``stop`` is set; outages are retried with backoff.

        Database and broker outages alike: kafka-python's ``poll`` raises (for instance
        while it looks for the group coordinator) when the broker is gone.
        """

        def step() -> float:
            try:
                # Paused around the whole poll, not only the batch: when it ends, the
                # batch's records, events and result are already freed by reference
                # counting, so the collection the batch postponed finds next to nothing
                # left to read (docs/perf.md section 33).
                with collector_paused():
                    self.poll_once()
            finally:
                if on_batch is not None:
                    on_batch(self.stats)
            return 0.0

        run_with_backoff(
            step,
            stop,
            retry_on=(StoreError, BrokerError),
            what="applying a batch (database or broker unavailable?)",
            on_failure=lambda _: METRICS.batch_failures.inc(),
        )

    def poll_once(self) -> BatchResult | None:
        """One poll: apply its records (or sweep timers when idle) and commit offsets.

        While a flood of due timers is being fired a share per batch, shares alternate
        with short rests (a tenth of the share's time), and no share starts while the
        relay has more than :data:`MAX_OUTBOX_BACKLOG_FOR_SHARES` records to publish
        (its events would queue in front of the commands'). During a rest, batches
        apply commands (and the timers those need first) without sweeping; after it,
        the next share goes at once.
        """
        now = time.monotonic()
        resting = now < self._rest_until or self._relay_behind()
        # Only partitions still owned: a revoked one's timers are its new owner's.
        pending = set() if resting else self._more_due & self.owned_partitions
        timeout_ms = self.poll_timeout_ms
        if self._more_due:
            # Back for the next share as soon as the rest is over (10 ms while the relay
            # catches up), or at once when it is not resting.
            rest_ms = max(10, int((self._rest_until - now) * 1000) + 1) if resting else 0
            timeout_ms = min(timeout_ms, rest_ms)
        try:
            polled = self._consumer.poll(timeout_ms=timeout_ms, max_records=self.max_poll_records)
        except KafkaError as exc:
            raise BrokerError(f"polling Kafka failed: {exc}") from exc
        records = [r for tp in sorted(polled, key=lambda tp: tp.partition) for r in polled[tp]]
        caught_up = self._caught_up_now()
        if not records:
            interval_over = time.monotonic() - self._last_sweep >= self.sweep_interval_s
            if not resting and ((interval_over and caught_up) or pending):
                if interval_over and caught_up:
                    self._last_sweep = time.monotonic()
                started = time.monotonic()
                with METRICS.sweep_seconds.time(), collector_paused():
                    swept = self.processor.sweep(
                        sorted(caught_up), topic=self.topic, pending=sorted(pending)
                    )
                self._swept(swept, started)
                if swept.events:
                    self._stored()
                return swept
            return None
        started = time.monotonic()
        try:
            with collector_paused():
                result = self.processor.process(
                    records, caught_up=caught_up, pending=pending, sweep=not resting
                )
        except StoreError:
            # Nothing was written: rewind so the same records are polled again.
            for tp, batch in polled.items():
                self._consumer.seek(tp, batch[0].offset)
            raise
        METRICS.batch_seconds.observe(time.monotonic() - started)
        if not resting:
            self._swept(result, started)
        self._stored()
        self._commit(polled)
        self.stats.add(result, len(records))
        return result

    def _relay_behind(self) -> bool:
        """True while timers are left due and the relay has a share's worth to publish."""
        if not self._more_due or self.outbox_backlog is None:
            return False
        try:
            return self.outbox_backlog() > MAX_OUTBOX_BACKLOG_FOR_SHARES
        except StoreError:
            return False  # the batch itself will meet the outage and back off

    def _swept(self, result: BatchResult, started: float) -> None:
        """Note where timers are left due; after a full share, rest a while (see poll_once)."""
        self._more_due = result.more_due
        if result.more_due:
            now = time.monotonic()
            self._rest_until = now + _REST_PER_SHARE * (now - started)

    def _stored(self) -> None:
        if self.on_stored is not None:
            self.on_stored()

    def _caught_up_now(self) -> set[int]:
        """:meth:`_caught_up`, confirmed at most once per ``sweep_interval_s``.

        The confirmation is a request to the broker, which waits behind the consumer's
        own fetch (up to its long-poll time): once per poll it cost about a quarter of
        the loop's wall time. The wall clock only matters for timers, and those are
        swept once per ``sweep_interval_s`` anyway; in between, the partitions' own
        command times move their watermarks. The lag gauge follows every poll.
        """
        if time.monotonic() - self._last_confirmed < self.sweep_interval_s:
            self._looks_caught_up()
            return set()
        self._last_confirmed = time.monotonic()
        return self._caught_up()

    def _caught_up(self) -> set[int]:
        """Owned partitions with nothing waiting after this poll (watermark may use wall time).

        The highwater kafka-python caches comes from the last fetch response and can be
        older than records already in the partition, so a partition that looks caught up
        is confirmed with a real end-offset request before the wall clock may pass its
        unread commands (CONTRACT §4). An unknown position or highwater (no fetch
        answered yet, e.g. while joining the group) is never caught up.
        """
        positions = self._looks_caught_up()
        if not positions:
            return set()
        try:
            ends = self._consumer.end_offsets(list(positions))
        except KafkaError as exc:
            log.warning("cannot confirm end offsets, not advancing to wall time: %s", exc)
            return set()
        caught_up = set()
        for tp, position in positions.items():
            end = ends.get(tp)
            if end is None:
                continue
            METRICS.consumer_lag.labels(topic=tp.topic, partition=str(tp.partition)).set(
                max(end - position, 0)
            )
            if position >= end:
                caught_up.add(tp.partition)
        return caught_up

    def _looks_caught_up(self) -> dict[TopicPartition, int]:
        """Positions of the partitions at their cached highwater; sets the lag gauge."""
        positions: dict[TopicPartition, int] = {}
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            position = self._safe_position(tp)
            if highwater is None or position is None:
                continue
            METRICS.consumer_lag.labels(topic=tp.topic, partition=str(tp.partition)).set(
                max(highwater - position, 0)
            )
            if position >= highwater:
                positions[tp] = position
        return positions

    def _safe_position(self, tp: TopicPartition) -> int | None:
        try:
            position: int = self._consumer.position(tp, timeout_ms=0)
        except (KafkaError, AssertionError, TypeError):
            return None
        return position

    def _commit(self, polled: dict[TopicPartition, list[Any]]) -> None:
        """Commit the batch's offsets without waiting for the broker's answer.

        The batch and its partitions' next offsets are already stored, so the Kafka
        commit only saves re-reading: a lost one costs a re-read, skipped by the stored
        offsets, never a double apply. Waiting for it cost a round trip per batch
        (about 4% of the loop); the last one is committed and awaited at :meth:`close`.
        """
        offsets = next_offsets(polled)
        self._uncommitted.update(offsets)
        try:
            self._consumer.commit_async(offsets, callback=_commit_answered)
        except KafkaError as exc:
            METRICS.batch_failures.inc()
            log.warning("offset commit failed (broker unavailable?): %s", exc)

    def _commit_last(self) -> None:
        """Commit the latest offsets and wait: a clean stop leaves nothing to re-read."""
        if not self._uncommitted:
            return
        owned = self.owned_partitions
        offsets = {tp: o for tp, o in self._uncommitted.items() if tp.partition in owned}
        self._uncommitted.clear()
        try:
            if offsets:
                self._consumer.commit(offsets, timeout_ms=CLOSE_TIMEOUT_MS)
        except KafkaError as exc:
            log.warning("final offset commit failed (the next start re-reads and skips): %s", exc)

    def close(self) -> None:
        """Commit the last offsets, leave the group and close the connection (bounded)."""
        self._commit_last()
        close_group_consumer(self._consumer)


def _commit_answered(offsets: dict[TopicPartition, Any], response: Any) -> None:
    """The broker's answer to an asynchronous commit (on kafka-python's IO thread)."""
    if isinstance(response, Exception):
        # CommitFailedError after a rebalance: the new owner skips what we stored.
        METRICS.batch_failures.inc()
        log.warning("offset commit failed (re-read and skipped later): %s", response)
