"""The outbox relay: publishes stored records to Kafka, in write order, then marks them.

At-least-once by design: if the process dies after Kafka acknowledged a record but
before the row was marked, it is published again; consumers de-duplicate by
``event_id`` (CONTRACT §3). Order per complaint holds because rows are sent in id order
by one idempotent producer, keyed by complaint id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from kafka import KafkaProducer
from kafka.errors import KafkaError

from engine.errors import BrokerError, StoreError
from engine.metrics import METRICS
from engine.store import Store

__all__ = ["OutboxRelay", "StopSignal"]

log = logging.getLogger(__name__)


class StopSignal(Protocol):
    """A ``threading.Event`` or a ``multiprocessing`` event: the relay runs in either."""

    def is_set(self) -> bool:
        """True once the relay should stop."""
        ...

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep until set or ``timeout``."""
        ...


def _count_published(topic: str, n: int) -> None:
    METRICS.published.labels(topic=topic).inc(n)


class OutboxRelay:
    """Moves outbox rows to Kafka; ``on_published(topic, n)`` counts what went out."""

    def __init__(
        self,
        store: Store,
        producer: KafkaProducer,
        *,
        batch_size: int = 1000,
        flush_timeout_s: float = 30.0,
        on_published: Callable[[str, int], None] = _count_published,
    ) -> None:
        self.store = store
        self.on_published = on_published
        self.flush_timeout_s = flush_timeout_s
        self.producer = producer
        self.batch_size = batch_size

    def publish_pending(self) -> int:
        """Publish one page of pending records; return how many were published."""
        records = self.store.pending_outbox(self.batch_size)
        if not records:
            return 0
        try:
            futures = [
                self.producer.send(r.topic, key=r.key, value=r.value, headers=list(r.headers))
                for r in records
            ]
            # Bounded: with the broker gone, flush() would otherwise wait forever.
            self.producer.flush(timeout=self.flush_timeout_s)
            for future in futures:
                future.get(timeout=0)  # raises if that record failed
        except KafkaError as exc:
            raise BrokerError(f"publishing the outbox failed: {exc}") from exc
        self.store.mark_published([r.id for r in records if r.id is not None])
        per_topic: dict[str, int] = {}
        for r in records:
            per_topic[r.topic] = per_topic.get(r.topic, 0) + 1
        for topic, n in per_topic.items():
            self.on_published(topic, n)
        return len(records)

    def drain(self) -> int:
        """Publish until nothing is pending; return the total published."""
        total = 0
        while n := self.publish_pending():
            total += n
        return total

    def run(self, stop: StopSignal, *, idle_wait_s: float = 0.1) -> None:
        """Publish until ``stop`` is set; back off on broker or database errors."""
        backoff = 0.5
        while not stop.is_set():
            try:
                if self.publish_pending() == 0:
                    stop.wait(idle_wait_s)
                backoff = 0.5
            except (BrokerError, StoreError) as exc:
                log.error("outbox relay: %s; retrying in %.1fs", exc, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
        self.drain_quietly()

    def drain_quietly(self) -> None:
        """Best-effort final drain on shutdown."""
        try:
            self.drain()
        except (BrokerError, StoreError) as exc:
            log.warning("outbox not fully drained at shutdown (kept for next start): %s", exc)
