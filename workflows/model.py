"""The nouns of the domain: actor, command, clock, complaint, event.

All are frozen pydantic models: the core never mutates, it returns new values.
Events carry ``schema_version`` so stored history can be upcast later.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from workflows.payloads import Payload

__all__ = [
    "COMPLAINT_ID_PATTERN",
    "EVENT_SCHEMA_VERSION",
    "Actor",
    "ClockState",
    "Command",
    "CommandId",
    "ComplaintId",
    "ComplaintState",
    "Event",
    "Role",
]

COMPLAINT_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
EVENT_SCHEMA_VERSION = 1

Role = Literal["complainant", "admin", "skpd", "system"]
ComplaintId = Annotated[str, StringConstraints(pattern=COMPLAINT_ID_PATTERN)]
CommandId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Actor(_Frozen):
    """Who issued a command."""

    role: Role
    id: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class Command(_Frozen):
    """A validated command with its typed payload."""

    command_id: CommandId
    type: str
    complaint_id: ComplaintId
    issued_at: AwareDatetime
    actor: Actor
    payload: Payload


class ClockState(_Frozen):
    """One SLA clock of one complaint.

    ``warned``/``breached_at``/``escalation_level`` record what has already fired, so
    firing is idempotent; ``paused_at`` is set between defer and resume.

    ``pauses`` (each ended pause as (deferred_at, resumed_at)) and ``limit_skpd`` (the
    SKPD whose policy set ``limit``) let a new policy recompute the deadline exactly
    from the start (CONTRACT §4 "Policy changes reach running clocks"). ``pauses`` is
    ``None`` on clocks stored before it existed: their pause history is unknown.
    """

    name: str
    started_at: datetime
    limit: int
    deadline: datetime
    warning_at: datetime
    warned: bool = False
    breached_at: datetime | None = None
    escalation_level: int = 0
    paused_at: datetime | None = None
    stopped_at: datetime | None = None
    pauses: tuple[tuple[datetime, datetime], ...] | None = None
    limit_skpd: str | None = None

    @property
    def running(self) -> bool:
        """True while the clock counts (started, not stopped; paused still counts as running)."""
        return self.stopped_at is None


class ComplaintState(_Frozen):
    """Everything the core needs to decide the next transition of one complaint."""

    complaint_id: str
    workflow: str
    workflow_version: int
    state: str
    seq: int
    region: str
    category: str
    classification: str
    skpd: str | None = None
    confidential: bool = False
    anonymous: bool = False
    submit_fingerprint: str
    created_at: datetime
    updated_at: datetime
    deferred_at: datetime | None = None
    clocks: dict[str, ClockState] = Field(default_factory=dict)

    @property
    def escalation_level(self) -> int:
        """Highest escalation level among the clocks still running (0 when none)."""
        return max(
            (c.escalation_level for c in self.clocks.values() if c.running),
            default=0,
        )


class Event(_Frozen):
    """An event as published on ``lapor.events`` (CONTRACT §3)."""

    schema_version: int = EVENT_SCHEMA_VERSION
    event_id: str
    type: str
    complaint_id: str
    seq: int | None
    occurred_at: datetime
    recorded_at: datetime
    state: str | None
    previous_state: str | None
    region: str | None
    skpd: str | None
    causation_id: str
    actor: Actor
    payload: dict[str, Any] = Field(default_factory=dict)
