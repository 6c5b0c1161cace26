"""Turning the bytes of a ``lapor.commands`` record into a :class:`Command`.

Every way a record can be unusable maps to one :class:`InvalidCommandError` code, which
becomes the ``error`` header of its dead-letter record.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from engine.errors import InvalidCommandError
from workflows.model import Actor, Command, CommandId, ComplaintId, assemble
from workflows.registry import WorkflowRegistry

__all__ = ["EARLIEST_ISSUED_AT", "MAX_COMMAND_BYTES", "decode_command"]

#: CONTRACT §2: a record over 1 MiB is invalid.
MAX_COMMAND_BYTES = 1024 * 1024
#: CONTRACT §4: an ``issued_at`` before this is out of range (a zeroed or mangled clock).
EARLIEST_ISSUED_AT = datetime(2000, 1, 1, tzinfo=UTC)
_RFC3339 = r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    command_id: CommandId
    type: str
    complaint_id: ComplaintId
    # RFC 3339 with an explicit offset, nothing looser: SLA clocks run on this instant,
    # so a bare Unix number or a naive time must be refused, not guessed.
    issued_at: Annotated[str, StringConstraints(pattern=_RFC3339)]
    actor: Actor
    payload: dict[str, Any] = {}


def decode_command(
    value: bytes | None, registry: WorkflowRegistry, *, latest: datetime | None = None
) -> Command:
    """Parse and validate one command; raise :class:`InvalidCommandError` if it is unusable.

    ``latest`` is the latest acceptable ``issued_at`` (the engine's clock plus the allowed
    future skew); a command stamped after it, or before :data:`EARLIEST_ISSUED_AT`, is
    ``issued_at_out_of_range``: SLA clocks run on that time, so it must be plausible.
    """
    if value is None or len(value) == 0:
        raise InvalidCommandError("empty", "the record has no value")
    if len(value) > MAX_COMMAND_BYTES:
        raise InvalidCommandError(
            "too_large", f"the record is {len(value)} bytes; at most {MAX_COMMAND_BYTES} allowed"
        )
    try:
        envelope = _Envelope.model_validate_json(value)
    except ValidationError as exc:
        code = "not_json" if exc.errors()[0]["type"] == "json_invalid" else "schema"
        raise InvalidCommandError(code, _describe(exc)) from exc
    # The JSON parser refuses raw control characters, so a NUL can only arrive as the
    # escape "\u0000": without it in the bytes, no string can hold one (the full walk
    # costs about a tenth of the engine's CPU per command).
    if b"\\u0000" in value and _has_nul(envelope.model_dump()):
        # PostgreSQL text cannot hold U+0000: stored, it would fail the batch forever.
        raise InvalidCommandError("schema", "a string contains the NUL character (\\u0000)")
    model = registry.payload_model(envelope.type)
    if model is None:
        known = ", ".join(sorted(registry.command_types))
        raise InvalidCommandError(
            "unknown_type", f"unknown command type {envelope.type!r} (known: {known})"
        )
    try:
        # RFC 3339 allows a lowercase "t" and "z"; fromisoformat does not.
        issued_at = datetime.fromisoformat(envelope.issued_at.upper())
    except ValueError as exc:
        raise InvalidCommandError(
            "schema",
            f"issued_at: {exc}",
            command_id=envelope.command_id,
            complaint_id=envelope.complaint_id,
        ) from exc
    if issued_at < EARLIEST_ISSUED_AT or (latest is not None and issued_at > latest):
        bound = "" if latest is None else f" and {latest.isoformat()}"
        raise InvalidCommandError(
            "issued_at_out_of_range",
            f"issued_at {envelope.issued_at} is not between "
            f"{EARLIEST_ISSUED_AT.isoformat()}{bound} (the engine's clock plus "
            "LAPORFLOW_MAX_FUTURE_SKEW); fix the sender's clock",
            command_id=envelope.command_id,
            complaint_id=envelope.complaint_id,
        )
    try:
        payload = model.model_validate(envelope.payload)
    except ValidationError as exc:
        raise InvalidCommandError(
            "schema",
            _describe(exc),
            command_id=envelope.command_id,
            complaint_id=envelope.complaint_id,
        ) from exc
    # Every part is validated above (the envelope's ids and actor, the time, the typed
    # payload): validating the Command built from them again found nothing new and cost
    # more than twice the assembly (docs/perf.md section 33).
    return assemble(
        Command,
        {
            "command_id": envelope.command_id,
            "type": envelope.type,
            "complaint_id": envelope.complaint_id,
            "issued_at": issued_at,
            "actor": envelope.actor,
            "payload": payload,
        },
        set(_COMMAND_FIELDS),
    )


#: Every field of :class:`Command`: a decoded command sets them all.
_COMMAND_FIELDS = frozenset(Command.model_fields)


def _has_nul(value: Any) -> bool:
    """True if any string (or mapping key) in ``value`` contains U+0000."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _describe(exc: ValidationError) -> str:
    """One line naming each bad field: what an integrator needs to fix the sender."""
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "(record)"
        parts.append(f"{where}: {err['msg']}")
    more = exc.error_count() - 5
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)
