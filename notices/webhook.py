"""The webhook channel: a signed JSON POST, for WhatsApp gateways and chat tools.

The body is compact JSON (UTF-8); ``X-Laporflow-Signature: sha256=<hex>`` is the
HMAC-SHA256 of exactly those bytes with the secret in the environment variable the
policy's ``secret_env`` names. ``X-Laporflow-Notice`` is stable per (event, recipient),
so a receiver can drop the one repeat a crash may cause. httpx errors become
:class:`~engine.errors.DeliveryError` here, once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from typing import Any

import httpx

from engine.errors import DeliveryError
from workflows.policy import Webhook

__all__ = ["SIGNATURE_HEADER", "WebhookChannel", "sign"]

SIGNATURE_HEADER = "X-Laporflow-Signature"


def sign(secret: bytes, body: bytes) -> str:
    """The signature header value: ``sha256=`` and the hex HMAC-SHA256 of ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookChannel:
    """Posts notices to the policy's named webhooks."""

    def __init__(
        self,
        webhooks: Mapping[str, Webhook],
        *,
        environ: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.webhooks = dict(webhooks)
        self.environ = environ if environ is not None else os.environ
        self._client = client or httpx.Client(timeout=timeout_s, follow_redirects=False)

    def send(self, name: str, payload: dict[str, Any], *, notice_key: str) -> None:
        """POST ``payload`` to webhook ``name``; raise :class:`DeliveryError` on failure."""
        hook = self.webhooks.get(name)
        if hook is None:
            raise DeliveryError(f"no webhook named {name!r} in the policy", permanent=True)
        secret = self.environ.get(hook.secret_env)
        if not secret:
            raise DeliveryError(
                f"the webhook secret is not set: export {hook.secret_env}",
                webhook=name,
                permanent=True,
            )
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign(secret.encode(), body),
            "X-Laporflow-Notice": notice_key,
            "User-Agent": "lapor-flow-notify",
        }
        try:
            response = self._client.post(hook.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook unreachable: {exc!r}", webhook=name) from exc
        if response.is_success:
            return
        status = response.status_code
        # 429 and 5xx may pass; any other answer will not change by asking again.
        raise DeliveryError(
            f"webhook answered {status}: {response.text[:200]}",
            webhook=name,
            permanent=status != 429 and status < 500,
        )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()
