"""The nouns of the domain: actor, command, clock, complaint, event.

All are frozen pydantic models: the core never mutates, it returns new values.
Events carry ``schema_version`` so stored history can be upcast later.

Validation happens at the edge (decoding a command, loading a stored row). Inside the
core, new values are built from values that are already typed, so :func:`trusted` and
:func:`evolve` build them without validating again: per command, that repeated
validation and pydantic's generic copy were most of ``decide()``'s cost.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

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
    "assemble",
    "evolve",
    "trusted",
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


_M = TypeVar("_M", bound=BaseModel)
_set = object.__setattr__
_new = object.__new__
# BaseModel's slots, set through their descriptors: a third cheaper than
# ``object.__setattr__``, which looks each name up first (five builds per command).
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


class _Layout:
    """A model class's fields in declaration order, with their defaults, for :func:`trusted`."""

    __slots__ = ("factories", "fields", "required", "size", "template")

    def __init__(self, cls: type[BaseModel]) -> None:
        self.template: dict[str, Any] = {}
        self.factories: list[tuple[str, Callable[[], Any]]] = []
        required: set[str] = set()
        for name, field in cls.model_fields.items():
            self.template[name] = None
            if field.is_required():
                required.add(name)
            elif field.default_factory is not None:
                self.factories.append((name, field.default_factory))  # type: ignore[arg-type]
            else:
                self.template[name] = field.default
        self.required = frozenset(required)
        self.fields = frozenset(self.template)
        self.size = len(self.template)


_LAYOUTS: dict[type[BaseModel], _Layout] = {}


def trusted(cls: type[_M], /, **values: Any) -> _M:
    """An instance of ``cls`` from values the core already holds typed, without validating.

    Fields are laid out in declaration order (so serialised output is identical to a
    validated instance's); omitted fields take their defaults. Only for values that
    came from validated models: decoding and loading stay strict.
    """
    layout = _LAYOUTS.get(cls)
    if layout is None:
        layout = _LAYOUTS[cls] = _Layout(cls)
    data = layout.template.copy()
    data.update(values)  # existing keys keep their place: the declaration order
    if len(data) != layout.size or not layout.required.issubset(values):
        missing = sorted(layout.required - values.keys())
        unknown = sorted(values.keys() - layout.fields)
        raise TypeError(f"{cls.__name__}: missing fields {missing}, unknown fields {unknown}")
    for name, factory in layout.factories:
        if name not in values:
            data[name] = factory()
    return assemble(cls, data, set(values))


def assemble(cls: type[_M], data: dict[str, Any], fields_set: set[str]) -> _M:
    """An instance of ``cls`` whose ``__dict__`` is ``data``, as it stands: the fastest build.

    For the core's per-command builders (an event, a started clock): ``data`` must hold
    every field of ``cls``, in declaration order, with the core's own typed values, and
    ``fields_set`` (a new set, kept) the fields a :func:`trusted` call would have been
    given. Their tests compare the result with a validated instance, key order and
    fields set included.
    """
    model = _new(cls)
    _set(model, "__dict__", data)
    _set_fields_set(model, fields_set)
    _set_extra(model, None)
    _set_private(model, None)
    return model


def evolve(model: _M, /, **changes: Any) -> _M:
    """``model`` with ``changes``: ``model_copy(update=...)`` without its generic machinery.

    Like ``model_copy``, the changed values are not validated: they must be the core's
    own typed values.
    """
    return assemble(
        model.__class__,
        {**model.__dict__, **changes},
        model.__pydantic_fields_set__.union(changes),
    )
