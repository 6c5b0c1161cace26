"""Pydantic models of what the national LAPOR! API sends and receives (CONTRACT §7).

:class:`Report` is one report *after* the field mapping (:mod:`lapor.mapping`) renamed
the upstream fields to ours; :class:`ReportPage` is one page of
``GET /api/v1/reports``; :class:`FollowUpPush` is what the sync-back posts to
``POST /api/v1/reports/{tracking_id}/followups``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from workflows.model import COMPLAINT_ID_PATTERN

__all__ = [
    "CHANNELS",
    "CLASSIFICATIONS",
    "Complainant",
    "FollowUpPush",
    "Report",
    "ReportPage",
]

CLASSIFICATIONS = ("pengaduan", "aspirasi", "permintaan_informasi")
CHANNELS = ("web", "sms", "mobile", "twitter", "whatsapp", "other")

TrackingId = Annotated[str, StringConstraints(pattern=COMPLAINT_ID_PATTERN)]
_Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
_Text = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
_Short = Annotated[str, StringConstraints(max_length=500)]


class Complainant(BaseModel):
    """The complainant's identity; never kept for an anonim report."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: _Short | None = None
    phone: _Short | None = None
    email: _Short | None = None


class Report(BaseModel):
    """One LAPOR! report, in our field names; its tracking ID is the complaint id."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    tracking_id: TrackingId
    title: _Text
    body: _Text
    category: _Code
    classification: Literal["pengaduan", "aspirasi", "permintaan_informasi"]
    channel: Literal["web", "sms", "mobile", "twitter", "whatsapp", "other"]
    region: _Code
    anonymous: bool = False
    confidential: bool = False
    status: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    updated_at: AwareDatetime
    created_at: AwareDatetime | None = None
    complainant: Complainant | None = None
    location: _Short | None = None


class ReportPage(BaseModel):
    """One page of the report list; items stay raw so one bad item never sinks the page."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    items: list[Any]
    next: str | None = None


class FollowUpPush(BaseModel):
    """Progress pushed back upstream: a dispatch, a follow-up or a resolution."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    type: Literal["dispatch", "follow_up", "resolve"]
    occurred_at: AwareDatetime
    state: _Code
    skpd: _Code | None = None
    note: str | None = Field(default=None, max_length=20_000)
