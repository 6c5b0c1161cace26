"""The consumer group on ``lapor.events`` that stores notices (``laporflow notify``).

Each poll: decode the events, plan their notices (:func:`workflows.notices.plan_notices`),
store them all in one transaction (unique per event, recipient and channel), then
commit the offsets. A crash between the two re-reads the records and stores nothing
new, so every notice is stored exactly once. Sending is another loop's job
(:mod:`notices.sender`); this one never waits on a mail server.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kafka import TopicPartition
from kafka.errors import CommitFailedError, KafkaError
from pydantic import ValidationError

from consumers.group import close_group_consumer, next_offsets, open_group_consumer
from engine.errors import BrokerError, StoreError
from engine.metrics import METRICS
from engine.notices import NoticeStore
from engine.retry import run_with_backoff
from workflows.model import Event
from workflows.notices import MissingContact, PlannedNotice, plan_notices
from workflows.policy import Policy

__all__ = ["EventConsumer", "PlannerStats", "decode_event", "notify_group_id"]

log = logging.getLogger(__name__)

_EVENT_FIELDS = frozenset(Event.model_fields)


def notify_group_id(topic_prefix: str) -> str:
    """The notifier's consumer group, derived from the topic prefix.

    Two regions sharing a cluster (``kalsel.``, ``kaltim.``) must not share a group:
    members of one group rebalance together even on different topics (TECH-NOTES).
    """
    return f"{topic_prefix}laporflow-notify"


def decode_event(value: bytes | None) -> Event | None:
    """An event from a record's value; ``None`` for a record that is not one.

    Fields the contract may add later are ignored rather than rejected.
    """
    if value is None:
        return None
    try:
        data = json.loads(value)
        if not isinstance(data, dict):
            return None
        return Event.model_validate({k: v for k, v in data.items() if k in _EVENT_FIELDS})
    except (ValueError, ValidationError):
        return None


@dataclass
class PlannerStats:
    """Running totals, for tests and the demo summary."""

    records: int = 0
    skipped: int = 0
    stored: int = 0
    missing: dict[str, int] = field(default_factory=dict)


class EventConsumer:
    """Consumes ``lapor.events`` with its own group and stores the notices they call for."""

    def __init__(
        self,
        notices: NoticeStore,
        policy: Policy,
        *,
        bootstrap: str,
        group_id: str,
        topic: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_poll_records: int = 500,
        poll_timeout_ms: int = 500,
        consumer_config: dict[str, Any] | None = None,
    ) -> None:
        self.notices = notices
        self.policy = policy
        self.topic = topic
        self.clock = clock
        self.poll_timeout_ms = poll_timeout_ms
        self.max_poll_records = max_poll_records
        self.stats = PlannerStats()
        self._reported: set[tuple[str, str | None, str | None]] = set()
        self._consumer = open_group_consumer(
            bootstrap,
            group_id,
            max_poll_records=max_poll_records,
            consumer_config=consumer_config,
        )
        self._consumer.subscribe([topic])

    def run(self, stop: threading.Event) -> None:
        """Poll and store until ``stop`` is set; retry database and broker outages, backing off."""
        run_with_backoff(
            self._poll_step,
            stop,
            retry_on=(StoreError, BrokerError),
            what="the notices' consumer (database or Kafka unavailable?)",
        )

    def _poll_step(self) -> float:
        self.poll_once()
        return 0.0  # poll_once waits for records itself

    def poll_once(self) -> int:
        """One poll: store the notices of its events, then commit; returns records read."""
        try:
            polled = self._consumer.poll(
                timeout_ms=self.poll_timeout_ms, max_records=self.max_poll_records
            )
        except KafkaError as exc:
            # kafka-python 3 can raise from its coordinator lookup while the broker is
            # down (seen in make chaos's broker restart); the next poll reconnects.
            raise BrokerError(f"polling {self.topic} failed: {exc}", topic=self.topic) from exc
        records = [r for tp in sorted(polled, key=lambda tp: tp.partition) for r in polled[tp]]
        if not records:
            return 0
        try:
            self._store(records)
        except StoreError:
            # Nothing was stored: rewind so the same records come back.
            for tp, batch in polled.items():
                self._consumer.seek(tp, batch[0].offset)
            raise
        self._commit(polled)
        return len(records)

    def _store(self, records: list[Any]) -> None:
        events: dict[str, Event] = {}
        planned: list[PlannedNotice] = []
        missing: list[MissingContact] = []
        for record in records:
            event = decode_event(record.value)
            if event is None:
                self.stats.skipped += 1
                log.warning(
                    "skipping a record that is not an event (%s[%d]@%d)",
                    record.topic,
                    record.partition,
                    record.offset,
                )
                continue
            plan = plan_notices(event, self.policy)
            if plan.notices or plan.missing:
                events[event.event_id] = event
                planned.extend(plan.notices)
                missing.extend(plan.missing)
        added = self.notices.add(planned, missing, events, self.clock())
        self.stats.records += len(records)
        self.stats.stored += len(added.notices)
        for role, kind in added.missing:
            METRICS.notice_missing_contacts.labels(role=role, kind=kind).inc()
            self.stats.missing[role] = self.stats.missing.get(role, 0) + 1
        for m in missing:
            scope = (m.role, m.region, m.skpd)
            if (m.role, m.kind) not in added.missing:
                continue
            # Once per role and scope per process; the metric and `status` count the rest.
            level = logging.DEBUG if scope in self._reported else logging.WARNING
            self._reported.add(scope)
            log.log(
                level,
                "no contact for role %r (region %s, SKPD %s): %s of %s not sent; add it "
                "to the policy's contacts (further ones are counted in "
                "laporflow_notice_missing_contacts_total)",
                m.role,
                m.region,
                m.skpd,
                m.kind,
                m.complaint_id,
            )

    def _commit(self, polled: dict[TopicPartition, list[Any]]) -> None:
        offsets = next_offsets(polled)
        try:
            self._consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # The notices are stored: re-reading these records later stores nothing new.
            log.warning("offset commit failed; records will be re-read harmlessly: %s", exc)

    def caught_up(self) -> bool:
        """True when every partition of the topic is assigned here and read to its end."""
        partitions = self._consumer.partitions_for_topic(self.topic)
        assignment = self._consumer.assignment()
        if not partitions or {tp.partition for tp in assignment} != set(partitions):
            return False
        try:
            ends = self._consumer.end_offsets(list(assignment))
            return all(self._consumer.position(tp) >= ends[tp] for tp in assignment)
        except (KafkaError, KeyError, AssertionError) as exc:
            log.debug("cannot tell whether caught up: %s", exc)
            return False

    def close(self) -> None:
        """Leave the group and close the connection (bounded: see ``CLOSE_TIMEOUT_MS``)."""
        close_group_consumer(self._consumer)
