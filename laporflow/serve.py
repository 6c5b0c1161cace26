"""Wiring of ``laporflow serve``: settings, the store, the policy, the app and uvicorn."""

from __future__ import annotations

import logging

import uvicorn
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from engine.errors import ConfigError, StoreError
from engine.listing import list_complaints
from engine.policy_file import load_policy
from engine.settings import Settings
from engine.store import Store, redact_url
from webapp.app import create_app

__all__ = ["MIN_TOKEN_LENGTH", "ServeSettings", "serve"]

#: Shorter tokens can be guessed; the admin page is reachable by anyone on the network.
MIN_TOKEN_LENGTH = 16

log = logging.getLogger("laporflow.serve")


class ServeSettings(BaseSettings):
    """``LAPORFLOW_API_*`` settings of the HTTP API and admin page."""

    model_config = SettingsConfigDict(env_prefix="LAPORFLOW_API_", extra="ignore")

    port: int = Field(default=8080, ge=0, le=65535)
    #: 127.0.0.1 by default; 0.0.0.0 in a container.
    host: str = "127.0.0.1"
    token: SecretStr | None = None
    #: Mark cookies Secure: set when users reach the page over HTTPS (behind a proxy).
    secure_cookies: bool = False


def serve(settings: Settings, api: ServeSettings, *, log_level: str = "info") -> None:
    """Serve the API and ``/admin`` on ``api.host:api.port`` until interrupted."""
    token = api.token
    if token is None or len(token.get_secret_value()) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"set LAPORFLOW_API_TOKEN to a secret of at least {MIN_TOKEN_LENGTH} characters, "
            'e.g. LAPORFLOW_API_TOKEN="$(openssl rand -hex 24)"'
        )
    url = settings.database_url.get_secret_value()
    store = Store(url)
    try:
        list_complaints(store, limit=1)
    except StoreError as exc:
        raise ConfigError(
            "the database has no lapor-flow schema or cannot be read; start the engine "
            f"(laporflow run) or the demo on it first: {exc}",
            url=redact_url(url),
        ) from exc
    app = create_app(store, load_policy(settings.policy), token, secure_cookies=api.secure_cookies)
    log.info(
        "serving http://%s:%d/admin and /api/v1 on %s",
        api.host,
        api.port,
        redact_url(url),
    )
    try:
        uvicorn.run(app, host=api.host, port=api.port, log_level=log_level, access_log=False)
    finally:
        store.close()
