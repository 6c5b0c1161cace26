"""A command as it travels on ``lapor.commands`` (CONTRACT §2): its JSON document.

The one factory for everything that writes commands: the demo's generator, the LAPOR!
feed's mapping, the benchmarks and the tests. Building the document here (rather than
each caller spelling the envelope out) keeps the field names and the ``issued_at``
format in one place; the engine reads them back with ``engine.decode``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

__all__ = ["command_bytes", "command_doc", "submit_payload"]


def command_doc(
    command_type: str,
    complaint_id: str,
    issued_at: datetime | str,
    *,
    role: str,
    actor_id: str,
    payload: dict[str, Any] | None = None,
    command_id: str | None = None,
) -> dict[str, Any]:
    """The command's JSON document; ``command_id`` defaults to one derived from the rest.

    ``issued_at`` is an aware datetime (written as RFC 3339 with its offset) or a string
    already in that form.
    """
    stamp = issued_at if isinstance(issued_at, str) else issued_at.isoformat()
    return {
        "command_id": command_id or f"c-{complaint_id}-{command_type}-{stamp}",
        "type": command_type,
        "complaint_id": complaint_id,
        "issued_at": stamp,
        "actor": {"role": role, "id": actor_id},
        "payload": payload if payload is not None else {},
    }


def command_bytes(
    command_type: str,
    complaint_id: str,
    issued_at: datetime | str,
    *,
    role: str,
    actor_id: str,
    payload: dict[str, Any] | None = None,
    command_id: str | None = None,
) -> bytes:
    """:func:`command_doc` as the record value: compact UTF-8 JSON."""
    doc = command_doc(
        command_type,
        complaint_id,
        issued_at,
        role=role,
        actor_id=actor_id,
        payload=payload,
        command_id=command_id,
    )
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def submit_payload(**overrides: Any) -> dict[str, Any]:
    """A ``submit`` payload with every required field (an HSU road complaint by default)."""
    payload: dict[str, Any] = {
        "title": "Jalan rusak",
        "body": "Jalan desa berlubang sejak bulan lalu.",
        "category": "infrastruktur",
        "classification": "pengaduan",
        "channel": "web",
        "region": "HSU",
    }
    payload.update(overrides)
    return payload
