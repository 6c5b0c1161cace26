"""Response models of the JSON API (they are what ``/api/openapi.json`` documents)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ComplaintItem", "ComplaintPageOut", "IntakeOut", "LiaisonOut", "Problem"]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class ComplaintItem(_Out):
    """One complaint in a listing."""

    complaint_id: str
    state: str
    region: str
    skpd: str | None
    category: str
    seq: int
    escalation_level: int
    breached: bool = Field(description="Some SLA clock is past its deadline and still running")
    created_at: datetime
    updated_at: datetime


class ComplaintPageOut(_Out):
    """A page of complaints; pass ``next`` back as ``cursor`` for the following page."""

    items: list[ComplaintItem]
    next: str | None = Field(description="Opaque cursor of the next page; null on the last")


class IntakeOut(_Out):
    """Complaints submitted in one region and local month, against the policy's target."""

    region: str
    month: str = Field(description="Local calendar month, YYYY-MM")
    received: int
    target: int | None = Field(description="targets.<region>.complaints_per_month, if set")
    partial: bool = Field(description="The period covers only part of the month")
    by_channel: dict[str, int] = Field(description="received per submission channel")


class LiaisonOut(_Out):
    """One SKPD's liaison officers (actor ids of role skpd) who answered in the period."""

    skpd: str
    officers: list[str]
    changes: int = Field(description="Times the answering officer changed (a, b, a: 2)")
    current: str
    current_since: datetime
    region: str
    answers: int
    current_since_clipped: bool = Field(
        description="The current officer answered first in the period: the run may be older"
    )


class Problem(_Out):
    """An error: ``detail`` says what was wrong."""

    detail: Any
