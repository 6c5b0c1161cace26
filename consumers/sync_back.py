"""The LAPOR! sync-back: the engine's progress pushed back to the national API.

A consumer of ``lapor.events`` with its own group (derived from the topic prefix). For
each ``complaint.dispatched``, ``.followed_up`` and ``.resolved`` event of a complaint
that came in through the feed, it posts a follow-up upstream, idempotent by the event's
id (upstream de-duplicates too), with the client's retries. Each push is recorded as
``pushed`` or ``failed`` (with the body); failed ones are tried again later, never
dropped silently. Offsets are committed after the batch's pushes are recorded, so a
crash re-reads the batch and the recorded ones are skipped.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from kafka.errors import KafkaError

from consumers.group import close_group_consumer, open_group_consumer
from engine.errors import BrokerError, LaporFlowError, UpstreamError
from engine.feed_store import FeedStore
from engine.metrics import METRICS, Metrics
from lapor.client import LaporClient
from lapor.models import FollowUpPush

__all__ = ["PUSHED_EVENTS", "SyncBack"]

log = logging.getLogger(__name__)

#: Event type -> push type.
PUSHED_EVENTS = {
    "complaint.dispatched": "dispatch",
    "complaint.followed_up": "follow_up",
    "complaint.resolved": "resolve",
}


def push_of(event: dict[str, Any]) -> FollowUpPush:
    """The push for one event (no identity, and nothing an event does not carry)."""
    push_type = PUSHED_EVENTS[event["type"]]
    payload = event.get("payload") or {}
    note = payload.get("note")
    if push_type == "dispatch":
        note = f"Didisposisikan ke {event.get('skpd')}"
    return FollowUpPush(
        event_id=event["event_id"],
        type=push_type,  # type: ignore[arg-type]
        occurred_at=event["occurred_at"],
        state=event.get("state") or "",
        skpd=event.get("skpd"),
        note=note,
    )


class SyncBack:
    """Consumes events, pushes the ones LAPOR! should see, records each outcome."""

    def __init__(
        self,
        client: LaporClient,
        feed_store: FeedStore,
        *,
        bootstrap: str,
        topic: str,
        group_id: str,
        retry_failed_every_s: float = 30.0,
        consumer_config: dict[str, Any] | None = None,
        metrics: Metrics = METRICS,
    ) -> None:
        self.client = client
        self.feed_store = feed_store
        self.topic = topic
        self.metrics = metrics
        self.retry_failed_every_s = retry_failed_every_s
        self._last_retry = time.monotonic()
        self._consumer = open_group_consumer(
            bootstrap,
            group_id,
            max_poll_records=50,
            consumer_config=consumer_config,
            # A killed feed's member leaves the group after this, not after 45 s: the
            # restarted feed's sync-back is not kept waiting for its rebalance.
            session_timeout_ms=10_000,
            heartbeat_interval_ms=1_000,
        )
        try:
            # Load the topic's metadata before joining, so the first assignment sees it.
            self._consumer.partitions_for_topic(topic)
            self._consumer.subscribe([topic])
        except KafkaError as exc:
            raise BrokerError(f"cannot connect to Kafka: {exc}", bootstrap=bootstrap) from exc

    def poll_once(self, timeout_ms: int = 500) -> int:
        """Handle one poll of events; the number of events read."""
        try:
            batches = self._consumer.poll(timeout_ms=timeout_ms)
        except KafkaError as exc:
            raise BrokerError(f"polling {self.topic} failed: {exc}", topic=self.topic) from exc
        events = []
        for records in batches.values():
            for record in records:
                event = _decode(record.value)
                if event is not None and event.get("type") in PUSHED_EVENTS:
                    events.append(event)
        count = sum(len(r) for r in batches.values())
        if events:
            self._push_all(events)
        if count:
            try:
                self._consumer.commit()
            except KafkaError as exc:
                # Recorded pushes are skipped on the re-read: safe to go on.
                log.warning("committing sync-back offsets failed: %s", exc)
        if time.monotonic() - self._last_retry >= self.retry_failed_every_s:
            self.retry_failed()
        return count

    def _push_all(self, events: list[dict[str, Any]]) -> None:
        known = self.feed_store.known(e["complaint_id"] for e in events)
        done = self.feed_store.push_outcomes(e["event_id"] for e in events)
        for event in events:
            if event["complaint_id"] not in known:
                continue  # not a LAPOR! report (typed in by a regional channel)
            if done.get(event["event_id"]) in ("pushed", "failed"):
                # Pushed already, or failed and left to retry_failed(): not twice here.
                self.metrics.lapor_pushes.labels(outcome="duplicate").inc()
                continue
            ok = self._push(event["complaint_id"], push_of(event))
            done[event["event_id"]] = "pushed" if ok else "failed"
        self._refresh_gauge()

    def _push(self, complaint_id: str, push: FollowUpPush) -> bool:
        body = push.model_dump_json()
        try:
            self.client.push(complaint_id, push)
        except UpstreamError as exc:
            log.warning("push of %s for %s failed: %s", push.event_id, complaint_id, exc)
            self.metrics.lapor_pushes.labels(outcome="failed").inc()
            self.feed_store.record_push(
                event_id=push.event_id,
                complaint_id=complaint_id,
                push_type=push.type,
                outcome="failed",
                attempts=max(1, self.client.last_attempts),
                last_error=str(exc)[:500],
                body=body,
            )
            return False
        self.metrics.lapor_pushes.labels(outcome="pushed").inc()
        self.feed_store.record_push(
            event_id=push.event_id,
            complaint_id=complaint_id,
            push_type=push.type,
            outcome="pushed",
            attempts=max(1, self.client.last_attempts),
            last_error=None,
            body=body,
        )
        return True

    def retry_failed(self) -> int:
        """Try the failed pushes again; the number that went through."""
        self._last_retry = time.monotonic()
        ok = 0
        for record in self.feed_store.failed_pushes():
            push = FollowUpPush.model_validate_json(record.body)
            ok += self._push(record.complaint_id, push)
        self._refresh_gauge()
        return ok

    def _refresh_gauge(self) -> None:
        self.metrics.lapor_push_failed.set(self.feed_store.push_counts().get("failed", 0))

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop``; failures are logged and retried."""
        while not stop.is_set():
            try:
                self.poll_once()
            except LaporFlowError as exc:
                log.warning("sync-back batch failed, will retry: %s", exc)
                self._rewind()
                stop.wait(2.0)

    def _rewind(self) -> None:
        # The failed batch was read but not committed: read it again from the commit.
        try:
            for tp in self._consumer.assignment():
                committed = self._consumer.committed(tp)
                if committed is None:
                    self._consumer.seek_to_beginning(tp)
                else:
                    self._consumer.seek(tp, committed)
        except KafkaError as exc:
            log.warning("rewinding the sync-back consumer failed: %s", exc)

    def close(self) -> None:
        """Leave the group (bounded: see ``CLOSE_TIMEOUT_MS``)."""
        close_group_consumer(self._consumer)


def _decode(value: bytes | None) -> dict[str, Any] | None:
    try:
        doc = json.loads(value or b"")
    except ValueError:
        return None
    if not isinstance(doc, dict) or not {"event_id", "complaint_id", "type"} <= set(doc):
        return None
    return doc
