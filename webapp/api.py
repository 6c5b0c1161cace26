"""The read-only JSON API, ``/api/v1`` (CONTRACT §9), behind a bearer token.

Every route reads through ``engine``'s public queries; nothing here writes. Query
parameters are validated before any database work: a bad date, an unknown state, a
limit out of range or a cursor this API did not give out is a 422 whose ``detail``
names the parameter.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from engine.intake import build_intake
from engine.liaisons import build_liaisons
from engine.listing import MAX_PAGE, list_complaints
from engine.report import build_report
from engine.status import complaint_status
from webapp.auth import bearer_matches
from webapp.context import AppContext
from webapp.models import ComplaintPageOut, IntakeOut, LiaisonOut, Problem

__all__ = ["State", "api_router", "check_period"]

#: The states a complaint can be in (the ``state`` filter accepts only these).
State = Literal["submitted", "verified", "dispatched", "followed_up", "resolved", "archived"]

_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
Region = Annotated[
    str | None,
    Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$", description="Region code"),
]
Since = Annotated[date | None, Query(description="First local day, YYYY-MM-DD")]
Until = Annotated[date | None, Query(description="Last local day, YYYY-MM-DD")]

_bearer = HTTPBearer(auto_error=False, description="LAPORFLOW_API_TOKEN")


def _authorized(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """401 unless the request carries the API token (compared in constant time)."""
    context: AppContext = request.app.state.context
    client = request.client.host if request.client else "?"
    wait = context.limiter.retry_after(client)
    if wait:
        raise HTTPException(
            status_code=429,
            detail="too many wrong tokens from this address; try again later",
            headers={"Retry-After": str(wait)},
        )
    if credentials is None or not bearer_matches(
        f"Bearer {credentials.credentials}", context.token
    ):
        if credentials is not None:
            context.limiter.failed(client)
        raise HTTPException(
            status_code=401,
            detail="missing or wrong bearer token (Authorization: Bearer <LAPORFLOW_API_TOKEN>)",
            headers={"WWW-Authenticate": "Bearer"},
        )


def check_period(since: date | None, until: date | None) -> None:
    """422 when the period ends before it starts."""
    if since is not None and until is not None and until < since:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("query", "until"),
                    "msg": f"until ({until}) is before since ({since})",
                    "input": until.isoformat(),
                }
            ]
        )


api_router = APIRouter(
    prefix="/api/v1",
    dependencies=[Depends(_authorized)],
    responses={
        401: {"model": Problem, "description": "Missing or wrong bearer token"},
        429: {"model": Problem, "description": "Too many wrong tokens from this address"},
        422: {"description": "Invalid query parameter (detail names it)"},
        503: {"model": Problem, "description": "The database is unreachable"},
    },
)


def _context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


@api_router.get(
    "/complaints/{complaint_id}",
    summary="One complaint: what `laporflow status --json` shows",
    responses={404: {"model": Problem}},
)
def get_complaint(
    request: Request,
    complaint_id: Annotated[str, Path(pattern=_ID_PATTERN)],
) -> dict[str, Any]:
    """State, SKPD, seq, escalation level, clocks and history of one complaint."""
    context = _context(request)
    found = complaint_status(context.store, complaint_id, context.policy)
    if found is None:
        raise HTTPException(status_code=404, detail=f"no complaint {complaint_id!r}")
    return found


@api_router.get("/complaints", summary="Complaints, filtered and paged")
def get_complaints(
    request: Request,
    state: Annotated[State | None, Query(description="Current state")] = None,
    skpd: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    region: Region = None,
    breached: Annotated[
        bool | None, Query(description="Only complaints with (true) or without (false) a breach")
    ] = None,
    cursor: Annotated[
        str | None, Query(min_length=1, max_length=200, description="`next` of the last page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> ComplaintPageOut:
    """Complaints in id order; follow ``next`` until it is null."""
    page = list_complaints(
        _context(request).store,
        state=state,
        skpd=skpd,
        region=region,
        breached=breached,
        cursor=cursor,
        limit=limit,
    )
    return ComplaintPageOut.model_validate(
        {"items": [item.as_dict() for item in page.items], "next": page.next_cursor}
    )


@api_router.get("/reports/skpd", summary="Per-SKPD KPIs: the rows of `report --json`")
def get_skpd_report(
    request: Request, region: Region = None, since: Since = None, until: Until = None
) -> list[dict[str, Any]]:
    """Received, follow-up rate, working days to follow-up, breaches, ... per SKPD."""
    check_period(since, until)
    context = _context(request)
    rows = build_report(context.store, context.policy, region=region, since=since, until=until)
    return [row.as_dict() for row in rows]


@api_router.get("/reports/intake", summary="Complaints received per region and month vs target")
def get_intake(
    request: Request, region: Region = None, since: Since = None, until: Until = None
) -> list[IntakeOut]:
    """Complaints submitted per region and local month, with the policy's monthly target."""
    check_period(since, until)
    context = _context(request)
    rows = build_intake(context.store, context.policy, region=region, since=since, until=until)
    return [IntakeOut.model_validate(row.as_dict()) for row in rows]


@api_router.get("/reports/liaisons", summary="Liaison continuity per SKPD")
def get_liaisons(
    request: Request, region: Region = None, since: Since = None, until: Until = None
) -> list[LiaisonOut]:
    """Per SKPD: officers who answered, changes of officer, the current one and since when."""
    check_period(since, until)
    context = _context(request)
    rows = build_liaisons(context.store, context.policy, region=region, since=since, until=until)
    return [LiaisonOut.model_validate(row.as_dict()) for row in rows]
