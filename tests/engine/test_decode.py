"""decode_command: bytes of a ``lapor.commands`` record -> Command or InvalidCommandError.

Each way a record can be unusable has its own ``code`` (the DLQ ``error`` header,
CONTRACT §2); the message names the offending field so an integrator can fix it.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from engine.decode import MAX_COMMAND_BYTES, decode_command
from engine.errors import InvalidCommandError, LaporFlowError
from workflows.model import Actor, Command
from workflows.payloads import (
    Complainant,
    DeferPayload,
    DispatchPayload,
    NotePayload,
    SubmitPayload,
)
from workflows.registry import WorkflowRegistry

REGISTRY = WorkflowRegistry.default()
WITA = timezone(timedelta(hours=8))


#: A submit's required payload fields.
SUBMIT = {
    "title": "Jalan rusak",
    "body": "Sudah sebulan",
    "category": "infrastruktur",
    "classification": "aspirasi",
    "channel": "whatsapp",
    "region": "HSU",
}


def raw(**changes: Any) -> dict[str, Any]:
    """The contract's example command, with ``changes`` applied."""
    record: dict[str, Any] = {
        "command_id": "c-7f1e0001",
        "type": "dispatch",
        "complaint_id": "HSU-2026-000123",
        "issued_at": "2026-03-02T09:15:00+08:00",
        "actor": {"role": "admin", "id": "diskominfo-hsu"},
        "payload": {"skpd": "DINKES"},
    }
    record.update(changes)
    return record


def encode(record: Any) -> bytes:
    return json.dumps(record).encode()


def error_of(value: bytes | None) -> InvalidCommandError:
    with pytest.raises(InvalidCommandError) as info:
        decode_command(value, REGISTRY)
    return info.value


def test_a_valid_command_decodes_with_a_typed_payload() -> None:
    command = decode_command(encode(raw()), REGISTRY)
    assert isinstance(command, Command)
    assert command.command_id == "c-7f1e0001"
    assert command.type == "dispatch"
    assert command.complaint_id == "HSU-2026-000123"
    assert command.issued_at == datetime(2026, 3, 2, 9, 15, tzinfo=WITA)
    assert command.issued_at.utcoffset() == timedelta(hours=8)
    assert command.actor == Actor(role="admin", id="diskominfo-hsu")
    assert type(command.payload) is DispatchPayload
    assert command.payload == DispatchPayload(skpd="DINKES")


@pytest.mark.parametrize(
    ("command_type", "payload"),
    [
        ("dispatch", {"skpd": "DINKES"}),
        ("verify", {}),
        ("defer", {"reason": "menunggu anggaran"}),
        ("submit", {**SUBMIT, "complainant": {"name": "Budi"}}),
    ],
)
def test_a_decoded_command_is_the_validated_command(
    command_type: str, payload: dict[str, Any]
) -> None:
    # The decoder assembles the Command from parts it validated one by one: the result
    # must be what validating the whole Command gives, fields set and key order included.
    command = decode_command(encode(raw(type=command_type, payload=payload)), REGISTRY)
    validated = Command(**dict(command))
    assert command == validated
    assert command.__pydantic_fields_set__ == validated.__pydantic_fields_set__
    assert list(command.__dict__) == list(validated.__dict__)
    assert command.model_dump_json() == validated.model_dump_json()
    assert command.payload is validated.payload  # the typed payload, validated once


def test_a_submit_decodes_every_field() -> None:
    payload = {
        **SUBMIT,
        "anonymous": True,
        "confidential": True,
        "complainant": {"name": "Budi", "phone": "0812", "email": "b@contoh.id"},
        "location": "Amuntai",
        "attachments": ["a.jpg", "b.jpg"],
    }
    record = raw(type="submit", actor={"role": "complainant", "id": "w-1"}, payload=payload)
    command = decode_command(encode(record), REGISTRY)
    assert isinstance(command.payload, SubmitPayload)
    assert command.payload.classification == "aspirasi"
    assert command.payload.channel == "whatsapp"
    assert command.payload.confidential is True
    assert command.payload.complainant == Complainant(
        name="Budi", phone="0812", email="b@contoh.id"
    )
    assert command.payload.attachments == ["a.jpg", "b.jpg"]


@pytest.mark.parametrize(
    ("command_type", "payload", "model"),
    [
        ("verify", {}, NotePayload),
        ("resolve", {"note": "selesai"}, NotePayload),
        ("defer", {"reason": "menunggu anggaran"}, DeferPayload),
    ],
)
def test_each_type_gets_its_own_payload_model(
    command_type: str, payload: dict[str, Any], model: type
) -> None:
    command = decode_command(encode(raw(type=command_type, payload=payload)), REGISTRY)
    assert type(command.payload) is model


def test_a_missing_payload_means_an_empty_one() -> None:
    record = raw(type="verify")
    del record["payload"]
    assert decode_command(encode(record), REGISTRY).payload == NotePayload()


def test_issued_at_in_utc_keeps_the_instant() -> None:
    command = decode_command(encode(raw(issued_at="2026-03-02T01:15:00Z")), REGISTRY)
    assert command.issued_at == datetime(2026, 3, 2, 9, 15, tzinfo=WITA)


@pytest.mark.parametrize("value", [None, b""])
def test_empty(value: bytes | None) -> None:
    err = error_of(value)
    assert err.code == "empty"
    assert isinstance(err, LaporFlowError)


def test_over_one_mebibyte_is_too_large() -> None:
    record = encode(raw())
    padded = record[:-1] + b" " * (MAX_COMMAND_BYTES + 1 - len(record)) + b"}"
    assert len(padded) == MAX_COMMAND_BYTES + 1
    err = error_of(padded)
    assert err.code == "too_large"
    assert str(MAX_COMMAND_BYTES + 1) in err.message


def test_exactly_one_mebibyte_is_accepted() -> None:
    assert MAX_COMMAND_BYTES == 1024 * 1024
    record = encode(raw())
    padded = record[:-1] + b" " * (MAX_COMMAND_BYTES - len(record)) + b"}"
    assert len(padded) == MAX_COMMAND_BYTES
    assert decode_command(padded, REGISTRY).command_id == "c-7f1e0001"


@pytest.mark.parametrize(
    "value",
    [
        b"not json",
        b'{"command_id": "c-1", ',
        b"\xff\xfe\x00",
        # Invalid UTF-8 inside an otherwise well-formed JSON string.
        b'{"command_id": "c-\xff", "type": "verify"}',
    ],
)
def test_not_json(value: bytes) -> None:
    assert error_of(value).code == "not_json"


@pytest.mark.parametrize("value", [b"[]", b"[1, 2]", b"null", b"42", b'"dispatch"'])
def test_json_that_is_not_an_object_is_schema(value: bytes) -> None:
    assert error_of(value).code == "schema"


def test_unknown_type() -> None:
    err = error_of(encode(raw(type="teleport")))
    assert err.code == "unknown_type"
    assert "teleport" in err.message
    assert "dispatch" in err.message  # lists the known ones


def test_dispatch_without_skpd_names_the_field() -> None:
    err = error_of(encode(raw(payload={})))
    assert err.code == "schema"
    assert "skpd" in err.message
    assert err.context == {"command_id": "c-7f1e0001", "complaint_id": "HSU-2026-000123"}


def test_unknown_payload_field() -> None:
    err = error_of(encode(raw(payload={"skpd": "DINKES", "skpd_typo": "X"})))
    assert err.code == "schema"
    assert "skpd_typo" in err.message


def test_unknown_top_level_field() -> None:
    err = error_of(encode(raw(priority="high")))
    assert err.code == "schema"
    assert "priority" in err.message


@pytest.mark.parametrize("field", ["command_id", "type", "complaint_id", "issued_at", "actor"])
def test_missing_envelope_field(field: str) -> None:
    record = raw()
    del record[field]
    err = error_of(encode(record))
    assert err.code == "schema"
    assert field in err.message


SUBMIT_PAYLOAD = {
    "title": "t",
    "body": "b",
    "category": "c",
    "classification": "pengaduan",
    "channel": "web",
    "region": "HSU",
}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"body": None}, "body"),
        ({"region": None}, "region"),
        ({"classification": "keluhan"}, "classification"),
        ({"channel": "fax"}, "channel"),
        ({"category": "bad category!"}, "category"),
        ({"complainant": {"nik": "6308"}}, "nik"),
    ],
)
def test_submit_schema_errors_name_the_field(changes: dict[str, Any], field: str) -> None:
    payload = {**SUBMIT_PAYLOAD, **changes}
    payload = {k: v for k, v in payload.items() if v is not None}  # None: leave the key out
    err = error_of(encode(raw(type="submit", payload=payload)))
    assert err.code == "schema"
    assert field in err.message


@pytest.mark.parametrize(
    "complaint_id",
    ["", "HSU 2026", "HSU/2026", "HSU-2026-é", "HSU-1\n", "a" * 65],
)
def test_bad_complaint_id(complaint_id: str) -> None:
    err = error_of(encode(raw(complaint_id=complaint_id)))
    assert err.code == "schema"
    assert "complaint_id" in err.message


@pytest.mark.parametrize("complaint_id", ["a" * 64, "HSU.2026:000-1-x"])
def test_good_complaint_id(complaint_id: str) -> None:
    assert decode_command(encode(raw(complaint_id=complaint_id)), REGISTRY).complaint_id == (
        complaint_id
    )


@pytest.mark.parametrize("command_id", ["", "c" * 129])
def test_bad_command_id(command_id: str) -> None:
    err = error_of(encode(raw(command_id=command_id)))
    assert err.code == "schema"
    assert "command_id" in err.message


def test_command_id_of_128_chars_is_accepted() -> None:
    assert decode_command(encode(raw(command_id="c" * 128)), REGISTRY).command_id == "c" * 128


@pytest.mark.parametrize(
    "issued_at", ["2026-03-02T09:15:00", "2026-03-02", "kemarin", "2026-13-02T09:15:00+08:00"]
)
def test_issued_at_without_offset_or_malformed(issued_at: str) -> None:
    err = error_of(encode(raw(issued_at=issued_at)))
    assert err.code == "schema"
    assert "issued_at" in err.message


@pytest.mark.parametrize("issued_at", [1772414100, "1772414100", 1772414100000])
def test_issued_at_as_a_unix_timestamp_is_schema(issued_at: int | str) -> None:
    err = error_of(encode(raw(issued_at=issued_at)))
    assert err.code == "schema"
    assert "issued_at" in err.message


@pytest.mark.parametrize(
    "actor",
    [
        {"role": "bupati", "id": "x"},
        {"role": "Admin", "id": "x"},
        {"role": "admin", "id": ""},
        {"role": "admin"},
        {"role": "admin", "id": "x", "name": "Budi"},
    ],
)
def test_bad_actor(actor: dict[str, Any]) -> None:
    err = error_of(encode(raw(actor=actor)))
    assert err.code == "schema"
    assert "actor" in err.message


def test_message_lists_at_most_five_problems() -> None:
    record = {
        "command_id": "",
        "type": 5,
        "complaint_id": "bad id",
        "actor": {"role": "x"},
        "payload": [],
        "a": 1,
        "b": 2,
    }
    err = error_of(encode(record))
    assert err.code == "schema"
    assert "... and " in err.message
    assert err.message.count(";") == 5


# --- issued_at range (CONTRACT §4 "Time integrity") -------------------------------------

LATEST = datetime(2026, 3, 2, 9, 20, tzinfo=WITA)


@pytest.mark.parametrize(
    "issued_at",
    [
        "2026-03-02T09:20:01+08:00",
        "9999-12-31T23:59:59Z",
        "1999-12-31T23:59:59Z",
        "0001-01-01T00:00:00Z",
    ],
)
def test_issued_at_out_of_range(issued_at: str) -> None:
    with pytest.raises(InvalidCommandError) as info:
        decode_command(encode(raw(issued_at=issued_at)), REGISTRY, latest=LATEST)
    assert info.value.code == "issued_at_out_of_range"
    assert issued_at in str(info.value)


@pytest.mark.parametrize("issued_at", ["2026-03-02T09:20:00+08:00", "2000-01-01T00:00:00Z"])
def test_issued_at_at_the_bounds_is_accepted(issued_at: str) -> None:
    command = decode_command(encode(raw(issued_at=issued_at)), REGISTRY, latest=LATEST)
    assert command.issued_at == datetime.fromisoformat(issued_at)


@pytest.mark.parametrize(
    "issued_at",
    [
        "2026-03-02t01:15:00z",
        "2026-03-02t09:15:00+08:00",
        "2026-03-02T01:15:00z",
        "2026-03-02t01:15:00.5Z",
    ],
)
def test_rfc3339_lowercase_t_and_z_are_accepted(issued_at: str) -> None:
    command = decode_command(encode(raw(issued_at=issued_at)), REGISTRY)
    assert command.issued_at == datetime.fromisoformat(issued_at.upper())
    assert command.issued_at.utcoffset() is not None
