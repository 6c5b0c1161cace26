"""The outbox relay: publishes the outbox rows it has claimed, in write order, then marks them.

Several engines share one outbox (CONTRACT §6): each row carries the ``lapor.commands``
partition of its complaint (or of the dead letter's source record), and a relay only
publishes the rows of the partitions its engine's consumer owns now (``owned``). On
PostgreSQL it also holds each partition's advisory lock while it publishes that
partition's page (:meth:`Store.claim_outbox`), so while a rebalance moves a partition,
the old and the new owner never publish the same rows, and rows go out in id order,
which is per-complaint order. Each claim starts after the rows of its partitions this
relay has already settled (:mod:`producers.claim_floors`), so its cost does not grow
with the published rows waiting for VACUUM.

At-least-once by design: if the process dies after Kafka acknowledged a record but
before the row was marked, it is published again; consumers de-duplicate by
``event_id`` (CONTRACT §3).

A record Kafka refuses for good (too large for the topic or the producer, an invalid
record) is *parked*: marked, counted, logged, shown by ``laporflow status`` and
``laporflow outbox``, and skipped, so it never blocks the rest. Published rows are
pruned after the retention period, a small batch at a time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from kafka import KafkaProducer
from kafka.errors import (
    CorruptRecordError,
    InvalidRecordError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
)

from engine.errors import BrokerError, StoreError
from engine.metrics import METRICS
from engine.retry import StopSignal, run_with_backoff
from engine.store import OutboxClaim, OutboxRecord, Store
from producers.claim_floors import ClaimFloors

__all__ = ["OutboxRelay", "StopSignal", "WakeSignal", "unpublishable"]

log = logging.getLogger(__name__)

#: Kafka errors about the record itself: retrying the same bytes can never succeed.
_REFUSED: tuple[type[BaseException], ...] = (
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    InvalidRecordError,
    CorruptRecordError,
    # kafka-python raises these from send() for a record it cannot serialize.
    TypeError,
    ValueError,
)


class WakeSignal(StopSignal, Protocol):
    """A ``threading.Event`` or a ``multiprocessing`` event the relay can also clear."""

    def clear(self) -> None:
        """Reset it: the next :meth:`wait` sleeps until it is set again."""
        ...


def unpublishable(exc: BaseException) -> bool:
    """True when ``exc`` says this record can never be published as it is."""
    return isinstance(exc, _REFUSED)


def _count_published(topic: str, n: int) -> None:
    METRICS.published.labels(topic=topic).inc(n)


def _count_parked(topic: str, n: int) -> None:
    METRICS.parked.labels(topic=topic).inc(n)


def _everything() -> Collection[int] | None:
    return None


class OutboxRelay:
    """Moves claimed outbox rows to Kafka; parks what Kafka refuses; prunes old rows.

    ``owned()`` names the commands-topic partitions whose rows this relay publishes
    (``None``: all rows, for a single instance such as the demo). ``on_published`` and
    ``on_parked`` count what went out or was parked, per topic. ``producer_factory``
    replaces the producer when kafka-python puts it in a fatal state (it does so after
    a broker refuses a record as too large). Dead letters go through
    ``dead_letter_producer`` when given (compressed: a dead letter may be as large as
    anything the commands topic accepted); events through ``producer`` (uncompressed:
    gzip at kafka-python's fixed level 9 costs the relay about 40% of its throughput).
    """

    def __init__(
        self,
        store: Store,
        producer: KafkaProducer,
        *,
        owned: Callable[[], Collection[int] | None] = _everything,
        batch_size: int = 1000,
        flush_timeout_s: float = 30.0,
        retention: timedelta = timedelta(days=7),
        prune_interval_s: float = 60.0,
        prune_batch: int = 1000,
        prune_batches_per_round: int = 10,
        on_published: Callable[[str, int], None] = _count_published,
        on_parked: Callable[[str, int], None] = _count_parked,
        producer_factory: Callable[[], KafkaProducer] | None = None,
        dead_letter_producer: KafkaProducer | None = None,
        dead_letter_factory: Callable[[], KafkaProducer] | None = None,
    ) -> None:
        self.store = store
        self.producer = producer
        self.producer_factory = producer_factory
        self.dead_letter_producer = dead_letter_producer
        self.dead_letter_factory = dead_letter_factory
        self.owned = owned
        self.batch_size = batch_size
        self.flush_timeout_s = flush_timeout_s
        self.retention = retention
        self.prune_interval_s = prune_interval_s
        self.prune_batch = prune_batch
        self.prune_batches_per_round = prune_batches_per_round
        self.on_published = on_published
        self.on_parked = on_parked
        self._last_prune = float("-inf")
        self._floors = ClaimFloors()

    # --- publishing ---------------------------------------------------------------

    def publish_pending(self) -> int:
        """Publish one claimed page; return how many records were published or parked.

        Raises :class:`BrokerError` when Kafka failed some records for a reason that may
        pass (they stay pending and are retried); what did go out is marked first.
        """
        owned = self.owned()
        if owned is not None and not owned:
            return 0
        if not self._ensure_healthy_producer():
            raise BrokerError("the Kafka producer is in a fatal state (no factory to renew it)")
        failure: BaseException | None = None
        after = self._floors.start(owned)
        with self.store.claim_outbox(owned, self.batch_size, after=after) as claim:
            if not claim.records:
                return 0
            failure = self._publish(claim)
        self._floors.settle(claim)  # its marks are committed
        self._report(claim)
        if failure is not None and not claim.published and not claim.parked:
            raise BrokerError(f"publishing the outbox failed: {failure}") from failure
        if failure is not None:
            log.warning("outbox page partly published, the rest is retried: %s", failure)
        return len(claim.published) + len(claim.parked)

    def _publish(self, claim: OutboxClaim) -> BaseException | None:
        """Send the claim's records; fill in what was published or parked."""
        failure: BaseException | None = None
        sent: list[tuple[OutboxRecord, Any]] = []
        for record in claim.records:
            try:
                future = self._producer_for(record).send(
                    record.topic, key=record.key, value=record.value, headers=list(record.headers)
                )
            except Exception as exc:  # raised synchronously, e.g. too large for the producer
                if not unpublishable(exc):
                    failure = exc
                    break  # keep the rest, in order, for the next page
                self._park(claim, record, exc)
                continue
            sent.append((record, future))
        try:
            # Bounded: with the broker gone, flush() would otherwise wait forever.
            for producer in self._producers():
                producer.flush(timeout=self.flush_timeout_s)
        except KafkaTimeoutError as exc:
            failure = failure or exc
        suspects: list[tuple[OutboxRecord, BaseException]] = []
        for record, future in sent:
            if not future.is_done:
                continue  # not acknowledged in time: stays pending
            if future.succeeded():
                if record.id is not None:
                    claim.published.append(record.id)
                continue
            error: BaseException = future.exception
            if unpublishable(error):
                suspects.append((record, error))
            else:
                failure = failure or error
        if len(sent) == 1 and suspects:
            self._park(claim, *suspects[0])
        elif suspects and failure is None:
            failure = self._isolate(claim, [record for record, _ in suspects])
        return failure

    def _isolate(self, claim: OutboxClaim, suspects: list[OutboxRecord]) -> BaseException | None:
        """Send each suspect alone, on a healthy producer; park those Kafka refuses alone.

        A refusal from the broker puts kafka-python's idempotent producer in a fatal
        state: it fails every other batch in flight with the same error, and every send
        after it. So a refusal seen in a page does not say which record was at fault,
        and the producer must be replaced before anything else is sent.
        """
        for record in suspects:
            if not self._ensure_healthy_producer():
                return BrokerError("the Kafka producer failed and cannot be replaced")
            try:
                self._producer_for(record).send(
                    record.topic, key=record.key, value=record.value, headers=list(record.headers)
                ).get(timeout=self.flush_timeout_s)
            except Exception as exc:
                if not unpublishable(exc):
                    return exc  # the rest stays pending, in order
                self._park(claim, record, exc)
                continue
            if record.id is not None:
                claim.published.append(record.id)
        return None

    def _producer_for(self, record: OutboxRecord) -> KafkaProducer:
        if self.dead_letter_producer is not None and record.topic.endswith("lapor.dlq"):
            return self.dead_letter_producer
        return self.producer

    def _producers(self) -> list[KafkaProducer]:
        if self.dead_letter_producer is None:
            return [self.producer]
        return [self.producer, self.dead_letter_producer]

    def _ensure_healthy_producer(self) -> bool:
        """Replace a producer in a fatal state; False if one cannot be replaced."""
        renewed = _renew(self.producer, self.producer_factory)
        if renewed is None:
            return False
        self.producer = renewed
        if self.dead_letter_producer is not None:
            renewed = _renew(self.dead_letter_producer, self.dead_letter_factory)
            if renewed is None:
                return False
            self.dead_letter_producer = renewed
        return True

    def close(self) -> None:
        """Close the producers (the current ones: a failed one may have been replaced)."""
        for producer in self._producers():
            producer.close()

    def _park(self, claim: OutboxClaim, record: OutboxRecord, exc: BaseException) -> None:
        if record.id is None:
            return
        reason = f"{type(exc).__name__}: {exc}"
        claim.parked[record.id] = reason
        log.error(
            "outbox record parked: Kafka refused it for good (%s); the relay goes on without "
            "it. Fix the cause (e.g. the topic's max.message.bytes), then `laporflow outbox "
            "--retry-parked`",
            reason,
            extra={
                "outbox_id": record.id,
                "topic": record.topic,
                "partition": record.partition,
                "event_id": record.event_id,
                "complaint_id": _key_text(record.key),
                "reason": type(exc).__name__,
            },
        )

    def _report(self, claim: OutboxClaim) -> None:
        by_id = {r.id: r for r in claim.records}
        for ids, count in (
            (claim.published, self.on_published),
            (list(claim.parked), self.on_parked),
        ):
            per_topic: dict[str, int] = {}
            for row_id in ids:
                topic = by_id[row_id].topic
                per_topic[topic] = per_topic.get(topic, 0) + 1
            for topic, n in per_topic.items():
                count(topic, n)

    def drain(self) -> int:
        """Publish until nothing claimable is pending; return the total published or parked."""
        total = 0
        while n := self.publish_pending():
            total += n
        return total

    # --- pruning ------------------------------------------------------------------

    def prune(self, now: datetime | None = None) -> int:
        """Delete rows published longer than ``retention`` ago, a small batch at a time.

        At most ``prune_batches_per_round`` batches per call, so publishing never waits
        long; the next round continues. Returns how many rows were deleted.
        """
        before = (now or datetime.now(UTC)) - self.retention
        total = 0
        for _ in range(self.prune_batches_per_round):
            n = self.store.prune_outbox(before, self.prune_batch)
            total += n
            if n < self.prune_batch:
                break
        if total:
            METRICS.pruned.inc(total)
            log.info("pruned %d published outbox rows older than %s", total, self.retention)
        return total

    def _maybe_prune(self) -> None:
        if time.monotonic() - self._last_prune >= self.prune_interval_s:
            self._last_prune = time.monotonic()
            self.prune()

    # --- the loop -----------------------------------------------------------------

    def run(
        self, stop: StopSignal, *, idle_wait_s: float = 0.1, wake: WakeSignal | None = None
    ) -> None:
        """Publish (and now and then prune) until ``stop`` is set; back off on outages.

        When idle, it looks again after ``idle_wait_s``, or as soon as ``wake`` is set
        (the engine sets it after each stored batch): rows go out right after their
        commit instead of up to ``idle_wait_s`` later.
        """

        def step() -> float:
            self._maybe_prune()
            if self.publish_pending():
                return 0.0
            if wake is None:
                return idle_wait_s
            # Cleared after the wait and before the next claim: a batch stored after
            # the clear sets it again, one stored before is seen by that claim.
            wake.wait(idle_wait_s)
            wake.clear()
            return 0.0

        run_with_backoff(step, stop, retry_on=(BrokerError, StoreError), what="outbox relay")
        self.drain_quietly()

    def drain_quietly(self) -> None:
        """Best-effort final drain on shutdown."""
        try:
            self.drain()
        except (BrokerError, StoreError) as exc:
            log.warning("outbox not fully drained at shutdown (kept for next start): %s", exc)


def _renew(
    producer: KafkaProducer, factory: Callable[[], KafkaProducer] | None
) -> KafkaProducer | None:
    """``producer``, or a new one if it is in a fatal state (None: no way to renew it)."""
    manager = getattr(producer, "_transaction_manager", None)
    if manager is None or not manager.has_fatal_error():
        return producer
    if factory is None:
        return None
    log.warning("the Kafka producer is in a fatal state; replacing it")
    try:
        producer.close(timeout=1)
    except Exception:
        log.debug("closing the failed producer failed", exc_info=True)
    return factory()


def _key_text(key: bytes | None) -> str | None:
    if key is None:
        return None
    return key.decode("utf-8", errors="replace")[:64]
