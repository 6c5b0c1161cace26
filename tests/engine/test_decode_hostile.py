"""Strings PostgreSQL cannot store are refused at the door (found by tests/chaos)."""

from __future__ import annotations

import json

import pytest

from engine.decode import decode_command
from engine.errors import InvalidCommandError
from workflows.registry import WorkflowRegistry

REGISTRY = WorkflowRegistry.default()


def _verify(**changes: object) -> bytes:
    doc: dict[str, object] = {
        "command_id": "c-1",
        "type": "verify",
        "complaint_id": "HSU-2026-000001",
        "issued_at": "2026-01-20T10:00:00+08:00",
        "actor": {"role": "admin", "id": "diskominfo-hsu"},
        "payload": {"note": "ok"},
    }
    doc.update(changes)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    "changes",
    [
        {"command_id": "\u0000"},
        {"command_id": "c-\u0000-1"},
        {"actor": {"role": "admin", "id": "a\u0000"}},
        {"payload": {"note": "x\u0000y"}},
        {"payload": {"note\u0000": "x"}},
    ],
    ids=["command_id", "inside_command_id", "actor_id", "payload_value", "payload_key"],
)
def test_nul_characters_are_invalid_not_a_poisoned_batch(changes: dict[str, object]) -> None:
    with pytest.raises(InvalidCommandError) as caught:
        decode_command(_verify(**changes), REGISTRY)
    assert caught.value.code == "schema"
    assert "NUL" in str(caught.value)


def test_a_literal_backslash_u0000_text_is_fine() -> None:
    command = decode_command(_verify(payload={"note": "\\u0000 is how JSON writes NUL"}), REGISTRY)
    assert command.command_id == "c-1"


def test_lone_surrogates_are_invalid_json() -> None:
    raw = _verify().replace(b'"c-1"', b'"\\ud800"')
    with pytest.raises(InvalidCommandError) as caught:
        decode_command(raw, REGISTRY)
    assert caught.value.code == "not_json"
