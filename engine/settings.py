"""Settings from flags or ``LAPORFLOW_*`` environment variables (CONTRACT §6)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal
from urllib.parse import quote

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from engine.store import DEFAULT_DATABASE_URL, redact_url
from engine.topics import Topics

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Everything ``laporflow`` reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="LAPORFLOW_", extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    database_url: SecretStr = SecretStr(DEFAULT_DATABASE_URL)
    metrics_port: int = Field(default=9108, ge=0, le=65535)
    policy: str | None = None
    topic_prefix: str = ""
    partitions: int = Field(default=6, ge=1, le=1000)
    group_id: str = "laporflow-engine"
    #: Records per poll; one poll is one database transaction.
    max_poll_records: int = Field(default=1000, ge=1, le=10_000)
    #: How long published outbox rows are kept before the relay prunes them: an ISO 8601
    #: duration (``P7D``, ``PT12H``) or a number of seconds (``604800``).
    outbox_retention: timedelta = Field(default=timedelta(days=7), ge=timedelta(0))
    #: ``DEBUG``, ``INFO``, ``WARNING`` or ``ERROR``, in every process of the engine.
    log_level: str = "INFO"
    #: ``json`` (one object per line) or ``text``; unset: json under ``laporflow run``.
    log_format: Literal["json", "text"] | None = None

    @field_validator("outbox_retention", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> Any:
        """A bare number (from the environment) is seconds."""
        if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
            return float(value)
        return value

    @property
    def topics(self) -> Topics:
        """The topic names with this deployment's prefix."""
        return Topics(self.topic_prefix)

    def secrets(self) -> list[str]:
        """Values that must never appear in a log line (the database password)."""
        try:
            password = make_url(self.database_url.get_secret_value()).password
        except ArgumentError:
            return []
        if not password:
            return []
        # As given (percent-encoded in the URL) and as decoded.
        return [str(password), quote(str(password), safe="")]

    def as_dict(self) -> dict[str, Any]:
        """Settings for logs and ``--help`` output, secrets redacted."""
        data = self.model_dump()
        url = self.database_url.get_secret_value()
        data["database_url"] = redact_url(url)
        return data
