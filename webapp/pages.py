"""``/admin``: the server-rendered page for Diskominfo (Indonesian, English in hints).

Sign-in is by the API token once, then a signed session cookie. GET pages only read;
the two POST forms (sign-in, sign-out) carry CSRF tokens. Charts are SVG drawn here,
the sort is a few lines of local JavaScript: nothing is loaded from the internet.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import date, datetime, timedelta
from importlib.resources import files
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from engine.intake import IntakeRow, build_intake
from engine.liaisons import build_liaisons
from engine.listing import known_regions, latest_submission, list_complaints
from engine.report import build_report
from engine.status import complaint_status
from webapp.auth import Session
from webapp.charts import Bar, IntakeBar, follow_up_rate_chart, intake_chart
from webapp.context import AppContext
from workflows.policy import Policy

__all__ = ["SESSION_COOKIE", "pages_router"]

SESSION_COOKIE = "lf_session"
_LOGIN_CSRF_COOKIE = "lf_login_csrf"
_DEFAULT_DAYS = 90

templates = Jinja2Templates(directory=str(files("webapp") / "templates"))

#: Column labels of the per-SKPD table; unknown columns show their JSON name.
COLUMN_LABELS = {
    "skpd": ("SKPD", "SKPD"),
    "received": ("Diterima", "received"),
    "followed_up": ("Ditindaklanjuti", "followed up"),
    "follow_up_rate": ("Tingkat tindak lanjut", "follow-up rate"),
    "median_follow_up_working_days": ("Median HK tindak lanjut", "median working days"),
    "p90_follow_up_working_days": ("P90 HK", "p90 working days"),
    "open_breaches": ("Pelanggaran SLA terbuka", "open breaches"),
    "escalations": ("Eskalasi", "escalations"),
    "returned": ("Dikembalikan", "returned"),
    "settled": ("Selesai", "settled"),
    "auto_closed": ("Ditutup otomatis", "auto-closed"),
}

pages_router = APIRouter(prefix="/admin", include_in_schema=False)


def _context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


def _session(request: Request) -> Session | None:
    return _context(request).signer.verify(request.cookies.get(SESSION_COOKIE))


def _sign_in_first(request: Request) -> RedirectResponse:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return RedirectResponse(f"/admin/login?next={quote(target, safe='')}", status_code=303)


def _safe_next(value: str | None) -> str:
    # Only a path of this page: never an open redirect to another site.
    if value and value.startswith("/admin") and not value.startswith("//"):
        return value
    return "/admin"


def _page(request: Request, name: str, status_code: int = 200, **data: Any) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, data, status_code=status_code)
    return response


@pages_router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    """The sign-in form (token), with a CSRF token doubled in a cookie."""
    csrf = request.cookies.get(_LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = _page(request, "login.html", csrf=csrf, next=_safe_next(next), error=None)
    _set_cookie(request, response, _LOGIN_CSRF_COOKIE, csrf, max_age=3600)
    return response


@pages_router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    token: Annotated[str, Form(max_length=512)],
    csrf: Annotated[str, Form(max_length=128)],
    next: Annotated[str, Form(max_length=2048)] = "/admin",
) -> Response:
    """Check the CSRF token and the API token, then start a session."""
    context = _context(request)
    expected_csrf = request.cookies.get(_LOGIN_CSRF_COOKIE, "")
    if not expected_csrf or not hmac.compare_digest(csrf, expected_csrf):
        fresh = secrets.token_urlsafe(24)
        response = _page(
            request,
            "login.html",
            status_code=403,
            csrf=fresh,
            next=_safe_next(next),
            error="Formulir kedaluwarsa; silakan coba lagi. (Form expired, try again.)",
        )
        _set_cookie(request, response, _LOGIN_CSRF_COOKIE, fresh, max_age=3600)
        return response
    client = request.client.host if request.client else "?"
    wait = context.limiter.retry_after(client)
    if wait:
        response = _page(
            request,
            "login.html",
            status_code=429,
            csrf=csrf,
            next=_safe_next(next),
            error=f"Terlalu banyak percobaan; coba lagi dalam {wait} detik. (Too many tries.)",
        )
        response.headers["Retry-After"] = str(wait)
        return response
    if not context.signer.token_matches(token):
        context.limiter.failed(client)
        return _page(
            request,
            "login.html",
            status_code=401,
            csrf=csrf,
            next=_safe_next(next),
            error="Token salah. (Wrong token.)",
        )
    _, cookie = context.signer.issue()
    redirect = RedirectResponse(_safe_next(next), status_code=303)
    _set_cookie(request, redirect, SESSION_COOKIE, cookie, max_age=context.signer.lifetime_s)
    redirect.delete_cookie(_LOGIN_CSRF_COOKIE, path="/admin")
    return redirect


@pages_router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form(max_length=128)]) -> Response:
    """End the session (CSRF-checked, so no other site can sign anyone out)."""
    session = _session(request)
    if session is None:
        return _sign_in_first(request)
    if not _context(request).signer.csrf_matches(session, csrf):
        return HTMLResponse("Formulir tidak sah (invalid form).", status_code=403)
    response = RedirectResponse("/admin/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/admin")
    return response


def _set_cookie(
    request: Request, response: Response, name: str, value: str, *, max_age: int
) -> None:
    # Lax, not Strict: a link in an escalation mail opens the complaint signed in; every
    # state-changing form is POST with a CSRF token anyway.
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/admin",
        httponly=True,
        samesite="lax",
        secure=_context(request).secure_cookies,
    )


def _parse_day(value: str | None, errors: list[str], name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.append(f"Tanggal {name} tidak valid: {value!r} (pakai YYYY-MM-DD).")
        return None


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des")


def _month_label(month: str, partial: bool) -> str:
    """``2026-03`` as ``Mar 2026`` (``*`` when the period holds only part of it)."""
    year, number = month.split("-")
    return f"{_MONTHS[int(number) - 1]} {year}{'*' if partial else ''}"


def _format_cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key.endswith("_rate") and isinstance(value, int | float):
        return f"{value:.0%}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@pages_router.get("", response_class=HTMLResponse)
def dashboard(
    request: Request,
    region: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[str | None, Query(max_length=32)] = None,
    until: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """Per-SKPD table, follow-up rate and intake charts, liaison continuity, look-up."""
    session = _session(request)
    if session is None:
        return _sign_in_first(request)
    context = _context(request)
    store, policy = context.store, context.policy
    errors: list[str] = []
    first = _parse_day(since, errors, "mulai")
    last = _parse_day(until, errors, "sampai")
    region = region or None
    if first is None and last is None:
        # Default: the 90 days up to the newest submission (today's data when live).
        newest = latest_submission(store)
        zone = policy.timezone(region)
        last = (newest or datetime.now(zone)).astimezone(zone).date()
        first = last - timedelta(days=_DEFAULT_DAYS - 1)
    if first is not None and last is not None and last < first:
        errors.append("Tanggal 'sampai' sebelum tanggal 'mulai'; urutannya ditukar.")
        first, last = last, first
    period: dict[str, Any] = {"region": region, "since": first, "until": last}
    report = [row.as_dict() for row in build_report(store, policy, **period)]
    columns = list(report[0]) if report else list(COLUMN_LABELS)
    table = [
        {
            "cells": [
                {"key": key, "text": _format_cell(key, row.get(key)), "sort": row.get(key)}
                for key in columns
            ],
            "breached": bool(row.get("open_breaches")),
        }
        for row in report
    ]
    rate_chart = follow_up_rate_chart(
        [Bar(str(row["skpd"]), row.get("follow_up_rate")) for row in report]
    )
    intake = build_intake(store, policy, **period)
    by_region: dict[str, list[IntakeRow]] = {}
    for row in intake:
        by_region.setdefault(row.region, []).append(row)
    intake_charts = [
        intake_chart(
            f"{name}: pengaduan masuk per bulan",
            [IntakeBar(_month_label(r.month, r.partial), r.received, r.target) for r in rows],
        )
        for name, rows in sorted(by_region.items())
    ]
    liaisons = build_liaisons(store, policy, **period)
    breached = list_complaints(store, region=region, breached=True, limit=20)
    return _page(
        request,
        "dashboard.html",
        csrf=context.signer.csrf_for(session),
        regions=known_regions(store),
        region=region,
        since=first.isoformat() if first else "",
        until=last.isoformat() if last else "",
        errors=errors,
        columns=[(key, *COLUMN_LABELS.get(key, (key, key))) for key in columns],
        table=table,
        rate_chart=rate_chart,
        intake=intake,
        intake_charts=intake_charts,
        liaisons=liaisons,
        breached=breached,
        local=lambda at, reg: _local_time(policy, at, reg),
    )


def _local_time(policy: Policy, at: datetime, region: str | None) -> str:
    """An instant in the region's time zone, e.g. ``2026-03-18 10:57 WITA``."""
    return at.astimezone(policy.timezone(region)).strftime("%Y-%m-%d %H:%M %Z")


@pages_router.get("/complaints", response_class=HTMLResponse)
def look_up(request: Request, id: Annotated[str, Query(max_length=64)] = "") -> Response:
    """The look-up form's target: go to the complaint's page."""
    if _session(request) is None:
        return _sign_in_first(request)
    wanted = id.strip()
    if not wanted:
        return RedirectResponse("/admin", status_code=303)
    return RedirectResponse(f"/admin/complaints/{quote(wanted, safe='')}", status_code=303)


@pages_router.get("/complaints/{complaint_id}", response_class=HTMLResponse)
def complaint_page(request: Request, complaint_id: str) -> Response:
    """One complaint: state, SKPD, clocks (deadlines, breaches) and its timeline."""
    session = _session(request)
    if session is None:
        return _sign_in_first(request)
    context = _context(request)
    found = (
        complaint_status(context.store, complaint_id, context.policy)
        if len(complaint_id) <= 64
        else None
    )
    return _page(
        request,
        "complaint.html",
        status_code=200 if found else 404,
        csrf=context.signer.csrf_for(session),
        complaint_id=complaint_id,
        found=found,
    )
