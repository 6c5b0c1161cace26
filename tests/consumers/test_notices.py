"""Decoding events for the notifier, and its consumer group name."""

from __future__ import annotations

import json

from consumers.notices import decode_event, notify_group_id

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
