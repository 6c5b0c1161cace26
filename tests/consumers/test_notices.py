"""Decoding events for the notifier, its consumer group name, and its poll loop."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import pytest
from kafka.errors import KafkaConnectionError

from consumers.notices import EventConsumer, decode_event, notify_group_id

EVENT = {
    "event_id": "e-1",
    "type": "complaint.escalated",
    "complaint_id": "HSU-1",
    "seq": 7,
    "occurred_at": "2026-03-05T23:59:59+08:00",
    "recorded_at": "2026-03-05T23:59:59+08:00",
    "state": "dispatched",
    "previous_state": "dispatched",
    "region": "HSU",
    "skpd": "PUPR",
    "causation_id": "timer:x",
    "actor": {"role": "system", "id": "sla"},
    "payload": {"clock": "follow_up", "level": 1, "target": "kepala_skpd"},
}


def test_a_contract_event_decodes() -> None:
    event = decode_event(json.dumps(EVENT).encode())
    assert event is not None
    assert (event.type, event.payload["target"]) == ("complaint.escalated", "kepala_skpd")


def test_fields_added_to_the_contract_later_are_ignored() -> None:
    event = decode_event(json.dumps({**EVENT, "tenant": "kalsel", "schema_version": 1}).encode())
    assert event is not None and event.event_id == "e-1"


def test_what_is_not_an_event_is_skipped() -> None:
    for value in (None, b"not json", b"[1, 2]", json.dumps({"event_id": "x"}).encode()):
        assert decode_event(value) is None


def test_the_group_is_derived_from_the_topic_prefix() -> None:
    assert notify_group_id("") == "laporflow-notify"
    assert notify_group_id("kalsel.") == "kalsel.laporflow-notify"
    assert notify_group_id("kalsel.") != notify_group_id("kaltim.")


class _BrokerDownOnce:
    """Answers like KafkaConsumer.poll: refused once (the broker restarting), then empty."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.polls = 0

    def poll(self, timeout_ms: int = 0, max_records: int = 0) -> dict[Any, list[Any]]:
        self.polls += 1
        if self.polls == 1:
            raise KafkaConnectionError("111 ECONNREFUSED")
        self.stop.set()
        return {}


def test_a_broker_outage_while_polling_is_retried_not_fatal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = threading.Event()
    consumer = EventConsumer.__new__(EventConsumer)  # no broker: only the loop is tested
    consumer.topic = "unit.lapor.events"
    consumer.poll_timeout_ms, consumer.max_poll_records = 10, 10
    client = _BrokerDownOnce(stop)
    consumer._consumer = client  # type: ignore[assignment]
    with caplog.at_level(logging.ERROR, logger="engine.retry"):
        consumer.run(stop)  # returns: the outage was logged, then the poll retried
    assert client.polls == 2
    assert "Kafka unavailable" in caplog.text
    assert "unit.lapor.events" in caplog.text
