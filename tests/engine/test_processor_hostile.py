"""Records that once killed or stalled the engine (found by tests/chaos) are dead-lettered."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.policy_file import load_policy
from engine.processor import Processor
from engine.store import Store


@dataclass(frozen=True)
class _Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def _nul_command() -> bytes:
    return json.dumps(
        {
            "command_id": "\u0000",
            "type": "verify",
            "complaint_id": "HSU-2026-000001",
            "issued_at": "2026-01-20T10:00:00+08:00",
            "actor": {"role": "admin", "id": "x"},
            "payload": {},
        }
    ).encode()


@pytest.mark.parametrize(
    "value",
    [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000, _nul_command()],
    ids=["nested_list", "nested_object", "nul_command_id"],
)
def test_poison_records_become_dead_letters(value: bytes, tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'p.db'}")
    store.migrate()
    try:
        processor = Processor(store, policy=load_policy(None))
        result = processor.process([_Rec("lapor.commands", 0, 0, b"k", value)])
        assert result.count("invalid") == 1
        assert [r.topic for r in store.pending_outbox(10)] == ["lapor.dlq"]
    finally:
        store.close()
