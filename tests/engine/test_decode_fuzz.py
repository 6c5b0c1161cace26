"""``decode_command`` on arbitrary input: a Command or an InvalidCommandError, nothing else.

Any other exception would escape the processor's dead-letter path and stall a
partition, so the property is the engine's promise that bad input loses nothing.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.decode import decode_command
from engine.errors import InvalidCommandError
from workflows.model import Command
from workflows.registry import WorkflowRegistry

REGISTRY = WorkflowRegistry.default()
KNOWN_CODES = {
    "empty",
    "too_large",
    "not_json",
    "schema",
    "unknown_type",
    "issued_at_out_of_range",
}

VALID: dict[str, Any] = {
    "command_id": "c-1",
    "type": "dispatch",
    "complaint_id": "HSU-2026-000001",
    "issued_at": "2026-03-02T09:15:00+08:00",
    "actor": {"role": "admin", "id": "diskominfo-hsu"},
    "payload": {"skpd": "DINKES"},
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def outcome_of(value: bytes) -> Command | InvalidCommandError:
    try:
        return decode_command(value, REGISTRY)
    except InvalidCommandError as exc:
        return exc


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_are_a_command_or_an_invalid_command(value: bytes) -> None:
    result = outcome_of(value)
    assert isinstance(result, Command | InvalidCommandError)
    if isinstance(result, InvalidCommandError):
        assert result.code in KNOWN_CODES


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_any_json_document_is_a_command_or_an_invalid_command(doc: Any) -> None:
    result = outcome_of(json.dumps(doc).encode())
    assert isinstance(result, InvalidCommandError)  # no random document is a whole command
    assert result.code in KNOWN_CODES


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(VALID)), json_values)
def test_one_field_replaced_by_anything_never_escapes(field: str, replacement: Any) -> None:
    doc = {**VALID, field: replacement}
    value = json.dumps(doc).encode()
    result = outcome_of(value)
    assert isinstance(result, Command | InvalidCommandError)
    again = outcome_of(value)
    # Deterministic: a replay of the same record ends the same way.
    if isinstance(result, Command):
        assert again == result
    else:
        assert isinstance(again, InvalidCommandError)
        assert (again.code, str(again)) == (result.code, str(result))


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=len(json.dumps(VALID)) - 1))
def test_every_truncation_of_a_valid_command_is_invalid(cut: int) -> None:
    result = outcome_of(json.dumps(VALID).encode()[:cut])
    assert isinstance(result, InvalidCommandError)
    assert result.code == "not_json"


def test_the_valid_command_itself_decodes() -> None:
    assert isinstance(outcome_of(json.dumps(VALID).encode()), Command)
