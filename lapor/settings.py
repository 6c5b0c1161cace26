"""Settings of ``laporflow feed`` and ``laporflow lapor-sim`` (``LAPORFLOW_*``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr

from engine.settings import Settings

__all__ = ["FeedSettings"]

_REDACTED = "**********"


class FeedSettings(Settings):
    """The engine's settings plus the national LAPOR! API, the poller and the webhook."""

    lapor_url: str = "http://127.0.0.1:8090"
    #: The API token (bearer); never logged, never in an error message.
    lapor_token: SecretStr = SecretStr("")
    #: A YAML mapping file replacing parts of lapor/data/mapping.yaml.
    lapor_mapping: str | None = None
    lapor_timeout_s: float = Field(default=10.0, gt=0)
    lapor_attempts: int = Field(default=6, ge=1, le=20)
    lapor_backoff_s: float = Field(default=0.5, ge=0)
    #: Seconds between polls once caught up.
    feed_interval_s: float = Field(default=30.0, gt=0)
    feed_page_size: int = Field(default=100, ge=1, le=500)
    feed_metrics_port: int = Field(default=9109, ge=0, le=65535)
    #: Serve the push-intake webhook on this port (unset: polling only).
    feed_webhook_port: int | None = Field(default=None, ge=0, le=65535)
    #: The HMAC-SHA256 key of webhook deliveries; required with the webhook.
    lapor_webhook_secret: SecretStr | None = None
    #: The sync-back's consumer group; default derived from the topic prefix.
    sync_group_id: str | None = None

    @property
    def sync_group(self) -> str:
        """The sync-back's own consumer group (per topic prefix, so regions never mix)."""
        return self.sync_group_id or f"{self.topic_prefix}laporflow-lapor-sync"

    def as_dict(self) -> dict[str, Any]:
        """Settings for logs, secrets redacted."""
        data = super().as_dict()
        data["lapor_token"] = _REDACTED if self.lapor_token.get_secret_value() else ""
        data["lapor_webhook_secret"] = _REDACTED if self.lapor_webhook_secret else None
        return data
