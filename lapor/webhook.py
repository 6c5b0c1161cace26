"""The push-intake webhook: the national LAPOR! (or a relay) delivers reports to us.

``POST /api/v1/lapor/webhook`` with the JSON body (one report, a list, or
``{"items": [...]}``) and ``X-Lapor-Signature: sha256=<hex HMAC-SHA256 of the body>``
keyed with ``LAPORFLOW_LAPOR_WEBHOOK_SECRET``. A missing or wrong signature gets 401
and nothing is produced. ``X-Lapor-Delivery`` names a delivery: a repeated one is
acknowledged (200) without being read again; without it, a repeated report is still
harmless, because its status was already taken and its command ids are deterministic.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import SecretStr
from starlette.concurrency import run_in_threadpool

from engine.metrics import METRICS

__all__ = ["SIGNATURE_HEADER", "create_webhook_app", "sign"]

SIGNATURE_HEADER = "X-Lapor-Signature"
DELIVERY_HEADER = "X-Lapor-Delivery"

#: Takes the raw items and the delivery id; returns the number of commands produced.
Ingest = Callable[[list[Any], str | None], int]


def sign(secret: SecretStr, body: bytes) -> str:
    """The signature header value for ``body``."""
    digest = hmac.new(secret.get_secret_value().encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _valid(secret: SecretStr, body: bytes, given: str | None) -> bool:
    if not given:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), given.strip().encode())


def create_webhook_app(
    secret: SecretStr, ingest: Ingest, delivery_seen: Callable[[str], bool]
) -> FastAPI:
    """The webhook app: verify, de-duplicate, hand the items to ``ingest``."""
    if not secret.get_secret_value():
        raise ValueError("the webhook needs a non-empty secret")
    app = FastAPI(title="lapor-flow LAPOR! push intake", version="1")

    @app.post("/api/v1/lapor/webhook")
    async def deliver(
        request: Request,
        x_lapor_signature: Annotated[str | None, Header()] = None,
        x_lapor_delivery: Annotated[str | None, Header(max_length=128)] = None,
    ) -> JSONResponse:
        body = await request.body()
        if not _valid(secret, body, x_lapor_signature):
            METRICS.webhook_deliveries.labels(outcome="bad_signature").inc()
            raise HTTPException(401, "missing or wrong X-Lapor-Signature")
        try:
            doc = json.loads(body)
        except ValueError:
            METRICS.webhook_deliveries.labels(outcome="invalid").inc()
            raise HTTPException(400, "the body is not JSON") from None
        if isinstance(doc, dict) and isinstance(doc.get("items"), list):
            items: list[Any] = doc["items"]
        elif isinstance(doc, list):
            items = doc
        else:
            items = [doc]
        repeated = False
        if x_lapor_delivery:
            repeated = await run_in_threadpool(delivery_seen, x_lapor_delivery)
        if repeated:
            METRICS.webhook_deliveries.labels(outcome="duplicate").inc()
            return JSONResponse({"duplicate": True, "produced": 0}, 200)
        produced = await run_in_threadpool(ingest, items, x_lapor_delivery)
        METRICS.webhook_deliveries.labels(outcome="accepted").inc()
        return JSONResponse({"duplicate": False, "items": len(items), "produced": produced}, 202)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
