"""Payload models of the complaint commands (CONTRACT §2), one per command type.

Required fields are enforced and unknown fields refused, so a typo in an integrating
system is caught at the door (the record goes to the dead-letter topic) rather than
silently dropped.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "PAYLOAD_MODELS",
    "ArchivePayload",
    "Complainant",
    "DeferPayload",
    "DispatchPayload",
    "FollowUpPayload",
    "NotePayload",
    "Payload",
    "ReasonPayload",
    "ReplyPayload",
    "SubmitPayload",
]

Text = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
Short = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


class Payload(BaseModel):
    """Base of every command payload: strict about unknown keys, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def json_data(
        self, *, exclude: set[str] | None = None, exclude_none: bool = False
    ) -> dict[str, Any]:
        """``model_dump(mode="json", ...)``: the same call to the model's serializer.

        Without ``model_dump``'s generic wrapper, two thirds of its cost on these small
        models, paid for every event a command makes.
        """
        data: dict[str, Any] = self.__pydantic_serializer__.to_python(
            self, mode="json", exclude=exclude, exclude_none=exclude_none
        )
        return data


class Complainant(Payload):
    """The complainant's identity: stored, never put in an event."""

    name: Short | None = None
    phone: Short | None = None
    email: Short | None = None


class SubmitPayload(Payload):
    """A new complaint (pengaduan), aspiration or information request."""

    title: Text
    body: Text
    category: Code
    classification: Literal["pengaduan", "aspirasi", "permintaan_informasi"]
    channel: Literal["web", "sms", "mobile", "twitter", "whatsapp", "other"]
    region: Code
    anonymous: bool = False
    confidential: bool = False
    complainant: Complainant | None = None
    location: Short | None = None
    attachments: list[Short] = Field(default_factory=list, max_length=50)


class NotePayload(Payload):
    """A command whose note is optional (verify, resolve)."""

    note: Text | None = None


class FollowUpPayload(Payload):
    """The SKPD's answer (tindak lanjut)."""

    note: Text


class ReplyPayload(Payload):
    """The complainant is not satisfied with the follow-up."""

    note: Text


class ReasonPayload(Payload):
    """A command that must say why (return, reopen)."""

    reason: Text


class ArchivePayload(ReasonPayload):
    """Archive: the report cannot be processed."""


class DeferPayload(ReasonPayload):
    """Defer (tunda): pause the SLA clocks."""


class DispatchPayload(Payload):
    """Disposisi to the SKPD that holds the authority."""

    skpd: Code
    note: Text | None = None


class ResumePayload(Payload):
    """Resume the paused SLA clocks."""

    note: Text | None = None


#: The command vocabulary of the complaint workflow: type -> payload model.
PAYLOAD_MODELS: dict[str, type[Payload]] = {
    "submit": SubmitPayload,
    "verify": NotePayload,
    "archive": ArchivePayload,
    "dispatch": DispatchPayload,
    "return": ReasonPayload,
    "follow_up": FollowUpPayload,
    "reply": ReplyPayload,
    "resolve": NotePayload,
    "reopen": ReasonPayload,
    "defer": DeferPayload,
    "resume": ResumePayload,
}
