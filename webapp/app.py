"""The FastAPI application of ``laporflow serve``: JSON API, admin page, static assets.

It only reads the database the engine writes, so it runs as its own process and scales
apart from the engine. Engine errors become HTTP answers here, once: a
:class:`~engine.errors.QueryError` is a 422 naming the parameter, a
:class:`~engine.errors.StoreError` a 503.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.errors import QueryError, StoreError
from engine.store import Store
from webapp.api import api_router
from webapp.auth import SessionSigner
from webapp.context import AppContext
from webapp.pages import pages_router
from workflows.policy import Policy

__all__ = ["create_app"]

_SECURITY_HEADERS = [
    # Only this server's own scripts, styles and images: no CDN, no inline script.
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class _SecurityHeaders:
    """Adds the security headers to every response (plain ASGI: no body buffering)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(_SECURITY_HEADERS)
                if scope["path"].startswith("/admin") and not scope["path"].startswith(
                    "/admin/static"
                ):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(
    store: Store, policy: Policy, token: SecretStr, *, secure_cookies: bool = False
) -> FastAPI:
    """The app serving ``store`` under ``policy``; ``token`` guards the API and the page."""
    app = FastAPI(
        title="lapor-flow admin API",
        version="1",
        description="Read-only view of SP4N-LAPOR! complaints for Diskominfo (CONTRACT §9). "
        "Every /api/v1 route needs `Authorization: Bearer <LAPORFLOW_API_TOKEN>`.",
        openapi_url="/api/openapi.json",
        # The interactive docs pages load their scripts from a CDN: off.
        docs_url=None,
        redoc_url=None,
    )
    app.state.context = AppContext(
        store=store,
        policy=policy,
        token=token,
        signer=SessionSigner(token),
        secure_cookies=secure_cookies,
    )
    app.include_router(api_router)
    app.include_router(pages_router)
    app.mount("/admin/static", StaticFiles(directory=str(files("webapp") / "static")), "static")

    @app.exception_handler(QueryError)
    def _query_error(request: Request, exc: QueryError) -> Response:
        loc = ["query", next(iter(exc.context), "query")]
        return JSONResponse(
            status_code=422,
            content={"detail": [{"type": "value_error", "loc": loc, "msg": exc.message}]},
        )

    @app.exception_handler(StoreError)
    def _store_error(request: Request, exc: StoreError) -> Response:
        return JSONResponse(
            status_code=503,
            content={"detail": "the database is unavailable; try again shortly"},
        )

    @app.get("/", include_in_schema=False)
    def _root() -> Response:
        return RedirectResponse("/admin", status_code=307)

    @app.get("/healthz", include_in_schema=False)
    def _healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(_SecurityHeaders)
    return app
